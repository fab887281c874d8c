/**
 * After every hop that reaches 2.6 or 3.0 the upgrade proves the release serves again (issue 19
 * item 4): a baseline of the loaded collections right before the hop's first change, and the
 * ServingProbe's verdict after its verify step; a failed verdict fails the run naming each
 * component and its remedy, never a success. Against a fake probe (the real one: serving.ts).
 */
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import type { Helm } from '../../src/helm/helm.js';
import type { ServingBaseline, ServingProbe, ServingVerdict } from '../../src/milvus/serving-types.js';
import type { ComponentName, Release } from '../../src/release/types.js';
import { servingBaselineStep, servingVerifyStep, withRestoreHint, type HopState, type UpgradeOptions } from '../../src/upgrade/common.js';
import { helmHop } from '../../src/upgrade/helm-hop.js';
import { operatorHop } from '../../src/upgrade/operator-hop.js';
import { planUpgrade, type PlanInput } from '../../src/upgrade/plan.js';
import { testContext } from './test-context.js';

const input = (method: 'helm' | 'operator', version: string, comps: ComponentName[]): PlanInput => ({
  release: 'r',
  namespace: 'ns',
  method,
  mode: 'cluster',
  images: comps.map((component) => ({ component, image: `milvusdb/milvus:v${version}` })),
  mq: 'pulsar-v3',
  ...(method === 'helm' ? { chartVersion: '5.0.22', values: { pulsarv3: { enabled: true } } } : { operatorVersion: '1.3.7' }),
});
const MIX: ComponentName[] = ['proxy', 'mixcoord', 'querynode', 'datanode', 'indexnode'];
const STREAMING: ComponentName[] = ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode'];
const release = { name: 'r', namespace: 'ns', method: 'helm', mode: 'cluster', components: [] } as unknown as Release;

/** A probe that answers what the test says and records what it was asked. */
function fakeProbe(verdict: ServingVerdict, loaded = ['default/books', 'db1/films']): ServingProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async baseline(ctx, _r, access) {
      asked.push(`baseline${access?.milvusSecret ? ` as ${access.milvusSecret}` : ''}`);
      return { takenAt: ctx.now().toISOString(), loaded };
    },
    async verify(_ctx, _r, baseline: ServingBaseline, opts) {
      asked.push(`verify ${baseline.loaded.join(',')} ${opts.timeoutSeconds}s${opts.milvusSecret ? ` as ${opts.milvusSecret}` : ''}`);
      return verdict;
    },
  };
}
const options = (serving?: ServingProbe) => ({ chart: 'zilliztech/milvus', timeoutMs: 1000, flushTimeoutMs: 1000, servingTimeoutMs: 90_000, sessionWaitMs: 0, migrationImage: 'x', backupDir: '/nonexistent', helm: { run: async () => '' } as unknown as Helm, serving }) as UpgradeOptions;

describe('the serving steps of the hops', () => {
  it.each([
    ['Helm 2.5.16 -> 2.6.5', 'helm', '2.5.16', MIX, '2.6.5', ['flush', 'serving-baseline', 'backup-values', 'pause'], 'pause'],
    ['Helm 2.6.22 -> 3.0.2', 'helm', '2.6.22', STREAMING, '3.0.2', ['flush', 'meta-backup', 'serving-baseline', 'backup-values', 'pause'], 'pause'],
    ['Operator 2.5.16 -> 2.6.5', 'operator', '2.5.16', MIX, '2.6.5', ['flush', 'serving-baseline', 'backup-milvus', 'patch'], 'patch'],
    ['Operator 2.6.22 -> 3.0.2', 'operator', '2.6.22', STREAMING, '3.0.2', ['flush', 'meta-backup', 'serving-baseline', 'backup-milvus', 'apply'], 'apply'],
    ['Helm 2.6.2 -> 2.6.5 (rolling inside 2.6)', 'helm', '2.6.2', STREAMING, '2.6.5', ['flush', 'serving-baseline', 'backup-values', 'pause'], 'pause'],
  ] as const)('%s: the baseline before the first change (taken again by a run resuming before it), the check last', (_t, method, from, comps, to, head, firstChange) => {
    const plan = planUpgrade(input(method, from, [...comps]), { to });
    const { ctx } = testContext();
    const hop = plan.hops[plan.hops.length - 1]!;
    const def = (method === 'helm' ? helmHop : operatorHop)(ctx, release, plan, hop, options(fakeProbe({ ok: true, problems: [] })));
    const ids = def.steps.map((s) => s.id);
    expect(ids.slice(0, head.length)).toEqual(head);
    expect(ids.slice(-2)).toEqual(['verify', 'serving-verify']);
    expect(def.steps.find((s) => s.id === 'serving-baseline')!.repeatUntil).toBe(firstChange);
  });

  it('a hop that stays below 2.6 has no serving steps', () => {
    const plan = planUpgrade(input('helm', '2.4.5', MIX), { to: '2.4.6' });
    const { ctx } = testContext();
    const ids = helmHop(ctx, release, plan, plan.hops[0]!, options()).steps.map((s) => s.id);
    expect(ids.filter((id) => id.startsWith('serving'))).toEqual([]);
  });

  const plan = planUpgrade(input('helm', '2.5.16', MIX), { to: '2.6.5' });
  const hop = plan.hops[0]!;
  const run = async (step: ReturnType<typeof servingVerifyStep<HopState>>, state: HopState) => {
    const logs: string[] = [];
    await step.run({ state, log: (m: string) => logs.push(m), checkpoint: async () => undefined } as never);
    return logs;
  };

  it('the baseline is recorded in the state; the check compares with it and passes only on an ok verdict', async () => {
    const { ctx } = testContext();
    const probe = fakeProbe({ ok: true, problems: [] });
    const state = { flushVerifiedAt: undefined, flushedCollections: 0, rolled: {} } as HopState;
    await run(servingBaselineStep(ctx, plan, hop, options(probe), async () => release), state);
    expect(state.servingBaseline?.loaded).toEqual(['default/books', 'db1/films']);
    const logs = await run(servingVerifyStep(ctx, plan, hop, options(probe), async () => release), state);
    expect(probe.asked).toEqual(['baseline', 'verify default/books,db1/films 90s']);
    expect(logs.at(-1)).toBe('Milvus 2.6.5 serves: streaming nodes registered and writable, proxies healthy, 2 collection(s) loaded again');
  });

  it('logs in as the run\'s --milvus-secret for the baseline and the check', async () => {
    const { ctx } = testContext();
    const probe = fakeProbe({ ok: true, problems: [] });
    const o = { ...options(probe), milvusSecret: 'milvus-root' } as UpgradeOptions;
    const state = { flushVerifiedAt: undefined, flushedCollections: 0, rolled: {} } as HopState;
    await run(servingBaselineStep(ctx, plan, hop, o, async () => release), state);
    await run(servingVerifyStep(ctx, plan, hop, o, async () => release), state);
    expect(probe.asked).toEqual(['baseline as milvus-root', 'verify default/books,db1/films 90s as milvus-root']);
  });

  it('a failed verdict fails the step (exit 10) naming each component, with each remedy; never a success', async () => {
    const { ctx } = testContext();
    const probe = fakeProbe({
      ok: false,
      problems: [
        { component: 'proxy pod/r-milvus-proxy-1', what: 'writes refused: producer can only be created for RW channel', remedy: 'restart mixcoord, then the streaming nodes (milvus#47806)' },
        { component: 'collection db1/films', what: 'Loading (was loaded before the hop)', remedy: 'load the collection again' },
      ],
    });
    const state = { flushVerifiedAt: undefined, flushedCollections: 0, rolled: {}, servingBaseline: { takenAt: 't', loaded: ['db1/films'] } } as HopState;
    let err: unknown;
    try {
      await run(servingVerifyStep(ctx, plan, hop, options(probe), async () => release), state);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    const e = err as CliError;
    expect(e.exitCode).toBe(ExitCode.FAILED);
    expect(e.message).toBe('Milvus 2.6.5 does not serve after hop-1: proxy pod/r-milvus-proxy-1: writes refused: producer can only be created for RW channel; collection db1/films: Loading (was loaded before the hop)');
    expect(e.hint).toBe('proxy pod/r-milvus-proxy-1: restart mixcoord, then the streaming nodes (milvus#47806)\ncollection db1/films: load the collection again');
    // A verdict that says ok but lists problems is no success either.
    const odd = fakeProbe({ ok: true, problems: [{ component: 'streamingnode', what: 'not registered', remedy: 'restart' }] });
    await expect(run(servingVerifyStep(ctx, plan, hop, options(odd), async () => release), state)).rejects.toThrow(/does not serve after hop-1: streamingnode: not registered/);
  });

  it('wrapped in the hop, the failure keeps its remedy before the restore advice', async () => {
    const { ctx } = testContext();
    const probe = fakeProbe({ ok: false, problems: [{ component: 'streamingnode', what: 'mixcoord lists no streaming node', remedy: 'restart mixcoord, then the streaming node pods' }] });
    const step = withRestoreHint(ctx, servingVerifyStep<HopState>(ctx, plan, hop, options(probe), async () => release), () => 'or fix the cause and continue with: kubectl milvus upgrade r -n ns --to 2.6.5 --resume');
    const state = { flushVerifiedAt: undefined, flushedCollections: 0, rolled: {}, servingBaseline: { takenAt: 't', loaded: [] } } as HopState;
    const e = await step.run({ state, log: () => undefined, checkpoint: async () => undefined } as never).then(() => undefined, (x: unknown) => x as CliError);
    expect(e!.exitCode).toBe(ExitCode.FAILED);
    expect(e!.hint).toBe('streamingnode: restart mixcoord, then the streaming node pods\nor fix the cause and continue with: kubectl milvus upgrade r -n ns --to 2.6.5 --resume');
  });
});
