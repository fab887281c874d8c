/**
 * The flush procedure (flushRelease) against the Milvus management-API simulator, reached through
 * a direct local transport instead of a port-forward: no cluster involved.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { flushRelease, FlushTimeoutError, type FlushProgress } from '../../src/flush/flush.js';
import { directTransport } from '../../src/milvus/transport.js';
import type { Release } from '../../src/release/types.js';
import { startMilvusSim, type RunningSim, type SimOptions } from '../../testbed/milvus-sim/sim.js';
import { testContext } from './test-context.js';

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function sim(opts: SimOptions): Promise<RunningSim> {
  const s = await startMilvusSim(opts);
  sims.push(s);
  return s;
}

const context = (signal?: AbortSignal) => testContext({ signal });

/** A hand-built Release: only the fields the procedure reads. */
const releaseOf = (milvusVersion: string) => ({ name: 'r', namespace: 'ns', milvusVersion }) as Release;
const transportOf = (s: RunningSim) => directTransport({ 9091: s.port, 19530: s.port });

describe('flushRelease against the management API simulator', () => {
  const cases = [
    { version: '2.1', image: '2.1.4', stateKeys: ['segmentIDs'] },
    { version: '2.2', image: '2.2.16', stateKeys: ['segmentIDs'] },
    { version: '2.3', image: '2.3.21', stateKeys: ['segmentIDs', 'flush_ts', 'db_name', 'collection_name'] },
    { version: '2.4', image: '2.4.5', stateKeys: ['segmentIDs', 'flush_ts', 'db_name', 'collection_name'] },
  ] as const;
  for (const { version, image, stateKeys } of cases) {
    it(`flushes and verifies on Milvus ${version}, waiting on the segments this flush sealed`, async () => {
      const s = await sim({ version, databases: { default: ['a', 'b'] }, flushAfterPolls: 2 });
      const earlier = s.control.addFlushedSegment('default', 'a');
      const sealed = [s.control.insert('default', 'a'), s.control.insert('default', 'a'), s.control.insert('default', 'b')];
      const { ctx } = context();
      const progress: FlushProgress[] = [];
      // 2.2/2.3 cannot list databases: the test names the default one, as a user would.
      const databases = version === '2.2' || version === '2.3' ? ['default'] : undefined;
      const report = await flushRelease(ctx, releaseOf(image), {
        timeoutMs: 20_000,
        pollIntervalMs: 10,
        transport: transportOf(s),
        ...(databases ? { databases } : {}),
        onProgress: (p) => progress.push(p),
      });
      expect(report.verified).toBe(true);
      expect(report.apiVersion).toBe(version === '2.3' || version === '2.4' ? '2.3+' : version);
      expect(report.collections.map((c) => [c.collection, c.segments, c.state])).toEqual([
        ['a', 2, 'Flushed'],
        ['b', 1, 'Flushed'],
      ]);
      expect(report.collections[0]!.sealedSegmentIds).toEqual([sealed[0]!.toString(), sealed[1]!.toString()]);
      expect(report.collections[0]!.alreadyFlushed).toBe(version === '2.1' ? 0 : 1);
      // Every segment really reached Flushed in Milvus before we said so.
      for (const c of ['a', 'b']) expect(s.control.segmentsOf('default', c).every((x) => x.state === 'Flushed')).toBe(true);
      expect(progress.at(-1)).toMatchObject({ phase: 'done', collectionsFlushed: 2, collectionsTotal: 2, segmentsFlushed: 3, segmentsTotal: 3 });
      const stateCalls = s.control.requestsTo('/api/v1/persist/state');
      expect(stateCalls.length).toBeGreaterThanOrEqual(4); // two polls per collection at least
      // The wait uses coll_segIDs (sealed now), never flush_coll_segIDs (flushed before).
      for (const call of stateCalls) expect(call.body).not.toContain(earlier.toString());
      const first = JSON.parse(stateCalls[0]!.body.replace(/(\d{16,})/g, '"$1"')) as Record<string, unknown>;
      expect(Object.keys(first)).toEqual(stateKeys);
      if (stateKeys.length > 1) expect(stateCalls[0]!.body).toMatch(/"flush_ts":\d{17,}/);
    });
  }

  it('sends 64-bit segment IDs exactly (a rounded ID would be unknown and count as flushed)', async () => {
    const s = await sim({ version: '2.2', databases: { default: ['a'] }, flushAfterPolls: 3 });
    const id = s.control.insert('default', 'a');
    expect(id > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(BigInt(Number(id))).not.toBe(id); // what JSON.parse would have made of it
    const { ctx } = context();
    const report = await flushRelease(ctx, releaseOf('2.2.16'), { timeoutMs: 20_000, pollIntervalMs: 10, databases: ['default'], transport: transportOf(s) });
    expect(report.verified).toBe(true);
    const bodies = s.control.requestsTo('/api/v1/persist/state').map((r) => r.body);
    expect(bodies).toHaveLength(3); // "not yet" twice, flushed on the third poll: the wait was real
    for (const b of bodies) expect(b).toBe(`{"segmentIDs":[${id.toString()}]}`);
    expect(report.collections[0]!.sealedSegmentIds).toEqual([id.toString()]);
  });

  it('treats an absent "flushed" key as not flushed and times out with exit code 9, carrying the partial report', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['slow', 'quick'] }, flushDelayMs: 60_000 });
    s.control.insert('default', 'slow');
    const { ctx } = context();
    const err = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 300, pollIntervalMs: 20, transport: transportOf(s) }).catch((e) => e);
    expect(err).toBeInstanceOf(FlushTimeoutError);
    expect(err.exitCode).toBe(ExitCode.TIMEOUT);
    expect(err.message).toBe('flush not verified within 0s: 1 of 2 collections flushed, still pending: default.slow');
    expect(err.report.verified).toBe(false);
    expect(err.report.collections.map((c: { collection: string; state: string }) => [c.collection, c.state])).toEqual([
      ['quick', 'Flushed'],
      ['slow', 'Pending'],
    ]);
    // Every "not yet" answer was `{"status":{}}`: no flushed key at all.
    const answers = s.control.requestsTo('/api/v1/persist/state');
    expect(answers.length).toBeGreaterThan(2);
  });

  it('a Milvus error status in an HTTP 200 answer to persist fails the flush (exit 10) before any wait', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.control.insert('default', 'a');
    s.control.failOn({ on: 'persist', kind: 'unhealthy', times: 1 });
    const { ctx } = context();
    const e1 = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, transport: transportOf(s) }).catch((e) => e);
    expect(e1).toBeInstanceOf(CliError);
    expect(e1.exitCode).toBe(ExitCode.FAILED);
    expect(e1.message).toBe('Milvus answered POST /api/v1/persist: proxy not healthy (error_code 1 UnexpectedError)');
    expect(s.control.requestsTo('/api/v1/persist/state')).toHaveLength(0);
  });

  it('retries a transient HTTP 500 while waiting (until --timeout), but marks a collection Failed on an error status', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a', 'b'] }, flushAfterPolls: 1 });
    s.control.insert('default', 'a');
    s.control.insert('default', 'b');
    s.control.failOn({ on: 'state', kind: 'http500', times: 1 });
    const { ctx } = context();
    const ok = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(ok.verified).toBe(true);
    expect(s.control.requestsTo('/api/v1/persist/state').some((r) => r.status === 500)).toBe(true);

    s.control.insert('default', 'a');
    s.control.failOn({ on: 'state', kind: 'status', times: 1 });
    const c2 = context();
    const bad = await flushRelease(c2.ctx, releaseOf('2.4.5'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(bad.verified).toBe(false);
    const a = bad.collections.find((c) => c.collection === 'a')!;
    expect(a.state).toBe('Failed');
    expect(a.error).toBe('Milvus answered GET /api/v1/persist/state: simulated failure (error_code 1 UnexpectedError, code 65535)');
    expect(bad.collections.find((c) => c.collection === 'b')!.state).toBe('Flushed');
    expect(bad.notVerifiedReason).toBe('1 collection(s) failed: default.a');


    // A 500 is never evidence: retried until the timeout, which then says what is pending.
    s.control.insert('default', 'b');
    s.control.failOn({ on: 'state', kind: 'http500' });
    const c3 = context();
    const down = await flushRelease(c3.ctx, releaseOf('2.4.5'), { timeoutMs: 1500, pollIntervalMs: 10, collections: ['b'], transport: transportOf(s) }).catch((e) => e);
    expect(down).toBeInstanceOf(FlushTimeoutError);
    expect((down as FlushTimeoutError).report.collections[0]).toMatchObject({ collection: 'b', state: 'Pending' });
    expect(s.control.requestsTo('/api/v1/persist/state').filter((r) => r.status === 500).length).toBeGreaterThan(1 + 3);
  });

  it('retries a persist that fails with "node not found" (right after a restart) within the timeout', async () => {
    const s = await sim({ version: '2.3', databases: { default: ['a'] }, flushAfterPolls: 1 });
    s.control.insert('default', 'a');
    s.control.failOn({ on: 'persist', kind: 'status', times: 2, reason: 'attempt #0: stack trace: /x/stack_trace.go:51 github.com/milvus-io/milvus/pkg/tracer.StackTrace\n/x/services.go:116 github.com/milvus-io/milvus/internal/datacoord.(*Server).Flush: attempt #0: session not found->datanode-1: node not found[node=1]: attempt #1: session not found->datanode-1: node not found[node=1]: unrecoverable error' });
    const c = context();
    const r = await flushRelease(c.ctx, releaseOf('2.3.5'), { timeoutMs: 20_000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(r.verified).toBe(true);
    expect(s.control.requestsTo('/api/v1/persist')).toHaveLength(3);
    // Users see the cause, not the Go stack trace.
    expect(c.stderr()).toContain('Warning: persist of database "default" failed with a transient error, retrying within --timeout: Milvus answered POST /api/v1/persist: session not found->datanode-1: node not found[node=1]: unrecoverable error (after 2 attempts) (error_code 1 UnexpectedError, code 65535)');
    expect(c.stderr()).not.toContain('stack trace');
  });

  it('reports a dropped connection as unreachable (exit 4)', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.control.failOn({ on: 'collections', kind: 'drop', times: 1 });
    const { ctx } = context();
    const e = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, databases: ['default'], transport: transportOf(s) }).catch((x) => x);
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(ExitCode.UNREACHABLE);
    expect(e.message).toMatch(/^cannot reach the Milvus management API \(GET \/api\/v1\/collections\)/);
  });

  it('covers every database the proxy lists (REST v2)', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'], db2: ['x', 'y'], empty: [] } });
    s.control.insert('db2', 'y');
    const { ctx } = context();
    const report = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(report).toMatchObject({ scope: 'all-databases', allDatabases: true, verified: true, databases: ['default', 'db2', 'empty'] });
    expect(report.collections.map((c) => `${c.database}.${c.collection}`)).toEqual(['default.a', 'db2.x', 'db2.y']);
    expect(s.control.segmentsOf('db2', 'y')[0]!.state).toBe('Flushed');
    const persists = s.control.requestsTo('/api/v1/persist').map((r) => r.body);
    expect(persists).toEqual(['{"db_name":"","collection_names":["a"]}', '{"db_name":"db2","collection_names":["x","y"]}']);
  });

  for (const [version, image] of [['2.2', '2.2.16'], ['2.3', '2.3.5']] as const) {
    it(`${version}: a collection dropped while the flush waits is Dropped (confirmed by a listing), the rest verified`, async () => {
      const s = await sim({ version, databases: { default: ['keep', 'doomed'] }, flushAfterPolls: 3 });
      s.control.insert('default', 'keep');
      s.control.insert('default', 'doomed');
      let dropped = false;
      const r = await flushRelease(context().ctx, releaseOf(image), {
        timeoutMs: 10_000,
        pollIntervalMs: 10,
        transport: transportOf(s),
        onProgress: (p) => {
          if (p.phase === 'waiting' && !dropped) {
            dropped = true;
            s.control.dropCollection('default', 'doomed');
          }
        },
      });
      expect(r.verified).toBe(true);
      expect(r.collections.map((c) => [c.collection, c.state])).toEqual([
        ['doomed', 'Dropped'],
        ['keep', 'Flushed'],
      ]);
    });
  }

  it('2.2/2.3: lists the databases over gRPC; a listing that fails stops before any persist (exit 4) unless databases are named; complete before 2.2.9', async () => {
    const s = await sim({ version: '2.3', databases: { default: ['a'], db2: ['x'] } });
    s.control.insert('db2', 'x');
    const r0 = await flushRelease(context().ctx, releaseOf('2.3.21'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(r0).toMatchObject({ scope: 'all-databases', allDatabases: true, verified: true, databases: ['default', 'db2'] });
    expect(s.control.segmentsOf('db2', 'x')[0]!.state).toBe('Flushed');
    expect(s.control.requestsTo('/milvus.proto.milvus.MilvusService/ListDatabases')).toHaveLength(1);

    s.control.insert('db2', 'x');
    s.control.failOn({ on: 'databases', kind: 'drop', times: 1 });
    const e1 = await flushRelease(context().ctx, releaseOf('2.3.21'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) }).catch((e) => e);
    expect(e1.exitCode).toBe(ExitCode.UNREACHABLE);
    expect(e1.message).toMatch(/^cannot reach Milvus over gRPC on port 19530 \(127\.0\.0\.1:\d+ port 19530\) to list its databases/);
    expect(s.control.segmentsOf('db2', 'x')[1]!.state).toBe('Growing'); // nothing persisted

    // Naming the databases covers them and verifies, even when they cannot be listed.
    s.control.failOn({ on: 'databases', kind: 'drop', times: 1 });
    const r2 = await flushRelease(context().ctx, releaseOf('2.3.21'), { timeoutMs: 5000, pollIntervalMs: 10, databases: ['default', 'db2'], transport: transportOf(s) });
    expect(r2).toMatchObject({ scope: 'selected', verified: true });
    expect(s.control.segmentsOf('db2', 'x')[1]!.state).toBe('Flushed');

    // Named databases compared with the listing: a subset is a partial scope (still verified for
    // a plain flush), refused with exit 7 where the flush licenses a deletion.
    const r3 = await flushRelease(context().ctx, releaseOf('2.3.21'), { timeoutMs: 5000, pollIntervalMs: 10, databases: ['db2'], transport: transportOf(s) });
    expect(r3).toMatchObject({ scope: 'partial', allDatabases: false, verified: true, notCovered: ['default'] });
    const e4 = await flushRelease(context().ctx, releaseOf('2.3.21'), { timeoutMs: 5000, databases: ['db2'], requireAllDatabases: true, transport: transportOf(s) }).catch((e) => e);
    expect(e4.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e4.message).toBe('--database leaves out database "default" that Milvus lists: a flush that licenses deleting the message queue must cover every database');
    const r5 = await flushRelease(context().ctx, releaseOf('2.3.21'), { timeoutMs: 5000, databases: ['db2', 'default'], requireAllDatabases: true, transport: transportOf(s) });
    expect(r5).toMatchObject({ scope: 'all-databases', verified: true });

    // Milvus 2.1 has no databases: the default one is everything.
    const old = await sim({ version: '2.1', databases: { default: ['a'] } });
    const c3 = context();
    const r6 = await flushRelease(c3.ctx, releaseOf('2.1.4'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(old) });
    expect(r6).toMatchObject({ scope: 'no-databases-before-2.2.9', allDatabases: true, verified: true });
    // Naming the default database of such a Milvus is everything too (what pulsar-upgrade requires).
    const r7 = await flushRelease(context().ctx, releaseOf('2.1.4'), { timeoutMs: 5000, pollIntervalMs: 10, databases: ['default'], requireAllDatabases: true, transport: transportOf(old) });
    expect(r7).toMatchObject({ scope: 'no-databases-before-2.2.9', allDatabases: true, verified: true });
    expect(c3.stderr()).not.toContain('Warning');
  });

  it('does not take an authentication refusal of the listing for "no other databases": exit 3 before any persist; credentials list them', async () => {
    const s = await sim({ version: '2.5', databases: { default: ['a'], secret: ['s'] }, authEnabled: true });
    const c = context();
    const e = await flushRelease(c.ctx, releaseOf('2.5.4'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) }).catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toMatch(/^Milvus refused the credentials for listing its databases/);
    expect(s.control.requestsTo('/api/v1/persist')).toHaveLength(0);
    const r = await flushRelease(c.ctx, releaseOf('2.5.4'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s), credentials: { username: 'root', password: 'wrong' } }).catch((x) => x);
    expect(r.exitCode).toBe(ExitCode.CONFIG);
    const ok = await flushRelease(c.ctx, releaseOf('2.5.4'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s), credentials: { username: 'root', password: 'Milvus' } });
    expect(ok).toMatchObject({ verified: true, databases: ['default', 'secret'] });
    // The password is in no message.
    expect(c.stderr()).not.toContain('Milvus');
    expect(JSON.stringify(ok)).not.toContain('Milvus');
  });

  it('flushes only the named collections and refuses unknown collections or databases before persisting anything', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a', 'b'] } });
    const { ctx } = context();
    const e = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, collections: ['a', 'nope'], transport: transportOf(s) }).catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(e.message).toBe('collection(s) not found in database "default": nope');
    const e2 = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, databases: ['default', 'nodb'], transport: transportOf(s) }).catch((x) => x);
    expect(e2.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(e2.message).toBe('database "nodb" not found (Milvus lists: default)');
    expect(s.control.requestsTo('/api/v1/persist')).toHaveLength(0);
    const r = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, collections: ['b'], transport: transportOf(s) });
    expect(r.collections.map((c) => c.collection)).toEqual(['b']);
    expect(r.scope).toBe('selected');
  });

  it('on 2.1/2.2 a collection with nothing sealed is Flushed without waiting', async () => {
    const s = await sim({ version: '2.2', databases: { default: ['idle'] } });
    s.control.addFlushedSegment('default', 'idle');
    const { ctx } = context();
    const r = await flushRelease(ctx, releaseOf('2.2.16'), { timeoutMs: 5000, databases: ['default'], transport: transportOf(s) });
    expect(r.collections[0]).toMatchObject({ collection: 'idle', segments: 0, alreadyFlushed: 1, state: 'Flushed' });
    expect(r.verified).toBe(true);
    expect(s.control.requestsTo('/api/v1/persist/state')).toHaveLength(0);
  });

  it('on 2.3+ also waits for the channel checkpoint to reach flush_ts when nothing was sealed', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] }, flushAfterPolls: 2 });
    s.control.insert('default', 'a');
    const { ctx } = context();
    const r = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(r.collections[0]!.flushTs).toMatch(/^\d{18}$/);
    expect(BigInt(r.collections[0]!.flushTs!) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    const body = s.control.requestsTo('/api/v1/persist/state')[0]!.body;
    expect(body).toContain(`"flush_ts":${r.collections[0]!.flushTs}`);
    expect(body).toContain('"collection_name":"a"');
  });

  it('stops waiting when aborted (Ctrl-C) with exit code 130', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] }, flushDelayMs: 60_000 });
    s.control.insert('default', 'a');
    const ac = new AbortController();
    const { ctx } = context(ac.signal);
    setTimeout(() => ac.abort(new Error('received SIGINT')), 100);
    const started = Date.now();
    const e = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 60_000, pollIntervalMs: 20, transport: transportOf(s) }).catch((x) => x);
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
