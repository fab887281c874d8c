/**
 * mq-switch on the test bed: the packaged plugin switches Helm releases of Milvus 3.0 from Pulsar v3
 * and from Kafka to Woodpecker. Every pod's 9091 and 19530 reach the management-API simulator
 * (3.0: mixcoord's routes, streaming nodes, FlushAll), extended with wal/alter
 * (testbed/milvus-sim/wal.ts), which writes `mq.type` into the release's REAL etcd (a Debian etcd
 * the release's etcd pod is routed to) where Milvus writes it. Streaming node pods register with
 * the simulator's mixcoord as they start (their pod IPs), as real ones do.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { installWalSwitch, mqTypeEtcdKey, type WalSwitchModel } from '../../testbed/milvus-sim/wal.js';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { forwardPodTo } from './etcd-cluster.js';
import { registrar } from './mq-switch-bed.js';
import { assertTestbed, CHART, deleteNamespace, helm, forwardNamespaceTo, installHelmRelease, kubectlJson, newNamespace, runPlugin, seedMilvusMetadata } from './harness.js';

const V30 = { 'image.all.tag': 'v3.0.2', 'streaming.enabled': true, 'indexNode.enabled': false };
const STEPS = ['meta-backup', 'flush', 'wal-alter', 'confirm-mq-type', 'streaming', 'install', 'verify', 'cleanup-flush', 'delete-old-queue'];

interface Bed {
  ns: string;
  sim: RunningSim;
  etcd: PrivateEtcd;
  wal: WalSwitchModel;
  stop(): void;
}

async function bed(prefix: string, current: 'pulsar' | 'kafka', releases: Array<[string, Record<string, unknown>]>, confirmAfterMs: number | 'never' = 300): Promise<Bed> {
  const ns = await newNamespace(prefix);
  const sim = await startMilvusSim({ version: '3.0', databases: { default: ['books'] }, loaded: ['default.books'] });
  await forwardNamespaceTo(ns, sim.port, 9091);
  await forwardNamespaceTo(ns, sim.port, 19530);
  const etcd = await startPrivateEtcd();
  await seedMilvusMetadata(etcd, 'by-dev');
  const wal = installWalSwitch(sim.control, { etcd: { url: etcd.url, rootPath: 'by-dev' }, current, confirmAfterMs });
  await Promise.all(releases.map(([name, set]) => installHelmRelease(ns, name, set)));
  // The first release's etcd pod reaches this etcd; the others keep the namespace's shared one.
  await forwardPodTo(ns, `${releases[0]![0]}-etcd-0`, etcd.port, 2379);
  const stopRegistrar = registrar(ns, sim);
  return { ns, sim, etcd, wal, stop: stopRegistrar };
}

async function names(ns: string, kind: string, selector: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string; uid: string } }> }>(['get', kind, '-n', ns, '-l', selector]);
  return list.items.map((i) => `${i.metadata.name}/${i.metadata.uid}`).sort();
}

async function values(ns: string, release: string): Promise<Record<string, any>> {
  return JSON.parse(await helm(['get', 'values', release, '-n', ns, '-o', 'json'])) as Record<string, any>;
}

describe('mq-switch: a Helm release on Pulsar v3, with a neighbour in the same namespace', () => {
  let b: Bed;
  const REL = 'mqsw';
  const NEIGHBOUR = 'mqsw-2';
  const backupDir = mkdtempSync(join(tmpdir(), 'km-mqsw-'));

  beforeAll(async () => {
    assertTestbed();
    const set = { ...V30, 'pulsar.enabled': false, 'pulsarv3.enabled': true };
    b = await bed('mqsw', 'pulsar', [[REL, set], [NEIGHBOUR, set]]);
  }, 300_000);
  afterAll(async () => {
    b?.stop();
    await b?.sim.close();
    await b?.etcd.close();
    if (b?.ns) await deleteNamespace(b.ns);
  });

  it('bad input: --to pulsar is refused with the reason, exit 2, nothing changed', async () => {
    const r = await runPlugin(['mq-switch', REL, '-n', b.ns, '--to', 'pulsar', '-y']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: --to pulsar is not supported: back to an in-cluster Pulsar is impossible/);
    expect(b.wal.accepted).toEqual([]);
  });

  it('--dry-run shows the preflight verdict and the plan, changes nothing', async () => {
    const r = await runPlugin(['mq-switch', REL, '-n', b.ns, '--to', 'woodpecker', '--cleanup', '--dry-run', '--chart', CHART, '--backup-dir', backupDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Plan for "mq-switch" of release "mqsw"');
    expect(r.stderr).toContain('POST /management/wal/alter {"target_wal_name":"woodpecker"}');
    expect(r.stderr).toContain("wait until etcd's by-dev/config/mqtype reads \"woodpecker\"");
    expect(r.stderr).toContain('--set woodpecker.enabled=true --set streaming.woodpecker.embedded=true --set pulsarv3.enabled=true');
    expect(r.stderr).toContain(`kubectl delete persistentvolumeclaim/${REL}-pulsarv3-bookie-journal-${REL}-pulsarv3-bookie-0 -n ${b.ns}`);
    expect(r.stderr).not.toContain(`${NEIGHBOUR}-pulsarv3`);
    expect(b.wal.accepted).toEqual([]);
    expect(await b.etcd.get(mqTypeEtcdKey('by-dev'))).toBeUndefined();
  });

  it('switched end to end with --cleanup, interrupted after every step and resumed; the neighbour is untouched', async () => {
    const neighbourBefore = [
      ...(await names(b.ns, 'statefulsets', `app=pulsarv3,release=${NEIGHBOUR}`)),
      ...(await names(b.ns, 'pvc', `app=pulsarv3,release=${NEIGHBOUR}`)),
      ...(await names(b.ns, 'deployments', `app.kubernetes.io/instance=${NEIGHBOUR}`)),
    ];
    expect(neighbourBefore.length).toBeGreaterThan(8);
    expect(await names(b.ns, 'pvc', `app=pulsarv3,release=${REL}`)).toHaveLength(3);
    const args = ['mq-switch', REL, '-n', b.ns, '--to', 'woodpecker', '--cleanup', '-y', '--chart', CHART, '--backup-dir', backupDir, '--timeout', '3m'];
    for (const [i, step] of STEPS.entries()) {
      const r = await runPlugin([...args, ...(i ? ['--resume'] : [])], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step }, timeoutMs: 300_000 });
      expect(r.code, `${step}: ${r.stderr}`).toBe(130);
    }
    const last = await runPlugin([...args, '--resume'], { timeoutMs: 300_000 });
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toContain('Release "mqsw" runs on Woodpecker');
    // The switch was requested exactly once, and etcd says woodpecker.
    expect(b.wal.accepted.map((a) => a.target)).toEqual(['woodpecker']);
    expect(await b.etcd.get(mqTypeEtcdKey('by-dev'))).toBe('woodpecker');
    const v = await values(b.ns, REL);
    expect(v.woodpecker?.enabled).toBe(true);
    expect(v.pulsarv3?.enabled).toBe(false);
    expect(await names(b.ns, 'statefulsets', `app=pulsarv3,release=${REL}`)).toEqual([]);
    expect(await names(b.ns, 'pvc', `app=pulsarv3,release=${REL}`)).toEqual([]);
    const neighbourAfter = [
      ...(await names(b.ns, 'statefulsets', `app=pulsarv3,release=${NEIGHBOUR}`)),
      ...(await names(b.ns, 'pvc', `app=pulsarv3,release=${NEIGHBOUR}`)),
      ...(await names(b.ns, 'deployments', `app.kubernetes.io/instance=${NEIGHBOUR}`)),
    ];
    expect(neighbourAfter).toEqual(neighbourBefore);
    expect((await values(b.ns, NEIGHBOUR)).woodpecker).toBeUndefined();
    const cp = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', `kubectl-milvus-mq-switch-${REL}`, '-n', b.ns]);
    expect(JSON.parse(cp.data['checkpoint.json']!).finished).toBe(true);
    const status = await runPlugin(['status', REL, '-n', b.ns]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Message queue:\s+Woodpecker \(values woodpecker\.enabled=true; etcd by-dev\/config\/mqtype=woodpecker\)/);
  }, 900_000);

  it('a second run without --cleanup: already on Woodpecker, exit 7, nothing requested', async () => {
    const r = await runPlugin(['mq-switch', REL, '-n', b.ns, '--to', 'woodpecker', '-y', '--chart', CHART]);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/already runs on Woodpecker/);
    expect(b.wal.accepted).toHaveLength(1);
  });
});

describe('mq-switch: a Helm release on Kafka, and a switch that etcd never confirms', () => {
  let b: Bed;
  const REL = 'mqk';

  beforeAll(async () => {
    assertTestbed();
    b = await bed('mqk', 'kafka', [[REL, { ...V30, 'pulsar.enabled': false, 'pulsarv3.enabled': false, 'kafka.enabled': true }]], 'never');
  }, 300_000);
  afterAll(async () => {
    b?.stop();
    await b?.sim.close();
    await b?.etcd.close();
    if (b?.ns) await deleteNamespace(b.ns);
  });

  it('not confirmed in etcd: stops non-zero with nothing deleted; --resume reads etcd, never asks again, and finishes', async () => {
    const kafka = `app.kubernetes.io/instance=${REL},app.kubernetes.io/name in (kafka,zookeeper)`;
    const before = [...(await names(b.ns, 'statefulsets', kafka)), ...(await names(b.ns, 'pvc', kafka))];
    expect(before.length).toBe(4);
    const args = ['mq-switch', REL, '-n', b.ns, '--to', 'woodpecker', '--cleanup', '-y', '--chart', CHART, '--confirm-timeout', '5s', '--timeout', '3m'];
    const r = await runPlugin(args, { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toMatch(/the switch was not confirmed: after 5s etcd's by-dev\/config\/mqtype is absent; nothing was deleted/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect([...(await names(b.ns, 'statefulsets', kafka)), ...(await names(b.ns, 'pvc', kafka))]).toEqual(before);
    expect((await values(b.ns, REL)).woodpecker).toBeUndefined();
    expect(b.wal.accepted).toHaveLength(1);
    // Milvus finishes the broadcast later and writes mq.type (as wal_callbacks.go does).
    await b.etcd.put(mqTypeEtcdKey('by-dev'), 'woodpecker');
    b.wal.current = 'woodpecker';
    const again = await runPlugin([...args, '--resume'], { timeoutMs: 600_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("etcd's by-dev/config/mqtype = woodpecker");
    expect(b.wal.accepted).toHaveLength(1);
    expect([...(await names(b.ns, 'statefulsets', kafka)), ...(await names(b.ns, 'pvc', kafka))]).toEqual([]);
    const v = await values(b.ns, REL);
    expect(v.kafka?.enabled).toBe(false);
    expect(v.woodpecker?.enabled).toBe(true);
  }, 900_000);
});
