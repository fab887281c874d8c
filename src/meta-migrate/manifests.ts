/**
 * Objects of the 2.1.x -> 2.2 metadata migration, with the names upstream migrate.sh uses so
 * runbooks translate one to one: the replica record, the backup PVC, the config ConfigMap with
 * backup.yaml / migration.yaml / rollback.yaml (the tool's format: cmd.type backup|run|rollback),
 * mounted as files, and the run-to-completion pods of container "meta-migration"; and the
 * MilvusUpgrade resource of Milvus Operator.
 */
import type { V1ConfigMap, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { LABEL_RELEASE, MANAGED_BY } from '../procedure/engine.js';

export type TaskKind = 'backup' | 'run' | 'rollback';

export const names = (instance: string) => ({
  replicas: `milvus-deploy-replicas-${instance}`,
  pvc: `milvus-meta-migration-backup-${instance}`,
  config: `milvus-meta-migration-config-${instance}`,
  pod: (kind: TaskKind) =>
    kind === 'backup' ? `milvus-meta-migration-backup-${instance}` : kind === 'run' ? `milvus-meta-migration-${instance}` : `milvus-meta-migration-rollback-${instance}`,
});

export const CONFIG_FILE: Record<TaskKind, string> = { backup: 'backup.yaml', run: 'migration.yaml', rollback: 'rollback.yaml' };
export const BACKUP_FILE = '/milvus/data/migration.bak';

/** migrate.sh's marker of a finished backup, on the config ConfigMap. */
export const BACKUP_ANNOTATION = 'backup';
export const BACKUP_DONE = 'succeed';
export const BACKUP_AT_ANNOTATION = 'kubectl-milvus.io/backup-finished-at';
/** What etcd holds now: source (2.1 format), migrating (a migration started and did not finish), migrated. */
export const META_STATE_ANNOTATION = 'kubectl-milvus.io/meta-state';
export type MetaState = 'source' | 'migrating' | 'migrated';
export const RUN_LABEL = 'kubectl-milvus.io/run';
export const TASK_LABEL = 'kubectl-milvus.io/task';

export const labels = (instance: string) => ({ 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: instance, 'app.kubernetes.io/component': 'meta-migration' });

export interface MigrationConfig {
  sourceVersion: string;
  targetVersion: string;
  etcdEndpoints: string[];
  rootPath: string;
  /** The backup file in the backup volume (one per run); default BACKUP_FILE. */
  backupFile?: string | undefined;
}

/** The migration tool's config for one task kind (cmd/tools/migration: -config file). */
export function toolConfig(kind: TaskKind, c: MigrationConfig): string {
  return yaml.dump({
    cmd: { type: kind, runWithBackup: false },
    config: { sourceVersion: c.sourceVersion, targetVersion: c.targetVersion, backupFilePath: c.backupFile ?? BACKUP_FILE },
    metastore: { type: 'etcd' },
    // One list: upstream's operator template repeats the key for several endpoints, which keeps only the last.
    etcd: { endpoints: c.etcdEndpoints, rootPath: c.rootPath, metaSubPath: 'meta', kvSubPath: 'kv' },
  });
}

export function configMap(instance: string, namespace: string, c: MigrationConfig): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names(instance).config, namespace, labels: labels(instance) },
    data: { 'backup.yaml': toolConfig('backup', c), 'migration.yaml': toolConfig('run', c), 'rollback.yaml': toolConfig('rollback', c) },
  };
}

/** The backup volume of one Operator-path run: the operator's backup file name is fixed, so each run gets its own volume. */
export const runBackupPvc = (instance: string, runId: string) => `${names(instance).pvc}-${runId}`;

export function backupPvc(name: string, instance: string, namespace: string, storageClass: string | undefined, runId?: string): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name,
      namespace,
      labels: { ...labels(instance), ...(runId ? { [RUN_LABEL]: runId } : {}) },
      annotations: { 'kubectl-milvus.io/description': 'metadata backup of the 2.1.x -> 2.2 migration; never deleted by kubectl-milvus' },
    },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, ...(storageClass ? { storageClassName: storageClass } : {}) },
  };
}

/** One task pod: the tool with its config file mounted as a file (a directory mount panics: milvus#21952). */
export function taskPod(instance: string, namespace: string, kind: TaskKind, image: string, runId: string): V1Pod {
  const n = names(instance);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: n.pod(kind), namespace, labels: { ...labels(instance), [TASK_LABEL]: kind, [RUN_LABEL]: runId } },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'meta-migration',
          image,
          command: ['/bin/sh'],
          args: ['-c', `/milvus/bin/meta-migration -config=/milvus/configs/meta/${CONFIG_FILE[kind]}`],
          volumeMounts: [
            { name: 'backup', mountPath: '/milvus/data' },
            { name: 'config', mountPath: `/milvus/configs/meta/${CONFIG_FILE[kind]}`, subPath: CONFIG_FILE[kind], readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'backup', persistentVolumeClaim: { claimName: n.pvc } },
        { name: 'config', configMap: { name: n.config } },
      ],
    },
  };
}

/** migrate.sh's record format: `deploy:replicas deploy:replicas`. */
export function replicaRecord(replicas: Record<string, number>): string {
  return Object.entries(replicas)
    .map(([d, n]) => `${d}:${n}`)
    .join(' ');
}

export function parseReplicaRecord(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const i = part.lastIndexOf(':');
    const n = Number(part.slice(i + 1));
    if (i > 0 && Number.isInteger(n) && n >= 0) out[part.slice(0, i)] = n;
  }
  return out;
}

/** The images before the migration, `deploy:image` (split at the first colon: names have none). */
export function imageRecord(images: Record<string, string>): string {
  return Object.entries(images)
    .map(([d, i]) => `${d}:${i}`)
    .join(' ');
}

export function parseImageRecord(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').trim().split(/\s+/).filter(Boolean)) {
    const i = part.indexOf(':');
    if (i > 0 && i < part.length - 1) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export interface Record_ {
  replicas: Record<string, number>;
  images: Record<string, string>;
}

/**
 * Which replica counts and images to keep, given an existing record and what runs now:
 * - no record: what runs now (refusing when everything is at 0: that would record zeros);
 * - a record and some component at 0 (a rerun after the stop): the record, never the zeros;
 * - a record and everything running: the live replicas (the operator may have scaled since);
 *   the images stay the record's on rollback (they are the ones to go back to), else the live ones.
 */
export function decideRecord(existing: Record_ | undefined, live: Record_, operation: 'migrate' | 'rollback'): { record: Record_; source: 'live' | 'record' | 'refreshed' } | { refuse: string } {
  const liveCounts = Object.values(live.replicas);
  const anyStopped = liveCounts.some((n) => n === 0);
  if (!existing || Object.keys(existing.replicas).length === 0) {
    if (liveCounts.length === 0 || liveCounts.every((n) => n === 0)) return { refuse: 'every component has 0 replicas and no replica record exists: refusing to record zeros' };
    return { record: live, source: 'live' };
  }
  if (anyStopped) return { record: { replicas: existing.replicas, images: Object.keys(existing.images).length ? existing.images : live.images }, source: 'record' };
  return { record: { replicas: live.replicas, images: operation === 'rollback' && Object.keys(existing.images).length ? existing.images : live.images }, source: 'refreshed' };
}

export interface UpgradeStatusView {
  spec?: { rollbackIfFailed?: boolean; maxRetry?: number };
  status?: { state?: string; retriedTimes?: number };
}

/**
 * Whether the operator is done with a MilvusUpgrade. Succeeded, RollbackedSucceeded and
 * RollbackFailed are final. BakupMetaFailed is retried up to maxRetry times and, like
 * UpdateMetaFailed, continues on the rollback path when rollbackIfFailed (default true); only
 * without it do they end there.
 */
export function upgradeFinished(u: UpgradeStatusView): boolean {
  const st = u.status?.state ?? '';
  if (['Succeeded', 'RollbackedSucceeded', 'RollbackFailed'].includes(st)) return true;
  if (u.spec?.rollbackIfFailed !== false) return false;
  if (st === 'UpdateMetaFailed') return true;
  return st === 'BakupMetaFailed' && (u.status?.retriedTimes ?? 0) >= (u.spec?.maxRetry ?? 3);
}

/** The final state that means success for the operation (a migrate ending in RollbackedSucceeded failed). */
export function upgradeSucceeded(operation: 'migrate' | 'rollback', state: string | undefined): boolean {
  return state === (operation === 'migrate' ? 'Succeeded' : 'RollbackedSucceeded');
}

export function upgradeName(release: string, operation: 'migrate' | 'rollback', targetVersion: string): string {
  return `${release}-${operation === 'migrate' ? 'upgrade' : 'rollback'}-${targetVersion.replace(/\./g, '-')}`.slice(0, 253);
}

/** The MilvusUpgrade of the Operator path; the backup goes to a PVC of ours (not owned by the resource, so it outlives it). */
export function milvusUpgrade(o: {
  name: string;
  namespace: string;
  release: string;
  operation: 'migrate' | 'rollback';
  sourceVersion: string;
  targetVersion: string;
  targetImage: string | undefined;
  toolImage: string;
  backupPvc: string;
  runId: string;
}) {
  return {
    apiVersion: 'milvus.io/v1beta1',
    kind: 'MilvusUpgrade',
    metadata: { name: o.name, namespace: o.namespace, labels: { ...labels(o.release), [RUN_LABEL]: o.runId } },
    spec: {
      milvus: { namespace: o.namespace, name: o.release },
      operation: o.operation === 'migrate' ? 'upgrade' : 'rollback',
      sourceVersion: o.sourceVersion,
      targetVersion: o.targetVersion,
      ...(o.targetImage ? { targetImage: o.targetImage } : {}),
      toolImage: o.toolImage,
      backupPVC: o.backupPvc,
    },
  };
}
