/**
 * flush on the real test bed: the packaged plugin discovers the release through the real API
 * server and port-forwards (in-process, WebSocket through the API server and KWOK) to the proxy
 * pod's ports 9091/19530, which the namespace's KWOK port-forward rule routes to the Milvus
 * management-API simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import {
  assertTestbed,
  createOperatorMilvus,
  deleteNamespace,
  forwardNamespaceTo,
  helm,
  CHART,
  installHelmRelease,
  kubectl,
  newNamespace,
  removeForward,
  runPlugin,
  serviceAccountKubeconfig,
} from './harness.js';

interface ReportJson {
  verified: boolean;
  scope: string;
  allDatabases: boolean;
  endpoint: string;
  apiVersion: string;
  notVerifiedReason?: string;
  collections: Array<{ database: string; collection: string; segments: number; state: string; sealedSegmentIds: string[] }>;
}

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
    await Promise.all([
      installHelmRelease(ns, 'my-release'),
      createOperatorMilvus(ns, 'vector-db', {
        mode: 'cluster',
        components: { image: 'milvusdb/milvus:v2.4.5' },
        dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } },
      }),
    ]);
  }, 240_000);
  afterAll(async () => {
    await sim?.close();
    // deleteNamespace also removes the namespace's port-forward rules.
    if (ns) await deleteNamespace(ns);
  });

  it('Helm release: flushes every collection of every database, verifies each one, exits promptly', async () => {
    const ids = [sim.control.insert('default', 'books'), sim.control.insert('analytics', 'events'), sim.control.insert('analytics', 'events')];
    const before = sim.control.requests.length;
    const started = Date.now();
    const r = await runPlugin(['flush', 'my-release', '-n', ns, '-o', 'json']);
    const took = Date.now() - started;
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report).toMatchObject({ verified: true, scope: 'all-databases', allDatabases: true, apiVersion: '2.3+' });
    expect(report.endpoint).toMatch(/^pod\/my-release-milvus-proxy-/);
    expect(report.collections.map((c) => [c.database, c.collection, c.segments, c.state])).toEqual([
      ['default', 'books', 1, 'Flushed'],
      ['default', 'films', 0, 'Flushed'],
      ['analytics', 'events', 2, 'Flushed'],
    ]);
    // IDs beyond 2^53 came back exactly as Milvus allocated them, and were sent back exactly.
    expect(report.collections[2]!.sealedSegmentIds).toEqual([ids[1]!.toString(), ids[2]!.toString()]);
    const states = sim.control.requests.slice(before).filter((q) => q.path === '/api/v1/persist/state');
    expect(states.some((q) => q.body.startsWith(`{"segmentIDs":[${ids[1]},${ids[2]}],"flush_ts":`))).toBe(true);
    for (const [db, c] of [['default', 'books'], ['analytics', 'events']] as const) {
      expect(sim.control.segmentsOf(db, c).every((s) => s.state === 'Flushed')).toBe(true);
    }
    expect(r.stderr).toContain('flushed analytics.events (2 segments)');
    // The in-process port-forward is closed: the process ends right after the flush.
    expect(took).toBeLessThan(30_000);
  });

  it('Operator release: found by its labels, flushed through its own proxy pod', async () => {
    sim.control.insert('default', 'films');
    const r = await runPlugin(['flush', 'vector-db', '-n', ns, '-o', 'yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verified: true$/m);
    expect(r.stdout).toMatch(/^endpoint: pod\/vector-db-milvus-proxy-/m);
    expect(sim.control.segmentsOf('default', 'films').every((s) => s.state === 'Flushed')).toBe(true);
  });

  it('prints a kubectl-style table and summary by default', async () => {
    sim.control.insert('default', 'films');
    const r = await runPlugin(['flush', 'my-release', '-n', ns, '--database', 'default']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^DATABASE +COLLECTION +SEGMENTS +STATE +ELAPSED$/m);
    expect(r.stdout).toMatch(/^default +films +1 +Flushed +\S+$/m);
    expect(r.stdout).toMatch(/^Flushed and verified: 2\/2 collection\(s\) flushed in 1 database\(s\) \(the selected databases; Milvus has more\), 1 segment\(s\) sealed by this flush, in \S+ via pod\/my-release-milvus-proxy-\S+\.$/m);
    expect(r.stdout).toMatch(/^Not covered: database\(s\) analytics\.$/m);
  });

  it('fails with exit 10 on a Milvus error and 9 (with the partial table) when the flush does not complete in time', async () => {
    sim.control.failOn({ on: 'persist', kind: 'status', times: 1 });
    const failed = await runPlugin(['flush', 'my-release', '-n', ns]);
    expect(failed.code).toBe(10);
    expect(failed.stderr).toContain('error: Milvus answered POST /api/v1/persist: simulated failure (error_code 1 UnexpectedError, code 65535)');

    sim.control.setFlushDelay(600_000);
    sim.control.insert('default', 'books');
    const slow = await runPlugin(['flush', 'my-release', '-n', ns, '--timeout', '3s']);
    sim.control.setFlushDelay(0, 2);
    expect(slow.code).toBe(9);
    expect(slow.stderr).toContain('error: flush not verified within 3s: 2 of 3 collections flushed, still pending: default.books');
    expect(slow.stdout).toMatch(/^default +books +1 +Pending +\S+$/m);
    expect(slow.stdout).toContain('NOT verified');
  });

  it('a Milvus without REST v2 (2.2.9-2.3): databases listed over gRPC on 19530; unreachable gRPC stops before any persist (exit 4) unless the databases are named', async () => {
    sim.control.setVersion('2.3');
    try {
      const r = await runPlugin(['flush', 'my-release', '-n', ns, '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ verified: true, scope: 'all-databases', databases: ['default', 'analytics'] });
      await removeForward(ns, 19530);
      try {
        const persists = sim.control.requestsTo('/api/v1/persist').length;
        const unreachable = await runPlugin(['flush', 'my-release', '-n', ns]);
        expect(unreachable.code).toBe(4);
        expect(unreachable.stderr).toMatch(/^error: cannot reach Milvus over gRPC on port 19530 \(pod\/my-release-milvus-proxy-\S+ port 19530\) to list its databases/m);
        expect(sim.control.requestsTo('/api/v1/persist')).toHaveLength(persists);
        const named = await runPlugin(['flush', 'my-release', '-n', ns, '--database', 'default', '--database', 'analytics']);
        expect(named.code, named.stderr).toBe(0);
      } finally {
        await forwardNamespaceTo(ns, sim.port, 19530);
      }
    } finally {
      sim.control.setVersion('2.4');
    }
  });

  it('refuses with exit 7 when the proxy pod exists but is not ready', async () => {
    // A second release whose pods never become ready (the test bed's "-broken" image stage).
    await helm(['install', 'broken', CHART, '-n', ns, '--set', 'image.all.tag=v2.4.5-broken']);
    for (let i = 0; i < 120; i++) {
      const pods = await kubectl(['get', 'pod', '-l', 'app.kubernetes.io/instance=broken,component=proxy', '-n', ns, '-o', 'name']);
      if (pods.trim()) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const r = await runPlugin(['flush', 'broken', '-n', ns]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^error: no proxy pod is ready: broken-milvus-proxy-\S+ \(Pending/m);
    // The other releases' pods (ready, same namespace) were not taken instead.
    expect(r.stderr).not.toContain('my-release');
  });

  it('refuses with exit 5 when neither port-forward nor the service proxy is allowed', async () => {
    const view = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'milvus-view', namespace: ns },
      rules: [
        { apiGroups: [''], resources: ['secrets', 'configmaps', 'pods', 'persistentvolumeclaims', 'services'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['milvus.io'], resources: ['milvuses', 'milvusupgrades'], verbs: ['get', 'list', 'watch'] },
      ],
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(view) });
    const kubeconfig = await serviceAccountKubeconfig(ns, 'viewer', { namespace: ns });
    await kubectl(['create', 'rolebinding', 'viewer-view', '--role=milvus-view', `--serviceaccount=${ns}:viewer`, '-n', ns]);
    const r = await runPlugin(['flush', 'my-release'], { env: { KUBECONFIG: kubeconfig } });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain('is forbidden: the command needs "create" on "pods/portforward"');
    expect(r.stderr).toContain('error: cannot reach the management API: port-forward and the service proxy are both forbidden');
  });

  it('refuses with exit 7 when no proxy pod exists', async () => {
    await kubectl(['scale', 'deployment', 'my-release-milvus-proxy', '-n', ns, '--replicas=0']);
    await kubectl(['wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/instance=my-release,app.kubernetes.io/name=milvus,component=proxy', '-n', ns, '--timeout=60s']);
    const r = await runPlugin(['flush', 'my-release', '-n', ns]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^error: no proxy pod found in namespace/m);
    await kubectl(['scale', 'deployment', 'my-release-milvus-proxy', '-n', ns, '--replicas=1']);
  });
});

describe('flush on Milvus 2.6 and with many collections, through a real port-forward', () => {
  let ns: string;
  let sim: RunningSim;
  const many = Array.from({ length: 1000 }, (_, i) => `c${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('flush26');
    sim = await startMilvusSim({ version: '2.6', databases: { default: ['books', 'films'], analytics: ['events'] }, flushAfterPolls: 2 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await Promise.all([installHelmRelease(ns, 'r26', { 'image.all.tag': 'v2.6.24' }), installHelmRelease(ns, 'r24', { 'image.all.tag': 'v2.4.5' })]);
  }, 240_000);
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('2.6: one FlushAll over gRPC, waited on with GetFlushAllState; the same report, verified', async () => {
    sim.control.insert('default', 'books');
    sim.control.insert('analytics', 'events');
    const r = await runPlugin(['flush', 'r26', '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson & { method: string };
    expect([report.verified, report.method, report.scope]).toEqual([true, 'flush-all', 'all-databases']);
    expect(report.collections.map((c) => `${c.database}.${c.collection}:${c.state}`)).toEqual(['default.books:Flushed', 'default.films:Flushed', 'analytics.events:Flushed']);
    expect(sim.control.requests.filter((q) => q.path.endsWith('/FlushAll'))).toHaveLength(1);
    expect(sim.control.requestsTo('/api/v1/persist')).toHaveLength(0);
  });

  it('1000 collections (per collection, 2.4): persist/state polled 16 at a time through the one port-forward', async () => {
    sim.control.setVersion('2.4');
    for (const c of many) sim.control.addCollection('default', c);
    for (const c of many) sim.control.insert('default', c);
    sim.control.setFlushDelay(0, 0);
    // Answers take a few ms, so that requests in flight at once are seen at the simulator.
    sim.control.latencyMs = 5;
    const t0 = Date.now();
    const r = await runPlugin(['flush', 'r24', '-n', ns, '--database', 'default', '-o', 'json']);
    const seconds = (Date.now() - t0) / 1000;
    process.stderr.write(`flush of 1002 collections through the port-forward: ${seconds.toFixed(2)} s, at most ${sim.control.maxInFlight.get('/api/v1/persist/state')} persist/state in flight\n`);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ReportJson;
    expect(report.verified).toBe(true);
    expect(report.collections).toHaveLength(1002);
    expect(sim.control.maxInFlight.get('/api/v1/persist/state')).toBeGreaterThan(1);
    expect(sim.control.maxInFlight.get('/api/v1/persist/state')).toBeLessThanOrEqual(16);
    // How long it takes is the bench's (flush_1000_collections_s), not a test's: CI machines are busy.
  }, 120_000);
});
