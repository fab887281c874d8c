/**
 * `report`: one tar.gz for support with the release's objects (Helm values and manifest, or the
 * Milvus resource; Deployments, StatefulSets, pods, PVCs and their PVs, Services, ConfigMaps,
 * Secrets, events), optionally pod logs (current and previous), the status and health output and
 * the plugin version; redacted as redact.ts says, written with mode 0600. Secrets are those of the
 * release and those its pods and workloads reference by name (labelled or not). Objects of the release
 * are selected by their labels, never by name prefix. What could not be read is listed in
 * errors.txt instead of failing the bundle.
 */
import type { CoreV1Event, V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { rmSync } from 'node:fs';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import type { Kube } from '../kube/client.js';
import { readHelmRelease } from '../release/helm-secret.js';
import type { Release } from '../release/types.js';
import { buildStatusReport } from '../status/report.js';
import { checkHealth } from '../health/health.js';
import { etcdReportFile } from './etcd.js';
import { BUILD_DATE, GIT_COMMIT, VERSION } from '../version-info.js';
import { dumpManifest, Redactor, redactManifestDocs, type SecretsMode } from './redact.js';
import { secretNamesOf } from './secret-refs.js';
import { TarGzWriter } from './tar.js';

export interface ReportOptions {
  file: string;
  logs: boolean;
  /** Logs newer than this (ms); undefined: all. */
  sinceMs: number | undefined;
  secrets: SecretsMode;
  /** Include the health checks (probes every ready pod and etcd). */
  health: boolean;
}

export interface ReportResult {
  file: string;
  files: number;
  bytes: number;
  errors: string[];
}

interface Meta {
  metadata?: V1ObjectMeta;
}

/** Label values by which the release's objects and those of its dependencies are known. */
export function belongsToRelease(labels: Record<string, string> | undefined, release: string): boolean {
  if (!labels) return false;
  const inst = labels['app.kubernetes.io/instance'];
  const rel = labels.release;
  const mine = [release, `${release}-etcd`, `${release}-minio`, `${release}-pulsar`, `${release}-kafka`];
  return (inst !== undefined && mine.includes(inst)) || (rel !== undefined && mine.includes(rel)) || labels['kubectl-milvus.io/release'] === release;
}

const clean = <T extends Meta>(o: T): T => {
  if (o.metadata?.managedFields) delete o.metadata.managedFields;
  return o;
};

const dump = (doc: unknown) => yaml.dump(doc, { lineWidth: -1, noRefs: true, skipInvalid: true });

type FileContent = string | { doc: unknown; format: 'yaml' | 'json' } | { docs: unknown[] };

/** A file's final text: free text scrubbed as text, documents value by value (keys and images kept). */
function render(r: Redactor, content: FileContent): string {
  if (typeof content === 'string') return r.scrub(content);
  if ('docs' in content) return dumpManifest(content.docs.map((d) => (d === undefined ? d : r.scrubDoc(d))));
  const doc = r.scrubDoc(content.doc);
  return content.format === 'json' ? JSON.stringify(doc, null, 2) + '\n' : dump(doc);
}

export async function writeReport(ctx: RunContext, release: Release, o: ReportOptions): Promise<ReportResult> {
  const kube = ctx.kube();
  const ns = release.namespace;
  const r = new Redactor(o.secrets);
  // Text (logs) or documents, scrubbed and rendered only at the end: Secrets found late (in the
  // Helm manifest) are scrubbed from every file, and documents value by value.
  const files = new Map<string, FileContent>();
  const errors: string[] = [];
  const put = (name: string, content: string) => files.set(name, content);
  const putDoc = (name: string, doc: unknown, format: 'yaml' | 'json' = 'yaml') => files.set(name, { doc, format });
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  // Opened first: an existing file or an unwritable place fails before anything is read.
  let tar: TarGzWriter;
  try {
    tar = new TarGzWriter(o.file, ctx.now());
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw usageError(`${o.file} exists: the report never overwrites a file; choose another with -f`);
    throw new CliError(`cannot create ${o.file}: ${code ?? (e as Error).message}`, ExitCode.PRECONDITION);
  }
  try {
    ctx.log.info(`Collecting the objects of release "${release.name}" in namespace "${ns}" ...`);
    const list = <T extends Meta>(resource: string, fn: (opts: { limit: number; _continue?: string }) => Promise<{ items: T[]; metadata?: { _continue?: string } }>, mine = (x: T) => belongsToRelease(x.metadata?.labels, release.name)) =>
      attempt(`list ${resource}`, async () => (await kube.listAll({ verb: 'list', resource, namespace: ns }, fn)).filter(mine).map(clean));
    const [deployments, statefulSets, pods, pvcs, services, configMaps, secrets] = await Promise.all([
      list('deployments.apps', (p) => kube.apps.listNamespacedDeployment({ namespace: ns, ...p })),
      list('statefulsets.apps', (p) => kube.apps.listNamespacedStatefulSet({ namespace: ns, ...p })),
      list('pods', (p) => kube.core.listNamespacedPod({ namespace: ns, ...p })),
      list('persistentvolumeclaims', (p) => kube.core.listNamespacedPersistentVolumeClaim({ namespace: ns, ...p })),
      list('services', (p) => kube.core.listNamespacedService({ namespace: ns, ...p })),
      list('configmaps', (p) => kube.core.listNamespacedConfigMap({ namespace: ns, ...p })),
      list('secrets', (p) => kube.core.listNamespacedSecret({ namespace: ns, ...p }), () => true),
    ]);
    // The release's Secrets: labelled as its own, or used by its pods and workloads by name.
    const used = new Set([...(pods ?? []).map((p) => p.spec), ...[...(deployments ?? []), ...(statefulSets ?? [])].map((w) => w.spec?.template?.spec)].flatMap(secretNamesOf));
    const releaseSecrets = (secrets ?? []).filter((s) => belongsToRelease(s.metadata?.labels, release.name) || used.has(s.metadata?.name ?? ''));
    // Secrets first: their values are scrubbed from everything written after.
    const keptSecrets = releaseSecrets.map((s) => r.secret(s)).filter((s) => s !== undefined);
    const kinds: Array<[string, string, unknown[] | undefined]> = [
      ['deployments', 'Deployment', deployments],
      ['statefulsets', 'StatefulSet', statefulSets],
      ['pods', 'Pod', pods],
      ['persistentvolumeclaims', 'PersistentVolumeClaim', pvcs],
      ['services', 'Service', services],
      ['configmaps', 'ConfigMap', configMaps],
    ];
    for (const [file, kind, items] of kinds) {
      if (items) putDoc(`objects/${file}.yaml`, { apiVersion: 'v1', kind: 'List', items: items.map((i) => ({ kind, ...r.value(i as object) })) });
    }
    if (o.secrets !== 'off' && secrets) putDoc('objects/secrets.yaml', { apiVersion: 'v1', kind: 'List', items: keptSecrets.map((s) => ({ kind: 'Secret', ...s })) });
    const volumeNames = new Set((pvcs ?? []).map((p) => p.spec?.volumeName).filter(Boolean));
    if (volumeNames.size) {
      const pvs = await attempt('list persistentvolumes', () => kube.listAll({ verb: 'list', resource: 'persistentvolumes' }, (p) => kube.core.listPersistentVolume(p)));
      if (pvs) putDoc('objects/persistentvolumes.yaml', { apiVersion: 'v1', kind: 'List', items: pvs.filter((pv) => volumeNames.has(pv.metadata?.name)).map((pv) => ({ kind: 'PersistentVolume', ...r.value(clean(pv)) })) });
    }
    const names = new Set<string>([release.name]);
    for (const group of [deployments, statefulSets, pods, pvcs, services, configMaps]) for (const x of group ?? []) if (x.metadata?.name) names.add(x.metadata.name);
    for (const d of deployments ?? []) if (d.metadata?.name) names.add(d.metadata.name);
    const events = await attempt('list events', () => kube.listAll({ verb: 'list', resource: 'events', namespace: ns }, (p) => kube.core.listNamespacedEvent({ namespace: ns, ...p })));
    if (events) {
      // ReplicaSets are named after their Deployment: <deployment>-<hash>; pods likewise.
      const related = (e: CoreV1Event) => {
        const n = e.involvedObject?.name ?? '';
        return names.has(n) || [...names].some((m) => n.startsWith(`${m}-`) && /^[a-z0-9]{5,10}$/.test(n.slice(m.length + 1)));
      };
      const mine = events.filter(related).map(clean).sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')));
      putDoc('objects/events.yaml', { apiVersion: 'v1', kind: 'List', items: mine.map((e) => ({ kind: 'Event', ...r.value(e) })) });
    }
    if (release.method === 'helm') {
      const stored = await attempt('read the Helm release', () => readHelmRelease(kube, ns, release.name));
      if (stored) {
        const rec = stored.record;
        putDoc('helm/release.yaml', { name: release.name, revision: rec.version, status: rec.info?.status, chart: `${rec.chart?.metadata?.name}-${rec.chart?.metadata?.version}`, appVersion: rec.chart?.metadata?.appVersion, storage: `${stored.storage}/${stored.objectName}` });
        putDoc('helm/values.yaml', r.value(rec.config ?? {}));
        putDoc('helm/values-computed.yaml', r.value(release.helm?.computedValues ?? {}));
        if (rec.manifest) {
          if (!r.active) put('helm/manifest.yaml', rec.manifest);
          else {
            const m = await attempt('redact the Helm manifest', async () => redactManifestDocs(r, rec.manifest!));
            if (m !== undefined) files.set('helm/manifest.yaml', { docs: m });
          }
        }
      }
    } else if (release.operator) {
      putDoc('milvus/milvus.yaml', r.value(clean({ ...release.operator.resource } as Meta)));
    }
    const status = await attempt('status', () => buildStatusReport(kube, release));
    if (status) putDoc('status.json', status, 'json');
    if (o.health) {
      ctx.log.info('Checking health (every ready pod /healthz, etcd sessions) ...');
      const health = await attempt('health', () => checkHealth(ctx, release, status));
      if (health) putDoc('health.json', health, 'json');
      const etcd = await attempt('etcd status and alarms', () => etcdReportFile(ctx, release));
      if (etcd) put('etcd.json', etcd);
    }
    if (o.logs && pods) await collectLogs(ctx, kube, ns, pods, o.sinceMs, put, errors);
    const server = await kube.serverVersion();
    put('version.txt', `kubectl-milvus ${VERSION} (commit ${GIT_COMMIT}, built ${BUILD_DATE})\nnode ${process.version}\nserver ${server ?? 'unknown'}\ncreated ${ctx.now().toISOString()}\nsecrets ${o.secrets}\n`);
    if (errors.length) put('errors.txt', errors.map((e) => e + '\n').join(''));
    const prefix = `${release.name}-report`;
    let bytes = 0;
    for (const [name, content] of [...files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const text = render(r, content);
      bytes += Buffer.byteLength(text);
      await tar.add(`${prefix}/${name}`, text);
    }
    await tar.finish();
    return { file: o.file, files: files.size, bytes, errors };
  } catch (e) {
    tar.abort();
    rmSync(o.file, { force: true });
    throw e;
  }
}

async function collectLogs(
  ctx: RunContext,
  kube: Kube,
  ns: string,
  pods: V1Pod[],
  sinceMs: number | undefined,
  put: (name: string, content: string) => void,
  errors: string[],
): Promise<void> {
  const jobs: Array<{ pod: string; container: string; previous: boolean }> = [];
  for (const p of pods) {
    const name = p.metadata?.name ?? '';
    for (const c of p.spec?.containers ?? []) {
      jobs.push({ pod: name, container: c.name, previous: false });
      const restarted = (p.status?.containerStatuses ?? []).some((s) => s.name === c.name && (s.restartCount ?? 0) > 0);
      if (restarted) jobs.push({ pod: name, container: c.name, previous: true });
    }
  }
  ctx.log.info(`Collecting ${jobs.length} log(s) of ${pods.length} pod(s)${sinceMs !== undefined ? ` since ${Math.round(sinceMs / 1000)}s ago` : ''} ...`);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, jobs.length) }, async () => {
      while (next < jobs.length) {
        const j = jobs[next++]!;
        try {
          const text = await kube.call({ verb: 'get', resource: 'pods/log', namespace: ns, name: j.pod }, () =>
            kube.core.readNamespacedPodLog({
              name: j.pod,
              namespace: ns,
              container: j.container,
              timestamps: true,
              ...(j.previous ? { previous: true } : {}),
              ...(sinceMs !== undefined ? { sinceSeconds: Math.max(1, Math.ceil(sinceMs / 1000)) } : {}),
            }),
          );
          put(`logs/${j.pod}/${j.container}${j.previous ? '.previous' : ''}.log`, typeof text === 'string' ? text : String(text));
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          errors.push(`logs of ${j.pod}/${j.container}${j.previous ? ' (previous)' : ''}: ${(e as Error).message}`);
        }
        done++;
        if (done % 20 === 0) ctx.log.info(`  ${done}/${jobs.length} logs ...`);
      }
    }),
  );
}
