/**
 * The after-hop serving check on the test bed: a Helm release 2.5.16 with mixcoord taken to 2.6.5,
 * where the proxies refuse writes after the hop ("producer can only be created for RW channel",
 * milvus#47806: the simulator, following the bed's pods, refuses every write through the proxies).
 * The hop itself finishes, but the run must not: it exits non-zero naming the streaming nodes and
 * the documented remedy (restart mixcoord, then the streaming nodes), and claims no success.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, installHelmRelease, newNamespace, runPlugin } from './harness.js';
import { startChartRepo, type ChartRepo } from './upgrade-charts.js';
import { componentImages } from './upgrade-order.js';
import { followBed, type Follower } from './upgrade-sim-follow.js';

const BACKUP = mkdtempSync(join(tmpdir(), 'km-upgrade-serving-backup-'));

describe('upgrade 2.5.16 -> 2.6.5 (Helm) whose proxies refuse writes afterwards', () => {
  let repo: ChartRepo;
  let ns: string;
  let sim: RunningSim;
  let follower: Follower;
  beforeAll(async () => {
    assertTestbed();
    repo = await startChartRepo(`upgrade-serving-e2e-${process.pid}`, ['4.2.58', '5.0.22']);
    ns = await newNamespace('up-serve');
    sim = await startMilvusSim({ version: '2.5', databases: { default: ['books'] }, loaded: ['default.books'], flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'rw', { 'image.all.tag': 'v2.5.16' }, repo.tgz('4.2.58'), { values: { pulsar: { enabled: true }, pulsarv3: { enabled: false } } });
    follower = followBed(sim, ns, 'rw');
  }, 300_000);
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    repo?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('stops non-zero naming the streaming nodes and the remedy; never "serves"', async () => {
    // The 2.5 flush before the hop goes through the management API; only writes through the
    // proxies (FlushAll on 2.6) are refused, as after the upgrades milvus#47806 describes.
    sim.control.refuseWrites();
    const r = await runPlugin(['upgrade', 'rw', '-n', ns, '--backup-dir', BACKUP, '--to', '2.6.5', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '--serving-timeout', '15s', '-y']);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toMatch(/streamingnode/);
    expect(r.stderr).toContain('producer can only be created for RW channel');
    expect(r.stderr).toContain('restart mixcoord, then the streaming nodes');
    expect(r.stderr).not.toContain('serves: streaming nodes registered and writable');
    // The hop did run: every component is on 2.6.5; what fails is the release serving.
    const images = await componentImages(ns, 'rw', 'component');
    expect(Object.values(images).every((i) => i === 'milvusdb/milvus:v2.6.5'), JSON.stringify(images)).toBe(true);
    // Once mixcoord and the streaming nodes are restarted (here: the proxies write again),
    // --resume checks again and finishes.
    sim.control.streaming.writesRefused = undefined;
    const end = await runPlugin(['upgrade', 'rw', '-n', ns, '--backup-dir', BACKUP, '--to', '2.6.5', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '--serving-timeout', '1m', '-y', '--resume']);
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('Milvus 2.6.5 serves: streaming nodes registered and writable, proxies healthy, 1 collection(s) loaded again');
  });
});
