/**
 * meta-migrate against the test bed: the migration pods run on KWOK nodes and complete after two
 * seconds; a tool image tag ending in "-fail" makes them fail with exit code 1 (testbed/README.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertTestbed, clearFaults, deleteNamespace, installHelmRelease, kubectlJson, newNamespace, run, runPlugin, setFaults, snapshotObjects } from './harness.js';


interface Deploy {
  metadata: { name: string; labels: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: Array<{ image: string }> } } };
  status: { readyReplicas?: number };
}

async function milvusDeployments(ns: string, release: string): Promise<Record<string, { image: string; replicas: number; ready: number }>> {
  const list = await kubectlJson<{ items: Deploy[] }>(['get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus`]);
  return Object.fromEntries(list.items.filter((d) => d.metadata.labels.component !== 'attu').map((d) => [d.metadata.name, { image: d.spec.template.spec.containers[0]!.image, replicas: d.spec.replicas, ready: d.status.readyReplicas ?? 0 }]));
}

const imagesAndReplicas = (m: Record<string, { image: string; replicas: number }>) => Object.fromEntries(Object.entries(m).map(([k, d]) => [k, `${d.image}x${d.replicas}`]));
const base = ['-s', '2.1.4', '-t', '2.2.0', '--session-wait', '1s', '--timeout', '90s'];
const annotations = async (ns: string, cm: string) => (await kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(['get', 'configmap', cm, '-n', ns])).metadata.annotations ?? {};
const podPhase = async (ns: string, pod: string) => (await run('kubectl', ['get', 'pod', pod, '-n', ns, '-o', 'jsonpath={.status.phase}'])).stdout;

describe('meta-migrate on a Helm release', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('meta');
    await Promise.all([
      installHelmRelease(ns, 'old', { 'image.all.tag': 'v2.1.4', 'dataNode.replicas': 2, 'attu.enabled': true }),
      installHelmRelease(ns, 'other', { 'image.all.tag': 'v2.1.4' }),
      installHelmRelease(ns, 'newer', { 'image.all.tag': 'v2.2.5' }),
    ]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('refuses bad versions, a rollback without a backup and a bad storage class before stopping anything', async () => {
    const before = await snapshotObjects(ns);
    const t = await runPlugin(['meta-migrate', 'old', '-n', ns, '-s', '2.1.4', '-t', '2.4.0', '-y']);
    expect(t.code).toBe(7);
    expect(t.stderr).toContain('the migration tool accepts only 2.2.x targets');
    const bad = await runPlugin(['meta-migrate', 'old', '-n', ns, '-s', '2.1', '-t', '2.2.0', '-y']);
    expect(bad.code).toBe(2);
    const wrongSource = await runPlugin(['meta-migrate', 'newer', '-n', ns, '-s', '2.1.4', '-t', '2.2.0', '-y']);
    expect(wrongSource.code).toBe(7);
    expect(wrongSource.stderr).toContain('Milvus runs 2.2.5, but --source-version is 2.1.4');
    const sc = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '--storage-class', 'nope', '-y']);
    expect(sc.code).toBe(7);
    expect(sc.stderr).toContain('storage class "nope" does not exist');
    const rb = await runPlugin(['meta-migrate', 'other', '-n', ns, ...base, '--operation', 'rollback', '-y']);
    expect(rb.code).toBe(7);
    expect(rb.stderr).toContain('no finished metadata backup of "other" (configmap/milvus-meta-migration-config-other annotated backup=succeed');
    expect(rb.stderr).toContain('Milvus was not stopped');
    // A leading v is accepted and written as the tool expects (X.Y.Z); the plan names every object.
    const v = await runPlugin(['meta-migrate', 'old', '-n', ns, '-s', 'v2.1.4', '-t', 'v2.2.0', '--dry-run']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toContain('Migrate the metadata from 2.1.4 to 2.2.0');
    expect(v.stderr).toContain(`kubectl scale deployment/old-milvus-datanode -n ${ns} --replicas=0`);
    expect(v.stderr).toContain('etcd old-etcd:2379 from service/old-etcd, rootPath by-dev');
    expect(v.stderr).toContain('persistentvolumeclaim/milvus-meta-migration-backup-old (10Gi, storage class standard (default)');
    expect(v.stderr).not.toContain('attu');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('migrate, a failed migration, --resume after the fix restores the backup first, then a rollback to the original state', async () => {
    const original = await milvusDeployments(ns, 'old');
    const attuBefore = (await kubectlJson<Deploy>(['get', 'deploy', 'old-milvus-attu', '-n', ns])).spec;

    // The migration pod (and only it) fails: Milvus stays stopped; the backup is finished and marked.
    await setFaults(ns, { 'meta-migration.milvus-meta-migration-old': 'fail' });
    const args = ['meta-migrate', 'old', '-n', ns, ...base, '-y'];
    const failed = await runPlugin(args);
    expect(failed.code, failed.stderr).toBe(10);
    expect(failed.stderr).toContain('pod/milvus-meta-migration-backup-old succeeded');
    expect(failed.stderr).toContain('pod/milvus-meta-migration-old failed (exit code 1');
    expect(failed.stderr).toContain('Milvus stays stopped; the backup is in persistentvolumeclaim/milvus-meta-migration-backup-old');
    expect(failed.stderr).toContain(`meta-migrate old -n ${ns} --operation rollback`);
    expect(Object.values(await milvusDeployments(ns, 'old')).every((d) => d.replicas === 0)).toBe(true);
    const marks = await annotations(ns, 'milvus-meta-migration-config-old');
    expect(marks).toMatchObject({ backup: 'succeed', 'kubectl-milvus.io/meta-state': 'migrating' });
    const cfg = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'milvus-meta-migration-config-old', '-n', ns]);
    expect(cfg.data['migration.yaml']).toContain('endpoints:\n    - old-etcd:2379');
    expect(cfg.data['migration.yaml']).toContain('sourceVersion: 2.1.4');
    const rec = await kubectlJson<{ data: { replicas: string; images: string } }>(['get', 'configmap', 'milvus-deploy-replicas-old', '-n', ns]);
    expect(rec.data.replicas).toContain('old-milvus-datanode:2');
    expect(rec.data.replicas).not.toContain('attu');

    // Fixed: --resume continues at the migration. etcd may hold half-migrated metadata, so the
    // backup (never overwritten) is restored first, then the migration runs again.
    await clearFaults(ns);
    const ok = await runPlugin([...args, '--resume']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('6 of 9 steps already done');
    expect(ok.stderr).toContain('an earlier migration started and did not finish: restoring the backup first');
    expect(ok.stderr.indexOf('pod/milvus-meta-migration-rollback-old succeeded')).toBeLessThan(ok.stderr.indexOf('pod/milvus-meta-migration-old succeeded'));
    expect(ok.stderr).toContain('replacing pod/milvus-meta-migration-old (Failed in this run)');
    expect(ok.stderr).toContain('The metadata backup is kept in persistentvolumeclaim/milvus-meta-migration-backup-old');
    const migrated = await milvusDeployments(ns, 'old');
    for (const [name, d] of Object.entries(migrated)) {
      expect(d.image).toBe('milvusdb/milvus:v2.2.0');
      expect(d.replicas).toBe(original[name]!.replicas); // recorded replicas, not zeros
      expect(d.ready).toBe(d.replicas);
    }
    expect((await kubectlJson<Deploy>(['get', 'deploy', 'old-milvus-attu', '-n', ns])).spec).toEqual(attuBefore); // attu untouched
    expect((await annotations(ns, 'milvus-meta-migration-config-old'))['kubectl-milvus.io/meta-state']).toBe('migrated');
    // Roll back: the backup is restored and the recorded 2.1.4 images come back with the replicas.
    const rb = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '--operation', 'rollback', '-y']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(imagesAndReplicas(await milvusDeployments(ns, 'old'))).toEqual(imagesAndReplicas(original));
    expect(Object.values(await milvusDeployments(ns, 'old')).every((d) => d.ready === d.replicas)).toBe(true);
    expect(await podPhase(ns, 'milvus-meta-migration-rollback-old')).toBe('Succeeded');
    expect((await annotations(ns, 'milvus-meta-migration-config-old'))['kubectl-milvus.io/meta-state']).toBe('source');
    // The backup volume is never deleted; the neighbouring release was never touched.
    await kubectlJson(['get', 'pvc', 'milvus-meta-migration-backup-old', '-n', ns]);
    expect(Object.values(await milvusDeployments(ns, 'other')).every((d) => d.image === 'milvusdb/milvus:v2.1.4' && d.replicas === 1)).toBe(true);

    // Migrating again after the rollback: the same backup, a fresh migration, and --delete-pod cleans the pods only.
    const again = await runPlugin(['meta-migrate', 'old', '-n', ns, ...base, '-y', '--delete-pod']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('restoring the backup first');
    for (const p of ['milvus-meta-migration-backup-old', 'milvus-meta-migration-old', 'milvus-meta-migration-rollback-old']) expect(await podPhase(ns, p)).toBe('');
    await kubectlJson(['get', 'pvc', 'milvus-meta-migration-backup-old', '-n', ns]);
    expect((await annotations(ns, 'milvus-meta-migration-config-old')).backup).toBe('succeed');
  });

  it('rollback interrupted after every step, resumed each time, ends on the old images', async () => {
    const ns2 = await newNamespace('meta-rb');
    try {
      await installHelmRelease(ns2, 'rb', { 'image.all.tag': 'v2.1.4' });
      const first = await runPlugin(['meta-migrate', 'rb', '-n', ns2, ...base, '-y']);
      expect(first.code, first.stderr).toBe(0);
      const args = ['meta-migrate', 'rb', '-n', ns2, ...base, '--operation', 'rollback', '-y'];
      const steps = ['meta-backup', 'record-replicas', 'stop', 'wait-sessions', 'prepare', 'rollback', 'start'];
      for (const [i, step] of steps.entries()) {
        const r = await runPlugin([...args, ...(i > 0 ? ['--resume'] : [])], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step } });
        expect(r.code, `${step}: ${r.stderr}`).toBe(130);
      }
      const last = await runPlugin([...args, '--resume']);
      expect(last.code, last.stderr).toBe(0);
      expect(Object.values(await milvusDeployments(ns2, 'rb')).every((d) => d.image === 'milvusdb/milvus:v2.1.4' && d.replicas === 1 && d.ready === 1)).toBe(true);
      // The restore ran once in this run: the resumes reused its succeeded pod.
      expect(last.stderr).not.toContain('replacing pod/milvus-meta-migration-rollback-rb');
    } finally {
      await deleteNamespace(ns2);
    }
  });
});
