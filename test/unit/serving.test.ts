/**
 * The after-hop serving check (servingProbe's logic, createServingProbe) against the Milvus 2.6/3.0
 * simulator: mixcoord's management routes, proxies' /healthz and gRPC on one simulator port; the
 * pods are described by the test as the cluster would list them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MilvusGrpc } from '../../src/milvus/grpc-client.js';
import { createServingProbe, REMEDY, type ServingEndpoints, type ServingPod } from '../../src/milvus/serving.js';
import { httpSend } from '../../src/milvus/transport.js';
import type { Release } from '../../src/release/types.js';
import { startMilvusSim, type RunningSim, type SimOptions } from '../../testbed/milvus-sim/sim.js';
import { testContext } from './test-context.js';

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const release = { name: 'r', namespace: 'ns', mode: 'cluster', milvusVersion: '2.6.24' } as Release;

/** Two streaming node pods whose IPs the simulator's mixcoord lists, two ready proxies. */
async function world(opts: SimOptions = {}) {
  const sim = await startMilvusSim({ version: '2.6', streamingNodes: ['10.0.0.11:22222', '10.0.0.12:22222'], ...opts });
  sims.push(sim);
  const streamingPods: ServingPod[] = [
    { pod: 'r-milvus-streamingnode-a', ip: '10.0.0.11', ready: true },
    { pod: 'r-milvus-streamingnode-b', ip: '10.0.0.12', ready: true },
  ];
  const proxyPods: ServingPod[] = [
    { pod: 'r-milvus-proxy-a', ip: '10.0.1.1', ready: true },
    { pod: 'r-milvus-proxy-b', ip: '10.0.1.2', ready: true },
  ];
  let mixcoordDown = false;
  const endpoints = (): ServingEndpoints => {
    let grpc: MilvusGrpc | undefined;
    return {
      mixcoordGet: (path) => (mixcoordDown ? Promise.reject(new Error('connection refused')) : httpSend('127.0.0.1', sim.port, 'GET', path, undefined)),
      streamingNodePods: async () => streamingPods,
      proxyPods: async () => proxyPods,
      proxyHealthz: () => httpSend('127.0.0.1', sim.port, 'GET', '/healthz', undefined),
      grpc: async () => (grpc ??= await MilvusGrpc.open({ host: '127.0.0.1', port: sim.port, describe: 'sim' })),
      close: async () => grpc?.close(),
    };
  };
  const probe = createServingProbe(async () => endpoints(), { pollIntervalMs: 20 });
  return { sim, probe, endpoints, streamingPods, proxyPods, setMixcoordDown: (v: boolean) => (mixcoordDown = v) };
}

describe('servingProbe', () => {
  it('logs in as --milvus-secret says: the Secret reaches the endpoints of the baseline and of the verify', async () => {
    const { endpoints } = await world({ databases: { default: ['a'] }, loaded: ['default.a'] });
    const seen: Array<string | undefined> = [];
    const probe = createServingProbe(async (_ctx, _r, access) => {
      seen.push(access?.milvusSecret);
      return endpoints();
    }, { pollIntervalMs: 20 });
    const { ctx } = testContext();
    const b = await probe.baseline(ctx, release, { milvusSecret: 'milvus-root' });
    const v = await probe.verify(ctx, release, b, { timeoutSeconds: 5, milvusSecret: 'milvus-root' });
    expect(v.ok).toBe(true);
    expect(seen).toEqual(['milvus-root', 'milvus-root']);
  });

  it('baseline: the loaded collections of every database, as database/collection', async () => {
    const { probe } = await world({ databases: { default: ['a', 'b'], db2: ['x'] }, loaded: ['default.a', 'db2.x'] });
    const { ctx } = testContext();
    const b = await probe.baseline(ctx, release);
    expect(b.loaded).toEqual(['default/a', 'db2/x']);
    expect(Date.parse(b.takenAt)).toBeGreaterThan(0);
  });

  for (const version of ['2.6', '3.0'] as const) {
    it(`verify on ${version}: a release that serves is ok at once, after one FlushAll through the proxies`, async () => {
      const { sim, probe } = await world({ version, databases: { default: ['a'] }, loaded: ['default.a'] });
      const { ctx } = testContext();
      const v = await probe.verify(ctx, release, { takenAt: '', loaded: ['default/a'] }, { timeoutSeconds: 5 });
      expect(v).toEqual({ ok: true, problems: [] });
      expect(sim.control.requests.filter((r) => r.path.endsWith('/FlushAll'))).toHaveLength(1);
    });
  }

  it('a streaming node that is not registered with mixcoord is named with its remedy; it passes once it registers', async () => {
    const { sim, probe } = await world();
    sim.control.setStreamingNode(2, { registered: false });
    const { ctx } = testContext();
    const v = await probe.verify(ctx, release, { takenAt: '', loaded: [] }, { timeoutSeconds: 0.3 });
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([
      { component: 'streamingnode pod/r-milvus-streamingnode-b', what: "not registered: mixcoord's /management/streaming/nodes does not list 10.0.0.12", remedy: REMEDY.register },
    ]);
    const progress: string[] = [];
    setTimeout(() => sim.control.setStreamingNode(2, { registered: true }), 100);
    const later = await probe.verify(ctx, release, { takenAt: '', loaded: [] }, { timeoutSeconds: 5, onProgress: (m) => progress.push(m) });
    expect(later.ok).toBe(true);
    expect(progress[0]).toMatch(/^waiting for the release to serve \(\d+s left\): streamingnode pod\/r-milvus-streamingnode-b: not registered/);
  });

  it('a read-only streaming node (proxies refuse writes, milvus#47806) is never a success: restart mixcoord, then the streaming nodes', async () => {
    const { sim, probe } = await world({ databases: { default: ['a'] }, loaded: ['default.a'] });
    sim.control.setStreamingNode(1, { readOnly: true });
    const { ctx } = testContext();
    const v = await probe.verify(ctx, release, { takenAt: '', loaded: ['default/a'] }, { timeoutSeconds: 0.3 });
    expect(v).toEqual({
      ok: false,
      problems: [{ component: 'streamingnode', what: 'proxies refuse writes: "producer can only be created for RW channel"', remedy: REMEDY.restartStreaming }],
    });
    expect(REMEDY.restartStreaming).toMatch(/^restart mixcoord, then the streaming nodes/);
  });

  it('collections loaded before the hop: one still loading is waited for, one stuck or unloaded or gone is named', async () => {
    const { sim, probe } = await world({ databases: { default: ['a', 'b', 'c'], db2: ['x'] }, loaded: ['default.a', 'default.b', 'db2.x'] });
    const { ctx } = testContext();
    const baseline = await probe.baseline(ctx, release);
    // After the hop: a reloads within a few polls, b stays at "loading" (milvus#44675), x was unloaded, c never was loaded.
    sim.control.setLoadState('default', 'a', 'Loading', 3);
    sim.control.setLoadState('default', 'b', 'Loading');
    sim.control.setLoadState('db2', 'x', 'NotLoad');
    const v = await probe.verify(ctx, release, baseline, { timeoutSeconds: 0.5 });
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([
      { component: 'collection default/b', what: 'still loading (it was loaded before the hop)', remedy: REMEDY.load },
      { component: 'collection db2/x', what: 'not loaded (it was loaded before the hop)', remedy: REMEDY.load },
    ]);
    sim.control.dropCollection('default', 'b');
    sim.control.setLoadState('db2', 'x', 'Loaded');
    const gone = await probe.verify(ctx, release, baseline, { timeoutSeconds: 0.2 });
    expect(gone.problems).toEqual([{ component: 'collection default/b', what: 'does not exist any more (it was loaded before the hop)', remedy: REMEDY.gone }]);
  });

  it('an unhealthy or unready proxy, a suspended streaming node and an unreachable mixcoord are problems, never a pass', async () => {
    const w = await world();
    w.sim.control.failOn({ on: 'healthz', kind: 'unhealthy' });
    w.proxyPods[1]!.ready = false;
    w.sim.control.setStreamingNode(1, { suspended: true });
    const { ctx } = testContext();
    const v = await w.probe.verify(ctx, release, { takenAt: '', loaded: [] }, { timeoutSeconds: 0.2 });
    expect(v.problems.map((p) => [p.component, p.what])).toEqual([
      ['streamingnode 1 (10.0.0.11:22222)', 'suspended (frozen): it takes no WAL channel'],
      ['proxy pod/r-milvus-proxy-a', '/healthz answers HTTP 500: Not all components are healthy, 3/4'],
      ['proxy pod/r-milvus-proxy-b', 'not ready'],
    ]);
    expect(v.problems[0]!.remedy).toContain('"node_id":1,"status":"active"');
    w.sim.control.clearFailures();
    w.setMixcoordDown(true);
    const down = await w.probe.verify(ctx, release, { takenAt: '', loaded: [] }, { timeoutSeconds: 0.2 });
    expect(down.ok).toBe(false);
    expect(down.problems[0]).toEqual({ component: 'mixcoord', what: 'could not list the streaming nodes: connection refused', remedy: REMEDY.mixcoord });
  });

  it('stops waiting when aborted', async () => {
    const { sim, probe } = await world();
    sim.control.setStreamingNode(1, { registered: false });
    const ac = new AbortController();
    const { ctx } = testContext({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('interrupted')), 100);
    await expect(probe.verify(ctx, release, { takenAt: '', loaded: [] }, { timeoutSeconds: 30 })).rejects.toThrow('interrupted');
  });
});
