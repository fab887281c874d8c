/**
 * meta-migrate's checks, all before anything is stopped: the versions the migration tool accepts,
 * the etcd endpoint and root path, the storage class of the backup volume, and for a rollback a
 * finished backup on the right ConfigMap (`milvus-meta-migration-config-<instance>`; upstream
 * checks a name without the suffix and always aborts after stopping Milvus).
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { preconditionError, usageError } from '../errors.js';
import { etcdSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { BACKUP_ANNOTATION, BACKUP_DONE } from './manifests.js';

export interface VersionInput {
  sourceVersion: string;
  targetVersion: string;
}

/** X.Y.Z without a leading v (the tool's semver.Parse rejects one); exit 2 otherwise. */
export function plainVersion(v: string, flag: string): string {
  const s = semver.valid(v.replace(/^v/, ''));
  if (!s) throw usageError(`invalid ${flag} "${v}": use X.Y.Z, e.g. ${flag === '--source-version' ? '2.1.4' : '2.2.0'}`);
  return s;
}

/**
 * The tool migrates only 2.1.x metadata to a 2.2.x target (NewMigrator: Range21x(source) &&
 * Range22x(target), Range22x = [2.2.0, 2.3.0)); a later version is reached from 2.2 by upgrading.
 */
export function validateVersions(o: VersionInput): void {
  const s = plainVersion(o.sourceVersion, '--source-version');
  const t = plainVersion(o.targetVersion, '--target-version');
  if (!semver.satisfies(s, '>=2.1.0 <2.2.0')) {
    throw preconditionError(`source version ${s} is not 2.1.x: the metadata migration only converts 2.1.x metadata`, semver.gte(s, '2.2.0') ? 'metadata of 2.2 and later needs no migration: use rolling-update' : undefined);
  }
  if (!semver.satisfies(t, '>=2.2.0 <2.3.0')) {
    throw preconditionError(`target version ${t} is not 2.2.x: the migration tool accepts only 2.2.x targets`, 'migrate to 2.2.x first, check that it starts, then upgrade further with rolling-update');
  }
}

const HOST_PORT = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

/** --etcd-endpoints: comma-separated host:port (http:// is stripped; the tool wants host:port). */
export function parseEndpoints(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((s) => s.trim().replace(/^https?:\/\//, ''))
    .filter(Boolean);
  if (list.length === 0) throw usageError('--etcd-endpoints is empty: use host:port[,host:port]');
  for (const e of list) if (!HOST_PORT.test(e)) throw usageError(`invalid etcd endpoint "${e}": use host:port`);
  return list;
}

/** The release's etcd client Service (non-headless, port "client"), as migrate.sh finds it; else the endpoints the Milvus configuration names. */
export async function findEtcd(ctx: RunContext, r: Release, config: Record<string, unknown> | undefined): Promise<{ endpoints: string[]; from: string }> {
  const kube = ctx.kube();
  const selector = etcdSelector(r.method, r.name);
  const svcs = await kube.listAll(
    { verb: 'list', resource: 'services', namespace: r.namespace },
    (o) => kube.core.listNamespacedService({ namespace: r.namespace, ...o }),
    { labelSelector: selector },
  );
  for (const s of svcs) {
    if (s.spec?.clusterIP === 'None' || s.metadata?.name?.endsWith('-headless')) continue;
    const port = s.spec?.ports?.find((p) => p.name === 'client')?.port;
    if (port) return { endpoints: [`${s.metadata!.name}:${port}`], from: `service/${s.metadata!.name}` };
  }
  const configured = (config?.etcd as { endpoints?: unknown } | undefined)?.endpoints;
  const list = (Array.isArray(configured) ? configured : typeof configured === 'string' ? configured.split(',') : []).map((x) => String(x).trim().replace(/^https?:\/\//, '')).filter(Boolean);
  if (list.length) return { endpoints: list, from: 'etcd.endpoints in the Milvus configuration' };
  throw preconditionError(`no etcd client service of release "${r.name}" found (labels ${selector}, port named "client") and no etcd.endpoints in its configuration`, 'pass --etcd-endpoints host:port for an external etcd');
}

/** The Milvus configuration the components mount (default.yaml overridden by user.yaml / milvus.yaml), if readable. */
export async function milvusConfig(ctx: RunContext, r: Release): Promise<Record<string, unknown> | undefined> {
  if (!r.helm) return undefined;
  const kube = ctx.kube();
  const cm = await kube.getIfExists({ verb: 'get', resource: 'configmaps', namespace: r.namespace, name: r.helm.fullname }, () => kube.core.readNamespacedConfigMap({ name: r.helm!.fullname, namespace: r.namespace }));
  if (!cm) return undefined;
  return mergedConfig(cm);
}

export function mergedConfig(cm: V1ConfigMap): Record<string, unknown> {
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const av = out[k];
      out[k] = av && v && typeof av === 'object' && typeof v === 'object' && !Array.isArray(v) ? merge(av as Record<string, unknown>, v as Record<string, unknown>) : v;
    }
    return out;
  };
  let doc: Record<string, unknown> = {};
  for (const key of ['default.yaml', 'milvus.yaml', 'user.yaml']) {
    // The chart writes some keys more than once (mq, messageQueue); Milvus takes the last one, as json mode does.
    const v = yaml.load(cm.data?.[key] ?? '', { json: true });
    if (v && typeof v === 'object' && !Array.isArray(v)) doc = merge(doc, v as Record<string, unknown>);
  }
  return doc;
}

/** The etcd root path: --root-path, else the configuration's etcd.rootPath, else by-dev; a contradiction is refused. */
export function resolveRootPath(flag: string | undefined, config: Record<string, unknown> | undefined, fallback: string): { rootPath: string; from: string } {
  const configured = (config?.etcd as { rootPath?: unknown } | undefined)?.rootPath;
  if (flag !== undefined) {
    if (flag.trim() === '') throw usageError('--root-path is empty');
    if (typeof configured === 'string' && configured !== flag) throw preconditionError(`--root-path ${flag} differs from etcd.rootPath ${configured} in the release's configuration`, 'drop --root-path, or check which metadata you mean to migrate');
    return { rootPath: flag, from: '--root-path' };
  }
  if (typeof configured === 'string' && configured) return { rootPath: configured, from: 'etcd.rootPath in the release configuration' };
  return { rootPath: fallback, from: 'default' };
}

export async function checkStorageClass(ctx: RunContext, name: string | undefined): Promise<string> {
  const kube = ctx.kube();
  const list = await kube.listAll({ verb: 'list', resource: 'storageclasses.storage.k8s.io' }, (o) => kube.storage.listStorageClass(o));
  if (name) {
    if (!list.some((s) => s.metadata?.name === name)) throw preconditionError(`storage class "${name}" does not exist`, `see "kubectl get storageclass"`);
    return name;
  }
  const def = list.find((s) => s.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');
  if (!def) throw preconditionError('no default storage class for the backup volume', 'pass --storage-class');
  return `${def.metadata!.name} (default)`;
}

export function backupFinished(cm: V1ConfigMap | undefined): boolean {
  return cm?.metadata?.annotations?.[BACKUP_ANNOTATION] === BACKUP_DONE;
}
