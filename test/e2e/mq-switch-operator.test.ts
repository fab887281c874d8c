/**
 * mq-switch on a Milvus Operator release (the bed's real operator v1.3.7): Milvus 3.0 on the
 * operator's Pulsar v3 (its Helm release `<name>-pulsar`) switched to Woodpecker through mixcoord's
 * wal/alter (the simulator writes mq.type into the release's etcd, root path = the resource name),
 * confirmed from etcd, then spec.dependencies.msgStreamType=woodpecker so the operator does not
 * revert it, and with --cleanup the operator's Pulsar release and its PVCs deleted. The run is
 * interrupted after the steps that change or decide something (the WAL switch requested, confirmed,
 * the resource naming Woodpecker, the release verified, the flush licensing the deletion, the
 * deletion) and resumed with --resume each time, as the Helm test does after every step: it must end
 * as an uninterrupted run does, with the switch requested once. (The bed's operator release has no
 * neighbour: a second Milvus resource would be a second Pulsar installed by the operator.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { installWalSwitch, mqTypeEtcdKey, type WalSwitchModel } from '../../testbed/milvus-sim/wal.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, helm, kubectl, kubectlJson, metaEtcd, newNamespace, run, runPlugin } from './harness.js';
import { registrar } from './mq-switch-bed.js';

const NAME = 'mqop';
/** The steps of the Operator switch with --cleanup (src/mq-switch/procedure.ts) after which the run is interrupted. */
const INTERRUPT_AFTER = ['wal-alter', 'confirm-mq-type', 'install', 'verify', 'cleanup-flush', 'delete-old-queue'];

describe('mq-switch: an Operator release on Pulsar v3', () => {
  let ns: string;
  let sim: RunningSim;
  let wal: WalSwitchModel;
  let stop: () => void = () => undefined;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('mqop');
    sim = await startMilvusSim({ version: '3.0', databases: { default: ['books'] }, loaded: ['default.books'] });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    const etcd = await metaEtcd();
    wal = installWalSwitch(sim.control, { etcd: { url: etcd.url, rootPath: NAME }, current: 'pulsar' });
    stop = registrar(ns, sim, 'app.kubernetes.io/component=streamingnode');
    await createOperatorMilvus(ns, NAME, {
      mode: 'cluster',
      components: { image: 'milvusdb/milvus:v3.0.2', mixCoord: { replicas: 1 }, streamingNode: { replicas: 1 } },
      dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v3' } } },
    });
    // The operator reports Healthy once one MinIO answers; the switch wants every MinIO pod ready.
    await kubectl(['rollout', 'status', `statefulset/${NAME}-minio`, '-n', ns, '--timeout=300s']);
  }, 700_000);
  afterAll(async () => {
    stop();
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('switched with --cleanup, interrupted after each step that matters and resumed: mq.type in etcd, msgStreamType woodpecker, the operator\'s Pulsar release and PVCs gone, the switch requested once', async () => {
    const pulsarPvcs = 'app in (pulsar,pulsarv2),release=mqop-pulsar';
    const before = await kubectlJson<{ items: unknown[] }>(['get', 'pvc', '-n', ns, '-l', pulsarPvcs]);
    expect(before.items.length).toBeGreaterThan(0);
    const args = ['mq-switch', NAME, '-n', ns, '--to', 'woodpecker', '--cleanup', '-y', '--timeout', '5m'];
    const stopped: Record<string, string> = {};
    for (const [i, step] of INTERRUPT_AFTER.entries()) {
      const r = await runPlugin([...args, ...(i ? ['--resume'] : [])], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step }, timeoutMs: 600_000 });
      expect(r.code, `${step}: ${r.stderr}`).toBe(130);
      stopped[step] = r.stderr;
      // Right before the deletion the old Pulsar is all there; it goes only after the resume's own flush.
      if (step === 'cleanup-flush') expect((await kubectlJson<{ items: unknown[] }>(['get', 'pvc', '-n', ns, '-l', pulsarPvcs])).items.length).toBe(before.items.length);
    }
    // Right after the request: asked once; the resumes read etcd instead of asking again.
    expect(stopped['wal-alter']).toMatch(/mixcoord \(pod\/\S+\) answered: OK/);
    expect(stopped['confirm-mq-type']).toContain(`etcd's ${NAME}/config/mqtype = woodpecker`);
    expect(stopped.install).toContain('spec.dependencies.msgStreamType = woodpecker');
    expect(stopped['delete-old-queue']).toContain(`helm uninstall ${NAME}-pulsar`);
    const last = await runPlugin([...args, '--resume'], { timeoutMs: 600_000 });
    expect(last.code, last.stderr).toBe(0);
    expect(last.stderr).toContain('9 of 9 steps already done');
    expect(wal.accepted.map((a) => a.target)).toEqual(['woodpecker']);
    expect(await (await metaEtcd()).get(mqTypeEtcdKey(NAME))).toBe('woodpecker');
    const m = await kubectlJson<{ spec: { dependencies: { msgStreamType: string } } }>(['get', 'milvus', NAME, '-n', ns]);
    expect(m.spec.dependencies.msgStreamType).toBe('woodpecker');
    expect((await run('helm', ['status', `${NAME}-pulsar`, '-n', ns])).code).not.toBe(0);
    expect((await kubectlJson<{ items: unknown[] }>(['get', 'pvc', '-n', ns, '-l', pulsarPvcs])).items).toEqual([]);
    expect(await helm(['list', '-n', ns, '-q'])).not.toContain(`${NAME}-pulsar`);
    const cp = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', `kubectl-milvus-mq-switch-${NAME}`, '-n', ns]);
    expect(JSON.parse(cp.data['checkpoint.json']!).finished).toBe(true);
  }, 1_800_000);
});
