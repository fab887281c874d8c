/** The upgrade planner (src/upgrade/plan.ts): hop chains, their reasons and every refusal, as tables. */
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { renderPlanTable } from '../../src/commands/upgrade.js';
import { CliError, ExitCode } from '../../src/errors.js';
import type { ComponentName } from '../../src/release/types.js';
import { rollingJumpRefusal } from '../../src/release/version.js';
import { checkRelease, validateFlags } from '../../src/rolling-update/preflight.js';
import { HOP_RULES, planInput, planUpgrade, type PlanFlags, type PlanInput } from '../../src/upgrade/plan.js';
import { fixtureRelease } from './release-fixture.js';

const SEPARATE: ComponentName[] = ['proxy', 'rootcoord', 'datacoord', 'querycoord', 'indexcoord', 'querynode', 'datanode', 'indexnode'];
const MIX: ComponentName[] = ['proxy', 'mixcoord', 'querynode', 'datanode', 'indexnode'];

function helm(version: string, comps: ComponentName[] = MIX, extra: Partial<PlanInput> = {}): PlanInput {
  return {
    release: 'r',
    namespace: 'ns',
    method: 'helm',
    mode: 'cluster',
    images: comps.map((c) => ({ component: c, image: `milvusdb/milvus:v${version}` })),
    mq: 'pulsar-v2',
    chartVersion: '4.2.30',
    values: { pulsar: { enabled: true }, pulsarv3: { enabled: false } },
    ...extra,
  };
}
const operator = (version: string, comps: ComponentName[] = MIX, extra: Partial<PlanInput> = {}): PlanInput => ({
  ...helm(version, comps),
  method: 'operator',
  chartVersion: undefined,
  values: undefined,
  operatorVersion: '1.3.7',
  ...extra,
});

const hops = (input: PlanInput, flags: PlanFlags) => planUpgrade(input, flags).hops.map((h) => `${h.kind} ${h.from}->${h.to}`);

describe('the chain of hops', () => {
  it.each([
    ['2.1.4 -> 2.2.16: metadata migration straight to the target', helm('2.1.4'), '2.2.16', ['meta-migrate 2.1.4->2.2.16']],
    ['2.1.4 -> 2.4.6: migrate to the last 2.2, then roll', helm('2.1.4'), '2.4.6', ['meta-migrate 2.1.4->2.2.16', 'rolling 2.2.16->2.4.6']],
    ['2.2.0 -> 2.4.6: below 2.2.3 a restart', helm('2.2.0'), '2.4.6', ['restart 2.2.0->2.4.6']],
    ['2.3.5 -> 2.4.6: rolling', helm('2.3.5'), '2.4.6', ['rolling 2.3.5->2.4.6']],
    ['2.5.10 separate coordinators -> 2.6.5', helm('2.5.10', SEPARATE), '2.6.5', ['mixcoord 2.5.10->2.5.16', 'to-2.6 2.5.16->2.6.5']],
    ['2.5.16 with mixcoord -> 2.6.5: straight to 2.6', helm('2.5.16'), '2.6.5', ['to-2.6 2.5.16->2.6.5']],
    ['2.5.18 separate coordinators: mixcoord at the running version', helm('2.5.18', SEPARATE), '2.6.5', ['mixcoord 2.5.18->2.5.18', 'to-2.6 2.5.18->2.6.5']],
    ['2.1.4 -> 2.6.5: every kind of hop', helm('2.1.4', SEPARATE), '2.6.5', ['meta-migrate 2.1.4->2.2.16', 'mixcoord 2.2.16->2.5.16', 'to-2.6 2.5.16->2.6.5']],
    ['2.6.2 -> 2.6.5: rolling inside 2.6', helm('2.6.2', ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode'], { chartVersion: '5.0.22' }), '2.6.5', ['rolling 2.6.2->2.6.5']],
    ['operator 2.5.10 separate -> 2.6.5', operator('2.5.10', SEPARATE), '2.6.5', ['mixcoord 2.5.10->2.5.16', 'to-2.6 2.5.16->2.6.5']],
    ['same version: nothing to do', helm('2.4.6'), '2.4.6', []],
    ['standalone 2.5.10 -> 2.6.5: two restarts', helm('2.5.10', ['standalone'], { mode: 'standalone', mq: 'rocksmq', values: {} }), '2.6.5', ['restart 2.5.10->2.5.16', 'restart 2.5.16->2.6.5']],
  ])('%s', (_t, input, to, want) => {
    expect(hops(input, { to })).toEqual(want);
  });

  it('the 2.6 hop keeps the documented order, adds the streaming node and removes indexnode at the end', () => {
    const p = planUpgrade(helm('2.5.10', SEPARATE), { to: 'v2.6.5' });
    const [mix, to26] = p.hops;
    // Helm creates mixcoord (and deletes the separate coordinators) in the hop's helm upgrade: it comes first.
    expect(mix!.order).toEqual(['mixcoord', 'indexnode', 'querynode', 'datanode', 'proxy']);
    expect(mix!.removes).toEqual(['rootcoord', 'datacoord', 'querycoord', 'indexcoord']);
    expect(mix!.helm!.chartVersion).toBe('4.2.58');
    expect(mix!.helm!.sets).toEqual(expect.arrayContaining([['image.all.tag', 'v2.5.16'], ['mixCoordinator.enabled', 'true'], ['rootCoordinator.enabled', 'false'], ['indexCoordinator.enabled', 'false']]));
    expect(to26!.order).toEqual(['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(to26!.adds).toEqual(['streamingnode']);
    expect(to26!.removes).toEqual(['indexnode']);
    expect(to26!.helm!.chartVersion).toBe('5.0.22');
    expect(to26!.helm!.sets).toEqual(expect.arrayContaining([['streaming.enabled', 'true'], ['indexNode.enabled', 'true']]));
    expect(to26!.helm!.finalSets).toEqual(expect.arrayContaining([['indexNode.enabled', 'false']]));
    expect(to26!.downtime).toMatch(/writes are refused .* until every proxy runs 2.6/);
  });

  it('pins the message queue explicitly in every Helm hop (the chart >= 4.2.27 Pulsar v3 default trap, chart 5 woodpecker default)', () => {
    const p = planUpgrade(helm('2.5.10', SEPARATE), { to: '2.6.5' });
    for (const h of p.hops) expect(h.helm!.sets).toEqual(expect.arrayContaining([['pulsar.enabled', 'true'], ['pulsarv3.enabled', 'false'], ['woodpecker.enabled', 'false']]));
    const s = planUpgrade(helm('2.5.16', ['standalone'], { mode: 'standalone', mq: 'rocksmq', values: { standalone: { messageQueue: 'rocksmq' } } }), { to: '2.6.5' });
    expect(s.hops[0]!.helm!.sets).toEqual(expect.arrayContaining([['standalone.messageQueue', 'rocksmq'], ['pulsar.enabled', 'false'], ['pulsarv3.enabled', 'false']]));
    const v3 = planUpgrade(helm('2.4.5', MIX, { mq: 'pulsar-v3', values: { pulsar: { enabled: false }, pulsarv3: { enabled: true } } }), { to: '2.4.6' });
    expect(v3.pins).toEqual(expect.arrayContaining([['pulsar.enabled', 'false'], ['pulsarv3.enabled', 'true']]));
  });

  it('says which hops have downtime and why', () => {
    const p = planUpgrade(helm('2.1.4', SEPARATE), { to: '2.6.5' });
    expect(p.hops.map((h) => h.reason)).toEqual([expect.stringContaining('2.1 format'), expect.stringContaining('2.5.16 or later running mixcoord'), expect.stringContaining('streaming node first')]);
    expect(p.hops[0]!.downtime).toMatch(/stopped/);
    expect(planUpgrade(helm('2.2.0'), { to: '2.4.6' }).hops[0]!.downtime).toMatch(/no active-standby coordinators/);
    expect(planUpgrade(helm('2.3.5'), { to: '2.4.6' }).hops[0]!.downtime).toBeUndefined();
  });

  it('operator hops are the documented merge patches', () => {
    const p = planUpgrade(operator('2.5.10', SEPARATE), { to: '2.6.5' });
    expect(p.hops[0]!.operatorPatch).toEqual({ spec: { components: { image: 'milvusdb/milvus:v2.5.16', enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade', mixCoord: { replicas: 1 } } } });
    expect(p.hops[1]!.operatorPatch).toEqual({ spec: { components: { image: 'milvusdb/milvus:v2.6.5', enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } });
  });

  it('--image sets the repository of every hop; --chart-version the chart of the last', () => {
    const p = planUpgrade(helm('2.5.10', SEPARATE), { to: '2.6.5', image: 'registry.local/milvus', chartVersion: '5.0.30' });
    expect(p.hops.map((h) => h.image)).toEqual(['registry.local/milvus:v2.5.16', 'registry.local/milvus:v2.6.5']);
    expect(p.hops.map((h) => h.helm!.chartVersion)).toEqual(['4.2.58', '5.0.30']);
    const gpu = planUpgrade(helm('2.5.10', SEPARATE), { to: '2.6.5', image: 'milvusdb/milvus:v2.6.5-gpu' });
    expect(gpu.hops.map((h) => h.image)).toEqual(['milvusdb/milvus:v2.5.16', 'milvusdb/milvus:v2.6.5-gpu']);
    expect(gpu.hops[1]!.helm!.sets).toEqual(expect.arrayContaining([['image.all.repository', 'milvusdb/milvus'], ['image.all.tag', 'v2.6.5-gpu']]));
  });
});

describe('refusals: one line, exit 2 or 7, nothing planned', () => {
  it.each([
    ['an unknown version', helm('2.4.5'), { to: '2.7.0' }, 2, /unknown Milvus version 2.7.0/],
    ['a 2.1 patch that does not exist', helm('2.1.4'), { to: '2.1.9' }, 2, /unknown Milvus version 2.1.9/],
    ['not a version', helm('2.4.5'), { to: 'latest' }, 2, /invalid --to "latest"/],
    ['a target below the source', helm('2.4.6'), { to: '2.4.5' }, 7, /below the running 2.4.6: upgrade only goes forward/],
    ['a downgrade across the 2.2 metadata change', helm('2.2.16'), { to: '2.1.4' }, 7, /across the 2.2 metadata change/],
    ['a downgrade across 2.6', helm('2.6.2', ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode']), { to: '2.5.16' }, 7, /across the 2.6 change/],
    ['a 2.6.0-rc1 source', { ...helm('2.5.16'), images: [{ component: 'proxy' as ComponentName, image: 'milvusdb/milvus:v2.6.0-rc1' }] }, { to: '2.6.5' }, 7, /2\.6\.0-rc1 is incompatible/],
    ['a chart that cannot deliver 2.6', helm('2.5.16'), { to: '2.6.5', chartVersion: '4.2.58' }, 7, /chart 4.2.58 cannot deliver Milvus 2.6.5/],
    ['chart 5 for a 2.5 target', helm('2.5.10'), { to: '2.5.16', chartVersion: '5.0.22' }, 7, /chart 5.0.22 cannot deliver Milvus 2.5.16/],
    ['a chart downgrade', helm('2.4.5'), { to: '2.4.6', chartVersion: '4.2.20' }, 7, /older than the release's chart 4.2.30/],
    ['an operator too old for 2.6', operator('2.5.16', MIX, { operatorVersion: '1.2.0' }), { to: '2.6.5' }, 7, /Operator 1.2.0 cannot deliver Milvus 2.6/],
    ['an operator version it cannot read', operator('2.5.16', MIX, { operatorVersion: undefined }), { to: '2.6.5' }, 7, /cannot tell the Milvus Operator version/],
    ['--chart-version on an operator release', operator('2.4.5'), { to: '2.4.6', chartVersion: '4.2.58' }, 2, /--chart-version applies to Helm releases/],
    ['components on different versions', { ...helm('2.4.5'), images: [{ component: 'proxy' as ComponentName, image: 'milvusdb/milvus:v2.4.5' }, { component: 'datanode' as ComponentName, image: 'milvusdb/milvus:v2.4.6' }] }, { to: '2.4.6' }, 7, /runs different versions/],
    ['an unknown message queue', helm('2.4.5', MIX, { mq: 'unknown' }), { to: '2.4.6' }, 7, /cannot tell which message queue/],
    ['an --image tag that is not the target', helm('2.4.5'), { to: '2.4.6', image: 'milvusdb/milvus:v2.4.7' }, 2, /is not Milvus 2.4.6/],
  ])('%s', (_t, input, flags, code, message) => {
    let err: unknown;
    try {
      planUpgrade(input, flags);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(code);
    expect((err as CliError).message).toMatch(message);
    expect((err as CliError).message).not.toContain('\n');
  });

  it('gives the documented remedy where there is one', () => {
    const hint = (input: PlanInput, flags: PlanFlags) => {
      try {
        planUpgrade(input, flags);
      } catch (e) {
        return (e as CliError).hint;
      }
      return undefined;
    };
    expect(hint({ ...helm('2.5.16'), images: [{ component: 'proxy', image: 'milvusdb/milvus:v2.6.0-rc1' }] }, { to: '2.6.5' })).toContain('repair wal-recovery-storage');
    expect(hint(helm('2.2.16'), { to: '2.1.4' })).toContain('meta-migrate r -n ns --operation rollback');
    expect(hint(helm('2.4.6'), { to: '2.4.5' })).toContain('rolling-update r -n ns --image milvusdb/milvus:v2.4.5 --mode downgrade');
  });
});

describe('the version a plan starts from is what the pods run', () => {
  const err = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e as CliError;
    }
    return undefined;
  };
  // A 2.4.5 -> 2.4.6 hop interrupted after its helm upgrade: every template says 2.4.6, mixcoord rolled, proxy did not.
  const halfUpgraded = () =>
    fixtureRelease([
      { component: 'mixcoord', template: '2.4.6' },
      { component: 'proxy', template: '2.4.6', pods: ['2.4.5'], paused: true },
      { component: 'querynode', template: '2.4.6', pods: ['2.4.5'], paused: true },
    ]);

  it('a half-upgraded release is never "nothing to do": refused, naming what runs where and the recorded upgrade', () => {
    const e = err(() => planUpgrade(planInput(halfUpgraded(), undefined, ['upgrade in configmap/kubectl-milvus-upgrade-r (steps done: hop-1/flush, hop-1/helm-upgrade)']), { to: '2.4.6' }));
    expect(e).toBeInstanceOf(CliError);
    expect(e!.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e!.message).toContain('runs different versions (mixcoord 2.4.6, proxy 2.4.5, querynode 2.4.5)');
    expect(e!.message).toContain('deployment/r-milvus-proxy: template milvusdb/milvus:v2.4.6, pods run milvusdb/milvus:v2.4.5, rollout paused');
    expect(e!.hint).toContain('recorded: upgrade in configmap/kubectl-milvus-upgrade-r');
    expect(e!.hint).toContain('--resume (not --restart)');
  });

  it('every pod behind its paused template: one version runs, but the change is half done: refused', () => {
    const r = fixtureRelease((['mixcoord', 'proxy'] as const).map((component) => ({ component, template: '2.4.6', pods: ['2.4.5'], paused: true })));
    expect(r.running).toBe('2.4.5');
    const e = err(() => planUpgrade(planInput(r), { to: '2.4.6' }));
    expect(e!.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e!.message).toMatch(/in the middle of a change: .*rollout paused/);
    expect(e!.hint).toContain('kubectl rollout');
  });

  it('a settled release plans from its pods\' version; pods not read refuse', () => {
    const r = fixtureRelease((['mixcoord', 'proxy', 'querynode'] as const).map((component) => ({ component, template: '2.4.5' })));
    expect(hops(planInput(r), { to: '2.4.6' })).toEqual(['rolling 2.4.5->2.4.6']);
    const unread = { ...r, components: r.components.map((c) => ({ ...c, runningImages: undefined, running: undefined })) };
    expect(err(() => planUpgrade(planInput(unread), { to: '2.4.6' }))!.message).toContain('the pods of mixcoord, proxy, querynode could not be read');
  });
});

describe('one rule for rolling jumps, shared with rolling-update (rollingJumpRefusal)', () => {
  it.each([
    ['2.2.16 -> 2.4.6: "from v2.2.3 or later" is one rolling jump', '2.2.16', '2.4.6', MIX, undefined],
    ['2.3.5 -> 2.5.16', '2.3.5', '2.5.16', MIX, undefined],
    ['2.2.0 -> 2.4.6: below 2.2.3', '2.2.0', '2.4.6', MIX, 'below-rolling'],
    ['2.5.10 -> 2.6.5: below 2.5.16', '2.5.10', '2.6.5', [...MIX, 'streamingnode'], 'into-2.6-source'],
    ['2.5.16 -> 2.6.5 without mixcoord', '2.5.16', '2.6.5', ['proxy', 'rootcoord', 'streamingnode'], 'into-2.6-mixcoord'],
    ['2.5.16 -> 2.6.5 without a streaming node', '2.5.16', '2.6.5', MIX, 'into-2.6-streaming'],
    ['2.5.16 -> 2.6.5 with mixcoord and streaming node', '2.5.16', '2.6.5', [...MIX, 'streamingnode'], undefined],
    ['2.6.5 -> 2.5.16: out of 2.6', '2.6.5', '2.5.16', MIX, 'out-of-2.6'],
    ['2.6.5 -> 3.0.0: across a major', '2.6.5', '3.0.0', MIX, 'across-major'],
    ['2.5.4 -> 2.3.5: two minors back', '2.5.4', '2.3.5', MIX, 'downgrade-minors'],
  ])('%s', (_t, from, to, comps, code) => {
    expect(rollingJumpRefusal({ from, to, components: comps as string[] })?.code).toBe(code);
  });

  it('the planner rolls exactly the jumps the rule allows, and rolling-update accepts the planner\'s rolling hop', () => {
    const p = planUpgrade(helm('2.2.16'), { to: '2.4.6' });
    expect(p.hops.map((h) => `${h.kind} ${h.from}->${h.to}`)).toEqual(['rolling 2.2.16->2.4.6']);
    const r = fixtureRelease((['mixcoord', 'proxy', 'querynode'] as const).map((component) => ({ component, template: '2.2.16' })));
    expect(() => checkRelease(r, validateFlags({ image: p.hops[0]!.image, targetVersion: undefined, sourceVersion: undefined, mode: 'rolling' }), 'kubectl milvus')).not.toThrow();
  });
});

describe('the hop rules are a table the planner walks (rules.ts)', () => {
  const STREAMING: ComponentName[] = ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode'];
  const on26 = (version: string, extra: Partial<PlanInput> = {}) => helm(version, STREAMING, { chartVersion: '5.0.22', ...extra });

  it('every row has a valid from range, a kind and a documented source; every hop names its row and source', () => {
    for (const r of HOP_RULES) {
      expect(semver.validRange(r.from), r.id).not.toBeNull();
      expect(r.kind).toBeTruthy();
    }
    expect(new Set(HOP_RULES.map((r) => r.id)).size).toBe(HOP_RULES.length);
    const p = planUpgrade(helm('2.1.4', SEPARATE), { to: '3.0.2' });
    expect(p.hops.map((h) => h.rule)).toEqual(['meta-migrate-2.1', 'mixcoord-2.5.16', 'to-2.6', 'to-3.0']);
    for (const h of p.hops) expect(h.source).toMatch(/milvus-io\/web-content v\d\.\d\.x\/site\/en\/adminGuide\/upgrade_milvus_\w+-\w+\.md/);
    expect(p.hops[3]!.source).toBe('milvus-io/web-content v3.0.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md @ececb3397743dd2150ce0553e71b6263f9fa0561');
  });

  it('the dry-run plan cites each hop\'s rule and source, and the way back from 3.0', () => {
    const text = renderPlanTable(planUpgrade(helm('2.5.16'), { to: '3.0.2' }));
    expect(text).toContain('hop-1 rule to-2.6, source: milvus-io/web-content v2.6.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md');
    expect(text).toContain('hop-2 rule to-3.0, source: milvus-io/web-content v3.0.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md @ececb33');
    expect(text).toMatch(/hop-2 way back: .*backup restore-meta r -n ns --from FILE.*milvusdb\/milvus:v2\.6\.20/);
  });

  it.each([
    ['Helm 2.6.22 -> 3.0.2: the 3.0 hop alone', on26('2.6.22'), '3.0.2', ['to-3.0 2.6.22->3.0.2']],
    ['Helm 2.6.20 (the validated source) -> 3.0.0', on26('2.6.20'), '3.0.0', ['to-3.0 2.6.20->3.0.0']],
    ['Helm 2.6.5 -> 3.0.2: first the 2.6 release the guide validated', on26('2.6.5'), '3.0.2', ['rolling 2.6.5->2.6.20', 'to-3.0 2.6.20->3.0.2']],
    ['Helm 2.5.16 with mixcoord -> 3.0.2: 2.6 then 3.0', helm('2.5.16'), '3.0.2', ['to-2.6 2.5.16->2.6.20', 'to-3.0 2.6.20->3.0.2']],
    ['Helm 2.5.10 separate coordinators -> 3.0.2 in three hops', helm('2.5.10', SEPARATE), '3.0.2', ['mixcoord 2.5.10->2.5.16', 'to-2.6 2.5.16->2.6.20', 'to-3.0 2.6.20->3.0.2']],
    ['Operator 2.6.22 -> 3.0.1', operator('2.6.22', STREAMING), '3.0.1', ['to-3.0 2.6.22->3.0.1']],
    ['standalone 2.6.22 -> 3.0.2', helm('2.6.22', ['standalone'], { mode: 'standalone', mq: 'woodpecker', values: { standalone: { messageQueue: 'woodpecker' } }, chartVersion: '5.0.22' }), '3.0.2', ['to-3.0 2.6.22->3.0.2']],
    ['standalone 2.6.5 -> 3.0.2: a restart to 2.6.20 first', helm('2.6.5', ['standalone'], { mode: 'standalone', mq: 'rocksmq', values: {}, chartVersion: '5.0.22' }), '3.0.2', ['restart 2.6.5->2.6.20', 'to-3.0 2.6.20->3.0.2']],
    ['3.0.0 -> 3.0.2: rolling inside 3.0', helm('3.0.0', STREAMING, { chartVersion: '5.0.27' }), '3.0.2', ['rolling 3.0.0->3.0.2']],
  ])('%s', (_t, input, to, want) => {
    expect(hops(input, { to })).toEqual(want);
  });

  it('the Helm 3.0 hop changes the image only, keeps the chart and pins the queue; a metadata snapshot first', () => {
    const [to30] = planUpgrade(on26('2.6.22', { mq: 'pulsar-v3', values: { pulsar: { enabled: false }, pulsarv3: { enabled: true } } }), { to: '3.0.2' }).hops;
    expect(to30!.helm).toEqual({
      chartVersion: '5.0.22',
      sets: [['image.all.repository', 'milvusdb/milvus'], ['image.all.tag', 'v3.0.2'], ['pulsar.enabled', 'false'], ['pulsarv3.enabled', 'true'], ['kafka.enabled', 'false'], ['externalKafka.enabled', 'false'], ['externalPulsar.enabled', 'false'], ['woodpecker.enabled', 'false']],
    });
    expect(to30!.order).toEqual(['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy']);
    expect(to30!.metaSnapshot).toBe(true);
    expect(to30!.wayBack).toContain('backup restore-meta r -n ns');
    // Chained after the 2.6 hop, the 3.0 hop keeps the chart the 2.6 hop installed (--chart-version included).
    const chained = planUpgrade(helm('2.5.16'), { to: '3.0.2', chartVersion: '5.0.25' }).hops;
    expect(chained.map((h) => h.helm!.chartVersion)).toEqual(['5.0.25', '5.0.25']);
  });

  it('the Operator 3.0 hop applies the complete resource with indexNode.replicas 0, never an image-only merge patch', () => {
    const [to30] = planUpgrade(operator('2.6.22', ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode', 'indexnode'], { running: ['proxy', 'mixcoord', 'streamingnode', 'querynode', 'datanode'] }), { to: '3.0.2' }).hops;
    expect(to30!.operatorPatch).toBeUndefined();
    expect(to30!.operatorApply).toEqual({ spec: { components: { image: 'milvusdb/milvus:v3.0.2', indexNode: { replicas: 0 }, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } });
    // The 0-replica indexnode Deployment the operator keeps is not part of the order.
    expect(to30!.order).toEqual(['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy']);
  });

  const refusal = (input: PlanInput, flags: PlanFlags) => {
    try {
      planUpgrade(input, flags);
    } catch (e) {
      return e as CliError;
    }
    throw new Error('planned');
  };

  it.each([
    ['an unknown 3.0 patch', on26('2.6.22'), { to: '3.0.3' }, 2, /unknown Milvus version 3.0.3: the 3.0 releases known to this plugin are 3.0.0 to 3.0.2/],
    ['an unknown line', on26('2.6.22'), { to: '3.1.0' }, 2, /unknown Milvus version 3.1.0/],
    ['an indexnode pod still running', on26('2.6.22', { images: [...STREAMING, 'indexnode' as ComponentName].map((component) => ({ component, image: 'milvusdb/milvus:v2.6.22' })) }), { to: '3.0.2' }, 7, /an indexnode pod still runs/],
    ['no streaming node pod (its Deployment at 0)', on26('2.6.22', { running: ['proxy', 'mixcoord', 'querynode', 'datanode'] }), { to: '3.0.2' }, 7, /no streamingnode pod/],
    ['a chart downgrade is no part of the 3.0 guide', on26('2.6.22', { chartVersion: '5.0.25' }), { to: '3.0.2', chartVersion: '5.0.22' }, 7, /older than the release's chart/],
    ['another chart for the 3.0 hop', on26('2.6.22'), { to: '3.0.2', chartVersion: '5.0.27' }, 7, /keeps the chart installed \(5\.0\.22\)/],
    ['a 2.6 release on a chart that cannot deliver 3.0', on26('2.6.22', { chartVersion: '4.2.58' }), { to: '3.0.2' }, 7, /chart 4.2.58 cannot deliver Milvus 3.0/],
    ['an operator older than the validated one', operator('2.6.22', STREAMING, { operatorVersion: '1.2.9' }), { to: '3.0.2' }, 7, /Operator 1.2.9 is older than 1.3.0/],
    ['an operator message queue it cannot tell', operator('2.6.22', STREAMING, { mq: 'unknown' }), { to: '3.0.2' }, 7, /cannot tell which message queue/],
  ])('refused: %s (one line, exit %#)', (_t, input, flags, code, message) => {
    const e = refusal(input, flags);
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(code);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
  });

  it('3.0 -> 2.6 is refused by default, naming backup restore-meta and the 2.6 image', () => {
    const e = refusal(helm('3.0.2', STREAMING, { chartVersion: '5.0.27' }), { to: '2.6.20' });
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toMatch(/below the running 3.0.2: going back from 3.0 is not an upgrade/);
    expect(e.hint).toContain('kubectl milvus backup restore-meta r -n ns --from FILE');
    expect(e.hint).toContain('milvusdb/milvus:v2.6.20');
  });
});
