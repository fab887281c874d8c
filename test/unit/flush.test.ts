import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/cli/app.js';
import type { RunContext } from '../../src/cli/context.js';
import { CliError, ExitCode } from '../../src/errors.js';
import { flushRelease, type FlushProgress } from '../../src/flush/flush.js';
import { MilvusManagementApi } from '../../src/milvus/mgmt-api.js';
import { directTransport } from '../../src/milvus/transport.js';
import type { Release } from '../../src/release/types.js';
import { startMilvusSim, type RunningSim, type SimOptions } from '../../testbed/milvus-sim/sim.js';

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function sim(opts: SimOptions): Promise<RunningSim> {
  const s = await startMilvusSim(opts);
  sims.push(s);
  return s;
}

function context(signal?: AbortSignal): { ctx: RunContext; stderr: () => string } {
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (d) => (err += d));
  const ctx = makeContext(
    { stdout: new PassThrough(), stderr, stdin: Readable.from([]), env: {}, interactive: false, host: 'kubectl', ...(signal ? { signal } : {}) },
    { output: 'table', requestTimeoutMs: 0, verbose: 0, color: false },
  );
  return { ctx, stderr: () => err };
}

const release = { name: 'r', namespace: 'ns' } as Release;
const transportOf = (s: RunningSim) => directTransport({ 9091: s.port, 19530: s.port });

describe('flushRelease against the management API simulator', () => {
  for (const version of ['2.1', '2.2', '2.3', '2.4'] as const) {
    it(`flushes and verifies on Milvus ${version}`, async () => {
      const s = await sim({ version, databases: { default: ['a', 'b'] }, flushAfterPolls: 2 });
      const sealed = [s.sim.insert('default', 'a'), s.sim.insert('default', 'a'), s.sim.insert('default', 'b')];
      const { ctx } = context();
      const progress: FlushProgress[] = [];
      const report = await flushRelease(ctx, release, {
        timeoutMs: 20_000,
        pollIntervalMs: 10,
        transport: transportOf(s),
        onProgress: (p) => progress.push(p),
      });
      expect(report.verified).toBe(true);
      expect(report.collections.map((c) => [c.collection, c.segments, c.state])).toEqual([
        ['a', 2, 'Flushed'],
        ['b', 1, 'Flushed'],
      ]);
      expect(report.collections[0]!.sealedSegmentIds).toEqual([sealed[0]!.toString(), sealed[1]!.toString()]);
      // Every segment really reached Flushed in Milvus before we said so.
      for (const c of ['a', 'b']) expect(s.sim.segmentsOf('default', c).every((x) => x.state === 'Flushed')).toBe(true);
      expect(progress.at(-1)).toMatchObject({ collectionsFlushed: 2, collectionsTotal: 2, segmentsFlushed: 3, segmentsTotal: 3 });
      const stateCalls = s.sim.requests.filter((r) => r.path === '/api/v1/persist/state');
      expect(stateCalls.length).toBeGreaterThanOrEqual(2);
      // 2.3+ gets the flush timestamp and the collection; older proxies only segment IDs.
      const first = stateCalls[0]!.body;
      if (version === '2.1' || version === '2.2') expect(first).not.toContain('flush_ts');
      else expect(first).toMatch(/"flush_ts":\d{15,}/);
    });
  }

  it('sends 64-bit segment IDs exactly: a rounded ID would be "unknown" and count as flushed', async () => {
    const s = await sim({ version: '2.2', databases: { default: ['a'] }, flushAfterPolls: 3 });
    const id = s.sim.insert('default', 'a');
    expect(id > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(BigInt(Number(id))).not.toBe(id); // what JSON.parse would have made of it
    const { ctx } = context();
    const report = await flushRelease(ctx, release, { timeoutMs: 20_000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(report.verified).toBe(true);
    const bodies = s.sim.requests.filter((r) => r.path === '/api/v1/persist/state').map((r) => r.body);
    expect(bodies.length).toBe(3); // two "not yet" answers, flushed on the third poll: the wait was real
    for (const b of bodies) expect(b).toBe(`{"segmentIDs":[${id.toString()}]}`);

    // The trap itself: the simulator answers "flushed" at once for the rounded ID.
    const s2 = await sim({ version: '2.2', databases: { default: ['a'] }, flushAfterPolls: 100 });
    const id2 = s2.sim.insert('default', 'a');
    const api = new MilvusManagementApi(transportOf(s2));
    await api.persist('default', ['a']);
    expect(await api.flushState('default', 'a', [id2], undefined)).toBe(false);
    expect(await api.flushState('default', 'a', [BigInt(Number(id2))], undefined)).toBe(true);
  });

  it('treats an absent "flushed" key as not flushed and times out with exit code 9', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['slow'] }, flushDelayMs: 60_000 });
    s.sim.insert('default', 'slow');
    const { ctx } = context();
    const err = await flushRelease(ctx, release, { timeoutMs: 300, pollIntervalMs: 20, transport: transportOf(s) }).catch((e) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err.exitCode).toBe(ExitCode.TIMEOUT);
    expect(err.message).toContain('flush not verified within 0s: 0 of 1 collections flushed, still pending: default.slow');
    const answers = s.sim.requests.filter((r) => r.path === '/api/v1/persist/state');
    expect(answers.length).toBeGreaterThan(1);
  });

  it('fails (exit 10) on an error status inside an HTTP 200 answer and on HTTP 500', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.sim.insert('default', 'a');
    s.sim.failOn({ on: 'persist', kind: 'unhealthy', times: 1 });
    const { ctx } = context();
    const e1 = await flushRelease(ctx, release, { timeoutMs: 5000, transport: transportOf(s) }).catch((e) => e);
    expect(e1.exitCode).toBe(ExitCode.FAILED);
    expect(e1.message).toBe('Milvus answered POST /api/v1/persist: proxy not healthy (error_code 1)');

    s.sim.failOn({ on: 'state', kind: 'http500', times: 1 });
    const e2 = await flushRelease(ctx, release, { timeoutMs: 5000, transport: transportOf(s) }).catch((e) => e);
    expect(e2.exitCode).toBe(ExitCode.FAILED);
    expect(e2.message).toContain('HTTP 500');
  });

  it('reports a dropped connection as unreachable (exit 4)', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.sim.failOn({ on: 'collections', kind: 'drop', times: 1 });
    const { ctx } = context();
    const e = await flushRelease(ctx, release, { timeoutMs: 5000, databases: ['default'], transport: transportOf(s) }).catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.UNREACHABLE);
  });

  it('covers every database the proxy lists (REST v2), and warns when it cannot list them', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'], db2: ['x', 'y'] } });
    s.sim.insert('db2', 'y');
    const { ctx } = context();
    const report = await flushRelease(ctx, release, { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(report.allDatabases).toBe(true);
    expect(report.collections.map((c) => `${c.database}.${c.collection}`)).toEqual(['default.a', 'db2.x', 'db2.y']);
    expect(s.sim.segmentsOf('db2', 'y')[0]!.state).toBe('Flushed');

    const old = await sim({ version: '2.3', databases: { default: ['a'], db2: ['x'] } });
    const c2 = context();
    const r2 = await flushRelease(c2.ctx, release, { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(old) });
    expect(r2.allDatabases).toBe(false);
    expect(r2.databases).toEqual(['default']);
    expect(c2.stderr()).toContain('only the default database is flushed; name others with --database');
  });

  it('flushes only the named collections and refuses unknown ones before persisting anything', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a', 'b'] } });
    const { ctx } = context();
    const e = await flushRelease(ctx, release, { timeoutMs: 5000, collections: ['a', 'nope'], transport: transportOf(s) }).catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(s.sim.requests.some((r) => r.path === '/api/v1/persist')).toBe(false);
    const r = await flushRelease(ctx, release, { timeoutMs: 5000, collections: ['b'], transport: transportOf(s) });
    expect(r.collections.map((c) => c.collection)).toEqual(['b']);
  });

  it('on 2.1/2.2 a collection with nothing in the queue is reported Empty without waiting', async () => {
    const s = await sim({ version: '2.2', databases: { default: ['idle'] } });
    s.sim.addFlushedSegment('default', 'idle');
    const { ctx } = context();
    const r = await flushRelease(ctx, release, { timeoutMs: 5000, transport: transportOf(s) });
    expect(r.collections[0]).toMatchObject({ collection: 'idle', segments: 0, alreadyFlushed: 1, state: 'Empty' });
    expect(r.verified).toBe(true);
    expect(s.sim.requests.some((x) => x.path === '/api/v1/persist/state')).toBe(false);
  });

  it('stops waiting when aborted (Ctrl-C)', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] }, flushDelayMs: 60_000 });
    s.sim.insert('default', 'a');
    const ac = new AbortController();
    const { ctx } = context(ac.signal);
    setTimeout(() => ac.abort(new Error('received SIGINT')), 100);
    const started = Date.now();
    const e = await flushRelease(ctx, release, { timeoutMs: 60_000, pollIntervalMs: 20, transport: transportOf(s) }).catch((x) => x);
    expect(e).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
