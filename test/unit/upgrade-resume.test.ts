/**
 * What a rerun of `upgrade` decides from: the plan it follows only for the same request (another
 * --to/--image/--chart-version is refused, exit 7), the preconditions of the steps still to do
 * re-checked on every run (no "a step is done, so skip the checks"), the flush again when a hop
 * resumes before its first change, and the 2.6 Helm hop's way back once 2.6 ran.
 */
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/errors.js';
import type { Helm } from '../../src/helm/helm.js';
import type { ComponentName, Release } from '../../src/release/types.js';
import type { UpgradeOptions } from '../../src/upgrade/common.js';
import { helmHop } from '../../src/upgrade/helm-hop.js';
import { operatorHop } from '../../src/upgrade/operator-hop.js';
import { planUpgrade, type PlanInput } from '../../src/upgrade/plan.js';
import { followSavedPlan, upgradeParams } from '../../src/upgrade/procedure.js';
import { testContext } from './test-context.js';

const MIX: ComponentName[] = ['proxy', 'mixcoord', 'querynode', 'datanode', 'indexnode'];
const input = (method: 'helm' | 'operator', version: string): PlanInput => ({
  release: 'r',
  namespace: 'ns',
  method,
  mode: 'cluster',
  images: MIX.map((c) => ({ component: c, image: `milvusdb/milvus:v${version}` })),
  mq: 'pulsar-v2',
  chartVersion: method === 'helm' ? '4.2.30' : undefined,
  values: method === 'helm' ? { pulsar: { enabled: true }, pulsarv3: { enabled: false } } : undefined,
  ...(method === 'operator' ? { operatorVersion: '1.3.7' } : {}),
});

async function refusal(f: () => unknown): Promise<CliError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error('expected a refusal');
}

/**
 * A release as discovery reports it: these components on these versions (template and pods),
 * healthy, on Pulsar v2; `pods` overrides what a component's pods run.
 */
function release(method: 'helm' | 'operator', versions: Partial<Record<ComponentName, string>>, helmStatus = 'deployed', pods: Partial<Record<ComponentName, string>> = {}): Release {
  return {
    name: 'r',
    namespace: 'ns',
    method,
    mode: 'cluster',
    mq: 'pulsar-v2',
    workloadSelector: 'app.kubernetes.io/instance=r',
    components: Object.entries(versions).map(([c, v]) => ({ component: c, name: `r-milvus-${c}`, image: `milvusdb/milvus:v${v}`, version: v, runningImages: [`milvusdb/milvus:v${pods[c as ComponentName] ?? v}`], running: [pods[c as ComponentName] ?? v], replicas: 1, readyReplicas: 1, updatedReplicas: 1, deployment: { metadata: { name: `r-milvus-${c}` }, spec: { replicas: 1 }, status: { replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 } } })),
    ...(method === 'helm' ? { helm: { status: helmStatus, revision: 3, chartVersion: '4.2.30', fullname: 'r-milvus' } } : { operator: { status: 'Healthy' } }),
  } as unknown as Release;
}

const fakeHelm = (run: (args: string[]) => Promise<string> = async () => '') => ({ requireVersion: async () => undefined, run }) as unknown as Helm;
const options = (helm = fakeHelm()) => ({ chart: 'zilliztech/milvus', timeoutMs: 1000, flushTimeoutMs: 1000, sessionWaitMs: 0, migrationImage: 'x', backupDir: '/nonexistent', helm }) as UpgradeOptions;

describe('a rerun follows the checkpointed plan only for the same request', () => {
  const plan = planUpgrade(input('operator', '2.5.16'), { to: '2.6.5' });
  const saved = { plan, params: upgradeParams(plan, { to: '2.6.5' }, 'zilliztech/milvus') };

  it('the same --to (in any spelling) follows the saved plan', () => {
    expect(followSavedPlan(saved, { to: 'v2.6.5' }, 'zilliztech/milvus')).toBe(plan);
  });
  it.each([
    [{ to: '2.5.16' }, 'to: checkpoint "2.6.5", now "2.5.16"'],
    [{ to: '2.6.5', image: 'registry.local/milvus' }, 'image: checkpoint "", now "registry.local/milvus"'],
    [{ to: '2.6.5', chartVersion: '5.0.23' }, 'chartVersion: checkpoint "", now "5.0.23"'],
  ])('%o is refused (exit 7), naming the difference', async (flags, difference) => {
    const e = await refusal(() => followSavedPlan(saved, flags, 'zilliztech/milvus'));
    expect(e.exitCode).toBe(7);
    expect(e.message).toContain('an unfinished upgrade of "r" to 2.6.5 follows the plan it started with');
    expect(e.message).toContain(difference);
    expect(e.hint).toContain('--restart');
  });
});

describe('a resumed hop re-checks what its remaining steps rest on', () => {
  it('Operator: after the patch, a component on a third version stops the run (exit 7)', async () => {
    const plan = planUpgrade(input('operator', '2.5.10'), { to: '2.5.16' });
    const hop = plan.hops[0]!;
    const { ctx } = testContext();
    const def = operatorHop(ctx, release('operator', { proxy: '2.5.16', mixcoord: '2.5.16', querynode: '2.4.9', datanode: '2.5.10' }), plan, hop, options());
    const e = await refusal(() => def.preflight(def.initialState, new Set(['flush', 'backup-milvus', 'patch'])));
    expect(e.exitCode).toBe(7);
    expect(e.message).toContain('hop-1 goes from Milvus 2.5.10 to 2.5.16, but components run 2.4.9');
    // Half way through its own hop is what a resumed run expects.
    const ok = operatorHop(ctx, release('operator', { proxy: '2.5.10', mixcoord: '2.5.16', querynode: '2.5.16', datanode: '2.5.10' }), plan, hop, options());
    await ok.preflight(ok.initialState, new Set(['flush', 'backup-milvus', 'patch']));
  });

  it('the versions a hop checks are what the pods run, not the templates', async () => {
    const plan = planUpgrade(input('operator', '2.5.10'), { to: '2.5.16' });
    const hop = plan.hops[0]!;
    const { ctx } = testContext();
    // After the patch: every template on one of the hop's versions, but querynode's pods run 2.4.9.
    const after = operatorHop(ctx, release('operator', { proxy: '2.5.16', mixcoord: '2.5.16', querynode: '2.5.16', datanode: '2.5.10' }, 'deployed', { querynode: '2.4.9' }), plan, hop, options());
    const e = await refusal(() => after.preflight(after.initialState, new Set(['flush', 'backup-milvus', 'patch'])));
    expect(e.message).toContain('hop-1 goes from Milvus 2.5.10 to 2.5.16, but components run 2.4.9');
    // Before any change: the templates say 2.5.10, datanode's pods still run 2.5.9.
    const helmPlan = planUpgrade(input('helm', '2.5.10'), { to: '2.5.16' });
    const before = helmHop(ctx, release('helm', { proxy: '2.5.10', mixcoord: '2.5.10', querynode: '2.5.10', datanode: '2.5.10' }, 'deployed', { datanode: '2.5.9' }), helmPlan, helmPlan.hops[0]!, options());
    const f = await refusal(() => before.preflight(before.initialState as never, new Set()));
    expect(f.exitCode).toBe(7);
    expect(f.message).toContain('hop-1 starts from Milvus 2.5.10, but the components run 2.5.9, 2.5.10');
  });

  it('Helm: after the pause, a pending helm operation stops the run (exit 7)', async () => {
    const plan = planUpgrade(input('helm', '2.5.10'), { to: '2.5.16' });
    const { ctx } = testContext();
    const def = helmHop(ctx, release('helm', { proxy: '2.5.10', mixcoord: '2.5.10', querynode: '2.5.10', datanode: '2.5.10' }, 'pending-upgrade'), plan, plan.hops[0]!, options());
    const e = await refusal(() => def.preflight(def.initialState as never, new Set(['flush', 'backup-values', 'pause'])));
    expect(e.exitCode).toBe(7);
    expect(e.message).toContain('Helm release "r" is in state "pending-upgrade", not "deployed"');
  });

  it('a hop resumed before its first change flushes again (the flush repeats until that change is done)', () => {
    const { ctx } = testContext();
    const op = planUpgrade(input('operator', '2.5.10'), { to: '2.5.16' });
    const opDef = operatorHop(ctx, release('operator', { proxy: '2.5.10' }), op, op.hops[0]!, options());
    expect(opDef.steps.find((s) => s.id === 'flush')?.repeatUntil).toBe('patch');
    const hp = planUpgrade(input('helm', '2.5.10'), { to: '2.5.16' });
    const helmDef = helmHop(ctx, release('helm', { proxy: '2.5.10' }), hp, hp.hops[0]!, options());
    expect(helmDef.steps.find((s) => s.id === 'flush')?.repeatUntil).toBe('pause');
  });
});

describe('the 2.6 Helm hop once a 2.6 component ran', () => {
  it('advises the metadata snapshot (backup restore-meta), not helm rollback', async () => {
    const plan = planUpgrade(input('helm', '2.5.16'), { to: '2.6.5' });
    const hop = plan.hops[plan.hops.length - 1]!;
    expect(hop.kind).toBe('to-2.6');
    const { ctx } = testContext();
    const failing = fakeHelm(async () => {
      throw new CliError('helm upgrade failed: timed out', 10);
    });
    const def = helmHop(ctx, release('helm', { proxy: '2.5.16', mixcoord: '2.5.16', querynode: '2.5.16', datanode: '2.5.16', indexnode: '2.5.16' }), plan, hop, options(failing));
    const step = def.steps.find((s) => s.id === 'remove-indexnode')!;
    const state = { ...def.initialState, helmRevisionBefore: 3, rolled: { streamingnode: 31, mixcoord: 40, querynode: 35, datanode: 33, proxy: 32 } };
    const e = await refusal(() => step.run({ ctx, state, checkpoint: async () => undefined, log: () => undefined, invocation: 'x', resumedAfterStart: false } as never));
    expect(e.hint).toContain('2.6 components have run (streamingnode, mixcoord, querynode, datanode, proxy rolled out): "helm rollback" to 2.5.16 is no documented way back');
    expect(e.hint).toContain('backup restore-meta r -n ns --from FILE');
    expect(e.hint).not.toContain('to restore the release as it was before this hop: helm rollback');
  });

  it('before any 2.6 component ran, helm rollback is the way back', async () => {
    const plan = planUpgrade(input('helm', '2.5.16'), { to: '2.6.5' });
    const hop = plan.hops[plan.hops.length - 1]!;
    const { ctx } = testContext();
    const failing = fakeHelm(async () => {
      throw new CliError('helm upgrade failed', 10);
    });
    const def = helmHop(ctx, release('helm', { proxy: '2.5.16', mixcoord: '2.5.16', querynode: '2.5.16', datanode: '2.5.16', indexnode: '2.5.16' }), plan, hop, options(failing));
    const step = def.steps.find((s) => s.id === 'helm-upgrade')!;
    const state = { ...def.initialState, helmRevisionBefore: 3 };
    const e = await refusal(() => step.run({ ctx, state, checkpoint: async () => undefined, log: () => undefined, invocation: 'x', resumedAfterStart: false } as never));
    expect(e.hint).toContain('to restore the release as it was before this hop: helm rollback r 3 -n ns');
    expect(e.hint).not.toContain('restore-meta');
  });
});
