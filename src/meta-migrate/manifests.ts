/**
 * Objects of the 2.1.x -> 2.2 metadata migration, with the names upstream migrate.sh uses so
 * runbooks translate one to one: the replica record, the backup PVC, the config ConfigMap with
 * backup.yaml / migration.yaml / rollback.yaml (the tool's format: cmd.type backup|run|rollback),
 * and the run-to-completion pods of container "meta-migration".
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

const CONFIG_FILE: Record<TaskKind, string> = { backup: 'backup.yaml', run: 'migration.yaml', rollback: 'rollback.yaml' };

const labels = (instance: string) => ({ 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: instance, 'app.kubernetes.io/component': 'meta-migration' });

export interface MigrationConfig {
  sourceVersion: string;
  targetVersion: string;
  etcdEndpoints: string[];
  rootPath: string;
}

/** The migration tool's config for one task kind (cmd/tools/migration: -config file). */
export function toolConfig(kind: TaskKind, c: MigrationConfig): string {
  return yaml.dump({
    cmd: { type: kind, runWithBackup: false },
    config: { sourceVersion: c.sourceVersion, targetVersion: c.targetVersion, backupFilePath: '/milvus/data/migration.bak' },
    metastore: { type: 'etcd' },
    // One list: upstream's template repeats the key for several endpoints, which loses all but the last.
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

export function backupPvc(instance: string, namespace: string, storageClass: string | undefined): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: names(instance).pvc,
      namespace,
      labels: labels(instance),
      annotations: { 'kubectl-milvus.io/description': 'metadata backup of the 2.1.x -> 2.2 migration; never deleted by kubectl-milvus' },
    },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, ...(storageClass ? { storageClassName: storageClass } : {}) },
  };
}

export function taskPod(instance: string, namespace: string, kind: TaskKind, image: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: names(instance).pod(kind), namespace, labels: { ...labels(instance), 'kubectl-milvus.io/task': kind } },
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
            { name: 'config', mountPath: '/milvus/configs/meta', readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'backup', persistentVolumeClaim: { claimName: names(instance).pvc } },
        { name: 'config', configMap: { name: names(instance).config } },
      ],
    },
  };
}

export function replicaRecord(replicas: Record<string, number>): string {
  return Object.entries(replicas)
    .map(([d, n]) => `${d}:${n}`)
    .join(' ');
}

export function parseReplicaRecord(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const i = part.lastIndexOf(':');
    out[part.slice(0, i)] = Number(part.slice(i + 1));
  }
  return out;
}
