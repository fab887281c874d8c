/**
 * The Operator 3.0 hop resumed after a run that was cut off between its apply of the complete
 * resource and the checkpoint recording it (killed, its node lost, the checkpoint write failed):
 * the checkpoint shows the apply begun, not done. What the cluster shows decides: a resource that
 * already names 3.0.2 is the change made, so the hop goes on from there (the operator may be rolling
 * it out already), never applies again, and keeps the flush, the metadata snapshot and the serving
 * baseline taken before the change (taken now, they would describe the release after it).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Helm } from '../../src/helm/helm.js';
import type { ComponentName, MilvusResource, Release } from '../../src/release/types.js';
import type { UpgradeOptions } from '../../src/upgrade/common.js';
import { showsApplied } from '../../src/upgrade/operator-apply.js';
import { operatorHop } from '../../src/upgrade/operator-hop.js';
import { planUpgrade, type PlanInput } from '../../src/upgrade/plan.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

const STREAMING: ComponentName[] = ['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy'];
const V26 = 'milvusdb/milvus:v2.6.22';
const V30 = 'milvusdb/milvus:v3.0.2';

const input: PlanInput = {
  release: 'r',
  namespace: 'ns',
  method: 'operator',
  mode: 'cluster',
  images: STREAMING.map((component) => ({ component, image: V26 })),
  mq: 'pulsar-v2',
  operatorVersion: '1.3.7',
};
const plan = planUpgrade(input, { to: '3.0.2' });
const hop = plan.hops[0]!;

/** The resource after the hop's apply, as the operator leaves it: image 3.0.2, rolling upgrade, indexNode dropped from the spec. */
const applied = (image = V30): MilvusResource => ({
  apiVersion: 'milvus.io/v1beta1',
  kind: 'Milvus',
  metadata: { name: 'r', namespace: 'ns', resourceVersion: '77', generation: 4 },
  spec: { mode: 'cluster', dependencies: { msgStreamType: 'pulsar' }, components: { image, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade', mixCoord: { replicas: 1 }, streamingNode: { replicas: 1 } } },
  status: { status: 'Healthy' },
});

/** The release as discovery reports it: the resource, and what each component's template and pods run. */
function release(resource: MilvusResource, pods: Partial<Record<ComponentName, string>> = {}): Release {
  return {
    name: 'r',
    namespace: 'ns',
    method: 'operator',
    mode: 'cluster',
    mq: 'pulsar-v2',
    workloadSelector: 'app.kubernetes.io/instance=r',
    components: STREAMING.map((c) => {
      const v = pods[c] ?? '2.6.22';
      return {
        component: c,
        name: `r-milvus-${c}`,
        image: `milvusdb/milvus:v${v}`,
        version: v,
        runningImages: [`milvusdb/milvus:v${v}`],
        running: [v],
        replicas: 1,
        readyReplicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        deployment: { metadata: { name: `r-milvus-${c}` }, spec: { replicas: 1 }, status: { replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 } },
      };
    }),
    operator: { resource, status: resource.status?.status },
  } as unknown as Release;
}

const options = () => ({ chart: 'zilliztech/milvus', timeoutMs: 1000, flushTimeoutMs: 1000, sessionWaitMs: 0, migrationImage: 'x', backupDir: '/nonexistent', helm: {} as Helm }) as UpgradeOptions;

/** An API server with the operator's Deployment (v1.3.7) and milvus/r as given; every request is recorded. */
async function apiServer(resource: MilvusResource): Promise<{ server: Server; url: string; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const url = req.url ?? '';
      res.setHeader('content-type', 'application/json');
      if (url.startsWith('/apis/apps/v1/deployments')) {
        res.end(JSON.stringify({ kind: 'DeploymentList', items: [{ metadata: { name: 'milvus-operator' }, spec: { template: { spec: { containers: [{ name: 'manager', image: 'milvusdb/milvus-operator:v1.3.7' }] } } } }] }));
        return;
      }
      calls.push(`${req.method} ${url.replace(/\?.*/, '')}${/dryRun=All/.test(url) ? '?dryRun=All' : ''}`);
      if (url.startsWith('/apis/milvus.io/v1beta1/namespaces/ns/milvuses/r')) res.end(req.method === 'PUT' ? body : JSON.stringify(resource));
      else {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', code: 404 }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

/** The hop's state as the cut-off run checkpointed it: everything before the apply recorded, the apply begun. */
const begun = () => ({
  rolled: {},
  flushVerifiedAt: '2026-12-03T10:00:00.000Z',
  flushedCollections: 1,
  metaSnapshot: '/backups/r-20261203T100001Z.meta.jsonl.gz',
  servingBaseline: { loaded: ['default.books'] },
  imageBefore: V26,
  backupSecret: 'kubectl-milvus-backup-upgrade-r',
  changeBegunAt: '2026-12-03T10:00:05.000Z',
});
/** What the engine hands the preflight then: the steps that must be fresh are not done again until the apply is. */
const DONE_BEFORE_APPLY = new Set(['backup-milvus']);

describe('the Operator 3.0 hop resumed after an apply that reached the server unrecorded', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('the operator already rolls mixcoord to 3.0.2: the resumed run goes on from the cluster, not refused as "not on 2.6.22"', async () => {
    const api = await apiServer(applied());
    server = api.server;
    const { ctx } = testContext({ kube: kubeForFixture(api.url) });
    const def = operatorHop(ctx, release(applied(), { mixcoord: '3.0.2' }), plan, hop, options());
    await def.preflight(begun() as never, DONE_BEFORE_APPLY);
    // No server-side dry-run of a start that is over: nothing written at all.
    expect(api.calls.filter((c) => !c.startsWith('GET'))).toEqual([]);
  });

  it('nothing rolled yet: no new flush, snapshot or baseline, and no second apply', async () => {
    const api = await apiServer(applied());
    server = api.server;
    const { ctx } = testContext({ kube: kubeForFixture(api.url) });
    const def = operatorHop(ctx, release(applied()), plan, hop, options());
    const state = begun() as Record<string, unknown>;
    await def.preflight(state as never, DONE_BEFORE_APPLY);
    const logs: string[] = [];
    const run = (id: string) => def.steps.find((s) => s.id === id)!.run({ ctx, state, checkpoint: async () => undefined, log: (m: string) => logs.push(m), invocation: 'i2', resumedAfterStart: id === 'apply', runId: 'r1' } as never);
    for (const id of ['flush', 'meta-backup', 'serving-baseline']) await run(id);
    expect(api.calls).toEqual([]);
    expect(state).toMatchObject({ metaSnapshot: '/backups/r-20261203T100001Z.meta.jsonl.gz', servingBaseline: { loaded: ['default.books'] }, flushVerifiedAt: '2026-12-03T10:00:00.000Z' });
    await run('apply');
    expect(api.calls).toEqual(['GET /apis/milvus.io/v1beta1/namespaces/ns/milvuses/r']);
    expect(state.patchedAt).toBe('2026-12-03T10:00:05.000Z');
    expect(logs.at(-1)).toBe('milvus/r shows milvusdb/milvus:v3.0.2 already: the apply begun at 2026-12-03T10:00:05.000Z reached the server; not applied again');
  });

  it('the write never reached the server (the resource still names 2.6.22): checked as a start, applied once', async () => {
    const api = await apiServer(applied(V26));
    server = api.server;
    const { ctx } = testContext({ kube: kubeForFixture(api.url) });
    const def = operatorHop(ctx, release(applied(V26)), plan, hop, options());
    const state = begun() as Record<string, unknown>;
    await def.preflight(state as never, DONE_BEFORE_APPLY);
    await def.steps.find((s) => s.id === 'apply')!.run({ ctx, state, checkpoint: async () => undefined, log: () => undefined, invocation: 'i2', resumedAfterStart: true, runId: 'r1' } as never);
    const path = '/apis/milvus.io/v1beta1/namespaces/ns/milvuses/r';
    // The preflight's server-side dry-run (a start is checked as a start), then the step's dry-run and its write.
    expect(api.calls.filter((c) => !c.startsWith('GET'))).toEqual([`PUT ${path}?dryRun=All`, `PUT ${path}?dryRun=All`, `PUT ${path}`]);
  });

  it('a fresh run (nothing begun) applies even over a resource that names the image: only a run that began the write asks', async () => {
    const api = await apiServer(applied());
    server = api.server;
    const { ctx } = testContext({ kube: kubeForFixture(api.url) });
    const def = operatorHop(ctx, release(applied()), plan, hop, options());
    const state: Record<string, unknown> = { rolled: {} };
    await def.steps.find((s) => s.id === 'apply')!.run({ ctx, state, checkpoint: async () => undefined, log: () => undefined, invocation: 'i1', resumedAfterStart: false, runId: 'r1' } as never);
    expect(api.calls.filter((c) => c.startsWith('PUT'))).toHaveLength(2);
    expect(state.changeBegunAt).toBeDefined();
  });
});

describe('showsApplied: the resource shows the apply from the server\'s copy', () => {
  const set = hop.operatorApply!;
  it.each([
    ['image, rolling upgrade and indexNode 0 as set', { image: V30, indexNode: { replicas: 0 }, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' }, true],
    ['indexNode dropped by the operator', { image: V30, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' }, true],
    ['the old image', { image: V26, indexNode: { replicas: 0 } }, false],
    ['the image of an image-only patch, indexNode at 1', { image: V30, indexNode: { replicas: 1 } }, false],
    ['the image, another update mode', { image: V30, imageUpdateMode: 'all' }, false],
    ['no image', { indexNode: { replicas: 0 } }, false],
  ])('%s: %s', (_what, components, want) => {
    expect(showsApplied({ metadata: { name: 'r' }, spec: { components } }, set)).toBe(want);
  });
});
