/**
 * Every Operator path of the plugin against the REAL Milvus Operator v1.3.7 of the test bed (built
 * from its Go module, run out of the cluster; testbed/README.md): status, pvc-list, flush,
 * pulsar-upgrade, meta-migrate and rolling-update.
 *
 * The real operator is slow on purpose (dependency probes every 30 s, minReadySeconds 30 on every
 * Deployment: ~100 s to a first Healthy, ~5 min for a rolling update), so the releases are created
 * together in one beforeAll, the long procedures (migration + rollback, a failing migration, a
 * rolling update, a stalled one) are started at once and run concurrently while the Pulsar tests
 * run, and each `it` awaits and checks its own. Measured on the 2-core project machine: about
 * 8 minutes for the whole file (485 s).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertTestbed,
  createOperatorMilvus,
  deleteNamespace,
  interruptWhen,
  kubectlJson,
  newNamespace,
  run,
  runPlugin,
  snapshotObjects,
  type RunResult,
} from './harness.js';
import { routeNamespaceTo, startRealMilvus, writeData, type RealMilvus } from './real-milvus.js';

const OLD = 'milvusdb/milvus:v2.5.4';
const NEW = 'milvusdb/milvus:v2.5.5';
const LONG = { timeoutMs: 900_000 };
// The proxies of the Pulsar tests' releases answer through a REAL Milvus 2.3.5 server (flush).
const pulsarV2 = { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.3.5' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } };
// imageUpdateMode all: after a MilvusUpgrade the operator restarts Milvus on the new image; with
// the default rollingUpgrade it does so one component at a time (minReadySeconds 30 each, ~4 min).
const legacySpec = { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.1.4', imageUpdateMode: 'all' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } } };

interface Deploy {
  metadata: { name: string; labels: Record<string, string> };
  spec: { replicas?: number; minReadySeconds?: number; template: { spec: { containers: Array<{ name: string; image: string }> } } };
  status?: { readyReplicas?: number };
}

async function deployments(ns: string, release: string): Promise<Deploy[]> {
  return (await kubectlJson<{ items: Deploy[] }>(['get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`])).items;
}

/** Image per Deployment that runs replicas (the operator keeps idle ones: standalone in cluster mode, the other querynode group). */
async function servingImages(ns: string, release: string): Promise<Record<string, string>> {
  return Object.fromEntries((await deployments(ns, release)).filter((d) => (d.spec.replicas ?? 1) > 0).map((d) => [d.metadata.name, d.spec.template.spec.containers[0]!.image]));
}

async function pvcs(ns: string, selector: string) {
  return (await kubectlJson<{ items: Array<{ metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> } }> }>(['get', 'pvc', '-n', ns, '-l', selector])).items;
}

async function pvcNames(ns: string, selector: string): Promise<string[]> {
  return (await pvcs(ns, selector)).map((i) => i.metadata.name).sort();
}

/** The objects of one release, for "changed nothing": the Milvus resource by generation (the operator writes its status), everything else by resourceVersion. */
async function releaseSnapshot(ns: string, release: string) {
  return (await snapshotObjects(ns))
    .filter((o) => o.name === release || (o.name.startsWith(`${release}-`) && !o.name.startsWith(`${release}-2`)))
    .map((o) => (o.kind === 'Milvus' ? { kind: o.kind, name: o.name, generation: o.generation } : o));
}

function tableRows(stdout: string): string[][] {
  return stdout.split('\n').filter((l) => /^(mixcoord|proxy|querynode|datanode|indexnode|rootcoord|datacoord|querycoord|indexcoord|streamingnode) /.test(l)).map((l) => l.split(/\s{2,}/));
}

/** Settled result of a chain of plugin runs started before the tests that check it. */
type Settled<T> = Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;
function settle<T>(p: Promise<T>): Settled<T> {
  return p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}
async function settled<T>(s: Settled<T>): Promise<T> {
  const r = await s;
  if (!r.ok) throw r.error;
  return r.value;
}

describe('Milvus Operator releases on the real operator', () => {
  let nsPulsar: string;
  let nsOps: string;
  let milvus: RealMilvus;
  let migration: Settled<{ dry: RunResult; migrate: RunResult; afterMigrate: Record<string, any>; rollingRefusal: RunResult; rollback: RunResult; afterRollback: { milvus: { spec: { components: { image: string } }; status: { status: string } }; serving: Record<string, string>; upgradeGone: boolean }; noUpgrade: RunResult; again: RunResult; firstVolume: string; secondVolume: string }>;
  let failing: Settled<RunResult>;
  let rolling: Settled<{ dry: RunResult; first: RunResult; resumed: RunResult }>;
  let stalled: Settled<RunResult>;
  let interrupted: Settled<{ first: RunResult; second: { code: number | null; stderr: string }; last: RunResult }>;

  beforeAll(async () => {
    assertTestbed();
    [nsPulsar, nsOps] = await Promise.all([newNamespace('operator'), newNamespace('operator-ops')]);
    await Promise.all([
      createOperatorMilvus(nsPulsar, 'my-release', pulsarV2),
      createOperatorMilvus(nsPulsar, 'my-release-2', { ...pulsarV2, mode: 'standalone' }),
      createOperatorMilvus(nsPulsar, 'ext', { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.3.5' }, dependencies: { msgStreamType: 'pulsar', pulsar: { external: true, endpoint: '127.0.0.1:6650' } } }, { wait: false }),
      createOperatorMilvus(nsOps, 'legacy', legacySpec),
      createOperatorMilvus(nsOps, 'paused', legacySpec),
      createOperatorMilvus(nsOps, 'broken', { mode: 'standalone', components: { image: 'milvusdb/milvus:v2.1.4' } }),
      createOperatorMilvus(nsOps, 'vdb', { mode: 'cluster', components: { image: OLD } }),
      createOperatorMilvus(nsOps, 'bad', { mode: 'cluster', components: { image: OLD } }),
    ]);
    // Started once the operator's installs are over: the real server answers the flushes.
    milvus = await startRealMilvus({ version: '2.3.5' });
    await routeNamespaceTo(nsPulsar, milvus);
    // The long procedures run concurrently from here on; the tests below check them one by one.
    const mm = ['meta-migrate', 'legacy', '-n', nsOps, '-s', '2.1.4', '-t', '2.2.0', '--timeout', '6m', '-y'];
    migration = settle(
      (async () => {
        const dry = await runPlugin([...mm, '--dry-run']);
        // No --image: the plugin must still send an explicit targetImage (same repository, v2.2.0).
        const migrate = await runPlugin(mm, LONG);
        const afterMigrate = JSON.parse((await runPlugin(['status', 'legacy', '-n', nsOps, '-o', 'json'])).stdout || '{}');
        const rollingRefusal = await runPlugin(['rolling-update', 'legacy', '-n', nsOps, '--image', 'milvusdb/milvus:v2.2.16', '--dry-run']);
        const firstVolume = (await kubectlJson<{ spec: { backupPVC: string } }>(['get', 'milvusupgrade', 'legacy-upgrade-2-2-0', '-n', nsOps])).spec.backupPVC;
        const rollback = await runPlugin([...mm, '--operation', 'rollback', '--delete-pod'], LONG);
        // What the rollback left, read before the next migration changes it again.
        const afterRollback = {
          milvus: await kubectlJson<{ spec: { components: { image: string } }; status: { status: string } }>(['get', 'milvus', 'legacy', '-n', nsOps]),
          serving: await servingImages(nsOps, 'legacy'),
          upgradeGone: (await run('kubectl', ['get', 'milvusupgrade', 'legacy-upgrade-2-2-0', '-n', nsOps])).code !== 0,
        };
        const noUpgrade = await runPlugin(['meta-migrate', 'legacy', '-n', nsOps, '-s', '2.1.4', '-t', '2.2.0', '--operation', 'rollback', '-y']);
        // Milvus ran 2.1.4 again after the rollback: a new migration takes a new backup in a volume of its own.
        const again = await runPlugin(mm, LONG);
        const secondVolume = (await kubectlJson<{ spec: { backupPVC: string } }>(['get', 'milvusupgrade', 'legacy-upgrade-2-2-0', '-n', nsOps])).spec.backupPVC;
        return { dry, migrate, afterMigrate, rollingRefusal, rollback, afterRollback, noUpgrade, again, firstVolume, secondVolume };
      })(),
    );
    failing = settle(runPlugin(['meta-migrate', 'broken', '-n', nsOps, '-s', '2.1.4', '-t', '2.2.0', '-y', '--timeout', '6m', '--migration-image', 'milvusdb/meta-migration:v2.2.0-fail'], LONG));
    rolling = settle(
      (async () => {
        const args = ['rolling-update', 'vdb', '-n', nsOps, '--image', NEW, '--timeout', '3m', '-y'];
        const dry = await runPlugin([...args, '--dry-run']);
        const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'patch-milvus' } });
        const resumed = await runPlugin([...args, '--resume'], LONG);
        return { dry, first, resumed };
      })(),
    );
    interrupted = settle(
      (async () => {
        const args = ['meta-migrate', 'paused', '-n', nsOps, '-s', '2.1.4', '-t', '2.2.0', '--timeout', '6m', '-y'];
        const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'backup-volume' } });
        const second = await interruptWhen([...args, '--resume'], /state BackupMeta/);
        const last = await runPlugin([...args, '--resume'], LONG);
        return { first, second, last };
      })(),
    );
    stalled = settle(runPlugin(['rolling-update', 'bad', '-n', nsOps, '--image', 'milvusdb/milvus:v2.5.5-broken', '--timeout', '4s', '-y']));
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled([migration, failing, rolling, stalled, interrupted].filter(Boolean));
    await milvus?.stop({ remove: true });
    // deleteNamespace also removes the namespace's port-forward rules.
    for (const ns of [nsPulsar, nsOps]) if (ns) await deleteNamespace(ns);
  }, 900_000);

  it('the bed runs the real operator: its CRDs, names, idle Deployments, minReadySeconds and dependency charts', async () => {
    expect((await run('kubectl', ['get', 'crd', 'milvusclusters.milvus.io'])).code).toBe(0);
    // The real milvusupgrades CRD has no short name: nothing may rely on "mu".
    expect((await run('kubectl', ['get', 'mu', '-n', nsOps])).code).not.toBe(0);
    expect((await run('kubectl', ['get', 'milvusupgrade', '-n', nsOps])).code).toBe(0);
    const ds = await deployments(nsPulsar, 'my-release');
    const byName = Object.fromEntries(ds.map((d) => [d.metadata.name, d]));
    expect(byName['my-release-milvus-standalone']?.spec.replicas).toBe(0);
    expect(byName['my-release-milvus-querynode-1']?.spec.template.spec.containers[0]?.image).toBe('dummy');
    expect(ds.every((d) => d.spec.minReadySeconds === 30)).toBe(true);
    expect(await pvcNames(nsPulsar, 'app.kubernetes.io/instance=my-release-etcd')).toEqual(['data-my-release-etcd-0', 'data-my-release-etcd-1', 'data-my-release-etcd-2']);
    const m = await kubectlJson<{ status: { conditions: Array<{ type: string; status: string }> } }>(['get', 'milvus', 'my-release', '-n', nsPulsar]);
    for (const c of ['EtcdReady', 'StorageReady', 'MsgStreamReady', 'MilvusReady']) expect(m.status.conditions.find((x) => x.type === c)?.status).toBe('True');
  });

  it('status: cluster mode from the spec, version and components from the serving Deployments only', async () => {
    const s = await runPlugin(['status', 'my-release', '-n', nsPulsar, '-o', 'json']);
    expect(s.code, s.stderr).toBe(0);
    const st = JSON.parse(s.stdout);
    expect(st.installedBy).toBe('Milvus Operator (milvus.io/v1beta1 Milvus my-release)');
    expect(st.operatorStatus).toBe('Healthy');
    expect(st.mode).toBe('cluster');
    expect(st.milvusVersion).toBe('2.3.5');
    expect(st.proxy).toBe('deployment/my-release-milvus-proxy (management API on port 9091)');
    const names = st.components.map((c: { deployment: string }) => c.deployment);
    expect(names).toContain('my-release-milvus-querynode-0');
    expect(names).not.toContain('my-release-milvus-querynode-1');
    expect(names).not.toContain('my-release-milvus-standalone');
    // The bed's operator MinIO chart runs Docker Hub's minio/minio, which is gone upstream: the one risk.
    expect(st.risks).toHaveLength(1);
    expect(st.risks[0]).toContain('minio/minio');
    expect(st.messageQueue).toBe('Pulsar v2');
    expect(st.pulsar.evidence).toBe('StatefulSet label chart=pulsar-2.7.8');
    expect(st.dependencies.filter((d: { dependency: string }) => d.dependency === 'pulsar v2').map((d: { name: string }) => d.name)).toEqual([
      'my-release-pulsar-bookie', 'my-release-pulsar-broker', 'my-release-pulsar-proxy', 'my-release-pulsar-zookeeper',
    ]);
  });

  it('pvc-list finds the Pulsar v2 volumes the operator labels app=pulsarv2', async () => {
    const labels = (await pvcs(nsPulsar, 'release=my-release-pulsar')).map((p) => p.metadata.labels.app);
    expect(new Set(labels)).toEqual(new Set(['pulsarv2']));
    const p = await runPlugin(['pvc-list', 'my-release', '-n', nsPulsar, '-o', 'name']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout.trim().split('\n')).toEqual([
      'persistentvolumeclaim/my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0',
      'persistentvolumeclaim/my-release-pulsar-bookie-ledgers-my-release-pulsar-bookie-0',
      'persistentvolumeclaim/my-release-pulsar-zookeeper-data-my-release-pulsar-zookeeper-0',
    ]);
  });

  it('flush reaches the proxy of an Operator cluster release (a real Milvus 2.3.5 answers)', async () => {
    await writeData(milvus, { default: { docs: 200 } }, 0);
    const r = await runPlugin(['flush', 'my-release', '-n', nsPulsar, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).verified).toBe(true);
    expect(JSON.parse(r.stdout).endpoint).toMatch(/^pod\/my-release-milvus-proxy-/);
  });

  it('pulsar-upgrade refuses an external Pulsar in plain words', async () => {
    const r = await runPlugin(['pulsar-upgrade', 'ext', '-n', nsPulsar, '-y']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('release "ext" uses an external Pulsar (spec.dependencies.pulsar.external: true)');
    expect(r.stderr).not.toContain('; )');
  });

  it('pulsar-upgrade --dry-run changes nothing', async () => {
    const before = await releaseSnapshot(nsPulsar, 'my-release');
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', nsPulsar, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`kubectl delete milvus my-release -n ${nsPulsar} --wait`);
    expect(r.stderr).toContain('"pulsar":{"inCluster":{"deletionPolicy":"Delete","pvcDeletion":true}}');
    expect(r.stderr).toContain('kubectl delete persistentvolumeclaim/my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0');
    expect(await releaseSnapshot(nsPulsar, 'my-release')).toEqual(before);
  });

  it('pulsar-upgrade moves a cluster release to Pulsar v3: the operator deletes the v2 release and PVCs, recreates Pulsar with chartVersion pulsar-v3; etcd and MinIO data stay', async () => {
    const etcdPvcs = await pvcNames(nsPulsar, 'app.kubernetes.io/instance=my-release-etcd');
    const minioPvcs = await pvcNames(nsPulsar, 'release=my-release-minio');
    const neighbour = (await snapshotObjects(nsPulsar)).filter((o) => o.name.startsWith('my-release-2') && o.kind !== 'Pod' && o.kind !== 'Milvus');
    await writeData(milvus, { default: { docs: 100 } }, 1000);
    const backupDir = mkdtempSync(join(tmpdir(), 'km-op-backup-'));
    // Interrupted right after the Milvus resource is deleted, then resumed.
    const first = await runPlugin(['pulsar-upgrade', 'my-release', '-n', nsPulsar, '-y', '--backup-dir', backupDir], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'delete-milvus' }, timeoutMs: 600_000 });
    expect(first.code, first.stderr).toBe(130);
    // The operator itself removed the v2 Helm release and, with pvcDeletion, its volumes. A claim
    // stays Terminating until the pods of the uninstalled release are gone, which a loaded bed
    // takes a few seconds to finish after the resource itself.
    for (let i = 0; i < 60 && (await pvcNames(nsPulsar, 'release=my-release-pulsar')).length; i++) await new Promise((res) => setTimeout(res, 1000));
    expect(await pvcNames(nsPulsar, 'release=my-release-pulsar')).toEqual([]);
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', nsPulsar, '-y', '--resume', '--backup-dir', backupDir, '--timeout', '6m'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const m = await kubectlJson<{ spec: any; status: any }>(['get', 'milvus', 'my-release', '-n', nsPulsar]);
    expect(m.spec.dependencies.pulsar.inCluster.chartVersion).toBe('pulsar-v3');
    expect(m.status.status).toBe('Healthy');
    const bookie = await kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'sts', 'my-release-pulsar-bookie', '-n', nsPulsar]);
    expect(bookie.metadata.labels).toMatchObject({ chart: 'pulsar-3.3.0', app: 'pulsar' });
    // The bookie and zookeeper volumes are new: written by the v3 chart.
    const fresh = await pvcs(nsPulsar, 'release=my-release-pulsar');
    expect(fresh.map((p) => p.metadata.annotations?.['testbed.kubectl-milvus.io/pulsar-generation'])).toEqual(['v3', 'v3', 'v3']);
    expect(await pvcNames(nsPulsar, 'app.kubernetes.io/instance=my-release-etcd')).toEqual(etcdPvcs);
    expect(await pvcNames(nsPulsar, 'release=my-release-minio')).toEqual(minioPvcs);
    expect((await snapshotObjects(nsPulsar)).filter((o) => o.name.startsWith('my-release-2') && o.kind !== 'Pod' && o.kind !== 'Milvus')).toEqual(neighbour);
    // status and pvc-list follow the v3 labels.
    const st = JSON.parse((await runPlugin(['status', 'my-release', '-n', nsPulsar, '-o', 'json'])).stdout);
    expect(st.messageQueue).toBe('Pulsar v3');
    const list = await runPlugin(['pvc-list', 'my-release', '-n', nsPulsar, '-o', 'json']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0');
  }, 900_000);

  it('meta-migrate without --image sends explicit targetImage and toolImage, and is done only when Milvus is Healthy on 2.2.0', async () => {
    const { dry, migrate, afterMigrate, rollingRefusal } = await settled(migration);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('"targetImage":"milvusdb/milvus:v2.2.0"');
    expect(dry.stderr).toContain('"toolImage":"milvusdb/meta-migration:v2.2.0-bugfix-20230112"');
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stderr).toContain('state Succeeded');
    expect(migrate.stderr).toMatch(/milvus\/legacy: status Healthy, image milvusdb\/milvus:v2\.2\.0, \d+\/\d+ components ready on milvusdb\/milvus:v2\.2\.0/);
    // Reported after Healthy: the status right after says 2.2.0 (not the idle Deployments' 2.1.4).
    expect(afterMigrate.milvusVersion).toBe('2.2.0');
    expect(afterMigrate.operatorStatus).toBe('Healthy');
    expect(afterMigrate.mode).toBe('cluster');
    expect(rollingRefusal.stderr).not.toContain('2.1.x');
  }, 900_000);

  it('meta-migrate --operation rollback rolls the same MilvusUpgrade back: backup restored, source image and replicas back', async () => {
    const { rollback, afterRollback } = await settled(migration);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stderr).toContain('Switch milvusupgrade/legacy-upgrade-2-2-0 to operation rollback ... done');
    expect(rollback.stderr).toContain('state RollbackedSucceeded');
    const m = afterRollback.milvus;
    expect(m.spec.components.image).toBe('milvusdb/milvus:v2.1.4');
    expect(m.status.status).toBe('Healthy');
    const serving = afterRollback.serving;
    expect(Object.keys(serving).length).toBeGreaterThanOrEqual(5);
    expect(new Set(Object.values(serving))).toEqual(new Set(['milvusdb/milvus:v2.1.4']));
    // The operator restored the backup it made (a rollback-meta pod ran) before starting 2.1.4.
    expect(rollback.stderr).toContain('state RollbackRestoringOldMeta');
    expect(rollback.stderr).toContain('milvusupgrade/legacy-upgrade-2-2-0 deleted'); // --delete-pod
    expect(afterRollback.upgradeGone).toBe(true);
  }, 900_000);

  it('meta-migrate --operation rollback without the MilvusUpgrade that made the backup refuses and says how', async () => {
    const { noUpgrade: r } = await settled(migration);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('no milvusupgrade/legacy-upgrade-2-2-0 to roll back');
    expect(r.stderr).toContain('restore by hand');
  }, 900_000);

  it('a migrate after a migrate -> rollback cycle backs up into a volume of its own, named in the checkpoint; the earlier backup is kept, never reused', async () => {
    const { again, firstVolume, secondVolume } = await settled(migration);
    expect(again.code, again.stderr).toBe(0);
    expect(firstVolume).toMatch(/^milvus-meta-migration-backup-legacy-[0-9a-f]{8}$/);
    expect(secondVolume).toMatch(/^milvus-meta-migration-backup-legacy-[0-9a-f]{8}$/);
    expect(secondVolume).not.toBe(firstVolume);
    expect(again.stderr).toContain(`created persistentvolumeclaim/${secondVolume}`);
    expect(again.stderr).toContain('state Succeeded');
    // The operator backed up into this run's volume, and the volume of the first run is still there.
    const u = await kubectlJson<{ status: { backupPVC: string; metaBackuped: boolean } }>(['get', 'milvusupgrade', 'legacy-upgrade-2-2-0', '-n', nsOps]);
    expect(u.status).toMatchObject({ backupPVC: secondVolume, metaBackuped: true });
    for (const v of [firstVolume, secondVolume]) await kubectlJson(['get', 'pvc', v, '-n', nsOps]);
    const cp = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'kubectl-milvus-meta-migrate-legacy', '-n', nsOps]);
    expect((JSON.parse(cp.data['checkpoint.json']!) as { state: { backupPvc: string } }).state.backupPvc).toBe(secondVolume);
  }, 900_000);

  it('meta-migrate reports a failed MilvusUpgrade (the operator retried and rolled back), and refuses to start over it', async () => {
    const failed = await settled(failing);
    expect(failed.code, failed.stderr).toBe(10);
    expect(failed.stderr).toContain('milvusupgrade/broken-upgrade-2-2-0 ended in RollbackedSucceeded: the upgrade failed and the operator rolled Milvus back to the old version');
    const up = await kubectlJson<{ status: { retriedTimes?: number } }>(['get', 'milvusupgrade', 'broken-upgrade-2-2-0', '-n', nsOps]);
    expect(up.status.retriedTimes).toBeGreaterThanOrEqual(1);
    const again = await runPlugin(['meta-migrate', 'broken', '-n', nsOps, '-s', '2.1.4', '-t', '2.2.0', '-y', '--restart']);
    expect(again.code).toBe(7);
    expect(again.stderr).toContain('milvusupgrade/broken-upgrade-2-2-0 exists from an earlier run (state RollbackedSucceeded)');
  }, 900_000);

  it('meta-migrate interrupted after the backup volume, then by Ctrl-C while the operator backs up: each --resume continues the same MilvusUpgrade', async () => {
    const { first, second, last } = await settled(interrupted);
    expect(first.code, first.stderr).toBe(130);
    expect(second.code, second.stderr).toBe(130);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stderr).toContain('3 of 5 steps already done');
    expect(last.stderr).toContain('state Succeeded');
    const m = await kubectlJson<{ spec: { components: { image: string } }; status: { status: string } }>(['get', 'milvus', 'paused', '-n', nsOps]);
    expect(m.spec.components.image).toBe('milvusdb/milvus:v2.2.0');
    expect(m.status.status).toBe('Healthy');
  }, 900_000);

  it('rolling-update: the plan leaves out the idle Deployments; interrupted after the patch, --resume follows the operator through the querynode group switch', async () => {
    const { dry, first, resumed } = await settled(rolling);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('the operator updates in its order: indexnode -> mixcoord -> querynode -> datanode -> proxy');
    expect(first.code, first.stderr).toBe(130);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('2 of 3 steps already done');
    const rows = tableRows(resumed.stdout);
    expect(rows.map((r) => r[0]).sort()).toEqual(['datanode', 'indexnode', 'mixcoord', 'proxy', 'querynode']);
    // The querynode group the operator switched to, with the FROM image of the group that served before.
    expect(resumed.stdout).toMatch(/^querynode +vdb-milvus-querynode-1 +milvusdb\/milvus:v2\.5\.4 +milvusdb\/milvus:v2\.5\.5 +updated/m);
    expect(resumed.stdout).not.toContain('vdb-milvus-standalone');
    // Listed in the order the rollouts finished: the operator's order.
    expect(rows.map((r) => r[0])).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    // One merge patch of the image fields: the rest of the spec is as it was.
    const m = await kubectlJson<{ spec: { mode: string; components: Record<string, unknown>; dependencies: Record<string, any> } }>(['get', 'milvus', 'vdb', '-n', nsOps]);
    expect(m.spec.components).toMatchObject({ image: NEW, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' });
    expect(m.spec.mode).toBe('cluster');
    expect(new Set(Object.values(await servingImages(nsOps, 'vdb')))).toEqual(new Set([NEW]));
    const st = JSON.parse((await runPlugin(['status', 'vdb', '-n', nsOps, '-o', 'json'])).stdout);
    expect(st.milvusVersion).toBe('2.5.5');
    // The bed's operator MinIO chart runs Docker Hub's minio/minio, which is gone upstream: the one risk.
    expect(st.risks).toHaveLength(1);
    expect(st.risks[0]).toContain('minio/minio');
    expect(st.components.find((c: { component: string }) => c.component === 'querynode').deployment).toBe('vdb-milvus-querynode-1');
  }, 900_000);

  it('rolling-update to an image that never gets ready times out with the way back', async () => {
    const r = await settled(stalled);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toContain('timed out');
    expect(r.stderr).toContain(`kubectl patch milvus bad -n ${nsOps} --type merge -p '{"spec":{"components":{"image":"${OLD}","imageUpdateMode":"rollingDowngrade"}}}'`);
  });
});
