import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { targetImages } from '../../src/meta-migrate/helm-procedure.js';
import {
  backupPvc,
  configMap,
  decideRecord,
  imageRecord,
  milvusUpgrade,
  names,
  parseImageRecord,
  parseReplicaRecord,
  replicaRecord,
  taskPod,
  toolConfig,
  upgradeFinished,
  upgradeName,
  upgradeSucceeded,
} from '../../src/meta-migrate/manifests.js';
import { mergedConfig, parseEndpoints, plainVersion, resolveRootPath, validateVersions } from '../../src/meta-migrate/preflight.js';

const codeOf = (fn: () => void) => {
  try {
    fn();
  } catch (e) {
    return (e as CliError).exitCode;
  }
  return 0;
};

describe('versions the migration tool accepts', () => {
  it('2.1.x sources and [2.2.0, 2.3.0) targets only; X.Y.Z without the v the tool cannot parse', () => {
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1.4', targetVersion: '2.2.0' }))).toBe(0);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1.0', targetVersion: '2.2.16' }))).toBe(0);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.0.2', targetVersion: '2.2.0' }))).toBe(ExitCode.PRECONDITION);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.2.3', targetVersion: '2.2.5' }))).toBe(ExitCode.PRECONDITION);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1.4', targetVersion: '2.3.0' }))).toBe(ExitCode.PRECONDITION);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1.4', targetVersion: '2.4.1' }))).toBe(ExitCode.PRECONDITION);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1', targetVersion: '2.2.0' }))).toBe(ExitCode.USAGE);
    expect(plainVersion('v2.1.4', '--source-version')).toBe('2.1.4');
  });
});

describe('flags and configuration', () => {
  it('etcd endpoints: host:port list, scheme stripped, garbage refused', () => {
    expect(parseEndpoints(undefined)).toBeUndefined();
    expect(parseEndpoints('etcd-0.etcd:2379, http://10.0.0.5:2379')).toEqual(['etcd-0.etcd:2379', '10.0.0.5:2379']);
    expect(codeOf(() => parseEndpoints('etcd'))).toBe(ExitCode.USAGE);
    expect(codeOf(() => parseEndpoints(' , '))).toBe(ExitCode.USAGE);
  });
  it('root path: the flag, else the release configuration (user.yaml over default.yaml), else by-dev; a contradiction is refused', () => {
    const cfg = mergedConfig({ data: { 'default.yaml': 'etcd:\n  rootPath: by-dev\n  endpoints: [a:2379]\n', 'user.yaml': 'etcd:\n  rootPath: prod\n' } });
    expect(cfg).toEqual({ etcd: { rootPath: 'prod', endpoints: ['a:2379'] } });
    expect(resolveRootPath(undefined, cfg, 'by-dev')).toEqual({ rootPath: 'prod', from: 'etcd.rootPath in the release configuration' });
    expect(resolveRootPath(undefined, undefined, 'by-dev')).toEqual({ rootPath: 'by-dev', from: 'default' });
    expect(resolveRootPath('prod', cfg, 'by-dev').rootPath).toBe('prod');
    expect(codeOf(() => resolveRootPath('by-dev', cfg, 'by-dev'))).toBe(ExitCode.PRECONDITION);
  });
  it('a standalone chart config that writes mq twice (pulsarv3 default, then standalone.messageQueue) is read, the last key winning as in Milvus', () => {
    const chart = 'etcd:\n  rootPath: by-dev\nmq:\n  type: pulsar\nmessageQueue: pulsar\nmq:\n  type: rocksmq\nmessageQueue: rocksmq\n';
    expect(mergedConfig({ data: { 'default.yaml': chart } })).toEqual({ etcd: { rootPath: 'by-dev' }, mq: { type: 'rocksmq' }, messageQueue: 'rocksmq' });
  });
});

describe('manifests', () => {
  const c = { sourceVersion: '2.1.4', targetVersion: '2.2.0', etcdEndpoints: ['a:2379', 'b:2379'], rootPath: 'by-dev' };
  it('writes the tool config of each task kind, every etcd endpoint in one list', () => {
    expect(yaml.load(toolConfig('run', c))).toEqual({
      cmd: { type: 'run', runWithBackup: false },
      config: { sourceVersion: '2.1.4', targetVersion: '2.2.0', backupFilePath: '/milvus/data/migration.bak' },
      metastore: { type: 'etcd' },
      etcd: { endpoints: ['a:2379', 'b:2379'], rootPath: 'by-dev', metaSubPath: 'meta', kvSubPath: 'kv' },
    });
    const cm = configMap('rel', 'ns', c);
    expect(cm.metadata!.name).toBe('milvus-meta-migration-config-rel');
    expect(Object.keys(cm.data!)).toEqual(['backup.yaml', 'migration.yaml', 'rollback.yaml']);
    expect((yaml.load(cm.data!['backup.yaml']!) as { cmd: { type: string } }).cmd.type).toBe('backup');
    expect((yaml.load(cm.data!['rollback.yaml']!) as { cmd: { type: string } }).cmd.type).toBe('rollback');
  });
  it('uses migrate.sh names, mounts the config as a file, restartPolicy Never, container meta-migration, labelled with the run', () => {
    const p = taskPod('rel', 'ns', 'rollback', 'img:1', 'abcd');
    expect(p.metadata!.name).toBe('milvus-meta-migration-rollback-rel');
    expect(taskPod('rel', 'ns', 'run', 'img:1', 'abcd').metadata!.name).toBe('milvus-meta-migration-rel');
    expect(taskPod('rel', 'ns', 'backup', 'img:1', 'abcd').metadata!.name).toBe('milvus-meta-migration-backup-rel');
    expect(p.metadata!.labels!['kubectl-milvus.io/run']).toBe('abcd');
    expect(p.spec!.restartPolicy).toBe('Never');
    const ctr = p.spec!.containers[0]!;
    expect(ctr.name).toBe('meta-migration');
    expect(ctr.command).toEqual(['/bin/sh']);
    expect(ctr.args).toEqual(['-c', '/milvus/bin/meta-migration -config=/milvus/configs/meta/rollback.yaml']);
    expect(ctr.volumeMounts).toContainEqual({ name: 'config', mountPath: '/milvus/configs/meta/rollback.yaml', subPath: 'rollback.yaml', readOnly: true });
    expect(ctr.volumeMounts).toContainEqual({ name: 'backup', mountPath: '/milvus/data' });
    expect(p.spec!.volumes).toEqual([
      { name: 'backup', persistentVolumeClaim: { claimName: 'milvus-meta-migration-backup-rel' } },
      { name: 'config', configMap: { name: 'milvus-meta-migration-config-rel' } },
    ]);
    expect(names('rel')).toMatchObject({ replicas: 'milvus-deploy-replicas-rel', pvc: 'milvus-meta-migration-backup-rel', config: 'milvus-meta-migration-config-rel' });
  });
  it('backup PVC: RWO 10Gi, the storage class when given', () => {
    expect(backupPvc('p', 'rel', 'ns', 'fast').spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, storageClassName: 'fast' });
    expect(backupPvc('p', 'rel', 'ns', undefined).spec).not.toHaveProperty('storageClassName');
  });
  it('MilvusUpgrade: from the flags, with our backup PVC, operation upgrade|rollback', () => {
    const u = milvusUpgrade({ name: upgradeName('vdb', 'migrate', '2.2.0'), namespace: 'ns', release: 'vdb', operation: 'migrate', sourceVersion: '2.1.4', targetVersion: '2.2.0', targetImage: undefined, toolImage: 'milvusdb/meta-migration:v2.2.0', backupPvc: 'milvus-meta-migration-backup-vdb', runId: 'r1' });
    expect(u.metadata.name).toBe('vdb-upgrade-2-2-0');
    expect(u.spec).toEqual({ milvus: { namespace: 'ns', name: 'vdb' }, operation: 'upgrade', sourceVersion: '2.1.4', targetVersion: '2.2.0', toolImage: 'milvusdb/meta-migration:v2.2.0', backupPVC: 'milvus-meta-migration-backup-vdb' });
    expect(upgradeName('vdb', 'rollback', '2.2.0')).toBe('vdb-rollback-2-2-0');
  });
  it('MilvusUpgrade states: retried and rolled-back failures are not the end; an undone upgrade is a failure', () => {
    const u = (state: string, o: { rollbackIfFailed?: boolean; retriedTimes?: number } = {}) => ({ spec: { ...(o.rollbackIfFailed !== undefined ? { rollbackIfFailed: o.rollbackIfFailed } : {}) }, status: { state, retriedTimes: o.retriedTimes ?? 0 } });
    expect(upgradeFinished(u('BackupMeta'))).toBe(false);
    expect(upgradeFinished(u('BakupMetaFailed'))).toBe(false); // retried, then the rollback path
    expect(upgradeFinished(u('UpdateMetaFailed'))).toBe(false);
    expect(upgradeFinished(u('UpdateMetaFailed', { rollbackIfFailed: false }))).toBe(true);
    expect(upgradeFinished(u('BakupMetaFailed', { rollbackIfFailed: false, retriedTimes: 1 }))).toBe(false);
    expect(upgradeFinished(u('BakupMetaFailed', { rollbackIfFailed: false, retriedTimes: 3 }))).toBe(true);
    for (const s of ['Succeeded', 'RollbackedSucceeded', 'RollbackFailed']) expect(upgradeFinished(u(s))).toBe(true);
    expect(upgradeSucceeded('migrate', 'Succeeded')).toBe(true);
    expect(upgradeSucceeded('migrate', 'RollbackedSucceeded')).toBe(false);
    expect(upgradeSucceeded('rollback', 'RollbackedSucceeded')).toBe(true);
  });
});

describe('replica and image record', () => {
  it('round-trips migrate.sh’s format and the images', () => {
    const r = { 'rel-milvus-proxy': 1, 'rel-milvus-datanode': 2 };
    expect(replicaRecord(r)).toBe('rel-milvus-proxy:1 rel-milvus-datanode:2');
    expect(parseReplicaRecord(replicaRecord(r))).toEqual(r);
    const i = { 'rel-milvus-proxy': 'reg:5000/milvusdb/milvus:v2.1.4', 'rel-milvus-datanode': 'milvusdb/milvus:v2.1.4' };
    expect(parseImageRecord(imageRecord(i))).toEqual(i);
  });
  const live = (n: number) => ({ replicas: { a: n, b: n }, images: { a: 'm:v2.2.0', b: 'm:v2.2.0' } });
  const rec = { replicas: { a: 3, b: 2 }, images: { a: 'm:v2.1.4', b: 'm:v2.1.4' } };
  it('a rerun after the stop keeps the record, never the zeros', () => {
    expect(decideRecord(rec, live(0), 'migrate')).toEqual({ record: rec, source: 'record' });
    expect(decideRecord(undefined, live(0), 'migrate')).toHaveProperty('refuse');
  });
  it('a running release refreshes the replicas; a rollback keeps the images to go back to', () => {
    expect(decideRecord(undefined, live(1), 'migrate')).toEqual({ record: live(1), source: 'live' });
    expect(decideRecord(rec, live(4), 'migrate')).toEqual({ record: live(4), source: 'refreshed' });
    expect(decideRecord(rec, live(4), 'rollback')).toEqual({ record: { replicas: live(4).replicas, images: rec.images }, source: 'refreshed' });
  });
  it('start images: --image, else the recorded old ones on rollback, else the same repository at the version', () => {
    const images = { a: 'reg.local/milvusdb/milvus:v2.1.4', b: 'milvusdb/milvus:v2.1.4' };
    expect(targetImages({ operation: 'migrate', image: undefined, sourceVersion: '2.1.4', targetVersion: '2.2.0' }, images, ['a', 'b'])).toEqual({ a: 'reg.local/milvusdb/milvus:v2.2.0', b: 'milvusdb/milvus:v2.2.0' });
    expect(targetImages({ operation: 'migrate', image: 'x/y:v2.2.0', sourceVersion: '2.1.4', targetVersion: '2.2.0' }, images, ['a'])).toEqual({ a: 'x/y:v2.2.0' });
    expect(targetImages({ operation: 'rollback', image: undefined, sourceVersion: '2.1.4', targetVersion: '2.2.0' }, images, ['a', 'b'])).toEqual(images);
    expect(targetImages({ operation: 'rollback', image: undefined, sourceVersion: '2.1.4', targetVersion: '2.2.0' }, { a: 'm/m:v2.2.0' }, ['a'])).toEqual({ a: 'm/m:v2.1.4' });
  });
});
