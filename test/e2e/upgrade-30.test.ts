/**
 * `upgrade --to 3.0.x` on Helm releases against the test bed (real API server, controllers, helm;
 * KWOK nodes; the Milvus simulator as the 2.6/3.0 management API and gRPC, following the bed's
 * pods; a private etcd holding the release's metadata): 2.6.22 -> 3.0.2 as the newest 3.0 guide
 * says (image only, chart 5.0.22 kept, a metadata snapshot first, the components resumed in
 * order), interrupted and resumed, the release shown to serve after it; a release whose indexnode
 * still runs refused before anything changes; bad input refused with one line.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, helm, installHelmRelease, kubectlJson, newNamespace, runPlugin, snapshotObjects } from './harness.js';
import { startChartRepo, type ChartRepo } from './upgrade-charts.js';
import { componentImages, expectCreatedInOrder } from './upgrade-order.js';
import { followBed, type Follower } from './upgrade-sim-follow.js';

const BACKUP = mkdtempSync(join(tmpdir(), 'km-upgrade30-backup-'));
const images = (ns: string, release: string) => componentImages(ns, release, 'component');
const userValues = async (ns: string, release: string) => JSON.parse(await helm(['get', 'values', release, '-n', ns, '-o', 'json'])) as Record<string, any>;
const chartOf = async (ns: string, release: string) => (JSON.parse(await helm(['list', '-n', ns, '-o', 'json', '--filter', `^${release}$`])) as Array<{ chart: string }>)[0]!.chart;
/** The 2.6 topology the 3.0 guide starts from: mixcoord, streaming node, no indexnode (chart 5.0.22's defaults). */
const ON_26 = { 'image.all.tag': 'v2.6.22', 'mixCoordinator.enabled': true, 'rootCoordinator.enabled': false, 'dataCoordinator.enabled': false, 'queryCoordinator.enabled': false, 'indexCoordinator.enabled': false };

let repo: ChartRepo;
beforeAll(async () => {
  assertTestbed();
  repo = await startChartRepo(`upgrade30-e2e-${process.pid}`, ['4.2.30', '4.2.58', '5.0.22']);
});
afterAll(() => repo?.close());

describe('upgrade 2.6.22 -> 3.0.2 (Helm): the image only, the chart kept, a metadata snapshot first', () => {
  let ns: string;
  let sim: RunningSim;
  let etcd: PrivateEtcd;
  let follower: Follower;
  beforeAll(async () => {
    ns = await newNamespace('up-30');
    sim = await startMilvusSim({ version: '2.6', databases: { default: ['books', 'films'] }, loaded: ['default.books'], flushAfterPolls: 1 });
    etcd = await startPrivateEtcd();
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await forwardNamespaceTo(ns, etcd.port, 2379);
    for (let i = 0; i < 20; i++) await etcd.put(`by-dev/meta/root-coord/collection/${100 + i}`, `{"id":${100 + i}}`);
    await Promise.all([
      installHelmRelease(ns, 'v3', ON_26, repo.tgz('5.0.22')),
      installHelmRelease(ns, 'idx', { ...ON_26, 'indexNode.enabled': true }, repo.tgz('5.0.22')),
    ]);
    follower = followBed(sim, ns, 'v3');
  }, 300_000);
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  const args = (release = 'v3') => ['upgrade', release, '-n', ns, '--backup-dir', BACKUP, '--to', '3.0.2', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '--serving-timeout', '1m', '-y'];

  it('--dry-run cites the 3.0 guide, says the way back, and shows the snapshot and the image-only helm upgrade; nothing changes', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin([...args().slice(0, -1), '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/hop-1\s+2\.6\.22\s+3\.0\.2\s+to-3\.0\s+no\s+Milvus 3\.0 from 2\.6: the image only, the chart kept \(5\.0\.22\)/);
    expect(r.stderr).toContain('hop-1 rule to-3.0, source: milvus-io/web-content v3.0.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md @ececb3397743dd2150ce0553e71b6263f9fa0561');
    expect(r.stderr).toContain(`hop-1 way back: the way back to 2.6.22 is the metadata snapshot this hop takes first`);
    expect(r.stderr).toContain('Snapshot the Milvus metadata (etcd) of 2.6.22: the way back from 3.0.2');
    expect(r.stderr).toMatch(/helm upgrade v3 upgrade30-e2e-\d+\/milvus --version 5\.0\.22 --reset-then-reuse-values --set image\.all\.repository=milvusdb\/milvus --set image\.all\.tag=v3\.0\.2 --set pulsar\.enabled=false --set pulsarv3\.enabled=true/);
    expect([...r.stderr.matchAll(/^\d+\. Resume (\w+) /gm)].map((m) => m[1])).toEqual(['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy']);
    expect(r.stderr).toContain('Verify the release serves on 3.0.2');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses bad input and an indexnode still running with one line and exit 2 or 7, changing nothing', async () => {
    const before = await snapshotObjects(ns);
    const cases: Array<[string[], number, string]> = [
      [[...args().slice(0, 7), '3.0.5', ...args().slice(8)], 2, 'unknown Milvus version 3.0.5: the 3.0 releases known to this plugin are 3.0.0 to 3.0.2'],
      [[...args(), '--chart-version', '5.0.27'], 7, '--chart-version 5.0.27: the 3.0 guide keeps the chart installed (5.0.22)'],
      [args('idx'), 7, 'an indexnode pod still runs: the 3.0 guide upgrades only a release with no IndexNode'],
      [['upgrade', 'v3', '-n', ns, '--to', '3.0.2', '--chart', 'no-such-repo-e2e/milvus', '--dry-run'], 7, 'helm cannot resolve the chart no-such-repo-e2e/milvus 5.0.22'],
    ];
    for (const [a, code, msg] of cases) {
      const r = await runPlugin(a);
      expect(r.code, `${a.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toContain(msg);
      // One error line (a chart helm cannot resolve is found by the dry run, after the plan table).
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error: ')), r.stderr).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const noRepo = await runPlugin(['upgrade', 'v3', '-n', ns, '--to', '3.0.2', '--chart', 'no-such-repo-e2e/milvus', '--dry-run']);
    expect(noRepo.stderr).toContain('helm repo add no-such-repo-e2e');
    expect(noRepo.stderr).toContain('--chart');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('runs the hop, interrupted after the pause and resumed: a verified snapshot first, every component on 3.0.2 in order, chart 5.0.22 kept, serving', async () => {
    const one = await runPlugin(args(), { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.pause' } });
    expect(one.code, one.stderr).toBe(130);
    expect(one.stderr).toMatch(/20 keys at revision \d+ in \S+\.meta\.jsonl\.gz/);
    expect(one.stderr).toContain('1 collection(s) loaded: default/books');
    const end = await runPlugin([...args(), '--resume']);
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('Milvus 3.0.2 serves: streaming nodes registered and writable, proxies healthy, 1 collection(s) loaded again');
    expect(await images(ns, 'v3')).toEqual({ mixcoord: 'milvusdb/milvus:v3.0.2', streamingnode: 'milvusdb/milvus:v3.0.2', querynode: 'milvusdb/milvus:v3.0.2', datanode: 'milvusdb/milvus:v3.0.2', proxy: 'milvusdb/milvus:v3.0.2' });
    await expectCreatedInOrder(ns, 'v3', 'component', 'milvusdb/milvus:v3.0.2', ['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy']);
    expect(await chartOf(ns, 'v3')).toBe('milvus-5.0.22');
    const v = await userValues(ns, 'v3');
    expect([v.image.all.tag, v.pulsar.enabled, v.pulsarv3.enabled]).toEqual(['v3.0.2', false, true]);
    const metaDir = join(BACKUP, ns, 'v3', 'meta');
    expect(existsSync(metaDir)).toBe(true);
    expect(readdirSync(metaDir).filter((f) => f.endsWith('.meta.jsonl.gz')).length).toBeGreaterThanOrEqual(1);
    // The way back is named by the plan and by the snapshot list.
    const list = await runPlugin(['backup', 'list', 'v3', '-n', ns, '--dir', metaDir]);
    expect(list.code, list.stderr).toBe(0);
    // 3.0 -> 2.6 is refused, naming the snapshot restore and the 2.6 image.
    const back = await runPlugin(['upgrade', 'v3', '-n', ns, '--to', '2.6.22', '--chart', `${repo.name}/milvus`, '-y']);
    expect(back.code, back.stderr).toBe(7);
    expect(back.stderr).toContain(`backup restore-meta v3 -n ${ns} --from FILE`);
    expect(back.stderr).toContain('milvusdb/milvus:v2.6.22');
  });
});

describe('upgrade 2.5.10 with separate coordinators -> 3.0.2 (Helm): three hops, one checkpoint, interrupted in every hop', () => {
  let ns: string;
  let sim: RunningSim;
  let etcd: PrivateEtcd;
  let follower: Follower;
  const separate = { 'image.all.tag': 'v2.5.10', 'mixCoordinator.enabled': false, 'rootCoordinator.enabled': true, 'dataCoordinator.enabled': true, 'queryCoordinator.enabled': true, 'indexCoordinator.enabled': true };
  beforeAll(async () => {
    ns = await newNamespace('up-25-30');
    sim = await startMilvusSim({ version: '2.5', databases: { default: ['books'], db1: ['films'] }, loaded: ['default.books', 'db1.films'], flushAfterPolls: 1 });
    etcd = await startPrivateEtcd();
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await forwardNamespaceTo(ns, etcd.port, 2379);
    for (let i = 0; i < 5; i++) await etcd.put(`by-dev/meta/root-coord/collection/${200 + i}`, `{"id":${200 + i}}`);
    await installHelmRelease(ns, 'vdb', separate, repo.tgz('4.2.30'));
    follower = followBed(sim, ns, 'vdb');
  }, 300_000);
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  const args = () => ['upgrade', 'vdb', '-n', ns, '--backup-dir', BACKUP, '--to', '3.0.2', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '--serving-timeout', '1m', '-y'];

  it('plans 2.5.16 with mixcoord, 2.6.20, then 3.0.2 with the chart the 2.6 hop installed; runs them, interrupted in each, resumed to the end', async () => {
    const dry = await runPlugin([...args().slice(0, -1), '--dry-run', '-o', 'json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = (JSON.parse(dry.stdout) as { plan: { hops: Array<{ kind: string; from: string; to: string; rule: string; helm: { chartVersion: string } }> } }).plan;
    expect(plan.hops.map((h) => `${h.rule} ${h.from}->${h.to} chart ${h.helm.chartVersion}`)).toEqual(['mixcoord-2.5.16 2.5.10->2.5.16 chart 4.2.58', 'to-2.6 2.5.16->2.6.20 chart 5.0.22', 'to-3.0 2.6.20->3.0.2 chart 5.0.22']);

    let all = '';
    for (const at of ['hop-1.pause', 'hop-2.roll-streamingnode', 'hop-3.helm-upgrade']) {
      const r = await runPlugin(at === 'hop-1.pause' ? args() : [...args(), '--resume'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: at } });
      expect(r.code, `${at}: ${r.stderr}`).toBe(130);
      all += r.stderr;
    }
    const end = await runPlugin([...args(), '--resume']);
    expect(end.code, end.stderr).toBe(0);
    all += end.stderr;
    // After the 2.6 hop (in the run interrupted in hop 3) and after the 3.0 hop: the release serves, both collections loaded again.
    expect(all).toContain('Milvus 2.6.20 serves: streaming nodes registered and writable, proxies healthy, 2 collection(s) loaded again');
    expect(end.stderr).toContain('Milvus 3.0.2 serves: streaming nodes registered and writable, proxies healthy, 2 collection(s) loaded again');
    // The 3.0 hop's snapshot was taken before its change.
    expect(all).toMatch(/5 keys at revision \d+ in \S+\.meta\.jsonl\.gz/);
    expect(end.stderr).toContain('Release "vdb" runs Milvus 3.0.2 (3 hop(s)');
    expect(await images(ns, 'vdb')).toEqual({ mixcoord: 'milvusdb/milvus:v3.0.2', streamingnode: 'milvusdb/milvus:v3.0.2', querynode: 'milvusdb/milvus:v3.0.2', datanode: 'milvusdb/milvus:v3.0.2', proxy: 'milvusdb/milvus:v3.0.2' });
    expect(await chartOf(ns, 'vdb')).toBe('milvus-5.0.22');
    const v = await userValues(ns, 'vdb');
    expect([v.pulsar.enabled, v.pulsarv3.enabled, v.streaming.enabled, v.indexNode.enabled]).toEqual([true, false, true, false]);
    // One checkpoint for the whole path, finished.
    const cp = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'kubectl-milvus-upgrade-vdb', '-n', ns]);
    expect(JSON.parse(cp.data['checkpoint.json']!).finished).toBe(true);
  }, 900_000);
});
