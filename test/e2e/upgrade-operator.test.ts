/**
 * `upgrade` on Milvus Operator releases against the test bed's real Milvus Operator v1.3.7: a 2.6
 * hop whose image cannot roll stops at the streaming node with the known remedy, before the next
 * component starts; 2.1.4 -> 2.2.16 through the operator's MilvusUpgrade, interrupted and resumed.
 * The two-hop 2.5.10 -> 2.6.5 path is upgrade-operator-26.test.ts (a file of its own: it is the
 * longest, and runs beside these).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, kubectl, kubectlJson, newNamespace, runPlugin } from './harness.js';
import { componentImages } from './upgrade-order.js';
import { followBed } from './upgrade-sim-follow.js';

/** Backups go to a temporary directory, not the working directory. */
const BACKUP = mkdtempSync(join(tmpdir(), 'km-upgrade-backup-'));
const backupDir = (release: string) => join(BACKUP, release);

const images = (ns: string, release: string) => componentImages(ns, release, 'app.kubernetes.io/component', true);

describe('a failing Operator hop', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('up-opbad');
    sim = await startMilvusSim({ version: '2.5', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await createOperatorMilvus(ns, 'stuck', { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.5.16' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } });
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('stops at the component the operator cannot roll, with the known remedy and the backup, before the next component starts', async () => {
    const r = await runPlugin(['upgrade', 'stuck', '-n', ns, '--backup-dir', backupDir('stuck'), '--to', '2.6.5', '--image', 'milvusdb/milvus:v2.6.5-broken', '--timeout', '8s', '-y']);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toContain('streamingnode did not finish rolling to milvusdb/milvus:v2.6.5-broken');
    expect(r.stderr).toContain(`kubectl rollout restart deployment/stuck-milvus-mixcoord deployment/stuck-milvus-streamingnode -n ${ns}`);
    expect(r.stderr).toContain('secret/kubectl-milvus-backup-upgrade-stuck (key hop-1-milvus.yaml)');
    expect(r.stderr).toContain(`upgrade stuck -n ${ns} --to 2.6.5 --resume`);
    // The operator did not go on either: mixcoord and the rest still run 2.5.16.
    const now = await images(ns, 'stuck');
    expect(now.mixcoord).toBe('milvusdb/milvus:v2.5.16');
    expect(now.proxy).toBe('milvusdb/milvus:v2.5.16');
  });
});

describe('an Operator hop held mid-rollout, resumed (the real operator v1.3.7)', () => {
  let ns: string;
  let sim: RunningSim;
  let follower: ReturnType<typeof followBed>;
  const NEW = 'milvusdb/milvus:v2.6.5';
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('up-ophold');
    sim = await startMilvusSim({ version: '2.5', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await createOperatorMilvus(ns, 'held', { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.5.16' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } });
    follower = followBed(sim, ns, 'held', 'app.kubernetes.io/component');
  });
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('proxy started early is held with the resource; --resume holds it on its own, lifts the hold and finishes in the order', async () => {
    const args = ['upgrade', 'held', '-n', ns, '--backup-dir', backupDir('held'), '--to', '2.6.5', '--timeout', '4m', '-y'];
    const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.patch' } });
    expect(first.code, first.stderr).toBe(130);
    // An operator that starts proxy before the streaming node finished (operator#446), by hand: the
    // real one leaves a template it may not update yet as it is.
    await kubectl(['set', 'image', 'deployment/held-milvus-proxy', `proxy=${NEW}`, '-n', ns]);
    const held = await runPlugin([...args, '--resume']);
    expect(held.code, held.stderr).toBe(10);
    expect(held.stderr).toContain('the operator started proxy before streamingnode finished');
    const paused = await kubectlJson<{ spec: { components: { paused?: boolean } } }>(['get', 'milvus', 'held', '-n', ns]);
    expect(paused.spec.components.paused).toBe(true);

    const end = await runPlugin([...args, '--resume'], { timeoutMs: 1_200_000 });
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('held until the one before each is done');
    expect([...end.stderr.matchAll(/^ +(\w+): released$/gm)].map((m) => m[1])).toEqual(['mixcoord', 'querynode', 'datanode', 'proxy']);
    expect([...end.stderr.matchAll(/^ +(\w+) rolled out in /gm)].map((m) => m[1])).toEqual(['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(end.stderr).not.toContain('is broken');
    expect(await images(ns, 'held')).toEqual({ mixcoord: NEW, streamingnode: NEW, querynode: NEW, datanode: NEW, proxy: NEW });
    const m = await kubectlJson<{ spec: { components: Record<string, { paused?: boolean } | boolean | string> }; status: { status: string } }>(['get', 'milvus', 'held', '-n', ns]);
    expect(m.status.status).toBe('Healthy');
    expect(m.spec.components.paused).toBe(false);
    for (const f of ['streamingNode', 'mixCoord', 'queryNode', 'dataNode', 'proxy']) expect((m.spec.components[f] as { paused?: boolean }).paused, f).toBe(false);
    const deployments = await kubectlJson<{ items: Array<{ metadata: { name: string }; spec: { paused?: boolean } }> }>(['get', 'deployments', '-n', ns, '-l', 'app.kubernetes.io/instance=held']);
    expect(deployments.items.filter((d) => d.spec.paused).map((d) => d.metadata.name)).toEqual([]);
  }, 1_800_000);
});

describe('upgrade 2.1.4 -> 2.2.16 (Milvus Operator): the metadata migration hop through a MilvusUpgrade', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('up-op21');
    sim = await startMilvusSim({ version: '2.1', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    // imageUpdateMode all: after the MilvusUpgrade the real operator restarts every component on the
    // new image at once instead of one at a time with minReadySeconds 30 each (~4 min).
    await createOperatorMilvus(ns, 'old', { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.1.4', imageUpdateMode: 'all' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } });
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('flushes, backs up the resource, migrates through the operator, interrupted and resumed', async () => {
    const args = ['upgrade', 'old', '-n', ns, '--backup-dir', backupDir('old'), '--to', '2.2.16', '--timeout', '2m', '-y'];
    const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.backup-milvus' } });
    expect(first.code, first.stderr).toBe(130);
    const end = await runPlugin([...args, '--resume']);
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('milvusupgrade/old-upgrade-2-2-16');
    expect(Object.values(await images(ns, 'old')).every((i) => i === 'milvusdb/milvus:v2.2.16')).toBe(true);
    const u = await kubectlJson<{ status: { state: string } }>(['get', 'milvusupgrade', 'old-upgrade-2-2-16', '-n', ns]);
    expect(u.status.state).toBe('Succeeded');
    // Interrupted before the hop's first change: the resumed run flushed again, right before it.
    expect(sim.control.requestsTo('/api/v1/persist').length).toBe(2);
    expect(end.stderr).toMatch(/\[1\/\d+\] Flush every collection/);
  });
});
