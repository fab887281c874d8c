/**
 * flush and pulsar-upgrade's flush step against REAL Milvus 2.2.16 and 2.3.5 (test/e2e/real-milvus.ts):
 * the packaged plugin discovers a Helm release on the test bed, port-forwards to its proxy pod,
 * and KWOK routes the pod's 9091 and 19530 to the real server. Data is written through the
 * official Node SDK into two databases and several collections, left in growing segments.
 * One server per version, shared by the tests of that version, which run in order.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertTestbed, CHART, deleteNamespace, helm, installHelmRelease, kubectl, newNamespace, pluginCommand, runPlugin, testbedEnv } from './harness.js';
import {
  countRows,
  dropCollection,
  flushedSegmentDirs,
  freePort,
  realMilvusVersions,
  routeNamespaceTo,
  startRealMilvus,
  writeData,
  type RealMilvus,
} from './real-milvus.js';

interface ReportJson {
  verified: boolean;
  scope: string;
  allDatabases: boolean;
  databases: string[];
  notCovered?: string[];
  apiVersion: string;
  collections: Array<{ database: string; collection: string; segments: number; state: string; sealedSegmentIds: string[] }>;
}

/** Runs the plugin; `onStderr` sees stderr as it grows and may act once (e.g. drop a collection). */
function runPluginWatching(args: string[], when: RegExp, act: () => Promise<void>): Promise<{ code: number; stdout: string; stderr: string; acted: boolean }> {
  const p = pluginCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(p.cmd, [...p.args, ...args], { env: testbedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let acting: Promise<void> | undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!acting && when.test(stderr)) acting = act();
    });
    child.on('error', reject);
    child.on('close', async (code) => {
      try {
        await acting;
      } catch (e) {
        return reject(e);
      }
      resolve({ code: code ?? 1, stdout, stderr, acted: acting !== undefined });
    });
  });
}

/** Stops the server and deletes the namespace after the describe; after a failed test, prints the server's logs. */
function tearDown(version: string, get: () => [RealMilvus | undefined, string | undefined]): void {
  afterAll(async () => {
    const [m, ns] = get();
    await m?.stop({ remove: true });
    if (ns) await deleteNamespace(ns);
  });
  afterEach((ctx) => {
    const [m] = get();
    if (ctx.task.result?.state === 'fail' && m) console.error(`--- real Milvus ${version} (${m.dataDir}) ---\n${m.logTail(40)}`);
  });
}

const versions = realMilvusVersions();

describe.each(versions)('real Milvus %s', (version) => {
  let m: RealMilvus;
  let ns: string;
  /** Rows inserted per "db.collection" of collections that still exist. */
  const inserted = new Map<string, number>();
  const write = async (spec: Record<string, Record<string, number>>, firstId: number) => {
    for (const [k, n] of await writeData(m, spec, firstId)) inserted.set(k, (inserted.get(k) ?? 0) + n);
  };
  const flush = (...extra: string[]) => runPlugin(['flush', 'rel', '-n', ns, '-o', 'json', ...extra]);

  beforeAll(async () => {
    assertTestbed();
    [m, ns] = await Promise.all([startRealMilvus({ version }), newNamespace(`fr${version.replace(/\./g, '')}`)]);
    await routeNamespaceTo(ns, m);
    await installHelmRelease(ns, 'rel', { 'image.all.tag': `v${version}` });
  }, 240_000);
  tearDown(version, () => [m, ns]);

  it('flush without --database covers every collection of every database (listed over gRPC) and verifies', async () => {
    await write({ default: { books: 1500, films: 300 }, analytics: { events: 700 } }, 0);
    const r = await flush();
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report).toMatchObject({ verified: true, scope: 'all-databases', allDatabases: true, apiVersion: version === '2.3.5' ? '2.3+' : '2.2' });
    expect(report.databases).toEqual(['default', 'analytics']);
    expect(report.collections.map((c) => [c.database, c.collection, c.state])).toEqual([
      ['default', 'books', 'Flushed'],
      ['default', 'films', 'Flushed'],
      ['analytics', 'events', 'Flushed'],
    ]);
    // Every growing segment was sealed by this flush, and Milvus wrote its binlogs.
    for (const c of report.collections) expect(c.segments, `${c.database}.${c.collection}`).toBeGreaterThan(0);
    const written = new Set(flushedSegmentDirs(m).map((d) => d.split('/')[2]));
    for (const id of report.collections.flatMap((c) => c.sealedSegmentIds)) expect(written.has(id), `binlogs of segment ${id}`).toBe(true);
  });

  it('an unknown --database: exit 6, one line, nothing persisted', async () => {
    const r = await flush('--database', 'nosuch');
    expect(r.code).toBe(6);
    const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: database "nosuch" not found \(Milvus lists: (default, analytics|analytics, default)\)$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('flush --database names one: only that one, scope partial, the others named', async () => {
    await write({ analytics: { events: 200 } }, 10_000);
    const r = await flush('--database', 'analytics');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report).toMatchObject({ verified: true, scope: 'partial', allDatabases: false, databases: ['analytics'], notCovered: ['default'] });
    expect(report.collections.map((c) => `${c.database}.${c.collection}`)).toEqual(['analytics.events']);
  });

  it('a collection dropped while the flush waits is reported as dropped, the rest verified', async () => {
    await write({ default: { books: 500, doomed: 2000 }, analytics: { events: 100 } }, 20_000);
    inserted.delete('default.doomed');
    const r = await runPluginWatching(['flush', 'rel', '-n', ns, '-o', 'json', '-v=1'], /waiting for \d+ sealed segment/, () => dropCollection(m, 'default', 'doomed'));
    expect(r.acted).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report.verified).toBe(true);
    expect(report.collections.map((c) => [c.database, c.collection, c.state])).toEqual([
      ['default', 'books', 'Flushed'],
      ['default', 'doomed', 'Dropped'],
      ['default', 'films', 'Flushed'],
      ['analytics', 'events', 'Flushed'],
    ]);
    expect(r.stderr).toContain('Warning: default.doomed was dropped during the flush: nothing of it is left to lose');
  });

  it('Milvus restarted just before the flush: transient errors retried within --timeout, then verified', async () => {
    await write({ default: { books: 300 }, analytics: { events: 300 } }, 30_000);
    // Only until /healthz is OK: inside the window where persist still fails.
    await m.restart({ waitPersist: false });
    const r = await flush('--timeout', '2m', '-v=4');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report.verified).toBe(true);
    expect(report.collections.every((c) => c.state === 'Flushed')).toBe(true);
    if (version === '2.3.5') {
      // Real 2.3.5 answers persist with code 65535 "node not found" (a Go stack trace first) for
      // ~20 s after a restart: the warning shows the cause, -v=4 the whole text.
      expect(r.stderr).toMatch(/Warning: persist of database "default" failed with a transient error, retrying within --timeout: Milvus answered POST \/api\/v1\/persist: session not found->datanode-\d+: node not found\[node=\d+\]/);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('Warning:')).join('\n')).not.toContain('stack trace');
      expect(r.stderr).toContain('the whole reason: attempt #0: stack trace:');
    }
  });

  // Observed on both versions: with its rocksmq directory deleted, the server starts again (no
  // error about the missing queue) and serves every row from the flushed binlogs; so the test
  // counts rows, it does not need to fall back to checking binlogs.
  it('nothing lost: after a verified flush, Milvus restarted without its message queue still has every row', async () => {
    await write({ default: { films: 400 }, analytics: { events: 400 } }, 40_000);
    const r = await flush('--timeout', '2m');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as ReportJson).verified).toBe(true);
    await m.stop();
    // The rocksmq data is the analogue of the Pulsar volumes pulsar-upgrade deletes.
    expect(existsSync(m.mqDir) && readdirSync(m.mqDir).length > 0).toBe(true);
    rmSync(m.mqDir, { recursive: true, force: true });
    // Reading needs no persist: up as soon as /healthz is OK.
    await m.start({ waitPersist: false });
    const counted = await Promise.all(
      [...inserted.keys()].map(async (key) => {
        const [db, collection] = key.split('.') as [string, string];
        return [key, await countRows(m, db, collection)] as const;
      }),
    );
    expect(new Map(counted)).toEqual(inserted);
  });

  it('pulsar-upgrade refuses a --database list that leaves out a database (exit 7), then runs its flush step against the real server', async () => {
    const refused = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--database', 'default', '--backup-dir', mkdtempSync(join(tmpdir(), 'km-fr-'))]);
    expect(refused.code, refused.stderr).toBe(7);
    expect(refused.stderr).toContain('--database leaves out database "analytics" that Milvus lists');

    await write({ default: { books: 100 }, analytics: { events: 100 } }, 50_000);
    const before = new Set(flushedSegmentDirs(m));
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--restart', '--chart', CHART, '--backup-dir', mkdtempSync(join(tmpdir(), 'km-fr-'))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/3 collection\(s\) flushed and verified/);
    // The flush step sealed and flushed the new rows on the real server.
    expect(flushedSegmentDirs(m).filter((d) => !before.has(d)).length).toBeGreaterThanOrEqual(2);
  });
});

describe.each(versions)('real Milvus %s with authentication on: the databases are listed as a Milvus user', (version) => {
  let m: RealMilvus;
  let ns: string;
  const secret = (name: string, password: string) =>
    kubectl(['create', 'secret', 'generic', name, '-n', ns, '--from-literal=username=root', `--from-literal=password=${password}`]);

  beforeAll(async () => {
    assertTestbed();
    [m, ns] = await Promise.all([startRealMilvus({ version, auth: true }), newNamespace(`fa${version.replace(/\./g, '')}`)]);
    await routeNamespaceTo(ns, m);
    await Promise.all([installHelmRelease(ns, 'rel', { 'image.all.tag': `v${version}` }), writeData(m, { default: { a: 500 }, sales: { b: 500 } })]);
    await secret('milvus-root', 'Milvus');
    await secret('milvus-wrong', 'not-the-password');
  }, 240_000);
  tearDown(version, () => [m, ns]);

  it('without credentials, or with wrong ones: exit 3, one line, nothing persisted', async () => {
    const before = flushedSegmentDirs(m).length;
    for (const extra of [[], ['--milvus-secret', 'milvus-wrong']]) {
      const r = await runPlugin(['flush', 'rel', '-n', ns, ...extra]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/^error: Milvus refused the credentials for listing its databases \(pod\/rel-milvus-proxy-\S+ port 19530\)$/m);
      expect(r.stderr).not.toContain('not-the-password');
    }
    // Milvus flushes persisted segments within seconds: none appeared.
    await new Promise((res) => setTimeout(res, 3000));
    expect(flushedSegmentDirs(m)).toHaveLength(before);
  });

  it('with --milvus-secret: every database flushed and verified, the password in no output', async () => {
    const r = await runPlugin(['flush', 'rel', '-n', ns, '--milvus-secret', 'milvus-root', '-o', 'json', '-v=4']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verified: true, scope: 'all-databases', databases: ['default', 'sales'] });
    expect(`${r.stdout}${r.stderr}`).not.toContain('Milvus"');
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/password=|cm9vdDpNaWx2dXM/);
    // From the environment too (what pulsar-upgrade's flush step reads).
    const env = await runPlugin(['flush', 'rel', '-n', ns, '-o', 'json'], { env: { MILVUS_USERNAME: 'root', MILVUS_PASSWORD: 'Milvus' } });
    expect(env.code, env.stderr).toBe(0);
  });

  it('a gRPC port that cannot be reached: exit 4, one line, unless the databases are named', async () => {
    const closed = await freePort();
    await routeNamespaceTo(ns, { mgmtPort: m.mgmtPort, grpcPort: closed });
    try {
      const r = await runPlugin(['flush', 'rel', '-n', ns, '--milvus-secret', 'milvus-root']);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: cannot reach Milvus over gRPC on port 19530 \(pod\/rel-milvus-proxy-\S+ port 19530\) to list its databases/m);
      const named = await runPlugin(['flush', 'rel', '-n', ns, '--database', 'default', '--database', 'sales', '-o', 'json']);
      expect(named.code, named.stderr).toBe(0);
      expect(JSON.parse(named.stdout)).toMatchObject({ verified: true, scope: 'selected' });
    } finally {
      await routeNamespaceTo(ns, m);
    }
  });

  it('pulsar-upgrade takes the Milvus user from --milvus-secret for both flushes; without it, it stops before changing anything (exit 3)', async () => {
    const base = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART];
    const refused = await runPlugin([...base, '--backup-dir', mkdtempSync(join(tmpdir(), 'km-fa-'))]);
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain('Milvus refused the credentials for listing its databases');
    expect(await helm(['status', 'rel', '-n', ns])).toContain('STATUS: deployed');
    const r = await runPlugin([...base, '--restart', '--milvus-secret', 'milvus-root', '--backup-dir', mkdtempSync(join(tmpdir(), 'km-fa-'))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 collection\(s\) flushed and verified/);
    expect(r.stderr).toMatch(/a second flush right before the stop sealed nothing new in 2 collection\(s\)/);
    expect(`${r.stdout}${r.stderr}`).not.toContain('Milvus"');
  });
});
