/**
 * `upgrade` on a Milvus Operator release against the test bed: 2.5.10 with separate coordinators
 * -> 2.6.5 through the documented patches (mixCoord.replicas 1 with 2.5.16, then the 2.6 image),
 * interrupted in each hop and resumed, the order and the conditions watched by the plugin. The
 * operator is the real Milvus Operator v1.3.7 the bed runs (its 2.6 graph: streaming node first,
 * separate coordinators and indexnode removed by the operator). It holds every Deployment for
 * minReadySeconds 30, so the two hops take about ten minutes: the plugin runs get long timeouts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { backupRunFiles, assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, kubectlJson, newNamespace, runPlugin, setOperatorVersion, snapshotObjects } from './harness.js';
import { componentImages, expectCreatedInOrder } from './upgrade-order.js';
import { followBed } from './upgrade-sim-follow.js';

/** Backups go to a temporary directory, not the working directory. */
const BACKUP = mkdtempSync(join(tmpdir(), 'km-upgrade-backup-'));
const backupDir = (release: string) => join(BACKUP, release);
const LABEL = 'app.kubernetes.io/component';

describe('upgrade 2.5.10 with separate coordinators -> 2.6.5 (Milvus Operator)', () => {
  let ns: string;
  let sim: RunningSim;
  let follower: ReturnType<typeof followBed>;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('up-op');
    sim = await startMilvusSim({ version: '2.5', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await createOperatorMilvus(ns, 'opr', {
      mode: 'cluster',
      components: { image: 'milvusdb/milvus:v2.5.10', rootCoord: {}, dataCoord: {}, queryCoord: {}, indexCoord: {} },
      dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } },
    });
    // No Milvus runs here: the simulator registers the 2.6 streaming nodes as mixcoord would, for the check after the 2.6 hop.
    follower = followBed(sim, ns, 'opr', 'app.kubernetes.io/component');
  });
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  const args = () => ['upgrade', 'opr', '-n', ns, '--backup-dir', backupDir('opr'), '--to', '2.6.5', '--timeout', '4m', '-y'];
  const HOPS = { timeoutMs: 1_200_000 };

  it('--dry-run shows the documented patches and the order the plugin enforces; nothing changes', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin([...args().slice(0, -1), '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`kubectl patch milvus opr -n ${ns} --type merge -p '{"spec":{"components":{"image":"milvusdb/milvus:v2.5.16","enableRollingUpdate":true,"imageUpdateMode":"rollingUpgrade","mixCoord":{"replicas":1}}}}'`);
    expect(r.stderr).toContain(`kubectl patch milvus opr -n ${ns} --type merge -p '{"spec":{"components":{"image":"milvusdb/milvus:v2.6.5","enableRollingUpdate":true,"imageUpdateMode":"rollingUpgrade"}}}'`);
    expect(r.stderr).toContain('Watch the operator update streamingnode -> mixcoord -> querynode -> datanode -> proxy in this order');
    expect(r.stderr).toContain('then indexnode must be gone');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses 2.6 with an operator older than 1.3.7, changing nothing', async () => {
    const before = await snapshotObjects(ns);
    await setOperatorVersion('1.2.0');
    try {
      const r = await runPlugin(args());
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toContain('Milvus Operator 1.2.0 cannot deliver Milvus 2.6: it needs 1.3.7 or later');
    } finally {
      await setOperatorVersion('1.3.8');
    }
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('runs both hops, interrupted in each and resumed, and ends with every component on 2.6 in the order', async () => {
    const one = await runPlugin(args(), { ...HOPS, env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.patch' } });
    expect(one.code, one.stderr).toBe(130);
    const two = await runPlugin([...args(), '--resume'], { ...HOPS, env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-2.patch' } });
    expect(two.code, two.stderr).toBe(130);
    expect(two.stderr).toContain('rootcoord, datacoord, querycoord, indexcoord removed by the operator');
    const end = await runPlugin([...args(), '--resume'], HOPS);
    expect(end.code, end.stderr).toBe(0);
    // The plugin saw each component finish before the next one started.
    const finished = [...end.stderr.matchAll(/^ +(\w+) rolled out in /gm)].map((m) => m[1]);
    expect(finished).toEqual(['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(end.stderr).toContain('indexnode removed by the operator');
    expect(end.stderr).toContain('every component runs 2.6.5: writes and flush are available again');
    expect(await componentImages(ns, 'opr', LABEL, true)).toEqual({
      mixcoord: 'milvusdb/milvus:v2.6.5',
      streamingnode: 'milvusdb/milvus:v2.6.5',
      querynode: 'milvusdb/milvus:v2.6.5',
      datanode: 'milvusdb/milvus:v2.6.5',
      proxy: 'milvusdb/milvus:v2.6.5',
    });
    await expectCreatedInOrder(ns, 'opr', LABEL, 'milvusdb/milvus:v2.6.5', ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    const m = await kubectlJson<{ spec: { dependencies: { pulsar: { inCluster: { chartVersion: string } } } }; status: { status: string } }>(['get', 'milvus', 'opr', '-n', ns]);
    expect(m.status.status).toBe('Healthy');
    expect(m.spec.dependencies.pulsar.inCluster.chartVersion).toBe('pulsar-v2');
    const backup = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'kubectl-milvus-backup-upgrade-opr', '-n', ns]);
    expect(Object.keys(backupRunFiles(backup.data)).sort()).toEqual(['hop-1-milvus.yaml', 'hop-2-milvus.yaml']);
    expect(backupRunFiles(backup.data)['hop-1-milvus.yaml']).toContain('image: milvusdb/milvus:v2.5.10');
  }, 1_800_000);
});
