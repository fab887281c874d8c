/**
 * etcd's health and etcd-maintain on a real etcd (Debian's, from the test bed): the release's etcd
 * pods' 2379 reach it through KWOK port-forward rules. One member started with a small
 * --quota-backend-bytes (the pod says the same quota in ETCD_QUOTA_BACKEND_BYTES, as the Milvus
 * chart sets it) is filled under the root path until etcd raises NOSPACE; health is critical
 * naming the alarm; etcd-maintain, interrupted after every step and resumed, brings it back with
 * every key still there. A three-member etcd is defragmented one member at a time, leader last.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSnapshot } from '../../src/backup-meta/snapshot.js';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { forwardPodTo, startEtcdCluster, type EtcdCluster } from './etcd-cluster.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, installHelmRelease, kubectlJson, newNamespace, removeForward, run, runPlugin } from './harness.js';

const QUOTA = 6_000_000;
const REL = 'etcdm-rel';
const POD = `${REL}-etcd-0`;
const big = (i: number) => `${i}:`.padEnd(100_000, 'x');

interface HealthCheck {
  check: string;
  status: string;
  detail: string;
}
const checksOf = (stdout: string): HealthCheck[] => JSON.parse(stdout).checks;

describe('etcd-maintain on a real etcd that ran out of space', () => {
  let ns: string;
  let etcd: PrivateEtcd;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('etcdm');
    etcd = await startPrivateEtcd({ args: [`--quota-backend-bytes=${QUOTA}`] });
    await forwardNamespaceTo(ns, etcd.port, 2379);
    await installHelmRelease(ns, REL, { 'cluster.enabled': false, 'pulsar.enabled': false, etcd: { extraEnvVars: [{ name: 'ETCD_QUOTA_BACKEND_BYTES', value: String(QUOTA) }] } });
    // Milvus-shaped metadata that must survive.
    for (let i = 0; i < 300; i++) await etcd.put(`by-dev/meta/root-coord/fields/${1000 + i}`, `{"fieldID":${i},"name":"f${i}"}`);
    await etcd.put('by-dev/kv/gid/timestamp', Buffer.from([0, 1, 2, 255]));
  }, 240_000);
  afterAll(async () => {
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('an unreachable etcd: one-line error, exit 4, nothing changed', async () => {
    await removeForward(ns, 2379);
    try {
      const r = await runPlugin(['etcd-maintain', REL, '-n', ns, '-y']);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^error: cannot reach etcd member pod/${POD}: `));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await forwardNamespaceTo(ns, etcd.port, 2379);
    }
    const cms = await kubectlJson<{ items: unknown[] }>(['get', 'configmap', '-n', ns, '-l', 'app.kubernetes.io/managed-by=kubectl-milvus']);
    expect(cms.items).toEqual([]);
  });

  it('the plan says that defragmenting blocks a member, and changes nothing', async () => {
    const r = await runPlugin(['etcd-maintain', REL, '-n', ns, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('defragmenting blocks each etcd member while it runs');
    expect(r.stderr).toMatch(/1\. Snapshot the Milvus metadata \(etcd\) to a local file\n/);
    expect(r.stderr).toMatch(/2\. Compact the etcd key history at the current revision \[destructive\]/);
    expect(r.stderr).toMatch(new RegExp(`3\\. Defragment etcd member pod/${POD} \\(the only member\\) \\[destructive\\]\\n.*\\n.*the member answers no read or write while it runs`));
    expect(r.stderr).toContain('Dry run: nothing was changed.');
  });

  let keysBefore: Map<string, string>;

  it('filled under the root path until NOSPACE: health is critical, naming the alarm', async () => {
    let refused: Error | undefined;
    for (let i = 0; i < 400 && !refused; i++) {
      try {
        await etcd.put(`by-dev/kv/fill/${i % 5}`, big(i));
      } catch (e) {
        refused = e as Error;
      }
    }
    expect(refused?.message).toMatch(/database space exceeded/);
    keysBefore = await etcd.dump('by-dev/');
    const r = await runPlugin(['health', REL, '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(12);
    const by = (name: string) => checksOf(r.stdout).find((c) => c.check === name);
    expect(by('etcd-alarms')).toMatchObject({ status: 'critical' });
    expect(by('etcd-alarms')!.detail).toMatch(new RegExp(`^NOSPACE on pod/${POD}: etcd refuses every write`));
    expect(by(`etcd/${POD}`)!.status).toBe('critical');
    expect(by(`etcd/${POD}`)!.detail).toMatch(/of quota 5\.7 MiB \(\d+%, quota from ETCD_QUOTA_BACKEND_BYTES\)/);
    expect(by('etcd-leader')!.status).toBe('ok');
    // report carries the same facts: each member's status and the alarms.
    const file = join(mkdtempSync(join(tmpdir(), 'km-etcdm-')), 'r.tar.gz');
    const rep = await runPlugin(['report', REL, '-n', ns, '-f', file]);
    expect(rep.code, rep.stderr).toBe(0);
    const x = await run('tar', ['-xzOf', file, `${REL}-report/etcd.json`]);
    const doc = JSON.parse(x.stdout);
    expect(doc.alarms).toEqual([{ memberId: doc.members[0].status.memberId, alarm: 'NOSPACE' }]);
    expect(doc.members[0]).toMatchObject({ name: `pod/${POD}`, quota: { bytes: QUOTA, from: 'ETCD_QUOTA_BACKEND_BYTES' }, status: { version: '3.4.23' } });
    expect(doc.members[0].status.dbSize).toBeGreaterThan(QUOTA * 0.9);
  });

  it('a snapshot that fails stops the run before anything is compacted', async () => {
    const oldRevision = '5';
    // A directory that cannot be made: its parent is a file.
    const parent = join(mkdtempSync(join(tmpdir(), 'km-etcdm-')), 'a-file');
    writeFileSync(parent, '');
    const r = await runPlugin(['etcd-maintain', REL, '-n', ns, '-y', '--backup-dir', join(parent, 'meta')]);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toMatch(/^error: step "Snapshot the Milvus metadata \(etcd\) to a local file" failed: /m);
    expect(r.stderr).not.toContain('Compact the etcd key history');
    // History older than now is still there: nothing was compacted.
    const page = await etcd.gw.rangePage(Buffer.from('by-dev/'), Buffer.from('by-dev0'), 1, oldRevision);
    expect(page.kvs.length).toBe(1);
  });

  it('etcd-maintain -y, interrupted after every step and resumed, brings etcd back with every key', async () => {
    const steps = ['meta-backup', 'compact', `defragment-${POD}`, 'disarm'];
    for (const [i, step] of steps.entries()) {
      const r = await runPlugin(['etcd-maintain', REL, '-n', ns, '-y', ...(i ? ['--resume'] : [])], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step } });
      expect(r.code, `${step}: ${r.stderr}`).toBe(130);
    }
    const r = await runPlugin(['etcd-maintain', REL, '-n', ns, '-y', '--resume', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ procedure: 'etcd-maintain', resumed: true, completed: true });
    expect(summary.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual([...steps, 'verify'].map((s) => `${s}:done`));
    expect(summary.state.disarmed).toEqual([POD]);
    expect(summary.state.after[POD]).toBeLessThan(summary.state.before[POD]);
    expect(r.stderr).toMatch(/a write succeeded, no alarm; dbSize \d+\.\d MiB before, \d+(\.\d)? (KiB|MiB) after \(1 member\(s\)\)/);
    // Every key is still there, equal to the snapshot taken first.
    expect(await etcd.dump('by-dev/')).toEqual(keysBefore);
    const snap = new Map<string, string>();
    await readSnapshot(summary.state.metaSnapshot, (k, v) => void snap.set(Buffer.from(k, 'base64').toString('utf8'), Buffer.from(v, 'base64').toString('utf8')));
    expect(snap).toEqual(keysBefore);
    // Writes work again, and health says so.
    await etcd.put('by-dev/kv/after', 'ok');
    const h = await runPlugin(['health', REL, '-n', ns, '-o', 'json']);
    const by = (name: string) => checksOf(h.stdout).find((c) => c.check === name);
    expect(by('etcd-alarms')).toMatchObject({ status: 'ok', detail: 'no alarm raised' });
    expect(by(`etcd/${POD}`)!.status, by(`etcd/${POD}`)!.detail).toBe('ok');
  });
});

describe('etcd-maintain on a three-member etcd', () => {
  const REL3 = 'etcdm3-rel';
  let ns: string;
  let cluster: EtcdCluster;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('etcdm3');
    cluster = await startEtcdCluster(3);
    await installHelmRelease(ns, REL3, { 'cluster.enabled': false, 'pulsar.enabled': false, 'etcd.replicaCount': 3 });
    for (const [i, m] of cluster.members.entries()) await forwardPodTo(ns, `${REL3}-etcd-${i}`, m.port);
    // History to reclaim: one key rewritten many times.
    const gw = cluster.members[0]!.gw;
    for (let i = 0; i < 40; i++) await gw.put(`by-dev/kv/fill/${i % 2}`, big(i));
    await gw.put('by-dev/meta/root-coord/database/1', '{"name":"default"}');
  }, 240_000);
  afterAll(async () => {
    await cluster?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('defragments one member at a time, followers first and the leader last, each back before the next', async () => {
    const leader = `${REL3}-etcd-${(await cluster.leader()).slice(1)}`;
    const r = await runPlugin(['etcd-maintain', REL3, '-n', ns, '-y', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const events = [...r.stderr.matchAll(/^\[\d+\/\d+\] Defragment etcd member pod\/(\S+) \(([^)]*)\) \.\.\.( done)?/gm)].map((m) => `${m[1]}${m[3] ? ' done' : ' start'}`);
    expect(events).toHaveLength(6);
    // Strictly one after the other: start, done, start, done ...
    for (let i = 0; i < 6; i += 2) expect(events[i + 1]).toBe(events[i]!.replace(' start', ' done'));
    const order = events.filter((e) => e.endsWith(' start')).map((e) => e.replace(' start', ''));
    expect(order[2]).toBe(leader);
    expect(order.slice(0, 2)).toEqual([0, 1, 2].map((i) => `${REL3}-etcd-${i}`).filter((p) => p !== leader));
    expect(r.stderr).toContain(`Defragment etcd member pod/${leader} (the leader, last)`);
    const s = JSON.parse(r.stdout).state;
    expect(Object.keys(s.blockedMs).sort()).toEqual([0, 1, 2].map((i) => `${REL3}-etcd-${i}`));
    for (const pod of Object.keys(s.before)) expect(s.after[pod], pod).toBeLessThan(s.before[pod]);
    expect(await cluster.members[2]!.gw.memberStatus().then((x) => x.leader)).not.toBe('0');
  });
});

describe('images that cannot be pulled', () => {
  const RELB = 'img-rel';
  let ns: string;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('etcdimg');
    await installHelmRelease(ns, RELB, { 'cluster.enabled': false, 'pulsar.enabled': false, 'image.all.tag': 'v2.4.6-broken' }, undefined, { wait: false });
  }, 240_000);
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('health is critical naming the image; status names the gone Docker Hub MinIO image with its fix', async () => {
    let images: HealthCheck | undefined;
    let last = '';
    for (let i = 0; i < 60 && images?.status !== 'critical'; i++) {
      const r = await runPlugin(['health', RELB, '-n', ns, '-o', 'json']);
      last = r.stdout + r.stderr;
      images = r.stdout ? checksOf(r.stdout).find((c) => c.check === 'images') : undefined;
      if (images?.status !== 'critical') await new Promise((res) => setTimeout(res, 1000));
    }
    expect(images?.status, last).toBe('critical');
    expect(images!.detail).toMatch(new RegExp(`^pod/${RELB}-milvus-standalone-\\S+ cannot pull milvusdb/milvus:v2\\.4\\.6-broken \\(ErrImagePull`));
    const s = await runPlugin(['status', RELB, '-n', ns, '-o', 'json']);
    expect(s.code, s.stderr).toBe(0);
    const risk = JSON.parse(s.stdout).risks.find((x: string) => x.includes('minio/minio'));
    expect(risk).toMatch(new RegExp(`^deployment/${RELB}-minio runs minio/minio:RELEASE\\.2023-03-20T20-16-18Z: Docker Hub's minio/minio is gone .*fix: helm upgrade to chart >= 5\\.0\\.28`));
  });
});
