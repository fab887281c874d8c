/**
 * The metadata snapshot against real Milvus metadata: a real Milvus standalone (2.2.16 and 2.3.5
 * from PyPI's wheels, test/e2e/real-milvus.ts) keeps its metadata in a private real etcd; the
 * release's etcd pod port 2379 and its standalone pod's 9091 are routed to them. health sees the
 * real sessions; backup meta snapshots, the collection metadata is deleted, restore-meta puts it
 * back, and the restarted Milvus lists its databases and collections and serves their rows again.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, installHelmRelease, kubectl, newNamespace, runPlugin, waitReady } from './harness.js';
import { assertRealMilvus, client, countRows, listDatabases, realMilvusVersions, startRealMilvus, writeData, type RealMilvus } from './real-milvus.js';

const REL = 'real-meta';
const SELECTOR = `app.kubernetes.io/instance=${REL},app.kubernetes.io/name=milvus`;

async function collections(m: RealMilvus, db: string): Promise<string[]> {
  const c = client(m, db);
  try {
    const r = await c.showCollections();
    return r.data.map((x) => x.name).sort();
  } finally {
    c.closeConnection();
  }
}

describe.each(realMilvusVersions())('real Milvus %s: snapshot, damage, restore', (version) => {
  let ns: string;
  let etcd: PrivateEtcd;
  let milvus: RealMilvus;
  const dir = mkdtempSync(join(tmpdir(), `km-real-meta-${version}-`));

  beforeAll(async () => {
    assertTestbed();
    assertRealMilvus(version);
    ns = await newNamespace('realmeta');
    etcd = await startPrivateEtcd();
    [milvus] = await Promise.all([
      startRealMilvus({ version, etcdExternal: `127.0.0.1:${etcd.port}`, etcdRootPath: 'by-dev' }),
      installHelmRelease(ns, REL, { 'cluster.enabled': false, 'pulsar.enabled': false, 'image.all.tag': `v${version}` }),
    ]);
    await forwardNamespaceTo(ns, etcd.port, 2379);
    await forwardNamespaceTo(ns, milvus.mgmtPort, 9091);
    await writeData(milvus, { default: { books: 30, films: 12 }, shop: { orders: 7 } });
  }, 300_000);
  afterAll(async () => {
    await milvus?.stop({ remove: true });
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('health finds the real Milvus sessions matching the running standalone pod', async () => {
    const r = await runPlugin(['health', REL, '-n', ns, '-o', 'json']);
    const h = JSON.parse(r.stdout);
    const by = (name: string) => h.checks.find((c: { check: string }) => c.check === name);
    expect(by('healthz/standalone').status, r.stdout).toBe('ok');
    expect(by('sessions').status, by('sessions').detail).toBe('ok');
    for (const role of ['rootcoord', 'datacoord', 'querycoord', 'proxy', 'querynode', 'datanode']) expect(by('sessions').detail).toContain(`${role} 1`);
    expect(r.code, r.stderr).toBe(h.status === 'critical' ? 12 : 0);
  });

  it('restores the deleted collection metadata and Milvus sees its collections again', async () => {
    const snap = await runPlugin(['backup', 'meta', REL, '-n', ns, '--dir', dir, '-o', 'json']);
    expect(snap.code, snap.stderr).toBe(0);
    const info = JSON.parse(snap.stdout);
    expect(info.keys).toBeGreaterThan(20);
    // Live sessions have leases: counted, never kept.
    expect(info.skippedLeased).toBeGreaterThanOrEqual(6);

    // The Deployments at 0 and their pods gone, while the Milvus process still runs: not stopped.
    await kubectl(['scale', 'deployment', '-n', ns, '-l', SELECTOR, '--replicas=0']);
    await waitReady(ns, { selector: SELECTOR });
    for (let i = 0; JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', SELECTOR, '-o', 'json'])).items.length; i++) {
      if (i > 120) throw new Error('the Milvus pods did not go');
      await new Promise((res) => setTimeout(res, 500));
    }
    const sessionsBefore = await etcd.dump('by-dev/meta/session/');
    const live = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', info.file, '--dir', dir, '--yes']);
    expect(live.code, live.stderr).toBe(7);
    expect(live.stderr).toMatch(/^error: Milvus of release "real-meta" is running \(live session by-dev\/meta\/session\/\w+/);
    expect(await etcd.dump('by-dev/meta/session/')).toEqual(sessionsBefore);

    // Stop the server too; its sessions go when their leases end.
    await milvus.stop();
    const leasedSessions = async () => {
      let n = 0;
      for await (const page of etcd.gw.rangePrefix(Buffer.from('by-dev/meta/session/'))) n += page.kvs.filter((kv) => kv.lease && kv.lease !== '0').length;
      return n;
    };
    for (let i = 0; (await leasedSessions()) > 0; i++) {
      if (i > 180) throw new Error('the Milvus sessions did not expire');
      await new Promise((res) => setTimeout(res, 1000));
    }

    // Damage: every key of the collection and database metadata of the root coordinator.
    const before = await etcd.dump('by-dev/meta/root-coord/');
    expect([...before.keys()].some((k) => k.includes('/collection'))).toBe(true);
    await etcd.gw.deletePrefix(Buffer.from('by-dev/meta/root-coord/'));
    expect((await etcd.dump('by-dev/meta/root-coord/')).size).toBe(0);

    const r = await runPlugin(['backup', 'restore-meta', REL, '-n', ns, '--from', info.file, '--dir', dir, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${info.keys} keys, sha256 ${info.sha256}: identical to the snapshot`);
    expect(await etcd.dump('by-dev/meta/root-coord/')).toEqual(before);

    await milvus.start();
    expect((await listDatabases(milvus)).sort()).toEqual(['default', 'shop']);
    expect(await collections(milvus, 'default')).toEqual(['books', 'films']);
    expect(await collections(milvus, 'shop')).toEqual(['orders']);
    expect(await countRows(milvus, 'default', 'books')).toBe(30);
  });
});
