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

export async function saveBackup(
  ctx: RunContext,
  where: { namespace: string; release: string; procedure: string; dir: string },
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
  const existing = await readBackup(ctx, where.namespace, name);
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name,
      namespace: where.namespace,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: where.release, [LABEL_PROCEDURE]: where.procedure },
      annotations: { 'kubectl-milvus.io/description': `backup taken by "kubectl milvus ${where.procedure} ${where.release}"; never deleted by the plugin` },
    },
    stringData: { ...(existing ?? {}), ...files },
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

export async function readBackup(ctx: RunContext, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const kube = ctx.kube();
  try {
    const s = await kube.core.readNamespacedSecret({ name, namespace });
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw await kube.call({ verb: 'get', resource: 'secrets', namespace, name }, () => Promise.reject(e)).catch((x: unknown) => x);
  }
}

export async function requireBackup(ctx: RunContext, namespace: string, name: string, key: string): Promise<string> {
  const b = await readBackup(ctx, namespace, name);
  const v = b?.[key];
  if (!v) throw new CliError(`the backup secret/${name} has no "${key}": refusing to continue without it`, ExitCode.PRECONDITION);
  return v;
}

export interface FoundBackup {
  secret: string;
  procedure: string;
  keys: string[];
  createdAt: string | undefined;
}

/** The backup Secrets of a release (ours, by label), newest first; used when no checkpoint is left. */
export async function findBackups(ctx: RunContext, namespace: string, release: string): Promise<FoundBackup[]> {
  const kube = ctx.kube();
  const list = await kube.listAll({ verb: 'list', resource: 'secrets', namespace }, (o) => kube.core.listNamespacedSecret({ namespace, ...o }), {
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY},${LABEL_RELEASE}=${release}`,
  });
  return list
    .filter((s) => s.metadata?.name?.startsWith('kubectl-milvus-backup-'))
    .map((s) => ({
      secret: s.metadata!.name!,
      procedure: s.metadata?.labels?.[LABEL_PROCEDURE] ?? '',
      keys: Object.keys(s.data ?? {}).sort(),
      createdAt: s.metadata?.creationTimestamp ? new Date(s.metadata.creationTimestamp as unknown as string).toISOString() : undefined,
    }))
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
}

/** Commands that put a release back from one backup Secret (values for Helm, the resource for the Operator). */
export function restoreSteps(b: FoundBackup, namespace: string, release: string): string[] {
  const get = (key: string, file: string) => `kubectl get secret ${b.secret} -n ${namespace} -o jsonpath='{.data.${key.replace(/\./g, '\\.')}}' | base64 -d > ${file}`;
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
  return [`kubectl get secret ${b.secret} -n ${namespace} -o yaml   (keys: ${b.keys.join(', ')})`];
}
