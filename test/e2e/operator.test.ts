import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import {
  assertTestbed,
  createOperatorMilvus,
  deleteNamespace,
  forwardNamespaceTo,
  kubectlJson,
  newNamespace,
  runPlugin,
  snapshotObjects,
} from './harness.js';

const pulsarV2 = { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.4.5' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } };

async function pvcNames(ns: string, selector: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }> }>(['get', 'pvc', '-n', ns, '-l', selector]);
  return list.items.map((i) => i.metadata.name).sort();
}

describe('Milvus Operator releases', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('operator');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['docs'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await Promise.all([
      createOperatorMilvus(ns, 'my-release', pulsarV2),
      createOperatorMilvus(ns, 'my-release-2', { ...pulsarV2, mode: 'standalone', dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } }),
    ]);
  });
  afterAll(async () => {
    await sim?.close();
    // deleteNamespace also removes the namespace's port-forward rules.
    if (ns) await deleteNamespace(ns);
  });

  it('status and pvc-list recognise an Operator release with Pulsar v2', async () => {
    const s = await runPlugin(['status', 'my-release', '-n', ns, '-o', 'json']);
    expect(s.code, s.stderr).toBe(0);
    const st = JSON.parse(s.stdout);
    expect(st.installedBy).toBe('Milvus Operator (milvus.io/v1beta1 Milvus my-release)');
    expect(st.operatorStatus).toBe('Healthy');
    expect(st.messageQueue).toBe('Pulsar v2');
    expect(st.pulsar.selector).toBe('app=pulsar,release=my-release-pulsar');
    expect(st.pulsar.evidence).toBe('StatefulSet label chart=pulsar-2.7.8');
    expect(st.components.map((c: { deployment: string }) => c.deployment)).toContain('my-release-milvus-proxy');
    const p = await runPlugin(['pvc-list', 'my-release', '-n', ns, '-o', 'name']);
    expect(p.stdout.trim().split('\n')).toEqual([
      'persistentvolumeclaim/my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0',
      'persistentvolumeclaim/my-release-pulsar-bookie-ledgers-my-release-pulsar-bookie-0',
      'persistentvolumeclaim/my-release-pulsar-zookeeper-data-my-release-pulsar-zookeeper-0',
    ]);
  });

  it('flush reaches the proxy of an Operator release', async () => {
    sim.sim.insert('default', 'docs');
    const r = await runPlugin(['flush', 'my-release', '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).verified).toBe(true);
  });

  it('pulsar-upgrade --dry-run changes nothing', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`kubectl delete milvus my-release -n ${ns} --wait`);
    expect(r.stderr).toContain('"pulsar":{"inCluster":{"deletionPolicy":"Delete","pvcDeletion":true}}');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('pulsar-upgrade moves the release to Pulsar v3 with fresh volumes, keeping etcd and MinIO data', async () => {
    const etcdPvcs = await pvcNames(ns, 'app.kubernetes.io/instance=my-release-etcd');
    const neighbour = (await snapshotObjects(ns)).filter((o) => o.name.startsWith('my-release-2') && o.kind !== 'Pod');
    sim.sim.insert('default', 'docs');
    const backupDir = mkdtempSync(join(tmpdir(), 'km-op-backup-'));
    // Interrupted right after the Milvus resource is deleted, then resumed.
    const first = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--backup-dir', backupDir], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'delete-milvus' } });
    expect(first.code, first.stderr).toBe(130);
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--resume', '--backup-dir', backupDir]);
    expect(r.code, r.stderr).toBe(0);
    const m = await kubectlJson<{ spec: any; status: any }>(['get', 'milvus', 'my-release', '-n', ns]);
    expect(m.spec.dependencies.pulsar.inCluster.chartVersion).toBe('pulsar-v3');
    expect(m.status.status).toBe('Healthy');
    const bookie = await kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'sts', 'my-release-pulsar-bookie', '-n', ns]);
    expect(bookie.metadata.labels.chart).toBe('pulsar-3.3.0');
    // The bookie volumes are new (a v2 leftover would have failed the cookie check and never got ready).
    const pvcs = await kubectlJson<{ items: Array<{ metadata: { annotations?: Record<string, string> } }> }>(['get', 'pvc', '-n', ns, '-l', 'app=pulsar,release=my-release-pulsar']);
    expect(pvcs.items.map((p) => p.metadata.annotations?.['testbed.kubectl-milvus.io/pulsar-generation'])).toEqual(['v3', 'v3', 'v3']);
    expect(await pvcNames(ns, 'app.kubernetes.io/instance=my-release-etcd')).toEqual(etcdPvcs);
    expect((await snapshotObjects(ns)).filter((o) => o.name.startsWith('my-release-2') && o.kind !== 'Pod')).toEqual(neighbour);
  });
});
