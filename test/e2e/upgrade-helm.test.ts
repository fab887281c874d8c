/**
 * `upgrade` on Helm releases against the test bed (real API server, controllers, helm; KWOK
 * nodes; the Milvus management-API simulator answering the flushes): 2.1.4 -> 2.2.16 through the
 * metadata migration, 2.5.10 with separate coordinators -> 2.6.5 through 2.5.16 with mixcoord and
 * charts 4.2.30 -> 4.2.58 -> 5.0.22 (whose defaults switch Pulsar v3, streaming and indexNode),
 * interrupted in every hop and resumed, and a failing hop that stops with its restore command.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, helm, installHelmRelease, kubectl, kubectlJson, newNamespace, runPlugin, snapshotObjects, waitReady } from './harness.js';
import { startChartRepo, type ChartRepo } from './upgrade-charts.js';
import { componentImages, expectCreatedInOrder } from './upgrade-order.js';
import { followBed, type Follower } from './upgrade-sim-follow.js';

/** Backups go to a temporary directory, not the working directory. */
const BACKUP = mkdtempSync(join(tmpdir(), 'km-upgrade-backup-'));

const images = (ns: string, release: string) => componentImages(ns, release, 'component');

const userValues = async (ns: string, release: string) => JSON.parse(await helm(['get', 'values', release, '-n', ns, '-o', 'json'])) as Record<string, any>;
const chartOf = async (ns: string, release: string) => (JSON.parse(await helm(['list', '-n', ns, '-o', 'json', '--filter', `^${release}$`])) as Array<{ chart: string }>)[0]!.chart;

let repo: ChartRepo;
beforeAll(async () => {
  assertTestbed();
  repo = await startChartRepo(`upgrade-e2e-${process.pid}`, ['4.2.30', '4.2.58', '5.0.22']);
});
afterAll(() => repo?.close());

describe('upgrade 2.1.4 -> 2.2.16 (Helm): the metadata migration hop', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    ns = await newNamespace('up-21');
    sim = await startMilvusSim({ version: '2.1', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await installHelmRelease(ns, 'legacy', { 'image.all.tag': 'v2.1.4' }, repo.tgz('4.2.30'));
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('migrates, interrupted in the hop and resumed, and records the new image in the values', async () => {
    const args = ['upgrade', 'legacy', '-n', ns, '--backup-dir', BACKUP, '--to', '2.2.16', '--chart', `${repo.name}/milvus`, '--session-wait', '1s', '--timeout', '2m', '-y'];
    const dry = await runPlugin([...args.slice(0, -1), '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/hop-1\s+2\.1\.4\s+2\.2\.16\s+meta-migrate\s+yes\s+Milvus 2\.1\.4 keeps its metadata in the 2\.1 format/);
    for (const s of ['Flush every collection and verify it', 'Back up the Helm values', 'Stop Milvus', 'Migrate the metadata from 2.1.4 to 2.2.16', 'Record milvusdb/milvus:v2.2.16 in the Helm values']) expect(dry.stderr).toContain(s);
    const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.migrate' } });
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toContain('interrupted: progress is saved in configmap/kubectl-milvus-upgrade-legacy');
    const again = await runPlugin(args);
    expect(again.code, again.stderr).toBe(7);
    expect(again.stderr).toContain('an unfinished upgrade of release "legacy" exists');
    const done = await runPlugin([...args, '--resume']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain('Resuming upgrade of "legacy"');
    expect(done.stderr).toContain('Release "legacy" runs Milvus 2.2.16');
    expect(Object.values(await images(ns, 'legacy')).every((i) => i === 'milvusdb/milvus:v2.2.16')).toBe(true);
    // Durable: the values say 2.2.16, Pulsar v2 pinned; the backup pod ran once.
    const v = await userValues(ns, 'legacy');
    expect(v.image.all.tag).toBe('v2.2.16');
    expect(v.pulsar.enabled).toBe(true);
    expect(v.pulsarv3.enabled).toBe(false);
    expect((await kubectlJson<{ status: { phase: string } }>(['get', 'pod', 'milvus-meta-migration-backup-legacy', '-n', ns])).status.phase).toBe('Succeeded');
    expect(sim.control.requestsTo('/api/v1/persist').length).toBe(1);
  });
});

describe('upgrade 2.5.10 with separate coordinators -> 2.6.5 (Helm)', () => {
  let ns: string;
  let sim: RunningSim;
  let follower: Follower;
  const separate = { 'image.all.tag': 'v2.5.10', 'mixCoordinator.enabled': false, 'rootCoordinator.enabled': true, 'dataCoordinator.enabled': true, 'queryCoordinator.enabled': true, 'indexCoordinator.enabled': true };
  beforeAll(async () => {
    ns = await newNamespace('up-26');
    sim = await startMilvusSim({ version: '2.5', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await Promise.all([installHelmRelease(ns, 'vdb', separate, repo.tgz('4.2.30')), installHelmRelease(ns, 'bad', { 'image.all.tag': 'v2.5.16' }, repo.tgz('4.2.58'), { values: { pulsar: { enabled: true }, pulsarv3: { enabled: false } } })]);
    // No Milvus runs here: the simulator registers the 2.6 streaming nodes as mixcoord would, for the check after the 2.6 hop.
    follower = followBed(sim, ns, 'vdb');
  });
  afterAll(async () => {
    await follower?.stop();
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  const args = () => ['upgrade', 'vdb', '-n', ns, '--backup-dir', BACKUP, '--to', '2.6.5', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '-y'];

  it('--dry-run prints every hop, step, object and command, -o json the plan; nothing changes', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin([...args().slice(0, -1), '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('== Hop 1/2: 2.5.10 -> 2.5.16 (the 2.6 prerequisite: >= 2.5.16 with mixcoord)');
    expect(r.stderr).toContain('== Hop 2/2: 2.5.16 -> 2.6.5 (Milvus 2.6');
    expect(r.stderr).toMatch(/helm upgrade vdb upgrade-e2e-\d+\/milvus --version 4\.2\.58 --reset-then-reuse-values --set image\.all\.repository=milvusdb\/milvus --set image\.all\.tag=v2\.5\.16 --set mixCoordinator\.enabled=true --set rootCoordinator\.enabled=false/);
    expect(r.stderr).toMatch(/--version 5\.0\.22 .*--set streaming\.enabled=true --set indexNode\.enabled=true .*--set pulsar\.enabled=true --set pulsarv3\.enabled=false/);
    const [hop1, hop2] = r.stderr.split('== Hop 2/2');
    expect(hop1).toContain(`kubectl rollout pause deployment/vdb-milvus-rootcoord -n ${ns}`);
    // The second hop starts from what the first leaves: mixcoord, no separate coordinators.
    expect(hop2).toContain(`kubectl rollout pause deployment/vdb-milvus-mixcoord -n ${ns}`);
    expect(hop2).not.toContain('vdb-milvus-rootcoord');
    expect([...r.stderr.matchAll(/^\d+\. (?:Resume|Watch) (\w+) /gm)].map((m) => m[1])).toEqual(['mixcoord', 'indexnode', 'querynode', 'datanode', 'proxy', 'streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(r.stderr).toContain('Remove indexnode (helm upgrade with indexNode.enabled=false)');
    expect(r.stderr).toContain('writes are refused from the first 2.6 component until every proxy runs 2.6');
    const json = await runPlugin([...args().slice(0, -1), '--dry-run', '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { plan: { hops: Array<{ kind: string; order: string[]; removes: string[] }> }; result: { dryRun: boolean } };
    expect(doc.plan.hops.map((h) => h.kind)).toEqual(['mixcoord', 'to-2.6']);
    expect(doc.plan.hops[1]!.order).toEqual(['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(doc.result.dryRun).toBe(true);
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses bad input with one line and exit 2 or 7, changing nothing', async () => {
    const before = await snapshotObjects(ns);
    const cases: Array<[string[], number, string]> = [
      [['--to', '2.5.1'], 7, 'below the running 2.5.10'],
      [['--to', '2.9.0'], 2, 'unknown Milvus version 2.9.0'],
      [['--to', '2.6.5', '--chart-version', '4.2.58'], 7, 'chart 4.2.58 cannot deliver Milvus 2.6.5'],
      [[], 2, '--to is required'],
    ];
    for (const [extra, code, msg] of cases) {
      const r = await runPlugin(['upgrade', 'vdb', '-n', ns, '--backup-dir', BACKUP, '--chart', `${repo.name}/milvus`, ...extra, '-y']);
      expect(r.code, `${extra.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toContain(msg);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^error: /);
    }
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('runs both hops, interrupted in each and resumed, in the 2.6 order, keeping Pulsar v2 across charts 4.2.58 and 5.0.22', async () => {
    const pulsarBefore = (await kubectlJson<{ items: Array<{ metadata: { name: string; uid: string } }> }>(['get', 'statefulsets', '-n', ns, '-l', 'app=pulsar,release=vdb'])).items.map((s) => s.metadata.uid).sort();
    const one = await runPlugin(args(), { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-1.helm-upgrade' } });
    expect(one.code, one.stderr).toBe(130);
    // Paused: the chart change is in the Deployments, but their pods still run 2.5.10.
    expect((await images(ns, 'vdb')).proxy).toBe('milvusdb/milvus:v2.5.16');
    const proxy = await kubectlJson<{ spec: { paused?: boolean }; status: { updatedReplicas?: number } }>(['get', 'deploy', 'vdb-milvus-proxy', '-n', ns]);
    expect(proxy.spec.paused).toBe(true);
    const two = await runPlugin([...args(), '--resume'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'hop-2.roll-mixcoord' } });
    expect(two.code, two.stderr).toBe(130);
    expect(two.stderr).toMatch(/\[10\/23\] Verify every component runs milvusdb\/milvus:v2\.5\.16 \.\.\. done/);
    const other = await runPlugin(['upgrade', 'vdb', '-n', ns, '--backup-dir', BACKUP, '--to', '2.6.6', '--chart', `${repo.name}/milvus`, '-y', '--resume']);
    expect(other.code).toBe(7);
    expect(other.stderr).toContain('an unfinished upgrade of "vdb" to 2.6.5 follows the plan it started with, and this run asks for another: to: checkpoint "2.6.5", now "2.6.6"');
    // Without --resume as well: the old plan is never followed for another target.
    const plain = await runPlugin(['upgrade', 'vdb', '-n', ns, '--backup-dir', BACKUP, '--to', '2.6.6', '--chart', `${repo.name}/milvus`, '--dry-run']);
    expect(plain.code).toBe(7);
    expect(plain.stderr).toContain('to: checkpoint "2.6.5", now "2.6.6"');
    const end = await runPlugin([...args(), '--resume']);
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('every component runs 2.6.5: writes and flush are available again');
    expect(end.stderr).toContain('Milvus 2.6.5 serves: streaming nodes registered and writable, proxies healthy, 0 collection(s) loaded again');

    expect(await images(ns, 'vdb')).toEqual({
      mixcoord: 'milvusdb/milvus:v2.6.5',
      streamingnode: 'milvusdb/milvus:v2.6.5',
      querynode: 'milvusdb/milvus:v2.6.5',
      datanode: 'milvusdb/milvus:v2.6.5',
      proxy: 'milvusdb/milvus:v2.6.5',
    });
    await expectCreatedInOrder(ns, 'vdb', 'component', 'milvusdb/milvus:v2.6.5', ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(await chartOf(ns, 'vdb')).toBe('milvus-5.0.22');
    const v = await userValues(ns, 'vdb');
    expect([v.pulsar.enabled, v.pulsarv3.enabled, v.streaming.enabled, v.indexNode.enabled]).toEqual([true, false, true, false]);
    // The same Pulsar v2 StatefulSets, no Pulsar v3 (chart 4.2.58 and 5 default to it).
    const pulsarAfter = (await kubectlJson<{ items: Array<{ metadata: { uid: string } }> }>(['get', 'statefulsets', '-n', ns, '-l', 'app=pulsar,release=vdb'])).items.map((s) => s.metadata.uid).sort();
    expect(pulsarAfter).toEqual(pulsarBefore);
    expect((await kubectlJson<{ items: unknown[] }>(['get', 'statefulsets', '-n', ns, '-l', 'app=pulsarv3,release=vdb'])).items).toEqual([]);
    // One flush per hop, each verified before the hop changed anything.
    expect(sim.control.requestsTo('/api/v1/persist').length).toBeGreaterThanOrEqual(2);
  });

  it('a failing hop stops at the failing component with its restore command; following it restores the release', async () => {
    const r = await runPlugin(['upgrade', 'bad', '-n', ns, '--backup-dir', BACKUP, '--to', '2.6.5', '--image', 'milvusdb/milvus:v2.6.5-broken', '--chart', `${repo.name}/milvus`, '--timeout', '8s', '-y']);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toContain('step "Watch streamingnode come up on milvusdb/milvus:v2.6.5-broken" failed');
    expect(r.stderr).toContain('ErrImagePull');
    const rollback = /helm rollback bad (\d+) -n (\S+)/.exec(r.stderr);
    expect(rollback, r.stderr).not.toBeNull();
    expect(r.stderr).toMatch(/then resume what is still paused: kubectl rollout resume (deployment\/bad-milvus-\w+ )+-n /);
    expect(r.stderr).toContain(`upgrade bad -n ${ns} --to 2.6.5 --resume`);
    // Nothing but the new streaming node changed: the paused components still run 2.5.16.
    const now = await images(ns, 'bad');
    expect(now.proxy).toBe('milvusdb/milvus:v2.6.5-broken'); // the template, paused
    const pods = await kubectlJson<{ items: Array<{ metadata: { labels: Record<string, string> }; spec: { containers: Array<{ image: string }> } }> }>(['get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/instance=bad,component=proxy']);
    expect(pods.items.map((p) => p.spec.containers[0]!.image)).toEqual(['milvusdb/milvus:v2.5.16']);
    // The operator follows the advice.
    const resume = /kubectl rollout resume ((?:deployment\/\S+ )+)-n/.exec(r.stderr)!;
    await helm(['rollback', 'bad', rollback![1]!, '-n', ns]);
    await kubectl(['rollout', 'resume', ...resume[1]!.trim().split(' '), '-n', ns]);
    await waitReady(ns, { selector: 'app.kubernetes.io/instance=bad,app.kubernetes.io/name=milvus' });
    const back = await images(ns, 'bad');
    expect(Object.values(back).every((i) => i === 'milvusdb/milvus:v2.5.16')).toBe(true);
    expect(back.streamingnode).toBeUndefined();
  });
});

describe('upgrade hops inside one chart (Helm): rolling from 2.2.3 on, a restart below it, standalone into chart 5', () => {
  const spaces: Array<{ ns: string; sim: RunningSim }> = [];
  const followers: Follower[] = [];
  const setup = async (prefix: string, version: '2.2' | '2.4' | '2.5', install: (ns: string) => Promise<void>) => {
    const ns = await newNamespace(prefix);
    const sim = await startMilvusSim({ version, databases: { default: ['books'] }, flushAfterPolls: 1 });
    spaces.push({ ns, sim });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await install(ns);
    return ns;
  };
  let roll: string;
  let old: string;
  let solo: string;
  beforeAll(async () => {
    [roll, old, solo] = await Promise.all([
      setup('up-roll', '2.4', (ns) => installHelmRelease(ns, 'roll', {}, repo.tgz('4.2.30'))),
      setup('up-old', '2.2', (ns) => installHelmRelease(ns, 'old', { 'image.all.tag': 'v2.2.0' }, repo.tgz('4.2.30'))),
      setup('up-solo', '2.5', (ns) => installHelmRelease(ns, 'solo', { 'cluster.enabled': false, 'image.all.tag': 'v2.5.16', 'pulsar.enabled': false }, repo.tgz('4.2.58'), { values: { pulsarv3: { enabled: false } } })),
    ]);
  });
  afterAll(async () => {
    for (const f of followers) await f.stop();
    for (const s of spaces) {
      await s.sim.close();
      await deleteNamespace(s.ns);
    }
  });

  it('2.4.5 -> 2.4.6 rolls one component at a time in the operator order, coordinators in active-standby, durable in the values', async () => {
    const r = await runPlugin(['upgrade', 'roll', '-n', roll, '--backup-dir', BACKUP, '--to', '2.4.6', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/hop-1\s+2\.4\.5\s+2\.4\.6\s+rolling\s+no\s+/);
    await expectCreatedInOrder(roll, 'roll', 'component', 'milvusdb/milvus:v2.4.6', ['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    const mix = await kubectlJson<{ spec: { strategy: { type: string } } }>(['get', 'deploy', 'roll-milvus-mixcoord', '-n', roll]);
    expect(mix.spec.strategy.type).toBe('RollingUpdate');
    const v = await userValues(roll, 'roll');
    expect([v.image.all.tag, v.mixCoordinator.activeStandby.enabled, v.pulsar.enabled]).toEqual(['v2.4.6', true, true]);
    expect(await chartOf(roll, 'roll')).toBe('milvus-4.2.30');
  });

  it('2.2.0 -> 2.2.16 is one image change with a restart, and says so', async () => {
    const args = ['upgrade', 'old', '-n', old, '--backup-dir', BACKUP, '--to', '2.2.16', '--chart', `${repo.name}/milvus`, '--timeout', '2m'];
    const dry = await runPlugin([...args, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/hop-1\s+2\.2\.0\s+2\.2\.16\s+restart\s+yes\s+Milvus 2\.2\.0 is below 2\.2\.3/);
    expect(dry.stderr).toContain('downtime: Milvus 2.2.0 has no active-standby coordinators (rolling needs 2.2.3): every component restarts at once');
    expect(dry.stderr).not.toContain('rollout pause');
    const r = await runPlugin([...args, '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.values(await images(old, 'old')).every((i) => i === 'milvusdb/milvus:v2.2.16')).toBe(true);
  });

  it('standalone 2.5.16 -> 2.6.5 on chart 5 keeps rocksmq (chart 5 defaults standalone to woodpecker)', async () => {
    followers.push(followBed(spaces.find((x) => x.ns === solo)!.sim, solo, 'solo'));
    const r = await runPlugin(['upgrade', 'solo', '-n', solo, '--backup-dir', BACKUP, '--to', '2.6.5', '--chart', `${repo.name}/milvus`, '--timeout', '2m', '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(await chartOf(solo, 'solo')).toBe('milvus-5.0.22');
    expect((await userValues(solo, 'solo')).standalone.messageQueue).toBe('rocksmq');
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'solo-milvus', '-n', solo]);
    expect(cm.data['default.yaml']).toContain('messageQueue: rocksmq');
    expect(Object.values(await images(solo, 'solo'))).toEqual(['milvusdb/milvus:v2.6.5']);
  });
});
