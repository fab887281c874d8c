/**
 * flush on Milvus 2.6 and 3.0 (gRPC FlushAll, waited on with GetFlushAllState) and the cost of
 * waiting on many collections (persist/state polled with bounded concurrency over one transport),
 * against the simulator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { flushRelease, FlushTimeoutError } from '../../src/flush/flush.js';
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
const releaseOf = (milvusVersion: string) => ({ name: 'r', namespace: 'ns', milvusVersion }) as Release;
const transportOf = (s: RunningSim) => directTransport({ 9091: s.port, 19530: s.port });
const grpcCalls = (s: RunningSim, method: string) => s.control.requests.filter((r) => r.path === `/milvus.proto.milvus.MilvusService/${method}`).length;

describe('flush on Milvus 2.6 and 3.0', () => {
  for (const [version, image] of [
    ['2.6', '2.6.24'],
    ['3.0', '3.0.2'],
  ] as const) {
    it(`${version}: one FlushAll for the cluster, waited on with GetFlushAllState; the same report, every collection Flushed`, async () => {
      const s = await sim({ version, databases: { default: ['a', 'b'], db2: ['x'] }, flushAfterPolls: 2 });
      const sealed = [s.control.insert('default', 'a'), s.control.insert('db2', 'x')];
      const { ctx } = testContext();
      const report = await flushRelease(ctx, releaseOf(image), { timeoutMs: 10_000, pollIntervalMs: 10, transport: transportOf(s) });
      expect(report.verified).toBe(true);
      expect(report.method).toBe('flush-all');
      expect(report.scope).toBe('all-databases');
      expect(report.collections.map((c) => [c.database, c.collection, c.state])).toEqual([
        ['default', 'a', 'Flushed'],
        ['default', 'b', 'Flushed'],
        ['db2', 'x', 'Flushed'],
      ]);
      for (const id of sealed) expect(s.control.allCollections().flatMap((c) => c.collection.segments).find((x) => x.id === id)?.state).toBe('Flushed');
      expect(grpcCalls(s, 'FlushAll')).toBe(1);
      // Not flushed at the first GetFlushAllState (flushAfterPolls 2): it waited.
      expect(grpcCalls(s, 'GetFlushAllState')).toBeGreaterThanOrEqual(2);
      expect(s.control.requestsTo('/api/v1/persist')).toHaveLength(0);
      expect(s.control.requestsTo('/api/v1/persist/state')).toHaveLength(0);
    });
  }

  it('2.6 with named collections, or a server without FlushAll, flushes per collection', async () => {
    const s = await sim({ version: '2.6', databases: { default: ['a', 'b'] } });
    s.control.insert('default', 'a');
    const { ctx } = testContext();
    const named = await flushRelease(ctx, releaseOf('2.6.24'), { timeoutMs: 10_000, pollIntervalMs: 10, transport: transportOf(s), collections: ['a'] });
    expect([named.verified, named.method, grpcCalls(s, 'FlushAll')]).toEqual([true, 'per-collection', 0]);
    // An older 2.6 build that answers UNIMPLEMENTED (registered through the simulator's one route table).
    s.control.grpcMethod('FlushAll', () => ({ grpcStatus: 12, message: 'unknown method FlushAll for service milvus.proto.milvus.MilvusService' }));
    const all = await flushRelease(ctx, releaseOf('2.6.24'), { timeoutMs: 10_000, pollIntervalMs: 10, transport: transportOf(s) });
    expect([all.verified, all.method]).toEqual([true, 'per-collection']);
    expect(s.control.requestsTo('/api/v1/persist').length).toBeGreaterThan(0);
    // Before 2.6 FlushAll is never tried.
    const before = await sim({ version: '2.5', databases: { default: ['a'] } });
    const r25 = await flushRelease(ctx, releaseOf('2.5.16'), { timeoutMs: 10_000, pollIntervalMs: 10, transport: transportOf(before) });
    expect([r25.verified, r25.method, grpcCalls(before, 'FlushAll')]).toEqual([true, 'per-collection', 0]);
  });

  it('a FlushAll the proxies refuse (read-only streaming node, milvus#47806) fails with exit 10; running out of time is exit 9 with the report', async () => {
    const s = await sim({ version: '2.6', databases: { default: ['a'] }, streamingNodes: ['10.0.0.11:22222'] });
    s.control.setStreamingNode(1, { readOnly: true });
    const { ctx } = testContext();
    const refused = await flushRelease(ctx, releaseOf('2.6.24'), { timeoutMs: 5000, pollIntervalMs: 10, transport: transportOf(s) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CliError);
    expect((refused as CliError).exitCode).toBe(ExitCode.FAILED);
    expect((refused as CliError).message).toContain('producer can only be created for RW channel');
    s.control.setStreamingNode(1, { readOnly: false });
    s.control.insert('default', 'a');
    s.control.setFlushDelay(60_000);
    const late = await flushRelease(ctx, releaseOf('2.6.24'), { timeoutMs: 300, pollIntervalMs: 10, transport: transportOf(s) }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(FlushTimeoutError);
    expect((late as FlushTimeoutError).exitCode).toBe(ExitCode.TIMEOUT);
    expect((late as FlushTimeoutError).report.collections.map((c) => c.state)).toEqual(['Pending']);
    expect((late as FlushTimeoutError).report.verified).toBe(false);
  });
});

describe('waiting on many collections', () => {
  it('polls persist/state with bounded concurrency (16 in flight), not one after another', async () => {
    // Each answer takes 15 ms, as one round trip through a port-forward does.
    const names = Array.from({ length: 60 }, (_, i) => `c${i}`);
    const s = await sim({ version: '2.4', databases: { default: names }, latencyMs: 15 });
    for (const n of names) s.control.insert('default', n);
    const { ctx } = testContext();
    const report = await flushRelease(ctx, releaseOf('2.4.5'), { timeoutMs: 30_000, pollIntervalMs: 10, transport: transportOf(s) });
    expect(report.verified).toBe(true);
    expect(report.collections.filter((c) => c.state === 'Flushed')).toHaveLength(60);
    expect(s.control.maxInFlight.get('/api/v1/persist/state')).toBe(16);
  });
});
