/**
 * mq-switch on the test bed for a Helm STANDALONE release of Milvus 3.0 on RocksMQ, chart 5.0.27
 * (standalone.messageQueue=rocksmq, no Pulsar or Kafka): the packaged plugin switches it to
 * Woodpecker (embedded, over the release's MinIO). Chart 5 renders a standalone's queue from
 * standalone.messageQueue, and after revision 1 takes standalone.messageQueue=woodpecker as the
 * queue its standalone Deployment's milvus.io/message-queue annotation names (the chart's lookup):
 * the switch annotates the Deployment before the upgrade, and the chart then renders Woodpecker.
 * The standalone pod's 9091 and 19530 reach the management-API simulator (mixcoord runs inside
 * the standalone pod), extended with wal/alter (testbed/milvus-sim/wal.ts), which writes `mq.type` into the release's etcd (a private Debian
 * etcd the release's etcd pod is routed to). The standalone pod registers with the simulator's
 * mixcoord as its streaming node (it runs inside the pod), as a real standalone does.
 *
 * RocksMQ keeps its files on the standalone's own volume (the PVC `<release>-milvus`, which also
 * holds the rest of the Milvus local data): --cleanup names them and deletes nothing.
 */
import { mkdtempSync } from 'node:fs';
import yaml from 'js-yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { installWalSwitch, mqTypeEtcdKey, type WalSwitchModel } from '../../testbed/milvus-sim/wal.js';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { forwardPodTo } from './etcd-cluster.js';
import { registrar } from './mq-switch-bed.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, helm, installHelmRelease, kubectlJson, newNamespace, packageChart, runPlugin, seedMilvusMetadata } from './harness.js';

const REL = 'mqrs';
/** What the RocksMQ cleanup says instead of deleting (src/mq-switch/queue.ts outsideCleanup). */
const ROCKSMQ_NAMED = 'RocksMQ keeps its files on the Milvus volume (rdb_data, rdb_data_meta_kv): they are not deleted';
/** Interrupted after every step (exit 130) and resumed: the switch is requested once, the flushes are taken again where they license something. */
const STEPS = ['meta-backup', 'flush', 'wal-alter', 'confirm-mq-type', 'streaming', 'install', 'verify', 'cleanup-flush', 'delete-old-queue'];

async function pvcs(ns: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string; uid: string; deletionTimestamp?: string } }> }>(['get', 'pvc', '-n', ns]);
  return list.items.map((i) => `${i.metadata.name}/${i.metadata.uid}${i.metadata.deletionTimestamp ? ' (deleting)' : ''}`).sort();
}

async function values(ns: string): Promise<Record<string, any>> {
  return JSON.parse(await helm(['get', 'values', REL, '-n', ns, '-o', 'json'])) as Record<string, any>;
}

/** What the chart rendered: the standalone Deployment's annotation and mq.type in the config (the last one written wins, as in Milvus). */
async function rendered(ns: string, release = REL): Promise<{ annotation: string | undefined; mqType: unknown }> {
  const d = await kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(['get', 'deployment', `${release}-milvus-standalone`, '-n', ns]);
  const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', `${release}-milvus`, '-n', ns]);
  const config = yaml.load(cm.data['default.yaml']!, { json: true }) as { mq?: { type?: unknown } };
  return { annotation: d.metadata.annotations?.['milvus.io/message-queue'], mqType: config.mq?.type };
}

describe('mq-switch: a Helm standalone release on RocksMQ', () => {
  let ns: string;
  let sim: RunningSim;
  let etcd: PrivateEtcd;
  let wal: WalSwitchModel;
  let stopRegistrar: () => void = () => undefined;
  const backupDir = mkdtempSync(join(tmpdir(), 'km-mqrs-'));
  let chart: string;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('mqrs');
    sim = await startMilvusSim({ version: '3.0', databases: { default: ['books'] }, loaded: ['default.books'] });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    etcd = await startPrivateEtcd();
    await seedMilvusMetadata(etcd, 'by-dev');
    wal = installWalSwitch(sim.control, { etcd: { url: etcd.url, rootPath: 'by-dev' }, current: 'rocksmq' });
    // Chart 5.0.27 (the first whose default Milvus is 3.0), the standalone on RocksMQ: no Pulsar, no Kafka.
    chart = await packageChart('5.0.27');
    await installHelmRelease(ns, REL, { 'cluster.enabled': false, 'standalone.messageQueue': 'rocksmq', 'pulsar.enabled': false, 'pulsarv3.enabled': false, 'image.all.tag': 'v3.0.2' }, chart, { timeout: '6m' });
    await forwardPodTo(ns, `${REL}-etcd-0`, etcd.port, 2379);
    stopRegistrar = registrar(ns, sim, `app.kubernetes.io/instance=${REL},component=standalone`);
  }, 300_000);
  afterAll(async () => {
    stopRegistrar();
    await sim?.close();
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('--dry-run plans the switch through the standalone pod and names the RocksMQ files it leaves; changes nothing', async () => {
    const r = await runPlugin(['mq-switch', REL, '-n', ns, '--to', 'woodpecker', '--cleanup', '--dry-run', '--chart', chart, '--backup-dir', backupDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Plan for "mq-switch" of release "${REL}"`);
    expect(r.stderr).toContain('POST /management/wal/alter {"target_wal_name":"woodpecker"}');
    expect(r.stderr).toContain('--set standalone.messageQueue=woodpecker --set woodpecker.enabled=true --set streaming.woodpecker.embedded=true');
    expect(r.stderr).toContain(`kubectl annotate deployment/${REL}-milvus-standalone -n ${ns} milvus.io/message-queue=woodpecker --overwrite (now rocksmq;`);
    expect(await rendered(ns)).toEqual({ annotation: 'rocksmq', mqType: 'rocksmq' });
    expect(r.stderr).toContain('no old queue of this release is deployed or has volumes');
    expect(r.stderr).toContain(ROCKSMQ_NAMED);
    expect(r.stderr).not.toMatch(/kubectl delete persistentvolumeclaim/);
    expect(wal.accepted).toEqual([]);
    expect(await etcd.get(mqTypeEtcdKey('by-dev'))).toBeUndefined();
  });

  it('switched with --cleanup, interrupted and resumed: etcd and the values say woodpecker, requested once, the Milvus volume kept', async () => {
    const before = await pvcs(ns);
    // The standalone's own volume (RocksMQ lives there), besides etcd's and MinIO's.
    expect(before.some((p) => p.startsWith(`${REL}-milvus/`))).toBe(true);
    const args = ['mq-switch', REL, '-n', ns, '--to', 'woodpecker', '--cleanup', '-y', '--chart', chart, '--backup-dir', backupDir, '--timeout', '3m'];
    const stderrAfter: Record<string, string> = {};
    for (const [i, step] of STEPS.entries()) {
      const r = await runPlugin([...args, ...(i ? ['--resume'] : [])], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step }, timeoutMs: 300_000 });
      expect(r.code, `${step}: ${r.stderr}`).toBe(130);
      stderrAfter[step] = r.stderr;
    }
    // The cleanup deleted nothing and said where the RocksMQ files stay.
    expect(stderrAfter['delete-old-queue']).toContain(ROCKSMQ_NAMED);
    expect(stderrAfter['delete-old-queue']).not.toMatch(/deleted persistentvolumeclaim|helm upgrade: /);
    const last = await runPlugin([...args, '--resume'], { timeoutMs: 300_000 });
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toContain(`Release "${REL}" runs on Woodpecker`);
    // Requested exactly once, through the standalone pod; etcd says woodpecker.
    expect(wal.accepted.map((a) => a.target)).toEqual(['woodpecker']);
    expect(wal.errors).toEqual([]);
    expect(await etcd.get(mqTypeEtcdKey('by-dev'))).toBe('woodpecker');
    const v = await values(ns);
    expect(v.standalone?.messageQueue).toBe('woodpecker');
    expect(v.woodpecker?.enabled).toBe(true);
    // The chart rendered Woodpecker: its lookup found the annotation the switch wrote.
    expect(await rendered(ns)).toEqual({ annotation: 'woodpecker', mqType: 'woodpecker' });
    expect(v.streaming?.woodpecker?.embedded).toBe(true);
    expect(v.cluster?.enabled).toBe(false);
    // Nothing deleted: the standalone's volume (with the RocksMQ files) and every other PVC are the same objects.
    expect(await pvcs(ns)).toEqual(before);
    const cp = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', `kubectl-milvus-mq-switch-${REL}`, '-n', ns]);
    expect(JSON.parse(cp.data['checkpoint.json']!).finished).toBe(true);
    const status = await runPlugin(['status', REL, '-n', ns]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Message queue:\s+Woodpecker \(Deployment mqrs-milvus-standalone annotation milvus\.io\/message-queue=woodpecker \(what the chart renders for values standalone\.messageQueue=woodpecker after revision 1, overrides woodpecker\.enabled=true\); etcd by-dev\/config\/mqtype=woodpecker\)/);
  }, 900_000);
});

describe('chart 5 keeps an upgraded standalone on the queue its Deployment names', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('mqkeep');
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('standalone.messageQueue=woodpecker at revision 2 over a Deployment annotated rocksmq: the chart renders rocksmq, and status says RocksMQ from the annotation', async () => {
    const chart = await packageChart('5.0.27');
    await installHelmRelease(ns, 'keep', { 'cluster.enabled': false, 'standalone.messageQueue': 'rocksmq', 'pulsar.enabled': false, 'pulsarv3.enabled': false, 'image.all.tag': 'v2.6.5' }, chart);
    expect(await rendered(ns, 'keep')).toEqual({ annotation: 'rocksmq', mqType: 'rocksmq' });
    // The chart's default again (woodpecker), as an upgrade with --reset-values would set it.
    await helm(['upgrade', 'keep', chart, '-n', ns, '--reuse-values', '--set', 'standalone.messageQueue=woodpecker', '--wait', '--timeout', '3m']);
    expect(await rendered(ns, 'keep')).toEqual({ annotation: 'rocksmq', mqType: 'rocksmq' });
    const status = await runPlugin(['status', 'keep', '-n', ns]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Message queue:\s+RocksMQ \(Deployment keep-milvus-standalone annotation milvus\.io\/message-queue=rocksmq \(what the chart renders for values standalone\.messageQueue=woodpecker after revision 1\)\)/);
  }, 600_000);
});
