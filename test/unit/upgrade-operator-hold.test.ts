/**
 * The Operator hop holds the operator when it breaks the 2.6 order: the follow step pauses the
 * Milvus resource's rollouts (spec.components.paused) as soon as a component starts before the one
 * ahead of it finished, records the hold in the checkpointed state, and the next run takes the hop
 * to its end in the order: every component after the first unfinished one held on its own
 * (spec.components.<c>.paused), the resource-wide hold lifted, each released once the one before it
 * is done. Against a FIXTURE API server whose operator acts on the patches as milvus-operator
 * v1.3.7 does (a paused component, or the whole resource paused, does not move; a component starts
 * once those before it are done; one already started goes on unless it is paused); the real
 * operator keeps its order, so the e2e suite can make the early start only by hand
 * (upgrade-operator.test.ts).
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

/** A Milvus Operator as far as the hold is concerned: one move per component per look at the Deployments. */
interface SimOperator {
  global: boolean;
  paused: Record<string, boolean>;
  comps: Record<string, { image: string; done: boolean }>;
  events: string[];
}
const ORDER = ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy'];
const FIELD: Record<string, string> = { streamingNode: 'streamingnode', mixCoord: 'mixcoord', queryNode: 'querynode', dataNode: 'datanode', proxy: 'proxy' };

function tick(w: SimOperator): void {
  ORDER.forEach((c, i) => {
    if (w.global || w.paused[c]) return;
    const st = w.comps[c]!;
    if (st.image === NEW && !st.done) {
      st.done = true;
      w.events.push(`${c} done`);
    } else if (st.image === OLD && ORDER.slice(0, i).every((d) => w.comps[d]!.image === NEW && w.comps[d]!.done && !w.paused[d])) {
      st.image = NEW;
      st.done = false;
      w.events.push(`${c} started`);
    }
  });
}

async function fixture(deployments: () => V1Deployment[], sim?: SimOperator): Promise<{ url: string; patches: unknown[] }> {
  const patches: unknown[] = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      const milvus = () => ({ apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', metadata: { name: 'r', namespace: 'ns' }, spec: { components: { image: NEW, ...Object.fromEntries(Object.keys(FIELD).map((f) => [f, { replicas: 1 }])) } } });
      if (req.method === 'GET' && req.url?.startsWith('/apis/apps/v1/namespaces/ns/deployments')) {
        if (sim) tick(sim);
        res.end(JSON.stringify({ kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: {}, items: deployments() }));
      } else if (req.method === 'GET' && req.url === '/apis/milvus.io/v1beta1/namespaces/ns/milvuses/r') {
        res.end(JSON.stringify(milvus()));
      } else if (req.method === 'PATCH' && req.url === '/apis/milvus.io/v1beta1/namespaces/ns/milvuses/r') {
        const p = JSON.parse(body) as { spec: { components: Record<string, unknown> } };
        patches.push(p);
        if (sim) {
          const cs = p.spec.components;
          if (typeof cs.paused === 'boolean') sim.global = cs.paused;
          for (const [f, c] of Object.entries(FIELD)) {
            const v = (cs[f] as { paused?: boolean } | undefined)?.paused;
            if (typeof v === 'boolean') sim.paused[c] = v;
          }
        }
        res.end(JSON.stringify(milvus()));
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
    // Lifting the hold alone would let proxy go on: the hint names the one patch that keeps the order.
    expect((err as CliError).hint).toContain(
      `kubectl patch milvus r -n ns --type merge -p '{"spec":{"components":{"paused":false,"streamingNode":{"paused":false},"mixCoord":{"paused":true},"queryNode":{"paused":true},"dataNode":{"paused":true},"proxy":{"paused":true}}}}', then release each (paused: false) only once the one before it runs milvusdb/milvus:v2.6.5 everywhere`,
    );
    expect((err as CliError).hint).not.toContain(`-p '{"spec":{"components":{"paused":false}}}'`);
    expect(f.patches).toEqual([{ spec: { components: { paused: true } } }]);
    expect(h.state.heldAt).toEqual(expect.any(String));
    expect(h.checkpoints()).toBe(1);
  });

  it('the next run, from the hold with proxy half rolled, holds proxy and the rest, lifts the hold and releases them one at a time to the end', async () => {
    // As the first run left it: the resource paused while streamingnode rolls and proxy, started early, is half way.
    const sim: SimOperator = {
      global: true,
      paused: {},
      comps: { streamingnode: { image: NEW, done: false }, mixcoord: { image: OLD, done: true }, querynode: { image: OLD, done: true }, datanode: { image: OLD, done: true }, proxy: { image: NEW, done: false } },
      events: [],
    };
    const f = await fixture(() => ORDER.map((c) => dep(c, sim.comps[c]!.image, sim.comps[c]!.done)), sim);
    const h = followStep(f.url);
    h.state.heldAt = '2026-12-01T00:00:00.000Z';
    await h.run();
    expect(f.patches).toEqual([
      { spec: { components: { paused: false, streamingNode: { paused: false }, mixCoord: { paused: true }, queryNode: { paused: true }, dataNode: { paused: true }, proxy: { paused: true } } } },
      { spec: { components: { mixCoord: { paused: false } } } },
      { spec: { components: { queryNode: { paused: false } } } },
      { spec: { components: { dataNode: { paused: false } } } },
      { spec: { components: { proxy: { paused: false } } } },
    ]);
    // Nothing moved out of order after the hold: each component finished before the next one started or went on.
    expect(sim.events).toEqual(['streamingnode done', 'mixcoord started', 'mixcoord done', 'querynode started', 'querynode done', 'datanode started', 'datanode done', 'proxy done']);
    expect(h.state.heldAt).toBeUndefined();
    expect(h.state.heldComponents).toEqual([]);
    expect(Object.keys(h.state.rolled as object)).toEqual(['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(Object.values(sim.comps).every((c) => c.image === NEW && c.done)).toBe(true);
  });

  it('a run interrupted while releasing goes on from the components still held', async () => {
    const sim: SimOperator = {
      global: false,
      paused: { datanode: true, proxy: true },
      comps: { streamingnode: { image: NEW, done: true }, mixcoord: { image: NEW, done: true }, querynode: { image: NEW, done: true }, datanode: { image: OLD, done: true }, proxy: { image: NEW, done: false } },
      events: [],
    };
    const f = await fixture(() => ORDER.map((c) => dep(c, sim.comps[c]!.image, sim.comps[c]!.done)), sim);
    const h = followStep(f.url);
    h.state.heldComponents = ['datanode', 'proxy'];
    await h.run();
    expect(f.patches).toEqual([
      { spec: { components: { paused: false, dataNode: { paused: false }, proxy: { paused: true } } } },
      { spec: { components: { proxy: { paused: false } } } },
    ]);
    expect(sim.events).toEqual(['datanode started', 'datanode done', 'proxy done']);
  });

  it('an operator that keeps the order is never paused', async () => {
    const f = await fixture(() => [dep('streamingnode', NEW, true), dep('mixcoord', NEW, true), dep('querynode', NEW, true), dep('datanode', NEW, true), dep('proxy', NEW, true)]);
    const h = followStep(f.url);
    await h.run();
    expect(f.patches).toEqual([]);
  });
});
