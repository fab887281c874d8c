import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { names, parseReplicaRecord, replicaRecord, taskPod, toolConfig } from '../../src/meta-migrate/manifests.js';
import { validateVersions } from '../../src/meta-migrate/procedure.js';

const codeOf = (fn: () => void) => {
  try {
    fn();
  } catch (e) {
    return (e as CliError).exitCode;
  }
  return 0;
};

describe('meta-migrate', () => {
  it('accepts only 2.1.x sources and 2.2.x targets, as the migration tool does', () => {
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1.4', targetVersion: '2.2.0', operation: 'migrate' }))).toBe(0);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.0.2', targetVersion: '2.2.0', operation: 'migrate' }))).toBe(ExitCode.PRECONDITION);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1.4', targetVersion: '2.3.0', operation: 'migrate' }))).toBe(ExitCode.PRECONDITION);
    expect(codeOf(() => validateVersions({ sourceVersion: '2.1', targetVersion: '2.2.0', operation: 'migrate' }))).toBe(ExitCode.USAGE);
  });

  it('writes the tool config with every etcd endpoint in one list', () => {
    const c = yaml.load(toolConfig('run', { sourceVersion: '2.1.4', targetVersion: '2.2.0', etcdEndpoints: ['a:2379', 'b:2379'], rootPath: 'by-dev' })) as any;
    expect(c).toEqual({
      cmd: { type: 'run', runWithBackup: false },
      config: { sourceVersion: '2.1.4', targetVersion: '2.2.0', backupFilePath: '/milvus/data/migration.bak' },
      metastore: { type: 'etcd' },
      etcd: { endpoints: ['a:2379', 'b:2379'], rootPath: 'by-dev', metaSubPath: 'meta', kvSubPath: 'kv' },
    });
  });

  it('uses migrate.sh object names and mounts the config as files', () => {
    const p = taskPod('rel', 'ns', 'rollback', 'img:1');
    expect(p.metadata!.name).toBe('milvus-meta-migration-rollback-rel');
    expect(p.spec!.restartPolicy).toBe('Never');
    expect(p.spec!.containers[0]!.name).toBe('meta-migration');
    expect(p.spec!.containers[0]!.args).toEqual(['-c', '/milvus/bin/meta-migration -config=/milvus/configs/meta/rollback.yaml']);
    expect(names('rel')).toMatchObject({ replicas: 'milvus-deploy-replicas-rel', pvc: 'milvus-meta-migration-backup-rel', config: 'milvus-meta-migration-config-rel' });
  });

  it('round-trips the replica record', () => {
    const r = { 'rel-milvus-proxy': 1, 'rel-milvus-datanode': 2 };
    expect(parseReplicaRecord(replicaRecord(r))).toEqual(r);
  });
});
