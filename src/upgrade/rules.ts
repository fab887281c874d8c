/**
 * The upgrade's hop rules as data: one row per documented step between Milvus versions, as the
 * Milvus Operator keeps its rollout order in one dependency table. The planner (plan.ts) walks the
 * rows from the running version: the first row whose `from` range holds the version reached so far
 * and whose condition holds gives the next hop, after its gates passed; `--dry-run` cites the
 * row's reason and documented source for every hop.
 *
 * Sources are stored copies of the public documentation (milvus-io/web-content) and issues; the
 * 3.0 rows follow the newest stored version of the 3.0 upgrade guides (DOCS_30), which replaced
 * the 3.0-beta version (from 2.5.16 with chart 5.0.0) by an image-only change from 2.6.
 */
import semver from 'semver';
import { preconditionError } from '../errors.js';
import type { ComponentName } from '../release/types.js';
import { MIN_ROLLING, PRE_26, rollingJumpRefusal, type RollingJump } from '../release/version.js';
import { componentOrder } from '../rolling-update/order.js';
import type { Hop, HopKind, PlanInput } from './plan.js';

/** The chart the docs use for the 2.5.16-with-mixcoord step. */
export const CHART_PRE_26 = '4.2.58';
/** The chart the docs use for the 2.6 step (streaming node, indexnode off). */
export const CHART_26 = '5.0.22';
export const MIN_CHART_26 = '5.0.0';
export const MIN_OPERATOR_26 = '1.3.7';
export const LAST_22 = '2.2.16';
/** The 2.6 release the 3.0 guides validated the upgrade from (with chart 5.0.22 / operator 1.3.0). */
export const VALIDATED_30_SOURCE = '2.6.20';
/** The operator version the 3.0 Operator guide validated (it keeps the installed one, never older). */
export const MIN_OPERATOR_30 = '1.3.0';

const WEB = 'milvus-io/web-content';
/** The newest stored version of the 3.0 upgrade guides (2026-07-29, "Release new docs to master"). */
export const DOCS_30_COMMIT = 'ececb3397743dd2150ce0553e71b6263f9fa0561';
const DOCS_AT = '87726919a47f5bdf7139061bebc2091192cb2247';
export const DOCS_30 = {
  helm: `${WEB} v3.0.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md @${DOCS_30_COMMIT}`,
  operator: `${WEB} v3.0.x/site/en/adminGuide/upgrade_milvus_cluster-operator.md @${DOCS_30_COMMIT}`,
  standalone: `${WEB} v3.0.x/site/en/adminGuide/upgrade_milvus_standalone-helm.md and -operator.md @${DOCS_30_COMMIT}`,
};

const COORDS: ComponentName[] = ['rootcoord', 'datacoord', 'querycoord', 'indexcoord'];
export const COORD_VALUES: Record<string, string> = {
  mixcoord: 'mixCoordinator',
  rootcoord: 'rootCoordinator',
  datacoord: 'dataCoordinator',
  querycoord: 'queryCoordinator',
  indexcoord: 'indexCoordinator',
};
/** Required 2.6 order (blog; milvus#42492); indexnode is removed after the last proxy. */
export const ORDER_26: ComponentName[] = ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy'];

/** Where the walk stands: the version and components the hops so far leave. */
export interface Cursor {
  input: PlanInput;
  target: string;
  v: string;
  /** The Milvus Deployments after the hops so far. */
  comps: ComponentName[];
  /** Components with pods running after the hops so far (at the start: from the pods, never the templates). */
  running: ComponentName[];
  /** Helm: the chart after the hops so far. */
  chart: string | undefined;
  /** --chart-version, checked. */
  chartFlag: string | undefined;
  /** Helm: the message-queue values every hop sets as they are now. */
  pins: Array<[string, string]>;
  repository: string;
}

/** What a row's builder gives; the walk adds id, kind, versions, image, reason and source. */
export type HopBody = Pick<Hop, 'order' | 'adds' | 'removes'> & Partial<Pick<Hop, 'downtime' | 'helm' | 'operatorPatch' | 'operatorApply' | 'metaSnapshot' | 'wayBack'>>;

export interface HopRule {
  id: string;
  kind: HopKind;
  /** The versions the hop may start from (a semver range). */
  from: string;
  /** The rest of the condition (mode, topology, target). */
  when?: (c: Cursor) => boolean;
  /** The version the hop reaches. */
  to: (c: Cursor) => string;
  /** Refusals (exit 7, with what to do) before the hop is planned. */
  gates: Array<(c: Cursor, to: string) => void>;
  reason: (c: Cursor, to: string) => string;
  /** The documented source of the rule. */
  source: (c: Cursor) => string;
  build: (c: Cursor, to: string) => HopBody;
}

const lt = (a: string, b: string) => semver.lt(a, b);
const gte = (a: string, b: string) => semver.gte(a, b);
const standalone = (c: Cursor) => c.input.mode === 'standalone';
const helmRelease = (c: Cursor) => c.input.method === 'helm';
const image = (c: Cursor, v: string) => `${c.repository}:v${v}`;
const imageSets = (c: Cursor, v: string): Array<[string, string]> => [['image.all.repository', c.repository], ['image.all.tag', `v${v}`]];
const standbySets = (cs: ComponentName[]): Array<[string, string]> => cs.filter((x) => COORD_VALUES[x]).map((x) => [`${COORD_VALUES[x]}.activeStandby.enabled`, 'true']);
const ordered = (cs: ComponentName[], o: { fromVersion?: string; toVersion?: string } = {}) => componentOrder(cs.map((component) => ({ component })), o).filter((x) => cs.includes(x));
/** The 2.6 release a hop into 2.6 reaches: the target when it is 2.6, else the one the 3.0 guides start from. */
const to26 = (c: Cursor) => (semver.major(c.target) === 2 ? c.target : VALIDATED_30_SOURCE);

/** A hop that rolls must be a jump the one rule allows (the same rule rolling-update applies). */
export function mustRoll(j: RollingJump): void {
  const refusal = rollingJumpRefusal(j);
  if (refusal) throw preconditionError(refusal.reason, refusal.remedy);
}

function restartBody(c: Cursor, to: string, chartVersion: string | undefined): HopBody {
  return {
    downtime: standalone(c) ? 'standalone Milvus runs in one pod: it is unavailable while the pod is replaced' : `Milvus ${c.v} has no active-standby coordinators (rolling needs ${MIN_ROLLING}): every component restarts at once`,
    order: standalone(c) ? c.comps : ordered(c.comps),
    adds: [],
    removes: [],
    ...(helmRelease(c) ? { helm: { chartVersion, sets: [...imageSets(c, to), ...c.pins] } } : { operatorPatch: { spec: { components: { image: image(c, to) } } } }),
  };
}

function rollingBody(c: Cursor, to: string, chartVersion: string | undefined): HopBody {
  return {
    order: ordered(c.comps, { fromVersion: c.v, toVersion: to }),
    adds: [],
    removes: [],
    ...(helmRelease(c)
      ? { helm: { chartVersion, sets: [...imageSets(c, to), ...standbySets(c.comps), ...c.pins] } }
      : { operatorPatch: { spec: { components: { image: image(c, to), enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } } }),
  };
}

/** The chart a hop into 2.6 uses: --chart-version, else the one the 2.6 guide uses. */
const chart26 = (c: Cursor) => (helmRelease(c) ? c.chartFlag ?? CHART_26 : undefined);
const chartPre26 = (c: Cursor) => (helmRelease(c) ? (c.chart && gte(c.chart, CHART_PRE_26) ? c.chart : CHART_PRE_26) : undefined);

/**
 * The 3.0 topology gate, from what runs: mixcoord and a streaming node with pods, no indexnode pod
 * (3.0 guides, "Confirm the current topology"). Shared by the planner and the hop's checks on every
 * run. Undefined when the release may go to 3.0.
 */
export function topology30Refusal(running: readonly ComponentName[], mode: PlanInput['mode']): { reason: string; remedy: string } | undefined {
  if (mode === 'standalone') return undefined;
  const missing = (['mixcoord', 'streamingnode'] as const).filter((x) => !running.includes(x));
  if (missing.length) {
    return {
      reason: `Milvus 3.0 is reached from the 2.6 topology, and no ${missing.join(' or ')} pod runs: the 3.0 guide changes only the image of a release running mixcoord and a streaming node`,
      remedy: 'bring the release to the 2.6 topology first (mixcoord and streaming node running, e.g. "upgrade --to 2.6.x" from 2.5), check "kubectl get pods", then rerun',
    };
  }
  if (running.includes('indexnode')) {
    return {
      reason: 'an indexnode pod still runs: the 3.0 guide upgrades only a release with no IndexNode (its values keep the topology as it is)',
      remedy: 'remove indexnode first: Helm "helm upgrade RELEASE zilliztech/milvus --reuse-values --set indexNode.enabled=false"; Operator spec.components.indexNode.replicas: 0; then rerun',
    };
  }
  return undefined;
}

function gate30Topology(c: Cursor): void {
  const r = topology30Refusal(c.running, c.input.mode);
  if (r) throw preconditionError(r.reason, r.remedy);
}

function gate30MessageQueue(c: Cursor): void {
  // Helm: mqPins refused an unknown queue already; the Operator keeps spec.dependencies as they are, but must know what to check.
  if (c.input.mq === 'unknown') {
    throw preconditionError(`cannot tell which message queue release "${c.input.release}" uses: the 3.0 guide requires keeping it exactly as it is`, 'look at the release (status) and set its message queue explicitly first');
  }
}

function gate30Chart(c: Cursor): void {
  if (!helmRelease(c)) return;
  if (!c.chart || lt(c.chart, MIN_CHART_26)) {
    throw preconditionError(
      `chart ${c.chart ?? '(unknown)'} cannot deliver Milvus 3.0: the 3.0 guide keeps the chart of a 2.6 release (chart ${MIN_CHART_26} or later, validated with ${CHART_26})`,
      `bring the release to chart ${CHART_26} with Milvus 2.6 first ("upgrade --to ${VALIDATED_30_SOURCE} --chart-version ${CHART_26}")`,
    );
  }
  if (c.chartFlag && c.chart !== c.chartFlag) {
    throw preconditionError(`--chart-version ${c.chartFlag}: the 3.0 guide keeps the chart installed (${c.chart}) and changes only the image`, `leave --chart-version out (the 3.0 hop uses chart ${c.chart})`);
  }
}

function gate30Operator(c: Cursor): void {
  if (c.input.method !== 'operator') return;
  const ov = c.input.operatorVersion ? semver.valid(semver.coerce(c.input.operatorVersion)) : null;
  if (!ov) throw preconditionError(`cannot tell the Milvus Operator version: the 3.0 guide was validated with operator ${MIN_OPERATOR_30} and keeps the installed one`, 'check "kubectl get deploy -A -l app.kubernetes.io/name=milvus-operator"');
  if (lt(ov, MIN_OPERATOR_30)) throw preconditionError(`Milvus Operator ${ov} is older than ${MIN_OPERATOR_30}, the version the 3.0 guide was validated with`, 'upgrade the operator first (helm -n milvus-operator upgrade milvus-operator zilliztech-milvus-operator/milvus-operator)');
}

/** The way back from a 3.0 hop, told in the plan before it starts. */
export function wayBackFrom30(c: Pick<Cursor, 'input' | 'repository'>, from: string, commandPrefix = 'kubectl milvus'): string {
  const { release, namespace } = c.input;
  return `the way back to ${from} is the metadata snapshot this hop takes first, not an image change (the 3.0 guide did not validate an image-only rollback): stop Milvus, "${commandPrefix} backup restore-meta ${release} -n ${namespace} --from FILE" (FILE: "${commandPrefix} backup list ${release} -n ${namespace}"), then run the 2.6 image ${c.repository}:v${from}`;
}

/** The rows, walked in order: the first that applies gives the next hop. */
export const HOP_RULES: readonly HopRule[] = [
  {
    id: 'meta-migrate-2.1',
    kind: 'meta-migrate',
    from: '>=2.1.0 <2.2.0',
    to: (c) => (lt(c.target, '2.3.0') ? c.target : LAST_22),
    gates: [],
    reason: (c) => `Milvus ${c.v} keeps its metadata in the 2.1 format: it must be migrated to 2.2 before any newer image starts ("collection not exist" otherwise, milvus#20199)`,
    source: () => `${WEB} v2.2.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md ("Migrate the metadata") @${DOCS_AT}; milvus#20199`,
    build: (c, to) => ({
      downtime: 'Milvus is stopped from the stop step until it starts on the new version (metadata backup and migration run in between)',
      order: c.comps,
      adds: [],
      removes: [],
      ...(helmRelease(c) ? { helm: { chartVersion: undefined, sets: [...imageSets(c, to), ...c.pins] } } : {}),
    }),
  },
  {
    id: 'standalone-2.5.16',
    kind: 'restart',
    from: `>=2.2.0 <${PRE_26}`,
    when: (c) => standalone(c) && gte(c.target, '2.6.0'),
    to: () => PRE_26,
    gates: [],
    reason: () => `2.6 needs ${PRE_26} or later first (docs: upgrade_milvus_standalone-helm/operator, v2.6.x)`,
    source: () => `${WEB} v2.6.x/site/en/adminGuide/upgrade_milvus_standalone-helm.md @${DOCS_AT}`,
    build: (c, to) => restartBody(c, to, chartPre26(c)),
  },
  {
    id: 'mixcoord-2.5.16',
    kind: 'mixcoord',
    from: '>=2.2.0 <2.6.0',
    when: (c) => !standalone(c) && gte(c.target, '2.6.0') && (lt(c.v, PRE_26) || !c.comps.includes('mixcoord')),
    to: (c) => (gte(c.v, PRE_26) ? c.v : PRE_26),
    gates: [(c, to) => lt(c.v, MIN_ROLLING) || mustRoll({ from: c.v, to, components: afterMixcoord(c.comps) })],
    reason: () => `2.6 needs ${PRE_26} or later running mixcoord first (docs: upgrade_milvus_cluster-helm.md v2.6.x; keep the same message queue)`,
    source: () => `${WEB} v2.6.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md (chart ${CHART_PRE_26}) @${DOCS_AT}`,
    build: (c, to) => {
      const hasMix = c.comps.includes('mixcoord');
      const after = afterMixcoord(c.comps);
      const removes = c.comps.filter((x) => COORDS.includes(x));
      // Helm creates mixcoord (and deletes the separate coordinators) in the hop's helm upgrade: it comes first.
      const order = hasMix || !helmRelease(c) ? ordered(after) : (['mixcoord', ...ordered(after).filter((x) => x !== 'mixcoord')] as ComponentName[]);
      const below = lt(c.v, MIN_ROLLING);
      return {
        ...(below
          ? { downtime: `Milvus ${c.v} has no active-standby coordinators: every component restarts at once` }
          : !hasMix
            ? { downtime: `the separate coordinators (${removes.join(', ')}) are replaced by mixcoord: coordination pauses until mixcoord is ready` }
            : {}),
        order,
        adds: hasMix ? [] : ['mixcoord'],
        removes,
        ...(helmRelease(c)
          ? {
              helm: {
                chartVersion: chartPre26(c),
                sets: [
                  ...imageSets(c, to),
                  ['mixCoordinator.enabled', 'true'],
                  ...COORDS.map((x): [string, string] => [`${COORD_VALUES[x]}.enabled`, 'false']),
                  ...(below ? [] : ([['mixCoordinator.activeStandby.enabled', 'true']] as Array<[string, string]>)),
                  ...c.pins,
                ],
              },
            }
          : { operatorPatch: { spec: { components: { image: image(c, to), ...(below ? {} : { enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' }), ...(hasMix ? {} : { mixCoord: { replicas: 1 } }) } } } }),
      };
    },
  },
  {
    id: 'to-2.6-standalone',
    kind: 'restart',
    from: `>=${PRE_26} <2.6.0`,
    when: (c) => standalone(c) && gte(c.target, '2.6.0'),
    to: to26,
    gates: [],
    reason: () => 'Milvus 2.6 (chart 5): standalone keeps its message queue pinned (chart 5 defaults standalone to woodpecker)',
    source: () => `${WEB} v2.6.x/site/en/adminGuide/upgrade_milvus_standalone-helm.md @${DOCS_AT}; milvus#52475`,
    build: (c, to) => restartBody(c, to, chart26(c)),
  },
  {
    id: 'to-2.6',
    kind: 'to-2.6',
    from: `>=${PRE_26} <2.6.0`,
    when: (c) => !standalone(c) && gte(c.target, '2.6.0'),
    to: to26,
    gates: [(c, to) => mustRoll({ from: c.v, to, components: after26(c.comps) })],
    reason: () => 'the 2.6 architecture: streaming node first, then mixcoord, querynode, datanode, proxy; indexnode removed at the end (Milvus blog 2025-12-25; milvus#42492)',
    source: () => `${WEB} v2.6.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md (chart ${CHART_26}) @${DOCS_AT}; Milvus blog 2025-12-25; milvus#42492, PR#42082`,
    build: (c, to) => {
      const had = c.comps;
      const core: Array<[string, string]> = [...imageSets(c, to), ['streaming.enabled', 'true']];
      const tail: Array<[string, string]> = [['mixCoordinator.enabled', 'true'], ['mixCoordinator.activeStandby.enabled', 'true'], ...c.pins];
      return {
        downtime: 'writes are refused from the first 2.6 component until every proxy runs 2.6 (the WAL is read-only while any node runs 2.5: milvus PR#42082); flush is unavailable from the datanode step on',
        order: after26(had),
        adds: had.includes('streamingnode') ? [] : ['streamingnode'],
        removes: had.includes('indexnode') ? ['indexnode'] : [],
        ...(helmRelease(c)
          ? { helm: { chartVersion: chart26(c), sets: [...core, ['indexNode.enabled', String(had.includes('indexnode'))], ...tail], finalSets: [...core, ['indexNode.enabled', 'false'], ...tail] } }
          : { operatorPatch: { spec: { components: { image: image(c, to), enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } } }),
      };
    },
  },
  {
    id: 'to-2.6.20-standalone',
    kind: 'restart',
    from: `>=2.6.0 <${VALIDATED_30_SOURCE}`,
    when: (c) => standalone(c) && gte(c.target, '3.0.0'),
    to: () => VALIDATED_30_SOURCE,
    gates: [],
    reason: () => `the 3.0 guide was validated from ${VALIDATED_30_SOURCE}: standalone goes there first`,
    source: () => DOCS_30.standalone,
    build: (c, to) => restartBody(c, to, undefined),
  },
  {
    id: 'to-2.6.20',
    kind: 'rolling',
    from: `>=2.6.0 <${VALIDATED_30_SOURCE}`,
    when: (c) => gte(c.target, '3.0.0'),
    to: () => VALIDATED_30_SOURCE,
    gates: [(c, to) => mustRoll({ from: c.v, to, components: c.comps })],
    reason: () => `the 3.0 guide was validated from Milvus ${VALIDATED_30_SOURCE}: a rolling update inside 2.6 to it first`,
    source: (c) => (helmRelease(c) ? DOCS_30.helm : DOCS_30.operator),
    build: (c, to) => rollingBody(c, to, undefined),
  },
  {
    id: 'to-3.0',
    kind: 'to-3.0',
    from: `>=${VALIDATED_30_SOURCE} <3.0.0`,
    when: (c) => gte(c.target, '3.0.0'),
    to: (c) => c.target,
    gates: [gate30Topology, gate30MessageQueue, gate30Chart, gate30Operator],
    reason: (c) =>
      helmRelease(c)
        ? `Milvus 3.0 from 2.6: the image only, the chart kept (${c.chart ?? 'installed'}) with the release's values and the message queue pinned; a metadata snapshot first (the only way back)`
        : 'Milvus 3.0 from 2.6: the complete Milvus resource applied with the new image and indexNode.replicas 0 (an image-only merge patch can re-enable zero-replica components); a metadata snapshot first (the only way back)',
    source: (c) => (standalone(c) ? DOCS_30.standalone : helmRelease(c) ? DOCS_30.helm : DOCS_30.operator),
    build: (c, to) => {
      const comps = c.comps.filter((x) => x !== 'indexnode');
      return {
        ...(standalone(c) ? { downtime: 'standalone Milvus runs in one pod: it is unavailable while the pod is replaced' } : {}),
        order: standalone(c) ? comps : ordered(comps, { fromVersion: c.v, toVersion: to }),
        adds: [],
        removes: [],
        metaSnapshot: true,
        wayBack: wayBackFrom30(c, c.v),
        ...(helmRelease(c)
          ? { helm: { chartVersion: c.chart, sets: [...imageSets(c, to), ...c.pins] } }
          : { operatorApply: { spec: { components: { image: image(c, to), ...(standalone(c) ? {} : { indexNode: { replicas: 0 }, enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' }) } } } }),
      };
    },
  },
  {
    id: 'restart',
    kind: 'restart',
    from: '>=2.2.0',
    when: (c) => standalone(c) || rollingJumpRefusal({ from: c.v, to: c.target, components: c.comps })?.code === 'below-rolling',
    to: (c) => c.target,
    gates: [],
    reason: (c) => (standalone(c) ? 'standalone: one pod, replaced with the new image' : `Milvus ${c.v} is below ${MIN_ROLLING}: an image change with a restart`),
    source: () => `${WEB} v2.5.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md ("Upgrade Milvus using Helm": before v${MIN_ROLLING}) @${DOCS_AT}`,
    build: (c, to) => restartBody(c, to, c.chartFlag),
  },
  {
    id: 'rolling',
    kind: 'rolling',
    from: `>=${MIN_ROLLING}`,
    to: (c) => c.target,
    gates: [(c, to) => mustRoll({ from: c.v, to, components: c.comps })],
    reason: (c, to) => `Milvus ${c.v} -> ${to} is a documented rolling upgrade ("from v${MIN_ROLLING} or later", upgrade guides v2.3.x-v2.5.x): one component at a time with active-standby coordinators`,
    source: () => `${WEB} v2.5.x/site/en/adminGuide/upgrade_milvus_cluster-helm.md ("Conduct a rolling upgrade") @${DOCS_AT}`,
    build: (c, to) => rollingBody(c, to, c.chartFlag),
  },
];

function afterMixcoord(comps: ComponentName[]): ComponentName[] {
  return comps.includes('mixcoord') ? comps : [...comps.filter((x) => !COORDS.includes(x)), 'mixcoord'];
}

function after26(comps: ComponentName[]): ComponentName[] {
  return ORDER_26.filter((x) => x === 'streamingnode' || comps.includes(x));
}

/** The components with pods after a hop: what it keeps or adds, without what it removes. */
export function runningAfter(running: ComponentName[], hop: Pick<Hop, 'order' | 'adds' | 'removes'>): ComponentName[] {
  return [...new Set([...running.filter((x) => !hop.removes.includes(x)), ...hop.adds, ...hop.order.filter((x) => x !== 'indexnode' || running.includes(x))])];
}
