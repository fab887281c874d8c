/**
 * Backups of what a procedure replaces, kept twice: a file in the local backup directory and a
 * Secret of ours in the release's namespace (values and manifests may hold credentials, so they
 * are never printed and never stored in a ConfigMap). The in-cluster copy survives a lost laptop
 * and is what a resumed run reads.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { isNotFound } from '../kube/errors.js';
import { LABEL_PROCEDURE, LABEL_RELEASE, MANAGED_BY } from '../procedure/engine.js';

export function defaultBackupDir(namespace: string, release: string, now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return resolve('kubectl-milvus-backup', namespace, release, stamp);
}

export function backupSecretName(procedure: string, release: string): string {
  return `kubectl-milvus-backup-${procedure}-${release}`.slice(0, 253);
}

/**
 * The Secret key of one backup file of one run: `<run id>.<file>`. One Secret per procedure and
 * release holds every run's files, each under its own key; a key once written is never replaced.
 */
export const backupKey = (runId: string, file: string) => `${runId}.${file}`;
const RUN_KEY = /^(\d{8}T\d{6,9}Z)\.(.+)$/;

export async function saveBackup(
  ctx: RunContext,
  where: { namespace: string; release: string; procedure: string; dir: string; /** StepRun.runId */ runId: string },
  files: Record<string, string>,
): Promise<{ secret: string; paths: string[] }> {
  mkdirSync(where.dir, { recursive: true, mode: 0o700 });
  const paths: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const p = join(where.dir, name);
    writeExclusive(p, content);
    paths.push(p);
  }
  const kube = ctx.kube();
  const name = backupSecretName(where.procedure, where.release);
  const existing = await readBackupSecret(ctx, where.namespace, name);
  const keyed = Object.fromEntries(Object.entries(files).map(([file, content]) => [backupKey(where.runId, file), content]));
  for (const [key, content] of Object.entries(keyed)) {
    // The same content again is a step repeated after an interruption; anything else is refused.
    if (existing?.data[key] !== undefined && existing.data[key] !== content) {
      throw new CliError(`secret/${name} already holds "${key}" with other content: a backup key is never replaced`, ExitCode.PRECONDITION);
    }
  }
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name,
      namespace: where.namespace,
      // An update names the version read: a concurrent writer's keys are never dropped.
      ...(existing?.resourceVersion ? { resourceVersion: existing.resourceVersion } : {}),
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: where.release, [LABEL_PROCEDURE]: where.procedure },
      annotations: { 'kubectl-milvus.io/description': `backup taken by "kubectl milvus ${where.procedure} ${where.release}", one key per run and file (<run>.<file>); never deleted by the plugin` },
    },
    stringData: { ...(existing?.data ?? {}), ...keyed },
  };
  await kube.call({ verb: existing ? 'update' : 'create', resource: 'secrets', namespace: where.namespace, name }, () =>
    existing
      ? kube.core.replaceNamespacedSecret({ name, namespace: where.namespace, body })
      : kube.core.createNamespacedSecret({ namespace: where.namespace, body }),
  );
  return { secret: name, paths };
}

/**
 * Creates the file, never replacing one: an existing file with the same content (a step repeated
 * after an interruption) is kept, any other is refused.
 */
export function writeExclusive(path: string, content: string): void {
  try {
    writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (readFileSync(path, 'utf8') === content) return;
    throw new CliError(`${path} exists with other content: a backup file is never overwritten`, ExitCode.PRECONDITION, 'pass another --backup-dir');
  }
}

async function readBackupSecret(ctx: RunContext, namespace: string, name: string): Promise<{ data: Record<string, string>; resourceVersion: string | undefined } | undefined> {
  const kube = ctx.kube();
  try {
    const s = await kube.core.readNamespacedSecret({ name, namespace });
    const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    return { data, resourceVersion: s.metadata?.resourceVersion };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw await kube.call({ verb: 'get', resource: 'secrets', namespace, name }, () => Promise.reject(e)).catch((x: unknown) => x);
  }
}

/** The runs of a backup Secret, newest first, each with its files (keys written before run ids: run undefined). */
export function backupRuns(data: Record<string, string>): Array<{ runId: string | undefined; files: Record<string, string> }> {
  const runs = new Map<string | undefined, Record<string, string>>();
  for (const [key, content] of Object.entries(data)) {
    const m = RUN_KEY.exec(key);
    const run = m ? m[1] : undefined;
    const file = m ? m[2]! : key;
    runs.set(run, { ...(runs.get(run) ?? {}), [file]: content });
  }
  return [...runs.entries()].sort(([a], [b]) => (b ?? '').localeCompare(a ?? '')).map(([runId, files]) => ({ runId, files }));
}

/**
 * The files of the newest run that saved any in the Secret. One run of a procedure at a time per
 * release, so once a run saved its files they are the newest; before, they are the last run's.
 */
export async function readBackup(ctx: RunContext, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const s = await readBackupSecret(ctx, namespace, name);
  return s ? (backupRuns(s.data)[0]?.files ?? {}) : undefined;
}

export async function requireBackup(ctx: RunContext, namespace: string, name: string, key: string): Promise<string> {
  const b = await readBackup(ctx, namespace, name);
  const v = b?.[key];
  if (!v) throw new CliError(`the backup secret/${name} has no "${key}" of the last run: refusing to continue without it`, ExitCode.PRECONDITION);
  return v;
}

export interface FoundBackup {
  secret: string;
  procedure: string;
  /** The run that saved these files (undefined for keys written before backups were keyed by run). */
  runId?: string | undefined;
  /** The files of that run. */
  keys: string[];
  createdAt: string | undefined;
}

/** The backup Secrets of a release (ours, by label), newest first; used when no checkpoint is left. */
export async function findBackups(ctx: RunContext, namespace: string, release: string): Promise<FoundBackup[]> {
  const kube = ctx.kube();
  const list = await kube.listAll({ verb: 'list', resource: 'secrets', namespace }, (o) => kube.core.listNamespacedSecret({ namespace, ...o }), {
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY},${LABEL_RELEASE}=${release}`,
  });
  const runAt = (runId: string | undefined) => {
    const m = runId ? /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)/.exec(runId) : null;
    return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}` : undefined;
  };
  return list
    .filter((s) => s.metadata?.name?.startsWith('kubectl-milvus-backup-'))
    .flatMap((s) => {
      const created = s.metadata?.creationTimestamp ? new Date(s.metadata.creationTimestamp as unknown as string).toISOString() : undefined;
      return backupRuns(Object.fromEntries(Object.keys(s.data ?? {}).map((k) => [k, '']))).map((r) => ({
        secret: s.metadata!.name!,
        procedure: s.metadata?.labels?.[LABEL_PROCEDURE] ?? '',
        runId: r.runId,
        keys: Object.keys(r.files).sort(),
        createdAt: runAt(r.runId) ?? created,
      }));
    })
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
}

/** Commands that put a release back from one backup Secret (values for Helm, the resource for the Operator). */
export function restoreSteps(b: FoundBackup, namespace: string, release: string): string[] {
  const get = (key: string, file: string) => {
    const stored = b.runId ? backupKey(b.runId, key) : key;
    return `kubectl get secret ${b.secret} -n ${namespace} -o jsonpath='{.data.${stored.replace(/\./g, '\\.')}}' | base64 -d > ${file}`;
  };
  if (b.keys.includes('values.yaml')) {
    const key = b.keys.includes('values-pulsarv3.yaml') ? 'values-pulsarv3.yaml' : 'values.yaml';
    return [
      get(key, key),
      `helm upgrade --install ${release} <chart> --version <the chart version of the release> -n ${namespace} -f ${key} --wait` +
        (key === 'values-pulsarv3.yaml' ? '   (values-pulsarv3.yaml once the Pulsar v2 volumes are gone; values.yaml while they are still there)' : ''),
    ];
  }
  if (b.keys.includes('milvus.yaml')) {
    const key = b.keys.includes('milvus-pulsarv3.yaml') ? 'milvus-pulsarv3.yaml' : 'milvus.yaml';
    return [get(key, key), `kubectl create -f ${key}   (${key === 'milvus-pulsarv3.yaml' ? 'milvus-pulsarv3.yaml once the Pulsar v2 volumes are gone; milvus.yaml while they are still there' : 'the saved resource'})`];
  }
  return [`kubectl get secret ${b.secret} -n ${namespace} -o yaml   (keys: ${b.keys.map((k) => (b.runId ? backupKey(b.runId, k) : k)).join(', ')})`];
}
