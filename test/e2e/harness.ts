/**
 * Helpers for the e2e suite: every test drives the packaged executable (dist/kubectl-milvus) and
 * real kubectl and helm against the test bed's real API server (node testbed/run.mjs ensure).
 * Child processes always get argument arrays, never shell strings.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { testbedCluster } from '../../testbed/cluster.mjs';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';

const execFileP = promisify(execFile);

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, '.testbed', 'bin');
/** The bed's kubeconfig: TESTBED_CLUSTER names another bed, as for testbed/run.mjs. */
export const KUBECONFIG = testbedCluster().kubeconfig;
export const PLUGIN = join(ROOT, 'dist', 'kubectl-milvus');
export const CHART = join(ROOT, 'testbed', 'charts', 'milvus');

export function testbedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG,
    PATH: `${BIN}:${process.env.PATH ?? ''}`,
    HELM_CACHE_HOME: join(ROOT, '.testbed', 'helm', 'cache'),
    HELM_CONFIG_HOME: join(ROOT, '.testbed', 'helm', 'config'),
    HELM_DATA_HOME: join(ROOT, '.testbed', 'helm', 'data'),
    NO_COLOR: '1',
    ...extra,
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Throws unless the test bed is up (node testbed/run.mjs ensure). */
export function assertTestbed(): void {
  if (!existsSync(KUBECONFIG)) throw new Error('the test bed is not up: run "node testbed/run.mjs ensure"');
}

/**
 * How runPlugin starts the plugin: the packaged executable dist/kubectl-milvus (npm run build),
 * or, while it has not been built, the sources through tsx.
 */
export function pluginCommand(): { cmd: string; args: string[]; packaged: boolean } {
  if (existsSync(PLUGIN)) return { cmd: PLUGIN, args: [], packaged: true };
  return { cmd: TSX, args: [join(ROOT, 'src', 'main.ts')], packaged: false };
}

export async function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? testbedEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs the packaged plugin as kubectl would (argv[0] named kubectl-milvus); see pluginCommand. */
export function runPlugin(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const p = pluginCommand();
  return run(p.cmd, [...p.args, ...args], { ...opts, env: testbedEnv(opts.env), timeoutMs: opts.timeoutMs ?? 240_000 });
}

export async function kubectl(args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await run('kubectl', args, { input: opts.input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function kubectlJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export async function helm(args: string[]): Promise<string> {
  const { stdout } = await execFileP(join(BIN, 'helm'), args, { env: testbedEnv(), maxBuffer: 32 << 20 });
  return stdout;
}

/**
 * A fresh namespace for one test; delete it with deleteNamespace. Port 2379 of its pods (the
 * releases' etcd) reaches a real etcd of this test process (metaEtcd), so the metadata snapshot
 * the changing commands take first works as on a cluster; a test may route it elsewhere.
 */
export async function newNamespace(prefix = 'e2e'): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', ns]);
  await forwardNamespaceTo(ns, (await metaEtcd()).port, 2379);
  return ns;
}

let sharedEtcd: Promise<PrivateEtcd> | undefined;
/** One real etcd per test process (Debian's, on free ports), stopped when the process exits. */
export function metaEtcd(): Promise<PrivateEtcd> {
  if (!sharedEtcd) {
    // Holds the metadata of every Helm release of the test chart (root path by-dev) from the start.
    sharedEtcd = startPrivateEtcd().then(async (e) => (await seedMilvusMetadata(e, 'by-dev'), e));
    void sharedEtcd.then((e) => process.once('exit', () => e.kill()));
  }
  return sharedEtcd;
}

/**
 * Milvus-shaped metadata under a root path (`<root>/meta/...`, `<root>/kv/...`, no session), as a
 * Milvus that ran once leaves it: the metadata snapshot of the changing commands refuses a root
 * path with none.
 */
export async function seedMilvusMetadata(etcd: PrivateEtcd, rootPath: string): Promise<void> {
  await etcd.put(`${rootPath}/meta/root-coord/database/db-info/1`, '{"id":1,"name":"default"}');
  await etcd.put(`${rootPath}/kv/gid/timestamp`, Buffer.from([0, 0, 0, 1]));
}

export async function deleteNamespace(ns: string): Promise<void> {
  await run('kubectl', ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  // Port-forward rules of the namespace are cluster-scoped (forwardNamespaceTo).
  const rules = await run('kubectl', ['get', 'clusterportforwards', '-o', 'name']);
  const mine = rules.stdout.split('\n').filter((r) => r.startsWith(`clusterportforward.kwok.x-k8s.io/ns-${ns}-`));
  if (mine.length) await run('kubectl', ['delete', ...mine, '--ignore-not-found']);
}

/**
 * The files of one run in a backup Secret's data (keys `<run id>.<file>`, base64 values): file
 * name -> content. Throws unless exactly one run saved files there.
 */
export function backupRunFiles(data: Record<string, string>): Record<string, string> {
  const runs = new Set(Object.keys(data).map((k) => /^(\d{8}T\d{6,9}Z)\./.exec(k)?.[1] ?? `unkeyed ${k}`));
  if (runs.size !== 1) throw new Error(`expected the keys of one run, got ${Object.keys(data).join(', ')}`);
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k.replace(/^\d{8}T\d{6,9}Z\./, ''), Buffer.from(v, 'base64').toString('utf8')]));
}

export type HelmValues = Record<string, unknown>;

/**
 * helm install of the test chart (or `chart`: a directory or a .tgz from packageChart), waiting
 * until every workload is ready unless opts.wait is false. `set` takes dotted keys with scalar
 * values (`--set image.all.tag=v2.4.6`) and, for a nested value, a top-level key with an object
 * (`{ pulsar: { enabled: false } }`, passed in a values file); opts.values is one more values
 * object.
 */
export async function installHelmRelease(
  ns: string,
  name: string,
  set: HelmValues = {},
  chart = CHART,
  opts: { values?: HelmValues; wait?: boolean; timeout?: string } = {},
): Promise<void> {
  const scalars = Object.entries(set).filter(([, v]) => v === null || typeof v !== 'object');
  const nested = Object.fromEntries(Object.entries(set).filter(([, v]) => v !== null && typeof v === 'object'));
  const files: string[] = [];
  for (const values of [nested, opts.values ?? {}]) {
    if (!Object.keys(values).length) continue;
    const f = join(mkdtempSync(join(tmpdir(), 'km-values-')), 'values.yaml');
    writeFileSync(f, yaml.dump(values));
    files.push('-f', f);
  }
  const sets = scalars.flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const wait = opts.wait === false ? [] : ['--wait', '--timeout', opts.timeout ?? '3m'];
  await helm(['install', name, chart, '-n', ns, ...wait, ...files, ...sets]);
  // helm's --wait counts ready pods; the plugin's preconditions follow kubectl's rollout rules
  // (observed generation, updated replicas), which a loaded controller-manager reports later.
  if (opts.wait !== false) await waitReady(ns, { selector: `app.kubernetes.io/instance=${name}` });
}

/**
 * The test chart packaged under another chart version, for tests of version-dependent behaviour.
 * Like the real chart's history: versions before 4.2.21 have no pulsarv3 key at all (values.yaml
 * without it, so `--set pulsarv3.enabled=true` does nothing); 4.2.21 and later have it. The
 * release then shows `milvus-<version>` as its chart. Returns the path of the .tgz.
 */
export async function packageChart(version: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `km-chart-${version}-`));
  const src = join(dir, 'milvus');
  cpSync(CHART, src, { recursive: true });
  const chartYaml = join(src, 'Chart.yaml');
  writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace(/^version: .*$/m, `version: ${version}`));
  const [maj, min, patch] = version.split('.').map((n) => Number.parseInt(n, 10));
  const before4221 = maj! < 4 || (maj === 4 && (min! < 2 || (min === 2 && patch! < 21)));
  if (before4221) {
    const valuesFile = join(src, 'values.yaml');
    const values = yaml.load(readFileSync(valuesFile, 'utf8')) as HelmValues;
    delete values.pulsarv3;
    writeFileSync(valuesFile, `# milvus chart ${version}: before Pulsar v3 came into the chart (4.2.21)\n${yaml.dump(values)}`);
  }
  await helm(['package', src, '-d', dir]);
  return join(dir, `milvus-${version}.tgz`);
}

/** Routes port 9091 of every pod in the namespace (KWOK port-forward rule) to 127.0.0.1:port. */
export async function forwardNamespaceTo(ns: string, port: number, podPort = 9091): Promise<void> {
  const manifest = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterPortForward',
    metadata: { name: `ns-${ns}-${podPort}` },
    spec: { selector: { matchNamespaces: [ns] }, forwards: [{ ports: [podPort], target: { port, address: '127.0.0.1' } }] },
  };
  // KWOK keeps the target of an existing rule when it is updated: replace the rule instead.
  await removeForward(ns, podPort);
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
}

export async function removeForward(ns: string, podPort = 9091): Promise<void> {
  await run('kubectl', ['delete', 'clusterportforward', `ns-${ns}-${podPort}`, '--ignore-not-found']);
}

/** Label selectors of the pods that serve a release's management API (proxy, or standalone). */
export function servingPodSelectors(release: string): string[] {
  return [
    // Helm chart: bare component label.
    `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus,component in (proxy,standalone)`,
    // Milvus Operator.
    `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus,app.kubernetes.io/component in (proxy,standalone)`,
  ];
}

/**
 * "The proxy pod(s) of release R in namespace N forward 9091 to 127.0.0.1:<port>": one KWOK
 * PortForward per current proxy (or standalone) pod of the release, forwarding each of podPorts
 * to the local port. A per-pod rule wins over namespace rules (forwardNamespaceTo), so other
 * releases of the namespace can point elsewhere. Pods created later (a rollout) are not covered:
 * call it again after a rollout, or use forwardNamespaceTo. Returns the pod names.
 */
export async function forwardReleaseTo(ns: string, release: string, port: number, podPorts: number[] = [9091]): Promise<string[]> {
  return forwardReleasePods(ns, release, [{ ports: podPorts, target: { port, address: '127.0.0.1' } }]);
}

/** A KWOK port-forward rule: these pod ports go to that loopback port. */
export interface PodForward {
  ports: number[];
  target: { port: number; address: string };
}

/** forwardReleaseTo with any set of forwards (for example 9091 and 19530 to two ports). */
export async function forwardReleasePods(ns: string, release: string, forwards: PodForward[]): Promise<string[]> {
  const pods = new Set<string>();
  for (const selector of servingPodSelectors(release)) {
    const list = await kubectlJson<{ items: Array<{ metadata: { name: string; deletionTimestamp?: string } }> }>(['get', 'pods', '-n', ns, '-l', selector]);
    for (const p of list.items) if (!p.metadata.deletionTimestamp) pods.add(p.metadata.name);
  }
  if (!pods.size) throw new Error(`no proxy or standalone pod of release ${release} in namespace ${ns}`);
  for (const pod of pods) {
    const manifest = {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'PortForward',
      metadata: { name: pod, namespace: ns, labels: { 'testbed.kubectl-milvus.io/release': release } },
      spec: { forwards },
    };
    // KWOK keeps the target of an existing rule when it is updated: replace the rule instead.
    await run('kubectl', ['delete', 'portforward', pod, '-n', ns, '--ignore-not-found']);
    await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
  }
  return [...pods].sort();
}

export async function removeReleaseForward(ns: string, release: string): Promise<void> {
  await run('kubectl', ['delete', 'portforward', '-n', ns, '-l', `testbed.kubectl-milvus.io/release=${release}`, '--ignore-not-found']);
}

/**
 * Faults for the metadata-migration pods created later in the namespace (by the plugin or the
 * operator simulator): replaces the ConfigMap testbed-faults read by testbed/faults/controller.ts.
 * Keys: `meta-migration` (every migration pod) or `meta-migration.<part of the pod name>`
 * (longest match wins); values: succeed | fail | hang | fail-once | fail-<N>.
 * Example: setFaults(ns, { 'meta-migration.rollback': 'fail', 'meta-migration': 'succeed' }).
 */
export async function setFaults(ns: string, faults: Record<string, string>): Promise<void> {
  const manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'testbed-faults', namespace: ns }, data: faults };
  await run('kubectl', ['delete', 'configmap', 'testbed-faults', '-n', ns, '--ignore-not-found']);
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
}

export async function clearFaults(ns: string): Promise<void> {
  await run('kubectl', ['delete', 'configmap', 'testbed-faults', '-n', ns, '--ignore-not-found']);
}

/** Pretends another Milvus Operator version (the image tag of deploy/milvus-operator that tools read). */
export async function setOperatorVersion(version: string): Promise<void> {
  const v = version.replace(/^v/, '');
  await kubectl(['set', 'image', 'deployment/milvus-operator', '-n', 'milvus-operator', `manager=milvusdb/milvus-operator:v${v}`]);
  await kubectl(['label', 'deployment/milvus-operator', '-n', 'milvus-operator', `app.kubernetes.io/version=${v}`, '--overwrite']);
}

interface Workload {
  kind: string;
  metadata: { name: string; generation?: number };
  spec: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
}

/** Not-ready Deployments and StatefulSets of the namespace (matching selector), as "kind/name (ready/wanted)". */
export async function notReady(ns: string, selector?: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Workload[] }>(['get', 'deployments,statefulsets', '-n', ns, ...(selector ? ['-l', selector] : [])]);
  return list.items
    .filter((w) => {
      const want = w.spec.replicas ?? 1;
      const s = w.status ?? {};
      return !((s.observedGeneration ?? 0) >= (w.metadata.generation ?? 0) && (s.readyReplicas ?? 0) >= want && (s.updatedReplicas ?? 0) >= want && (s.replicas ?? 0) <= want);
    })
    .map((w) => `${w.kind.toLowerCase()}/${w.metadata.name} (${w.status?.readyReplicas ?? 0}/${w.spec.replicas ?? 1})`);
}

/** Waits until every Deployment and StatefulSet of the namespace (matching selector) has rolled out and is ready. */
export async function waitReady(ns: string, opts: { selector?: string; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  for (;;) {
    const pending = await notReady(ns, opts.selector);
    if (!pending.length) return;
    if (Date.now() > deadline) throw new Error(`not ready in ${ns}: ${pending.join(', ')}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

export interface ObjectRef {
  kind: string;
  name: string;
  resourceVersion: string;
  generation?: number;
}

/** Every namespaced object the plugin could touch, with its resourceVersion, for before/after comparisons. */
export async function snapshotObjects(ns: string): Promise<ObjectRef[]> {
  const kinds = 'deployments,statefulsets,services,configmaps,secrets,persistentvolumeclaims,pods,milvuses.milvus.io,milvusupgrades.milvus.io';
  const list = await kubectlJson<{ items: Array<{ kind: string; metadata: { name: string; resourceVersion: string; generation?: number } }> }>([
    'get', kinds, '-n', ns,
  ]);
  return list.items
    .map((o) => ({ kind: o.kind, name: o.metadata.name, resourceVersion: o.metadata.resourceVersion, generation: o.metadata.generation }))
    .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

/** A kubeconfig for a ServiceAccount of the namespace (token auth), optionally with its own default namespace. */
export async function serviceAccountKubeconfig(ns: string, sa: string, opts: { namespace?: string; exec?: boolean } = {}): Promise<string> {
  await kubectl(['create', 'serviceaccount', sa, '-n', ns]);
  const token = (await kubectl(['create', 'token', sa, '-n', ns, '--duration', '1h'])).trim();
  const admin = readFileSync(KUBECONFIG, 'utf8');
  const server = /server: (\S+)/.exec(admin)![1]!;
  const dir = mkdtempSync(join(tmpdir(), 'km-sa-'));
  let user: string;
  if (opts.exec) {
    // An exec credential plugin, as cloud providers use, returning the token.
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const plugin = join(dir, 'credential-plugin');
    writeFileSync(
      plugin,
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat ${tokenFile})"\n`,
      { mode: 0o700 },
    );
    user = `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      interactiveMode: Never\n`;
  } else {
    user = `    token: ${token}\n`;
  }
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: sa
clusters:
- name: testbed
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
contexts:
- name: sa
  context:
    cluster: testbed
    user: sa
${opts.namespace ? `    namespace: ${opts.namespace}\n` : ''}users:
- name: sa
  user:
${user}`,
    { mode: 0o600 },
  );
  return file;
}

/**
 * The spec as the test bed's real Milvus Operator needs it: a release on Pulsar gets
 * `config.pulsar.authPlugin`, which turns the operator's Pulsar probe into a TCP dial that the bed's
 * dependency gateway answers (no Pulsar broker runs here; testbed/README.md).
 */
export function bedSpec(spec: Record<string, any>): Record<string, any> {
  const deps = spec.dependencies ?? {};
  const onPulsar = deps.msgStreamType === 'pulsar' || (!deps.msgStreamType && spec.mode === 'cluster');
  if (!onPulsar || spec.config?.pulsar?.authPlugin) return spec;
  return { ...spec, config: { ...(spec.config ?? {}), pulsar: { ...(spec.config?.pulsar ?? {}), authPlugin: 'testbed' } } };
}

// Creations are spaced out: the operator installs each new resource's etcd, MinIO and Pulsar
// with its Helm SDK in parallel, and with many at once an install can fail half-way ("the server
// could not find the requested resource"); a failed etcd release then blocks that resource for
// good (the operator's PVC-resize path wants the StatefulSet it never got).
const CREATE_SPACING_MS = 4000;
let lastCreate: Promise<void> = Promise.resolve();

/** A milvus.io/v1beta1 Milvus reconciled by the test bed's real Milvus Operator; waits until Healthy unless wait is false. */
export async function createOperatorMilvus(ns: string, name: string, spec: Record<string, unknown>, opts: { wait?: boolean } = {}): Promise<void> {
  const manifest = { apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', metadata: { name, namespace: ns }, spec: bedSpec(spec) };
  const rootPath = (spec.config as { etcd?: { rootPath?: string } } | undefined)?.etcd?.rootPath ?? name;
  await seedMilvusMetadata(await metaEtcd(), rootPath);
  const turn = lastCreate.then(() => kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) }));
  lastCreate = turn.then(
    () => new Promise((res) => setTimeout(res, CREATE_SPACING_MS)),
    () => undefined,
  );
  await turn;
  if (opts.wait !== false) await waitForMilvusStatus(ns, name, 'Healthy');
}

/** The real operator probes its dependencies every 30 s and its Deployments have minReadySeconds 30: a first Healthy takes 1-2 minutes. */
export async function waitForMilvusStatus(ns: string, name: string, status: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run('kubectl', ['get', 'milvus', name, '-n', ns, '-o', 'jsonpath={.status.status}']);
    if (r.code === 0 && r.stdout === status) return;
    if (Date.now() > deadline) throw new Error(`milvus ${ns}/${name} did not reach ${status} (last: ${r.stdout || r.stderr})`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Starts the plugin, sends SIGINT (Ctrl-C) once stderr matches `when`, and returns the result. */
export function interruptWhen(args: string[], when: RegExp): Promise<{ code: number | null; stderr: string }> {
  const p = pluginCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(p.cmd, [...p.args, ...args], { env: testbedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    });
  });
}
