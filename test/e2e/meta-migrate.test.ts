import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertTestbed, createOperatorMilvus, deleteNamespace, installHelmRelease, kubectlJson, newNamespace, runPlugin, snapshotObjects } from './harness.js';

interface Deploy {
  metadata: { name: string };
  spec: { replicas: number; template: { spec: { containers: Array<{ image: string }> } } };
  status: { readyReplicas?: number };
}

async function milvusDeployments(ns: string, release: string): Promise<Record<string, { image: string; replicas: number; ready: number }>> {
  const list = await kubectlJson<{ items: Deploy[] }>(['get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus`]);
  return Object.fromEntries(list.items.map((d) => [d.metadata.name, { image: d.spec.template.spec.containers[0]!.image, replicas: d.spec.replicas, ready: d.status.readyReplicas ?? 0 }]));
}

const base = ['-s', '2.1.4', '-t', '2.2.0', '--session-wait', '1s', '--timeout', '2m'];

describe('meta-migrate on a Helm release', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('meta');
    await Promise.all([
      installHelmRelease(ns, 'old', { 'image.all.tag': 'v2.1.4', 'dataNode.replicas': 2 }),
      installHelmRelease(ns, 'other', { 'image.all.tag': 'v2.1.4' }),
    ]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('refuses bad versions and a rollback without a backup before stopping anything', async () => {
    const before = await snapshotObjects(ns);
    const t = await runPlugin(['meta-migrate', 'old', '-n', ns, '-s', '2.1.4', '-t', '2.4.0', '-y']);
    expect(t.code).toBe(7);
    expect(t.stderr).toContain('the migration tool accepts only 2.2.x targets');
    const bad = await runPlugin(['meta-migrate', 'old', '-n', ns, '-s', '2.1', '-t', '2.2.0', '-y']);
    expect(bad.code).toBe(2);
    // A leading v is accepted and written as the tool expects it (X.Y.Z).
    const v = await runPlugin(['meta-migrate', 'old', '-n', ns, '-s', 'v2.1.4', '-t', 'v2.2.0', '--dry-run']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toContain('2.1.4 -> 2.2.0)');
    expect(v.stderr).toContain('kubectl scale deployment/old-milvus-datanode -n');
    const rb = await runPlugin(['meta-migrate', 'other', '-n', ns, ...base, '--operation', 'rollback', '-y']);
    expect(rb.code).toBe(7);
    expect(rb.stderr).toContain('no finished metadata backup of "other"');
    expect(rb.stderr).toContain('Milvus was not stopped');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('migrates with a backup, a failed migration keeps Milvus stopped, and a rollback restores the original state', async () => {
    const original = await milvusDeployments(ns, 'old');
    // First run: interrupted right after the backup.
    const first = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '-y'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'backup' } });
    expect(first.code, first.stderr).toBe(130);
    const cfg = await kubectlJson<{ metadata: { annotations: Record<string, string> }; data: Record<string, string> }>(['get', 'configmap', 'milvus-meta-migration-config-old', '-n', ns]);
    expect(cfg.metadata.annotations.backup).toBe('succeed');
    expect(cfg.data['migration.yaml']).toContain(`endpoints:\n    - old-etcd:2379`);
    expect(cfg.data['migration.yaml']).toContain('rootPath: by-dev');
    const rec = await kubectlJson<{ data: { replicas: string } }>(['get', 'configmap', 'milvus-deploy-replicas-old', '-n', ns]);
    expect(rec.data.replicas).toContain('old-milvus-datanode:2');

    // Planned again with a migration that fails: the backup is reused, Milvus stays stopped.
    const failed = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '-y', '--restart', '--migration-image', 'milvusdb/meta-migration:v2.2.0-fail']);
    expect(failed.code).toBe(10);
    expect(failed.stderr).toContain('a finished backup exists: reusing it');
    expect(failed.stderr).toContain('pod/milvus-meta-migration-old failed (exit code 1');
    expect(failed.stderr).toContain('--operation rollback');
    expect(Object.values(await milvusDeployments(ns, 'old')).every((d) => d.replicas === 0)).toBe(true);

    // A good migration (the failed pod is replaced).
    const ok = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '-y', '--restart', '--image', 'milvusdb/milvus:v2.2.0']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('The metadata backup is kept in persistentvolumeclaim/milvus-meta-migration-backup-old');
    const migrated = await milvusDeployments(ns, 'old');
    for (const [name, d] of Object.entries(migrated)) {
      expect(d.image).toBe('milvusdb/milvus:v2.2.0');
      expect(d.replicas).toBe(original[name]!.replicas); // recorded replicas restored, not zeros
      expect(d.ready).toBe(d.replicas);
    }

    // Roll back to 2.1.4 from the backup.
    const rb = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '--operation', 'rollback', '--image', 'milvusdb/milvus:v2.1.4', '-y']);
    expect(rb.code, rb.stderr).toBe(0);
    const restored = await milvusDeployments(ns, 'old');
    expect(Object.fromEntries(Object.entries(restored).map(([k, d]) => [k, [d.image, d.replicas]]))).toEqual(
      Object.fromEntries(Object.entries(original).map(([k, d]) => [k, [d.image, d.replicas]])),
    );
    const pod = await kubectlJson<{ status: { phase: string } }>(['get', 'pod', 'milvus-meta-migration-rollback-old', '-n', ns]);
    expect(pod.status.phase).toBe('Succeeded');
    // The backup volume is never deleted; the neighbouring release was never touched.
    await kubectlJson(['get', 'pvc', 'milvus-meta-migration-backup-old', '-n', ns]);
    expect(Object.values(await milvusDeployments(ns, 'other')).every((d) => d.image === 'milvusdb/milvus:v2.1.4' && d.replicas === 1)).toBe(true);
  });
});

describe('meta-migrate on an Operator release', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('meta-op');
    await createOperatorMilvus(ns, 'legacy', { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.1.4' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } });
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('creates a MilvusUpgrade, follows it to success, and reports a failed one', async () => {
    const r = await runPlugin(['meta-migrate', 'legacy', '-n', ns, '-s', '2.1.4', '-t', '2.2.0', '-y', '--timeout', '2m']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('state Succeeded');
    const up = await kubectlJson<{ spec: Record<string, any> }>(['get', 'milvusupgrade', 'legacy-upgrade-2-2-0', '-n', ns]);
    expect(up.spec).toMatchObject({ milvus: { namespace: ns, name: 'legacy' }, operation: 'upgrade', sourceVersion: '2.1.4', targetVersion: '2.2.0' });
    const m = await kubectlJson<{ spec: { components: { image: string } } }>(['get', 'milvus', 'legacy', '-n', ns]);
    expect(m.spec.components.image).toBe('milvusdb/milvus:v2.2.0');

    const failed = await runPlugin(['meta-migrate', 'legacy', '-n', ns, '-s', '2.1.4', '-t', '2.2.1', '-y', '--migration-image', 'milvusdb/meta-migration:v2.2.0-fail']);
    expect(failed.code).toBe(10);
    expect(failed.stderr).toContain('milvusupgrade/legacy-upgrade-2-2-1 ended in BakupMetaFailed');
  });
});
