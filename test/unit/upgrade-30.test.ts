/**
 * The 2.6 -> 3.0 hop (issue 19): on Helm the image only with the chart kept, the components
 * resumed in order, a metadata snapshot first; on the Operator the complete resource applied with
 * indexNode.replicas 0, a server-side dry-run first; both re-check the 3.0 topology from the pods
 * on every run before they change anything, and a chart helm cannot resolve is a precondition.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { HelmCommandError, type Helm } from '../../src/helm/helm.js';
import type { ComponentName, MilvusResource, Release } from '../../src/release/types.js';
import type { UpgradeOptions } from '../../src/upgrade/common.js';
import { helmHop } from '../../src/upgrade/helm-hop.js';
import { completeResource } from '../../src/upgrade/operator-apply.js';
import { operatorHop } from '../../src/upgrade/operator-hop.js';
import { planUpgrade, type PlanInput } from '../../src/upgrade/plan.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

const STREAMING: ComponentName[] = ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode'];

const input = (method: 'helm' | 'operator', comps: ComponentName[] = STREAMING): PlanInput => ({
  release: 'r',
  namespace: 'ns',
  method,
  mode: 'cluster',
  images: comps.map((component) => ({ component, image: 'milvusdb/milvus:v2.6.22' })),
  mq: 'woodpecker',
  ...(method === 'helm' ? { chartVersion: '5.0.22', values: { woodpecker: { enabled: true } } } : { operatorVersion: '1.3.7' }),
});

/** A 2.6.22 release as discovery reports it; `pods`: how many pods each component runs (default 1). */
function release(method: 'helm' | 'operator', pods: Partial<Record<ComponentName, number>> = {}, chartVersion = '5.0.22'): Release {
  const comps = [...new Set([...STREAMING, ...(Object.keys(pods) as ComponentName[])])];
  return {
    name: 'r',
    namespace: 'ns',
    method,
    mode: 'cluster',
    mq: 'woodpecker',
    workloadSelector: 'app.kubernetes.io/instance=r',
    components: comps.map((c) => {
      const n = pods[c] ?? 1;
      return {
        component: c,
        name: `r-milvus-${c}`,
        image: 'milvusdb/milvus:v2.6.22',
        version: '2.6.22',
        runningImages: n ? ['milvusdb/milvus:v2.6.22'] : [],
        running: n ? ['2.6.22'] : [],
        replicas: n,
        readyReplicas: n,
        updatedReplicas: n,
        availableReplicas: n,
        deployment: { metadata: { name: `r-milvus-${c}` }, spec: { replicas: n }, status: { replicas: n, readyReplicas: n, availableReplicas: n, updatedReplicas: n } },
      };
    }),
    ...(method === 'helm' ? { helm: { status: 'deployed', revision: 4, chartVersion, fullname: 'r-milvus', computedValues: { woodpecker: { enabled: true } } } } : { operator: { status: 'Healthy' } }),
  } as unknown as Release;
}

const fakeHelm = (run: (args: string[]) => Promise<string>) => ({ requireVersion: async () => undefined, run }) as unknown as Helm;
const options = (helm: Helm, chart = 'zilliztech/milvus') => ({ chart, timeoutMs: 1000, flushTimeoutMs: 1000, sessionWaitMs: 0, migrationImage: 'x', backupDir: '/nonexistent', helm }) as UpgradeOptions;

async function refusal(f: () => unknown): Promise<CliError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error('expected a refusal');
}

describe('the Helm 3.0 hop', () => {
  const plan = planUpgrade(input('helm'), { to: '3.0.2' });
  const hop = plan.hops[0]!;

  it('takes a metadata snapshot after the flush and before anything changes, then the image only with the chart kept, resumed in order', () => {
    const { ctx } = testContext();
    const def = helmHop(ctx, release('helm'), plan, hop, options(fakeHelm(async () => '')));
    expect(def.steps.map((s) => s.id)).toEqual(['flush', 'meta-backup', 'serving-baseline', 'backup-values', 'pause', 'helm-upgrade', 'roll-mixcoord', 'roll-streamingnode', 'roll-querynode', 'roll-datanode', 'roll-proxy', 'verify', 'serving-verify']);
    const snapshot = def.steps[1]!;
    expect(snapshot.destructive).toBeFalsy();
    expect(snapshot.repeatUntil).toBe('pause');
    expect(snapshot.plan({} as never).join('\n')).toContain('this hop never goes on without one');
    expect(def.steps[5]!.plan({} as never)[0]).toBe(
      'helm upgrade r zilliztech/milvus --version 5.0.22 --reset-then-reuse-values --set image.all.repository=milvusdb/milvus --set image.all.tag=v3.0.2 --set pulsar.enabled=false --set pulsarv3.enabled=false --set kafka.enabled=false --set externalKafka.enabled=false --set externalPulsar.enabled=false --set woodpecker.enabled=true -n ns',
    );
  });

  it('an indexnode pod running now (the plan did not see it) is refused before anything changes, exit 7', async () => {
    const { ctx } = testContext();
    const def = helmHop(ctx, release('helm', { indexnode: 1 }), plan, hop, options(fakeHelm(async () => '')));
    const e = await refusal(() => def.preflight(def.initialState as never, new Set()));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toBe('hop-1 (2.6.22 -> 3.0.2): an indexnode pod still runs: the 3.0 guide upgrades only a release with no IndexNode (its values keep the topology as it is)');
    expect(e.hint).toContain('indexNode.enabled=false');
  });

  it('a streaming node whose Deployment has no pod is not "running": refused', async () => {
    const { ctx } = testContext();
    const def = helmHop(ctx, release('helm', { streamingnode: 0 }), plan, hop, options(fakeHelm(async () => '')));
    const e = await refusal(() => def.preflight(def.initialState as never, new Set()));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toContain('no streamingnode pod runs');
  });

  it('a chart changed since the plan is refused: the hop keeps the chart', async () => {
    const { ctx } = testContext();
    const def = helmHop(ctx, release('helm', {}, '5.0.27'), plan, hop, options(fakeHelm(async () => '')));
    const e = await refusal(() => def.preflight(def.initialState as never, new Set()));
    expect(e.message).toContain('keeps the chart (the 3.0 guide changes only the image), planned as 5.0.22, but the release now has chart 5.0.27');
  });

  it('a chart reference helm cannot resolve is a precondition (exit 7) with the helm repo add / --chart hint, not a failed operation', async () => {
    const { ctx } = testContext();
    const helm = fakeHelm(async (args) => {
      if (args[0] === 'show') throw new HelmCommandError('helm show failed: Error: repo zilliztech not found', ExitCode.FAILED, 'Error: repo zilliztech not found');
      return '';
    });
    const def = helmHop(ctx, release('helm'), plan, hop, options(helm));
    const e = await refusal(() => def.preflight(def.initialState as never, new Set()));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toBe('helm cannot resolve the chart zilliztech/milvus 5.0.22: Error: repo zilliztech not found');
    expect(e.hint).toContain('helm repo add zilliztech https://zilliztech.github.io/milvus-helm');
    expect(e.hint).toContain('--chart');
  });
});

describe('the Operator 3.0 hop', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());
  const plan = planUpgrade(input('operator'), { to: '3.0.2' });
  const hop = plan.hops[0]!;

  const live: MilvusResource = {
    apiVersion: 'milvus.io/v1beta1',
    kind: 'Milvus',
    metadata: { name: 'r', namespace: 'ns', resourceVersion: '41', uid: 'u1', generation: 3, labels: { app: 'milvus' }, annotations: { 'milvus.io/dependency-values-merged': 'true' } },
    spec: { mode: 'cluster', dependencies: { msgStreamType: 'woodpecker' }, components: { image: 'milvusdb/milvus:v2.6.22', mixCoord: { replicas: 1 }, streamingNode: { replicas: 2 }, proxy: { replicas: 1, serviceType: 'ClusterIP' } } },
    status: { status: 'Healthy' },
  };

  it('the complete resource: everything as read, the image, indexNode.replicas 0 and the rolling upgrade set; no status', () => {
    expect(completeResource(live, hop.operatorApply!)).toEqual({
      apiVersion: 'milvus.io/v1beta1',
      kind: 'Milvus',
      metadata: { name: 'r', namespace: 'ns', resourceVersion: '41', labels: { app: 'milvus' }, annotations: { 'milvus.io/dependency-values-merged': 'true' } },
      spec: {
        mode: 'cluster',
        dependencies: { msgStreamType: 'woodpecker' },
        components: { image: 'milvusdb/milvus:v3.0.2', mixCoord: { replicas: 1 }, streamingNode: { replicas: 2 }, proxy: { replicas: 1, serviceType: 'ClusterIP' }, indexNode: { replicas: 0 }, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' },
      },
    });
  });

  it('applies it with a server-side dry-run first, then for real, at the resourceVersion read (PUT, never a merge patch)', async () => {
    const calls: Array<{ method: string; url: string; body: MilvusResource | undefined }> = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        calls.push({ method: req.method!, url: req.url!, body: body ? (JSON.parse(body) as MilvusResource) : undefined });
        if (req.url?.startsWith('/apis/milvus.io/v1beta1/namespaces/ns/milvuses/r')) res.end(JSON.stringify(req.method === 'PUT' ? JSON.parse(body) : live));
        else {
          res.statusCode = 404;
          res.end(JSON.stringify({ kind: 'Status', code: 404 }));
        }
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { ctx } = testContext({ kube: kubeForFixture(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`) });
    const def = operatorHop(ctx, release('operator'), plan, hop, options(fakeHelm(async () => '')));
    expect(def.steps.map((s) => s.id)).toEqual(['flush', 'meta-backup', 'serving-baseline', 'backup-milvus', 'apply', 'follow', 'verify', 'serving-verify']);
    const state = { ...def.initialState } as Record<string, unknown>;
    await def.steps.find((s) => s.id === 'apply')!.run({ state, checkpoint: async () => undefined, log: () => undefined } as never);
    const writes = calls.filter((c) => c.method !== 'GET');
    expect(writes.map((c) => `${c.method} ${c.url.replace(/\?.*fieldManager=kubectl-milvus.*/, (q) => (q.includes('dryRun=All') ? '?dryRun=All' : ''))}`)).toEqual([
      'PUT /apis/milvus.io/v1beta1/namespaces/ns/milvuses/r?dryRun=All',
      'PUT /apis/milvus.io/v1beta1/namespaces/ns/milvuses/r',
    ]);
    expect(writes[0]!.body).toEqual(writes[1]!.body);
    expect(writes[1]!.body!.metadata.resourceVersion).toBe('41');
    expect(writes[1]!.body!.spec!.components.indexNode).toEqual({ replicas: 0 });
    expect(state.patchedAt).toBeDefined();
  });

  it('an indexnode pod running is refused before anything changes (exit 7)', async () => {
    const { ctx } = testContext();
    const def = operatorHop(ctx, release('operator', { indexnode: 1 }), plan, hop, options(fakeHelm(async () => '')));
    const e = await refusal(() => def.preflight(def.initialState, new Set()));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toContain('an indexnode pod still runs');
  });
});
