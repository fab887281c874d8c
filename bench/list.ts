/**
 * `list` at a fleet's scale, on the test bed: 500 Milvus releases in 100 namespaces, created from
 * one generated manifest (no helm install): per namespace two Helm standalone releases, one Helm
 * cluster release (proxy, mixcoord, querynode, its Pulsar v2 bookie StatefulSet), one Operator
 * cluster release and one Operator standalone release (Milvus resources with the operator's
 * `milvus.io/pause-reconcile` annotation, so the bed's real operator leaves them alone, and the
 * Deployments it would have made, operator-labelled). Helm releases are Helm's record Secrets
 * (labels owner/name/status/version, base64(gzip(JSON)) of a record holding the bed's chart).
 *
 * - list_500_ms: wall time of `list -A` (median of 3), and list_vs_kubectl_ratio against
 *   `kubectl get deployments,statefulsets -A` on the same cluster (median of 3);
 * - list_api_calls (list calls, one per collection) and list_api_requests (with their pages);
 * - list_peak_mb: the plugin's peak RSS (/usr/bin/time);
 * - three_contexts_s: `list -A --context bed-a,bed-b,hung --request-timeout 10s`, where hung is
 *   an API server that accepts connections and never answers; the reachable two must print and
 *   the run end within 11 s (three_contexts_limit_s).
 *
 * BENCH_LIST_KEEP=1 leaves the fleet in place afterwards (to profile `list -A` against it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import yaml from 'js-yaml';
import { CHART, KUBECONFIG, PLUGIN, kubectlJson, run, testbedEnv } from '../test/e2e/harness.js';

/** 100 (500 releases); BENCH_LIST_NAMESPACES makes a smaller fleet for a quick try. */
const NAMESPACES = Number(process.env.BENCH_LIST_NAMESPACES ?? '100');
const RUN_LABEL = 'kubectl-milvus.io/bench';

const image = (v: string) => `milvusdb/milvus:v${v}`;

function deployment(ns: string, name: string, labels: Record<string, string>, container: string, version: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      strategy: { type: 'RollingUpdate' },
      template: { metadata: { labels }, spec: { containers: [{ name: container, image: image(version), ports: [{ containerPort: 9091 }] }] } },
    },
  };
}

/** Helm's record of one deployed revision of the bed's chart, as the Secret helm writes. */
function helmRecordSecret(ns: string, name: string, config: Record<string, unknown>, chart: { values: unknown; templates: Array<{ name: string; data: string }> }): object {
  const record = {
    name,
    namespace: ns,
    version: 1,
    info: { status: 'deployed', first_deployed: new Date().toISOString(), last_deployed: new Date().toISOString(), description: 'Install complete' },
    chart: { metadata: { name: 'milvus', version: '4.2.30', appVersion: '2.4.5', apiVersion: 'v2' }, values: chart.values, templates: chart.templates },
    config,
    manifest: `---\n# Source: milvus/templates/milvus.yaml\n# ${name} in ${ns}\n`,
  };
  const helmText = gzipSync(Buffer.from(JSON.stringify(record))).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    metadata: { name: `sh.helm.release.v1.${name}.v1`, namespace: ns, labels: { name, owner: 'helm', status: 'deployed', version: '1' } },
    data: { release: Buffer.from(helmText).toString('base64') },
  };
}

function bookie(ns: string, name: string, labels: Record<string, string>): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: ns, labels },
    spec: { replicas: 1, serviceName: name, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'bookie', image: 'apachepulsar/pulsar:2.9.5' }] } } },
  };
}

/** The manifest: 100 namespaces, 500 releases. */
function manifest(namespaces: string[], runId: string): object[] {
  const values = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
  const tdir = join(CHART, 'templates');
  const templates = readdirSync(tdir).map((f) => ({ name: `templates/${f}`, data: readFileSync(join(tdir, f)).toString('base64') }));
  const chart = { values, templates };
  const out: object[] = [];
  for (const ns of namespaces) {
    out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [RUN_LABEL]: runId } } });
    const helmLabels = (rel: string, component: string) => ({ 'app.kubernetes.io/instance': rel, 'app.kubernetes.io/name': 'milvus', component });
    const opLabels = (rel: string, component: string) => ({ 'app.kubernetes.io/instance': rel, 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/component': component, 'app.kubernetes.io/managed-by': 'milvus-operator' });
    for (const rel of ['hs-a', 'hs-b']) {
      out.push(deployment(ns, `${rel}-milvus-standalone`, helmLabels(rel, 'standalone'), 'standalone', '2.4.5'));
      out.push(helmRecordSecret(ns, rel, { cluster: { enabled: false }, pulsar: { enabled: false } }, chart));
    }
    const hc = 'hc';
    for (const c of ['proxy', 'mixcoord', 'querynode']) out.push(deployment(ns, `${hc}-milvus-${c}`, helmLabels(hc, c), c, '2.4.5'));
    out.push(bookie(ns, `${hc}-pulsar-bookie`, { app: 'pulsar', release: hc, component: 'bookie', chart: 'pulsar-2.7.8' }));
    out.push(helmRecordSecret(ns, hc, { pulsar: { enabled: true } }, chart));
    const oc = 'oc';
    for (const c of ['proxy', 'mixcoord', 'querynode']) out.push(deployment(ns, `${oc}-milvus-${c}`, opLabels(oc, c), c, '2.5.4'));
    out.push(bookie(ns, `${oc}-pulsar-bookie`, { app: 'pulsarv2', release: `${oc}-pulsar`, component: 'bookie', chart: 'pulsar-2.7.8' }));
    const os = 'os';
    out.push(deployment(ns, `${os}-milvus-standalone`, opLabels(os, 'standalone'), 'standalone', '2.5.4'));
    for (const [name, mode] of [[oc, 'cluster'], [os, 'standalone']] as const) {
      out.push({
        apiVersion: 'milvus.io/v1beta1',
        kind: 'Milvus',
        metadata: { name, namespace: ns, annotations: { 'milvus.io/pause-reconcile': 'true' } },
        spec: { mode, components: { image: image('2.5.4') }, dependencies: mode === 'cluster' ? { msgStreamType: 'pulsar' } : { msgStreamType: 'rocksmq' } },
      });
    }
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const t0 = process.hrtime.bigint();
  const r = await run(cmd, args, { env, timeoutMs: 300_000 });
  return { ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** Waits until every bench Deployment and StatefulSet has its pod (what `list` reads the running version from), or gives up after `ms`. */
async function waitPods(runId: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const list = await kubectlJson<{ items: Array<{ spec: { replicas?: number }; status?: { replicas?: number; readyReplicas?: number } }> }>(['get', 'deployments,statefulsets', '-A', '-l', `${RUN_LABEL}-workload=${runId}`]);
    const pending = list.items.filter((w) => (w.status?.replicas ?? 0) < (w.spec.replicas ?? 1)).length;
    const ready = list.items.filter((w) => (w.status?.readyReplicas ?? 0) >= (w.spec.replicas ?? 1)).length;
    if (pending === 0) return `every one of ${list.items.length} workloads has its pod (${ready} ready)`;
    if (Date.now() > deadline) return `${pending} of ${list.items.length} workloads without their pod after ${ms / 1000}s`;
    await new Promise((r) => setTimeout(r, 5000));
  }
}

/**
 * Waits for the bed to calm down after creating 1700 objects (the controllers and KWOK work through
 * the new pods for minutes, and on two cores that churn weighs on a measurement that reads every
 * one of them more than on kubectl's): until the 1-minute load average is under 2.5, or `ms`.
 */
async function settle(ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  const load = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  while (load() >= 2.5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10_000));
  const now = load();
  return now < 2.5 ? `measuring with a 1-minute load average of ${now}` : `still busy after ${ms / 60_000} min (1-minute load average ${now}): measuring anyway`;
}

/**
 * Deletes the namespaces; the bed's operator holds each Milvus resource with its finalizer and
 * cannot finalize these (no dependencies of its own): once a resource is being deleted its
 * finalizer is removed here (before that the operator would put it back).
 */
async function cleanUp(namespaces: string[]): Promise<void> {
  await Promise.all(namespaces.map((ns) => run('kubectl', ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found'])));
  const mine = new Set(namespaces);
  const deadline = Date.now() + 5 * 60_000;
  while (Date.now() < deadline) {
    const left = (await kubectlJson<{ items: Array<{ metadata: { name: string; namespace: string; deletionTimestamp?: string; finalizers?: string[] } }> }>(['get', 'milvus', '-A'])).items.filter((m) => mine.has(m.metadata.namespace));
    if (!left.length) return;
    const held = left.filter((m) => m.metadata.deletionTimestamp && m.metadata.finalizers?.length);
    for (let i = 0; i < held.length; i += 8) {
      await Promise.all(held.slice(i, i + 8).map((m) => run('kubectl', ['patch', 'milvus', m.metadata.name, '-n', m.metadata.namespace, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])));
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
  process.stderr.write('[list] some Milvus resources of the bench were still there after 5 min\n');
}

export interface ListMeasure {
  listMs: number;
  kubectlMs: number;
  apiCalls: number;
  apiRequests: number;
  peakMb: number;
  releasesSeen: number;
  threeContextsS: number;
  threeContextsLimitS: number;
}

export async function measureList(): Promise<ListMeasure> {
  const runId = randomBytes(3).toString('hex');
  const namespaces = Array.from({ length: NAMESPACES }, () => `bench-list-${randomBytes(3).toString('hex')}`);
  const dir = mkdtempSync(join(tmpdir(), 'km-bench-list-'));
  const sockets: Socket[] = [];
  const hung = createServer((s) => void sockets.push(s));
  try {
    const objects = manifest(namespaces, runId).map((o) => {
      const m = o as { kind: string; metadata: { labels?: Record<string, string> } };
      if (m.kind === 'Deployment' || m.kind === 'StatefulSet') m.metadata.labels = { ...m.metadata.labels, [`${RUN_LABEL}-workload`]: runId };
      return o;
    });
    // Ten files of ten namespaces each (its namespaces first), created by five kubectl at a time.
    const files: string[] = [];
    for (let i = 0; i < NAMESPACES; i += 10) {
      const mine = new Set(namespaces.slice(i, i + 10));
      const part = objects.filter((o) => {
        const m = (o as { kind: string; metadata: { name: string; namespace?: string } }).metadata;
        return mine.has(m.namespace ?? m.name);
      });
      const f = join(dir, `fleet-${i / 10}.yaml`);
      writeFileSync(f, part.map((o) => yaml.dump(o)).join('---\n'));
      files.push(f);
    }
    process.stderr.write(`[list] creating ${objects.length} objects (${NAMESPACES * 5} releases in ${NAMESPACES} namespaces) from a generated manifest\n`);
    const t0 = Date.now();
    for (let i = 0; i < files.length; i += 5) {
      const results = await Promise.all(files.slice(i, i + 5).map((f) => run('kubectl', ['create', '-f', f], { env: testbedEnv(), timeoutMs: 15 * 60_000 })));
      const bad = results.find((r) => r.code !== 0);
      if (bad) throw new Error(`kubectl create failed (exit ${bad.code}): ${bad.stderr.slice(-500)}`);
    }
    process.stderr.write(`[list] created in ${((Date.now() - t0) / 1000).toFixed(1)}s; ${await waitPods(runId, 8 * 60_000)}\n`);

    process.stderr.write(`[list] ${await settle(4 * 60_000)}\n`);
    const env = testbedEnv();
    // Warm both (page cache, API server caches), then the medians of 3.
    await timed(PLUGIN, ['list', '-A'], env);
    await timed('kubectl', ['get', 'deployments,statefulsets', '-A'], env);
    const ours: number[] = [];
    const theirs: number[] = [];
    let peakKb = 0;
    let calls = { lists: 0, requests: 0 };
    for (let i = 0; i < 3; i++) {
      const r = await timed('/usr/bin/time', ['-f', 'maxrss_kb %M', PLUGIN, 'list', '-A', '-v=2'], env);
      if (r.code !== 0) throw new Error(`list -A failed (exit ${r.code}): ${r.stderr.slice(-500)}`);
      ours.push(r.ms);
      peakKb = Math.max(peakKb, Number(/maxrss_kb (\d+)/.exec(r.stderr)?.[1] ?? 0));
      const m = /(\d+) list calls \((\d+) requests\)/.exec(r.stderr);
      if (m) calls = { lists: Number(m[1]), requests: Number(m[2]) };
      const k = await timed('kubectl', ['get', 'deployments,statefulsets', '-A'], env);
      if (k.code !== 0) throw new Error(`kubectl get failed: ${k.stderr}`);
      theirs.push(k.ms);
    }
    const json = await run(PLUGIN, ['list', '-A', '-o', 'json'], { env, timeoutMs: 120_000 });
    const items = (JSON.parse(json.stdout) as { items: Array<{ namespace: string; version: string | null }> }).items.filter((i) => namespaces.includes(i.namespace));
    process.stderr.write(`[list] ${items.length} bench releases listed; versions: ${[...new Set(items.map((i) => i.version))].join(', ')}\n`);

    // One bed under two context names, and a third that hangs.
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const bed = yaml.load(readFileSync(KUBECONFIG, 'utf8')) as { clusters: Array<{ name: string; cluster: object }>; users: Array<{ name: string }>; contexts: Array<{ name: string; context: { cluster: string; user: string } }> };
    const ctx0 = bed.contexts[0]!.context;
    const three = {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'bed-a',
      clusters: [...bed.clusters, { name: 'hung', cluster: { server: `http://127.0.0.1:${(hung.address() as { port: number }).port}` } }],
      users: bed.users,
      contexts: [
        { name: 'bed-a', context: ctx0 },
        { name: 'bed-b', context: ctx0 },
        { name: 'hung', context: { cluster: 'hung', user: ctx0.user } },
      ],
    };
    const kc3 = join(dir, 'three');
    writeFileSync(kc3, yaml.dump(three), { mode: 0o600 });
    const timeoutS = 10;
    const t = await timed(PLUGIN, ['list', '-A', '--context', 'bed-a,bed-b,hung', '--request-timeout', `${timeoutS}s`], testbedEnv({ KUBECONFIG: kc3 }));
    const rows = t.stdout.split('\n').filter((l) => /^bed-[ab]\s/.test(l));
    if (t.code !== 4 || !rows.some((l) => l.startsWith('bed-a')) || !rows.some((l) => l.startsWith('bed-b')) || !/context "hung"/.test(t.stderr)) {
      throw new Error(`three contexts: exit ${t.code}, ${rows.length} rows, stderr: ${t.stderr.slice(-400)}`);
    }
    process.stderr.write(`[list] three contexts: ${rows.length} rows from bed-a and bed-b, exit ${t.code}, ${(t.ms / 1000).toFixed(1)}s\n`);
    return {
      listMs: median(ours),
      kubectlMs: median(theirs),
      apiCalls: calls.lists,
      apiRequests: calls.requests,
      peakMb: peakKb / 1024,
      releasesSeen: items.length,
      threeContextsS: t.ms / 1000,
      threeContextsLimitS: timeoutS + 1,
    };
  } finally {
    for (const s of sockets) s.destroy();
    hung.close();
    rmSync(dir, { recursive: true, force: true });
    if (process.env.BENCH_LIST_KEEP) process.stderr.write(`[list] BENCH_LIST_KEEP: the fleet stays (namespaces bench-list-*, delete them when done)\n`);
    else await cleanUp(namespaces);
  }
}

if (process.argv[1]?.endsWith('list.ts')) {
  const m = await measureList();
  process.stdout.write(JSON.stringify(m, null, 2) + '\n');
}
