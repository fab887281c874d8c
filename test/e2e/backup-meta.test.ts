/**
 * backup meta / list / restore-meta on the test bed: the release's etcd pod port 2379 is routed
 * (KWOK port-forward rule) to a private real etcd, reached by the packaged plugin through its own
 * port-forward and the etcd v3 JSON gateway. Snapshot, damage, restore, verify; every refusal
 * (Milvus running, not a snapshot, another release's, unreachable etcd) changes nothing.
 */
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSnapshot } from '../../src/backup-meta/snapshot.js';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, installHelmRelease, kubectl, newNamespace, removeForward, runPlugin, waitReady } from './harness.js';

const REL = 'meta-rel';
const SELECTOR = `app.kubernetes.io/instance=${REL},app.kubernetes.io/name=milvus`;
const RU = 'ru-rel';
const RU_SELECTOR = `app.kubernetes.io/instance=${RU},app.kubernetes.io/name=milvus`;

describe('backup meta and restore-meta against a real etcd', () => {
  let ns: string;
  let etcd: PrivateEtcd;
  let dir: string;
  let original: Map<string, string>;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('bmeta');
    dir = mkdtempSync(join(tmpdir(), 'km-bmeta-'));
    etcd = await startPrivateEtcd();
    await forwardNamespaceTo(ns, etcd.port, 2379);
    await installHelmRelease(ns, REL, { 'cluster.enabled': false, 'pulsar.enabled': false });
    // Milvus-shaped metadata: 1,500 keys (more than one page), a binary value, an empty one,
    // a session with a lease, and another root path that must never be touched.
    for (let i = 0; i < 1500; i++) await etcd.put(`by-dev/meta/root-coord/fields/${1000 + i}`, `{"fieldID":${i},"name":"f${i}"}`);
    await etcd.put('by-dev/kv/gid/timestamp', Buffer.from([0, 1, 2, 255]));
    await etcd.put('by-dev/meta/empty', '');
    await etcd.put('by-dev/meta/session/standalone', '{"ServerName":"standalone"}', { leaseTtl: 600 });
    await etcd.put('by-dev2/meta/other', 'not ours');
    // Another Milvus whose root path is nested under ours ("by-dev/tenant-b") in the same etcd.
    await etcd.put('by-dev/tenant-b/meta/root-coord/database/db-info/1', 'theirs');
    original = await milvusKeys();
  }, 240_000);
  afterAll(async () => {
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  let snapshotFile: string;
  /** The keys of Milvus's own sub-trees of by-dev/ (the nested root path left out). */
  const milvusKeys = async () => new Map([...(await etcd.dump('by-dev/kv/')), ...(await etcd.dump('by-dev/meta/'))]);
  const milvusPods = async () => JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', SELECTOR, '-o', 'json'])).items as Array<{ metadata: { name: string; deletionTimestamp?: string } }>;

  it('backup meta writes a verified snapshot (mode 0600) of the keys under by-dev/, without leased session keys', async () => {
    const r = await runPlugin(['backup', 'meta', REL, '-n', ns, '--dir', dir, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ release: REL, namespace: ns, rootPath: 'by-dev', keys: 1502, skippedLeased: 1, etcdVersion: '3.4.23' });
    expect(r.stderr).toMatch(/Reading the etcd keys under "by-dev\/" of release "meta-rel" \(by-dev\/kv\/, by-dev\/meta\/; pod\/meta-rel-etcd-0, etcd 3\.4\.23\)/);
    expect(r.stderr).toContain('(verified)');
    snapshotFile = info.file;
    expect(statSync(snapshotFile).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o077).toBe(0);
    const list = await runPlugin(['backup', 'list', REL, '-n', ns, '--dir', dir]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^NAME +CREATED +REVISION +KEYS +SIZE +VERIFIED\n/);
    expect(list.stdout).toMatch(new RegExp(`^${REL}\\.\\S+\\.meta\\.jsonl\\.gz +\\S+ +${info.revision} +1502 +\\S+ +yes$`, 'm'));
  });

  it('restore-meta refuses while Milvus runs and changes nothing', async () => {
    await etcd.del('by-dev/meta/root-coord/fields/1000');
    const r = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', snapshotFile, '--yes']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^error: Milvus of release "meta-rel" is running \(meta-rel-milvus-standalone 1\/1, pod\/meta-rel-milvus-standalone-\S+, live session by-dev\/meta\/session\/standalone\)/);
    expect(await etcd.get('by-dev/meta/root-coord/fields/1000')).toBeUndefined();
    expect((await milvusKeys()).size).toBe(original.size - 1);
  });

  it('replicas 0 is not stopped: a Terminating pod, then a live session, refuse the restore (exit 7), nothing changed', async () => {
    // A pod that takes its time to shut down: a finalizer holds it in Terminating.
    const pod = (await milvusPods())[0]!.metadata.name;
    await kubectl(['patch', 'pod', pod, '-n', ns, '--type', 'merge', '-p', '{"metadata":{"finalizers":["kubectl-milvus.io/test-slow-shutdown"]}}']);
    await kubectl(['scale', 'deployment', '-n', ns, '-l', SELECTOR, '--replicas=0']);
    for (let i = 0; !(await milvusPods()).some((p) => p.metadata.deletionTimestamp); i++) {
      if (i > 120) throw new Error(`pod/${pod} never began terminating`);
      await new Promise((res) => setTimeout(res, 500));
    }
    const before = await etcd.dump('by-dev/');
    const terminating = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', snapshotFile, '--dir', dir, '--yes']);
    expect(terminating.code, terminating.stderr).toBe(7);
    expect(terminating.stderr).toContain(`pod/${pod} (Terminating)`);
    await kubectl(['patch', 'pod', pod, '-n', ns, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']);
    for (let i = 0; (await milvusPods()).length; i++) {
      if (i > 120) throw new Error('the Milvus pods did not go');
      await new Promise((res) => setTimeout(res, 500));
    }
    // No pod left, but the session (lease 600 s) is still registered.
    const session = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', snapshotFile, '--dir', dir, '--yes']);
    expect(session.code, session.stderr).toBe(7);
    expect(session.stderr).toMatch(/^error: Milvus of release "meta-rel" is running \(live session by-dev\/meta\/session\/standalone\)/);
    expect(session.stderr).toContain('a session expires about a minute after its process stopped');
    expect(await etcd.dump('by-dev/')).toEqual(before);
    // The session expires (its lease ends): what follows runs on a stopped Milvus.
    await etcd.del('by-dev/meta/session/standalone');
  });

  it('refuses a file that is not a snapshot and a snapshot of another release (exit 13), nothing changed', async () => {
    await waitReady(ns, { selector: SELECTOR });
    const junk = join(dir, 'junk.meta.jsonl.gz');
    writeFileSync(junk, 'this is not a snapshot\n');
    const before = await etcd.dump('by-dev/');
    const bad = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', junk, '--yes']);
    expect(bad.code, bad.stderr).toBe(13);
    expect(bad.stderr.trim().split('\n')[0]).toBe(`error: ${junk} is not a metadata snapshot of kubectl-milvus: not a gzip file`);
    const foreign = join(dir, 'other.meta.jsonl.gz');
    await writeSnapshot(etcd.gw, foreign, { release: 'other-rel', namespace: ns, method: 'helm', rootPath: 'by-dev', etcdVersion: '3.4.23', milvusVersion: undefined, createdAt: new Date().toISOString(), source: 'test' });
    const other = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', foreign, '--yes']);
    expect(other.code, other.stderr).toBe(13);
    expect(other.stderr).toContain(`belongs to release "other-rel" in namespace "${ns}", not "${REL}"`);
    const list = await runPlugin(['backup', 'list', REL, '-n', ns, '--dir', dir]);
    expect(list.stdout).toMatch(/^junk\.meta\.jsonl\.gz .* no: not a snapshot: not a gzip file$/m);
    expect(list.stdout).toMatch(/^other\.meta\.jsonl\.gz .* no: belongs to .*\/other-rel$/m);
    expect(await etcd.dump('by-dev/')).toEqual(before);
  });

  it('restore-meta --dry-run plans, --yes restores the damaged metadata exactly and keeps a snapshot of what it replaced', async () => {
    await etcd.put('by-dev/meta/root-coord/fields/1001', 'corrupted');
    await etcd.put('by-dev/meta/stray', 'added after the snapshot');
    const plan = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', snapshotFile, '--dir', dir, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toMatch(/1\. Snapshot the Milvus metadata \(etcd\) to a local file\n.*\n +-> .*\.meta\.jsonl\.gz \(mode 0600\)/);
    expect(plan.stderr).toContain('2. Replace the etcd keys under "by-dev/kv/" and "by-dev/meta/" with the snapshot\'s 1502 keys [destructive]');
    expect(plan.stderr).toContain('Dry run: nothing was changed.');
    expect(await etcd.get('by-dev/meta/stray')).toBe('added after the snapshot');

    const r = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', snapshotFile, '--dir', dir, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[3\/3\] Verify etcd against the snapshot's key count and sha256 \.\.\. done/);
    expect(r.stdout).toContain(`Metadata of "${REL}" restored from ${snapshotFile} (1502 keys, verified).`);
    const now = await milvusKeys();
    const want = new Map([...original].filter(([k]) => k !== 'by-dev/meta/session/standalone'));
    expect(now).toEqual(want);
    expect(await etcd.get('by-dev2/meta/other')).toBe('not ours');
    // The nested root path of the other Milvus was neither read nor deleted.
    expect(await etcd.get('by-dev/tenant-b/meta/root-coord/database/db-info/1')).toBe('theirs');
    // The snapshot of the damaged state taken first is there and verifies.
    const pre = /The metadata before the restore is in (\S+)\./.exec(r.stdout)![1]!;
    expect(existsSync(pre)).toBe(true);
    const list = await runPlugin(['backup', 'list', REL, '-n', ns, '--dir', dir, '-o', 'json']);
    const listed = JSON.parse(list.stdout).snapshots.find((s: { file: string }) => s.file === pre);
    // fields/1000 deleted, fields/1001 corrupted, stray added: as many keys, another hash.
    const first = JSON.parse(list.stdout).snapshots.find((s: { file: string }) => s.file === snapshotFile);
    expect(listed.keys).toBe(1502);
    expect(listed.problem).toBeUndefined();
    expect(listed.sha256).not.toBe(first.sha256);
  });

  it('an Operator release: its etcd (release <name>-etcd) and root path (the resource name)', async () => {
    await createOperatorMilvus(ns, 'vector-db', { mode: 'standalone', components: { image: 'milvusdb/milvus:v2.4.5' }, dependencies: { msgStreamType: 'rocksmq' } });
    for (let i = 0; i < 5; i++) await etcd.put(`vector-db/meta/root-coord/collection/${i}`, `c${i}`);
    const r = await runPlugin(['backup', 'meta', 'vector-db', '-n', ns, '--dir', dir, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ release: 'vector-db', method: 'operator', rootPath: 'vector-db', prefix: 'vector-db/', keys: 5, source: 'pod/vector-db-etcd-0:2379' });
  });

  it('rolling-update takes a snapshot first and names its file in the plan; the snapshot is real', async () => {
    // A cluster-mode release (a standalone with RocksMQ cannot roll), its etcd pod routed the same way.
    await installHelmRelease(ns, RU);
    const plan = await runPlugin(['rolling-update', RU, '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '--backup-dir', dir, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    const file = new RegExp(`1\\. Snapshot the Milvus metadata \\(etcd\\) to a local file\\n.*\\n +-> (${dir}/${RU}\\.\\S+\\.meta\\.jsonl\\.gz) \\(mode 0600\\)`).exec(plan.stderr);
    expect(file, plan.stderr).not.toBeNull();
    const r = await runPlugin(['rolling-update', RU, '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '--backup-dir', dir, '--coordinator-min-ready', '0s', '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[1\/\d+\] Snapshot the Milvus metadata \(etcd\) to a local file \.\.\. done/);
    const listed = JSON.parse((await runPlugin(['backup', 'list', RU, '-n', ns, '--dir', dir, '-o', 'json'])).stdout).snapshots;
    const taken = listed.find((x: { file: string; createdAt?: string; problem?: string; keys?: number }) => x.file.includes('.meta.jsonl.gz') && x.file.includes(dir) && x.createdAt && x.problem === undefined && x.keys === 1502 && r.stderr.includes(x.file));
    expect(taken, JSON.stringify(listed)).toBeDefined();
  });

  it('a root path with no Milvus metadata is no backup: backup meta and rolling-update stop (exit 7) naming the root paths etcd holds, before anything changes', async () => {
    const files = readdirSync(dir).length;
    const meta = await runPlugin(['backup', 'meta', REL, '-n', ns, '--dir', dir, '--root-path', 'broken']);
    expect(meta.code, meta.stderr).toBe(7);
    expect(meta.stderr).toMatch(/^error: no Milvus metadata under "broken\/" \(no key under "broken\/kv\/" or "broken\/meta\/"; root path from the command line\): an empty snapshot is no backup; etcd holds keys under "by-dev", "by-dev2", "vector-db"$/m);
    expect(readdirSync(dir).length).toBe(files);
    const before = await kubectl(['get', 'deployments', '-n', ns, '-l', RU_SELECTOR, '-o', 'jsonpath={.items[*].spec.template.spec.containers[0].image}']);
    const r = await runPlugin(['rolling-update', RU, '-n', ns, '--image', 'milvusdb/milvus:v2.4.7', '--backup-dir', dir, '--root-path', 'broken', '-y']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^error: step "Snapshot the Milvus metadata \(etcd\) to a local file" failed: no metadata snapshot: no Milvus metadata under "broken\/"/m);
    expect(r.stderr).toContain('pass the release\'s etcd root path with --root-path (one of by-dev, by-dev2, vector-db, or a path below one), or --skip-meta-backup');
    expect(await kubectl(['get', 'deployments', '-n', ns, '-l', RU_SELECTOR, '-o', 'jsonpath={.items[*].spec.template.spec.containers[0].image}'])).toBe(before);
    expect(readdirSync(dir).length).toBe(files);
    // The right root path is the way on.
    const ok = await runPlugin(['rolling-update', RU, '-n', ns, '--image', 'milvusdb/milvus:v2.4.7', '--backup-dir', dir, '--root-path', 'by-dev', '--restart', '--dry-run']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a changing command with the etcd unreachable stops at the snapshot (exit 4) before changing anything; --skip-meta-backup is shown in the plan', async () => {
    await removeForward(ns, 2379);
    const before = await kubectl(['get', 'deployments', '-n', ns, '-l', RU_SELECTOR, '-o', 'jsonpath={.items[*].spec.template.spec.containers[0].image}']);
    const r = await runPlugin(['rolling-update', RU, '-n', ns, '--image', 'milvusdb/milvus:v2.4.7', '--backup-dir', dir, '-y']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/^error: step "Snapshot the Milvus metadata \(etcd\) to a local file" failed: no metadata snapshot: cannot reach the etcd of release "ru-rel"/m);
    expect(r.stderr).toContain('--skip-meta-backup');
    expect(await kubectl(['get', 'deployments', '-n', ns, '-l', RU_SELECTOR, '-o', 'jsonpath={.items[*].spec.template.spec.containers[0].image}'])).toBe(before);
    const plan = await runPlugin(['rolling-update', RU, '-n', ns, '--image', 'milvusdb/milvus:v2.4.7', '--skip-meta-backup', '--restart', '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toContain('1. Metadata snapshot: SKIPPED (--skip-meta-backup)\n     no snapshot of the etcd metadata is taken: --skip-meta-backup was given');
    await forwardNamespaceTo(ns, etcd.port, 2379);
  });

  it('an unreachable etcd: one-line error, exit 4, no file written', async () => {
    await removeForward(ns, 2379);
    const files = readdirSync(dir).length;
    const r = await runPlugin(['backup', 'meta', REL, '-n', ns, '--dir', dir]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr.split('\n')[0]).toMatch(/^error: cannot reach the etcd of release "meta-rel"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(dir).length).toBe(files);
  });
});
