/**
 * `upgrade --to 3.0.x` on a Milvus Operator release with the test bed's real Milvus Operator
 * v1.3.7: 2.6.22 (mixcoord, streaming node, indexNode at 0) -> 3.0.2 as the newest 3.0 guide says
 * (the complete resource applied with indexNode.replicas 0, a server-side dry-run first, never an
 * image-only merge patch), a metadata snapshot first, followed until Healthy with every Deployment
 * on 3.0.2 and the release serving (the simulator following the bed's pods). The operator holds
 * every Deployment for minReadySeconds 30: the run gets long timeouts, and the one hop the bed's
 * release can make is also the interrupted one: stopped right before the apply, right after it
 * (before Healthy), cut off between the apply and its record, and Ctrl-C while the operator rolls
 * it out; each --resume goes on from what the cluster shows, and the resource is applied once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, interruptWhen, kubectl, kubectlJson, newNamespace, runPlugin, snapshotObjects } from './harness.js';
import { componentImages } from './upgrade-order.js';
import { followBed, type Follower } from './upgrade-sim-follow.js';

const BACKUP = mkdtempSync(join(tmpdir(), 'km-upgrade-op30-'));
const LABEL = 'app.kubernetes.io/component';
const CHECKPOINT = 'kubectl-milvus-upgrade-o3';

interface Checkpoint {
  finished: boolean;
  completed: Array<{ id: string }>;
  started?: { id: string; at: string; invocation: string };
  state: { links: Record<string, { changeBegunAt?: string; metaSnapshot?: string }> };
}

async function readCheckpoint(ns: string): Promise<{ cm: any; cp: Checkpoint }> {
  const cm = await kubectlJson(['get', 'configmap', CHECKPOINT, '-n', ns]);
  return { cm, cp: JSON.parse(cm.data['checkpoint.json']) as Checkpoint };
}

/** Whether a pod of the component runs the image (the operator has begun its rollout). */
async function podRuns(ns: string, component: string, image: string): Promise<boolean> {
  const pods = await kubectlJson<{ items: Array<{ spec: { containers: Array<{ image: string }> }; status: { phase?: string } }> }>(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=o3,${LABEL}=${component}`]);
  return pods.items.some((p) => p.status.phase === 'Running' && p.spec.containers[0]?.image === image);
}

describe('upgrade 2.6.22 -> 3.0.2 (Milvus Operator v1.3.7): the complete resource, indexNode 0', () => {
  let ns: string;
  let sim: RunningSim;
  let follower: Follower;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('up-op30');
    sim = await startMilvusSim({ version: '2.6', databases: { default: ['books'] }, loaded: ['default.books'], flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await createOperatorMilvus(ns, 'o3', {
      mode: 'cluster',
      components: { image: 'milvusdb/milvus:v2.6.22', mixCoord: { replicas: 1 }, streamingNode: { replicas: 1 }, indexNode: { replicas: 0 } },
      dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } },
    });
    follower = followBed(sim, ns, 'o3', LABEL);
  }, 600_000);
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  const args = () => ['upgrade', 'o3', '-n', ns, '--backup-dir', BACKUP, '--to', '3.0.2', '--timeout', '4m', '--serving-timeout', '2m', '-y'];

  it('--dry-run shows the apply of the complete resource (server-side dry-run first) and the way back; nothing changes', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin([...args().slice(0, -1), '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('hop-1 rule to-3.0, source: milvus-io/web-content v3.0.x/site/en/adminGuide/upgrade_milvus_cluster-operator.md @ececb3397743dd2150ce0553e71b6263f9fa0561');
    expect(r.stderr).toContain('Apply the complete Milvus resource with milvusdb/milvus:v3.0.2 and indexNode.replicas 0 (server-side dry-run first)');
    expect(r.stderr).toContain('spec.components.indexNode.replicas=0');
    // No image merge patch (only the hold the follow step would set if the order broke).
    expect(r.stderr).not.toMatch(/--type merge -p '\{"spec":\{"components":\{"image"/);
    expect(r.stderr).toContain('Watch the operator update mixcoord -> streamingnode -> querynode -> datanode -> proxy in this order');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('interrupted before the apply, after it, cut off between the apply and its record, and during the rollout: each --resume goes on to Healthy with every Deployment on 3.0.2, indexNode still 0, the release serving, the resource applied once', async () => {
    const image = async () => (await kubectlJson<{ spec: { components: { image: string } } }>(['get', 'milvus', 'o3', '-n', ns])).spec.components.image;
    // Right before the apply: the snapshot and the backup are taken, the resource is untouched.
    const before = await runPlugin(args(), { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.backup-milvus' }, timeoutMs: 600_000 });
    expect(before.code, before.stderr).toBe(130);
    expect(before.stderr).toMatch(/keys at revision \d+ in \S+\.meta\.jsonl\.gz/);
    expect(await image()).toBe('milvusdb/milvus:v2.6.22');
    // Right after the apply, before Healthy: the resume checked the start again (flush, snapshot) and applied.
    const after = await runPlugin([...args(), '--resume'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.apply' }, timeoutMs: 600_000 });
    expect(after.code, after.stderr).toBe(130);
    expect(after.stderr).toContain('milvus/o3 applied (server-side dry-run passed)');
    expect(await image()).toBe('milvusdb/milvus:v3.0.2');
    const snapshot = (await readCheckpoint(ns)).cp.state.links['hop-1']!.metaSnapshot;
    expect(snapshot).toMatch(/\.meta\.jsonl\.gz$/);
    // A run cut off between the apply and its record (killed, its node lost) leaves the apply begun,
    // not done: that checkpoint, once the operator rolls mixcoord to 3.0.2 (the start is over).
    for (let i = 0; !(await podRuns(ns, 'mixcoord', 'milvusdb/milvus:v3.0.2')); i++) {
      expect(i, 'the operator did not start mixcoord on 3.0.2').toBeLessThan(240);
      await new Promise((res) => setTimeout(res, 500));
    }
    const { cm, cp } = await readCheckpoint(ns);
    expect(cp.state.links['hop-1']!.changeBegunAt).toBeDefined();
    const cut: Checkpoint = { ...cp, completed: cp.completed.filter((c) => c.id !== 'hop-1.apply'), started: { id: 'hop-1.apply', at: cp.state.links['hop-1']!.changeBegunAt!, invocation: 'cut-off' } };
    await kubectl(['replace', '-f', '-'], { input: JSON.stringify({ ...cm, data: { 'checkpoint.json': JSON.stringify(cut) } }) });
    // Ctrl-C once mixcoord is done: the resume neither refused the rollout under way nor applied again.
    const cutOff = await interruptWhen([...args(), '--resume'], /mixcoord rolled out in/);
    expect(cutOff.code, cutOff.stderr).toBe(130);
    expect(cutOff.stderr).toContain('milvus/o3 shows milvusdb/milvus:v3.0.2 already');
    expect(cutOff.stderr).toContain('not applied again');
    expect(cutOff.stderr).not.toContain('applied (server-side dry-run passed)');
    expect(cutOff.stderr).not.toMatch(/keys at revision/);
    expect(cutOff.stderr).toContain(`not taken again: the hop's change reached the cluster before this run; what this step recorded before the change is kept (${snapshot})`);
    const r = await runPlugin([...args(), '--resume'], { timeoutMs: 1_500_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('applied (server-side dry-run passed)');
    expect([...`${cutOff.stderr}\n${r.stderr}`.matchAll(/^ +(\w+) rolled out in /gm)].map((m) => m[1])).toEqual(['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy']);
    expect(r.stderr).toContain('Milvus 3.0.2 serves: streaming nodes registered and writable, proxies healthy, 1 collection(s) loaded again');
    expect(await componentImages(ns, 'o3', LABEL, true)).toEqual({
      mixcoord: 'milvusdb/milvus:v3.0.2',
      streamingnode: 'milvusdb/milvus:v3.0.2',
      querynode: 'milvusdb/milvus:v3.0.2',
      datanode: 'milvusdb/milvus:v3.0.2',
      proxy: 'milvusdb/milvus:v3.0.2',
    });
    const m = await kubectlJson<{ spec: { components: { image: string; indexNode?: { replicas?: number } }; dependencies: { pulsar: { inCluster: { chartVersion: string } } } }; status: { status: string } }>(['get', 'milvus', 'o3', '-n', ns]);
    expect(m.status.status).toBe('Healthy');
    expect(m.spec.components.image).toBe('milvusdb/milvus:v3.0.2');
    // The operator drops indexNode from the spec of a 2.6+ release; what counts is that none runs.
    expect(m.spec.components.indexNode?.replicas ?? 0).toBe(0);
    const idx = await kubectlJson<{ items: Array<{ spec: { replicas?: number } }> }>(['get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=o3,${LABEL}=indexnode`]);
    expect(idx.items.filter((d) => (d.spec.replicas ?? 1) > 0)).toEqual([]);
    const pods = await kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=o3,${LABEL}=indexnode`]);
    expect(pods.items).toEqual([]);
    expect(m.spec.dependencies.pulsar.inCluster.chartVersion).toBe('pulsar-v2');
    const done = (await readCheckpoint(ns)).cp;
    expect(done.finished).toBe(true);
    expect(done.state.links['hop-1']!.metaSnapshot).toBe(snapshot);
  }, 2_400_000);
});
