/**
 * The Operator hop holds the operator when it breaks the 2.6 order: the follow step pauses the
 * Milvus resource's rollouts (spec.components.paused) as soon as a component starts before the one
 * ahead of it finished, records the hold in the checkpointed state, and the next run lifts it
 * before it watches again. Against a FIXTURE API server that serves the Deployments and records the
 * patches; the real operator keeps its order, so the e2e suite cannot make it break it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Deployment } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import type { Step } from '../../src/procedure/engine.js';
import type { Release } from '../../src/release/types.js';
import type { UpgradeOptions } from '../../src/upgrade/common.js';
import { operatorHop } from '../../src/upgrade/operator-hop.js';
import { planUpgrade } from '../../src/upgrade/plan.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

const NEW = 'milvusdb/milvus:v2.6.5';
const OLD = 'milvusdb/milvus:v2.5.16';

function dep(component: string, image: string, done: boolean): V1Deployment {
  return {
    metadata: { name: `r-milvus-${component}`, namespace: 'ns', generation: 2, labels: { 'app.kubernetes.io/component': component, 'app.kubernetes.io/instance': 'r' } },
    spec: { replicas: 1, selector: {}, template: { spec: { containers: [{ name: component, image }] } } },
    status: { observedGeneration: 2, replicas: 1, updatedReplicas: done ? 1 : 0, availableReplicas: 1, readyReplicas: 1 },
  } as V1Deployment;
}

let server: Server | undefined;
afterEach(() => server?.close());

async function fixture(deployments: () => V1Deployment[]): Promise<{ url: string; patches: unknown[] }> {
  const patches: unknown[] = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url?.startsWith('/apis/apps/v1/namespaces/ns/deployments')) {
        res.end(JSON.stringify({ kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: {}, items: deployments() }));
      } else if (req.method === 'PATCH' && req.url === '/apis/milvus.io/v1beta1/namespaces/ns/milvuses/r') {
        patches.push(JSON.parse(body));
        res.end(JSON.stringify({ apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', metadata: { name: 'r', namespace: 'ns' } }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', code: 404, message: `${req.method} ${req.url} not in the fixture` }));
      }
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, patches };
}

const MIX = ['proxy', 'mixcoord', 'querynode', 'datanode', 'indexnode'] as const;
const plan = planUpgrade(
  { release: 'r', namespace: 'ns', method: 'operator', mode: 'cluster', images: MIX.map((c) => ({ component: c, image: OLD })), mq: 'pulsar-v2', chartVersion: undefined, values: undefined, operatorVersion: '1.3.7' },
  { to: '2.6.5' },
);
const release = { name: 'r', namespace: 'ns', method: 'operator', workloadSelector: 'app.kubernetes.io/instance=r' } as Release;

function followStep(url: string) {
  const { ctx, stderr } = testContext({ kube: kubeForFixture(url) });
  const o = { timeoutMs: 5_000, backupDir: '/nonexistent' } as UpgradeOptions;
  const def = operatorHop(ctx, release, plan, plan.hops[0]!, o);
  const step = def.steps.find((s) => s.id === 'follow') as Step<Record<string, unknown>>;
  const state: Record<string, unknown> = { ...def.initialState };
  let checkpoints = 0;
  const run = () => step.run({ state, checkpoint: async () => void checkpoints++, log: () => undefined } as never);
  return { run, state, stderr, checkpoints: () => checkpoints };
}

describe('the Operator hop holds the operator when the 2.6 order breaks', () => {
  it('a proxy rolling before the streaming node finished: the resource is paused, the hold recorded, the run stopped (exit 10)', async () => {
    expect(plan.hops[0]!.kind).toBe('to-2.6');
    const f = await fixture(() => [dep('streamingnode', NEW, false), dep('mixcoord', OLD, true), dep('querynode', OLD, true), dep('datanode', OLD, true), dep('proxy', NEW, false)]);
    const h = followStep(f.url);
    const err = await h.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.FAILED);
    expect((err as CliError).message).toContain('the operator started proxy before streamingnode finished');
    expect((err as CliError).message).toContain('milvus/r is paused (spec.components.paused: true)');
    expect((err as CliError).hint).toContain(`kubectl patch milvus r -n ns --type merge -p '{"spec":{"components":{"paused":false}}}'`);
    expect(f.patches).toEqual([{ spec: { components: { paused: true } } }]);
    expect(h.state.heldAt).toEqual(expect.any(String));
    expect(h.checkpoints()).toBe(1);
  });

  it('the next run lifts the hold first, then watches the order to the end', async () => {
    const f = await fixture(() => ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy'].map((c) => dep(c, NEW, true)));
    const h = followStep(f.url);
    h.state.heldAt = '2026-12-01T00:00:00.000Z';
    await h.run();
    expect(f.patches).toEqual([{ spec: { components: { paused: false } } }]);
    expect(h.state.heldAt).toBeUndefined();
    expect(Object.keys(h.state.rolled as object)).toEqual(['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
  });

  it('an operator that keeps the order is never paused', async () => {
    const f = await fixture(() => [dep('streamingnode', NEW, true), dep('mixcoord', NEW, true), dep('querynode', NEW, true), dep('datanode', NEW, true), dep('proxy', NEW, true)]);
    const h = followStep(f.url);
    await h.run();
    expect(f.patches).toEqual([]);
  });
});
