import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import {
  assertTestbed,
  deleteNamespace,
  forwardNamespaceTo,
  installHelmRelease,
  kubectl,
  newNamespace,
  removeForward,
  runPlugin,
} from './harness.js';

describe('flush through a real port-forward to the proxy pod', () => {
  let ns: string;
  let sim: RunningSim;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('flush');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['books', 'films'], analytics: ['events'] }, flushAfterPolls: 2 });
    // Both ports of every pod in the namespace reach the simulator (9091 management, 19530 REST v2).
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'my-release');
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) {
      await removeForward(ns, 9091);
      await removeForward(ns, 19530);
      await deleteNamespace(ns);
    }
  });

  it('flushes every collection of every database and verifies each one', async () => {
    const ids = [sim.sim.insert('default', 'books'), sim.sim.insert('analytics', 'events'), sim.sim.insert('analytics', 'events')];
    const r = await runPlugin(['flush', 'my-release', '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.verified).toBe(true);
    expect(report.allDatabases).toBe(true);
    expect(report.endpoint).toMatch(/^pod\/my-release-milvus-proxy-/);
    expect(report.collections.map((c: { database: string; collection: string; segments: number }) => [c.database, c.collection, c.segments])).toEqual([
      ['default', 'books', 1],
      ['default', 'films', 0],
      ['analytics', 'events', 2],
    ]);
    // IDs beyond 2^53 came back exactly as Milvus allocated them.
    expect(report.collections[2].sealedSegmentIds).toEqual([ids[1]!.toString(), ids[2]!.toString()]);
    for (const [db, c] of [['default', 'books'], ['analytics', 'events']] as const) {
      expect(sim.sim.segmentsOf(db, c).every((s) => s.state === 'Flushed')).toBe(true);
    }
    expect(r.stderr).toContain('flushed analytics.events (2 segments)');
  });

  it('prints a kubectl-style table by default', async () => {
    sim.sim.insert('default', 'films');
    const r = await runPlugin(['flush', 'my-release', '-n', ns, '--database', 'default']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^DATABASE +COLLECTION +SEGMENTS +STATE +ELAPSED$/m);
    expect(r.stdout).toMatch(/^default +films +1 +Flushed +\S+$/m);
    expect(r.stdout).toContain('Flushed and verified: 2 collection(s) in 1 database(s)');
  });

  it('fails with exit 10 when Milvus reports an error, and 9 when the flush does not complete in time', async () => {
    sim.sim.failOn({ on: 'persist', kind: 'status', times: 1 });
    const failed = await runPlugin(['flush', 'my-release', '-n', ns]);
    expect(failed.code).toBe(10);
    expect(failed.stderr).toContain('error: Milvus answered POST /api/v1/persist: simulated failure');

    sim.sim.flushDelayMs = 600_000;
    sim.sim.insert('default', 'books');
    const slow = await runPlugin(['flush', 'my-release', '-n', ns, '--timeout', '3s']);
    sim.sim.flushDelayMs = 0;
    expect(slow.code).toBe(9);
    expect(slow.stderr).toContain('flush not verified within 3s');
  });

  it('refuses with exit 7 when no proxy pod is ready', async () => {
    await kubectl(['scale', 'deployment', 'my-release-milvus-proxy', '-n', ns, '--replicas=0']);
    await kubectl(['wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/instance=my-release,app.kubernetes.io/name=milvus,component=proxy', '-n', ns, '--timeout=60s']);
    const r = await runPlugin(['flush', 'my-release', '-n', ns]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^error: no proxy pod found in namespace/);
    await kubectl(['scale', 'deployment', 'my-release-milvus-proxy', '-n', ns, '--replicas=1']);
  });
});
