/**
 * discoverReleases: every release of a scope from a fixed number of list calls (counted by an API
 * fixture that pages and selects as kube-apiserver does), each release assembled exactly as
 * discoverRelease assembles it for status and health.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { discoverRelease, discoverReleases } from '../../src/release/discover.js';
import { fleetStore, helmSecret, startFleetFixture, type RunningFixture } from './fleet-fixture.js';

let fx: RunningFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** The list calls a read made: one per collection; a request with `continue` is a further page of one. */
/**
 * A release as data: the fleet read keeps the server's JSON, the single read the typed client's
 * model classes (the same fields, other prototypes).
 */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

const firstPages = (f: RunningFixture) => f.requests.filter((r) => !r.query.has('continue')).map((r) => `${r.namespace ?? '*'} ${r.plural} ${r.query.get('labelSelector') ?? ''}`).sort();

describe('discoverReleases: a cluster read with a fixed number of list calls', () => {
  it('10 or 400 releases: the same 7 list calls across namespaces, none naming a release', async () => {
    const calls: string[][] = [];
    for (const perNamespace of [1, 40]) {
      fx = await startFleetFixture(fleetStore({ namespaces: 10, perNamespace }));
      const found = await discoverReleases(fx.kube);
      expect(found.releases).toHaveLength(10 * perNamespace);
      expect(found.calls.lists).toBe(7);
      expect(found.calls.requests).toBe(fx.requests.length);
      // Nothing asked per release: no get, no namespaced list, no selector naming an instance.
      expect(fx.requests.every((r) => r.name === undefined && r.namespace === undefined && !/instance=|(^|,)name=/.test(r.query.get('labelSelector') ?? ''))).toBe(true);
      calls.push(firstPages(fx));
      await fx.close();
      fx = undefined;
    }
    expect(calls[0]).toHaveLength(7);
    expect(calls[1]).toEqual(calls[0]);
  });

  it('pages with limit/continue: 400 releases hold more Helm records than a page, and every one is read', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 10, perNamespace: 40 }));
    const found = await discoverReleases(fx.kube);
    const secretPages = fx.requests.filter((r) => r.plural === 'secrets');
    expect(secretPages.length).toBeGreaterThan(1);
    expect(secretPages.every((r) => Number(r.query.get('limit')) > 0)).toBe(true);
    expect(found.releases.filter((r) => r.release.method === 'helm')).toHaveLength(200);
  });

  it('each release is the one discoverRelease finds for status and health', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 2, perNamespace: 3, pods: (i) => (i === 3 ? { template: '2.4.6', pods: ['2.4.5', '2.4.6'] } : { template: '2.4.5', pods: ['2.4.5'] }) }));
    const found = await discoverReleases(fx.kube);
    expect(found.releases.map((r) => `${r.release.namespace}/${r.release.name}`)).toEqual(['team-0/h0', 'team-0/h2', 'team-0/o1', 'team-1/h4', 'team-1/o3', 'team-1/o5']);
    for (const { release } of found.releases) {
      expect(plain(release)).toEqual(plain(await discoverRelease(fx.kube, release.name, release.namespace)));
    }
    const byName = new Map(found.releases.map((r) => [r.release.name, r]));
    expect(byName.get('h0')!.release).toMatchObject({ method: 'helm', mode: 'standalone', mq: 'rocksmq', running: '2.4.5', helm: { revision: 2, chartVersion: '4.2.30' } });
    expect(byName.get('o1')!.release).toMatchObject({ method: 'operator', mode: 'cluster', mq: 'pulsar-v2', running: '2.4.5' });
    expect(byName.get('o3')!.release.running).toBe('mixed');
    expect(byName.get('h0')!.createdAt).toBe('2026-11-01T00:00:00Z');
  });

  it('chart-5 standalones: the queue the chart rendered, read alike by the fleet and by discoverRelease', async () => {
    const store = fleetStore({ namespaces: 1, perNamespace: 5 });
    // h0 and h2: chart 5.0.19 upgrades (revision 2) with the chart's standalone.messageQueue=woodpecker;
    // h0's Deployment carries the annotation the chart wrote (rocksmq), h2's none. h4: a first install.
    const chart5 = { cluster: { enabled: false }, pulsar: { enabled: false }, pulsarv3: { enabled: true }, standalone: { messageQueue: 'woodpecker' } };
    store.secrets = store.secrets!.filter((o) => !/^sh\.helm\.release\.v1\.h[024]\./.test(o.metadata.name));
    for (const h of ['h0', 'h2']) store.secrets.push(helmSecret('team-0', h, 1, 'superseded', chart5, '5.0.19'), helmSecret('team-0', h, 2, 'deployed', chart5, '5.0.19'));
    store.secrets.push(helmSecret('team-0', 'h4', 1, 'deployed', chart5, '5.0.19'));
    const h0 = store.deployments!.find((d) => d.metadata.name === 'h0-milvus-standalone')!;
    h0.metadata.annotations = { 'milvus.io/message-queue': 'rocksmq' };
    fx = await startFleetFixture(store);
    const found = await discoverReleases(fx.kube);
    const byName = new Map(found.releases.map((r) => [r.release.name, r.release]));
    for (const name of ['h0', 'h2', 'h4']) expect(plain(byName.get(name))).toEqual(plain(await discoverRelease(fx.kube, name, 'team-0')));
    expect(['h0', 'h2', 'h4'].map((n) => byName.get(n)!.mq)).toEqual(['rocksmq', 'rocksmq', 'woodpecker']);
    expect(byName.get('h0')!.helm!.mqEvidence).toMatch(/^Deployment h0-milvus-standalone annotation milvus\.io\/message-queue=rocksmq/);
    expect(byName.get('h4')!.helm!.mqEvidence).toBe('values standalone.messageQueue=woodpecker (cluster.enabled=false, overrides pulsarv3.enabled=true)');
  });

  it('Helm revisions it marked superseded are not fetched; a failed latest revision and the last deployed one are read as status reads them', async () => {
    const store = fleetStore({ namespaces: 1, perNamespace: 1 });
    // h0: revision 1 superseded, 2 deployed (the fixture's), then 3 failed with other values.
    store.secrets!.push(helmSecret('team-0', 'h0', 3, 'failed', { cluster: { enabled: true } }, '4.2.31'));
    fx = await startFleetFixture(store);
    const found = await discoverReleases(fx.kube);
    const secretLists = fx.requests.filter((r) => r.plural === 'secrets');
    expect(secretLists.map((r) => r.query.get('labelSelector'))).toEqual(['owner=helm,status!=superseded']);
    const [h0] = found.releases;
    expect(h0!.release.helm).toMatchObject({ revision: 3, status: 'failed', lastDeployedRevision: 2, chartVersion: '4.2.30' });
    expect(plain(h0!.release)).toEqual(plain(await discoverRelease(fx.kube, 'h0', 'team-0')));
  });

  it('a latest record that does not decode fails the read: never a release silently left out', async () => {
    const store = fleetStore({ namespaces: 1, perNamespace: 1 });
    const broken = helmSecret('team-0', 'h0', 3, 'failed', {}) as unknown as { data: Record<string, string> };
    broken.data.release = Buffer.from(Buffer.from('not gzip, not json').toString('base64')).toString('base64');
    store.secrets!.push(broken as never);
    fx = await startFleetFixture(store);
    await expect(discoverReleases(fx.kube)).rejects.toThrow(/JSON|Unexpected token/);
  });

  it('one namespace: the same lists, namespaced', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 3, perNamespace: 2 }));
    const found = await discoverReleases(fx.kube, { namespace: 'team-1' });
    expect(found.releases.map((r) => r.release.name)).toEqual(['h2', 'o3']);
    expect(fx.requests.every((r) => r.namespace === 'team-1')).toBe(true);
  });

  it('another chart\'s Helm release is no Milvus release; a Helm record of a deleted Milvus chart still is', async () => {
    const store = fleetStore({ namespaces: 1, perNamespace: 1 });
    store.secrets!.push(helmSecret('team-0', 'gone', 1, 'deployed', {}));
    fx = await startFleetFixture(store);
    const found = await discoverReleases(fx.kube);
    expect(found.releases.map((r) => r.release.name)).toEqual(['gone', 'h0']);
  });
});

describe('discoverReleases: what could not be read is never "absent"', () => {
  it('a Helm record list failing with 500 is thrown, not an empty fleet', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 1, perNamespace: 2 }), { fail: (r) => r.plural === 'secrets' });
    const err = await discoverReleases(fx.kube).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.UNREACHABLE);
  });

  it('Deployments forbidden at the cluster scope: FORBIDDEN is thrown (the caller falls back to a namespace)', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 2, perNamespace: 1 }), { forbid: (r) => r.namespace === undefined });
    const err = await discoverReleases(fx.kube).catch((e: unknown) => e);
    expect((err as CliError).exitCode).toBe(ExitCode.FORBIDDEN);
  });

  it('Milvus resources forbidden: the Helm releases, a warning, and a partial read (exit 5)', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 1, perNamespace: 2 }), { forbid: (r) => r.plural === 'milvuses' });
    const found = await discoverReleases(fx.kube);
    expect(found.releases.map((r) => r.release.name)).toEqual(['h0']);
    expect(found.partial).toBe(ExitCode.FORBIDDEN);
    expect(found.warnings.join('\n')).toMatch(/Milvus resources in any namespace could not be read .*only Helm releases are shown/);
  });

  it('no Milvus CRD (404): the Helm releases, no warning', async () => {
    const store = fleetStore({ namespaces: 1, perNamespace: 1 });
    delete store.milvuses;
    fx = await startFleetFixture(store);
    const found = await discoverReleases(fx.kube);
    expect(found.releases.map((r) => r.release.name)).toEqual(['h0']);
    expect(found.warnings).toEqual([]);
    expect(found.partial).toBeUndefined();
  });

  it('pods forbidden: the releases with their running version unknown, said so', async () => {
    fx = await startFleetFixture(fleetStore({ namespaces: 1, perNamespace: 2 }), { forbid: (r) => r.plural === 'pods' });
    const found = await discoverReleases(fx.kube);
    expect(found.releases.map((r) => r.release.running)).toEqual([undefined, undefined]);
    expect(found.warnings.join('\n')).toMatch(/pods in any namespace could not be read/);
  });
});
