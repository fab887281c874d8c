/**
 * The upgrade planner (pure: no I/O). From what `status` reads about a release (discovery) and the
 * flags, it plans the chain of hops from the running version to the target, each with its reason:
 *
 * - 2.1.x: the metadata must be migrated to 2.2 first (meta-migrate; Milvus is stopped meanwhile);
 * - below 2.2.3: an image change with a restart (no active-standby coordinators: downtime);
 * - 2.2.3 and later: a rolling update, one component at a time;
 * - to 2.6: first >= 2.5.16 with mixcoord (docs: upgrade_milvus_cluster-helm.md v2.6.x, chart
 *   4.2.58), then the 2.6 hop in the order streaming node -> mixcoord -> querynode -> datanode ->
 *   proxy (Milvus blog 2025-12-25, milvus#42492), then indexnode removed; writes are refused
 *   until every proxy runs 2.6 (milvus PR#42082).
 *
 * It refuses, with the documented remedy where one exists: a 2.6.0-rc1 source (milvus#43538), a
 * target below the source (and says when the way back crosses a metadata change), an unknown
 * version, a chart that cannot deliver the target, an operator too old for 2.6 (docs: >= 1.3.7),
 * a message queue it cannot tell (it would not know what to keep).
 */
import semver from 'semver';
import { preconditionError, usageError } from '../errors.js';
import { unsettledChange } from '../release/discover.js';
import type { ComponentName, InstallMethod, MessageQueue, Mode, Release } from '../release/types.js';
import { MIN_ROLLING, PRE_26, rollingJumpRefusal, type RollingJump } from '../release/version.js';
import { componentOrder } from '../rolling-update/order.js';
import { getPath, type Values } from '../util/values.js';

/** The last release of each closed line; lines not listed here are open (any patch). */
export const LAST_PATCH: Readonly<Record<string, number>> = { '2.1': 4, '2.2': 16 };
export const KNOWN_LINES = ['2.1', '2.2', '2.3', '2.4', '2.5', '2.6'] as const;
export { MIN_ROLLING, PRE_26 };
/** The chart the docs use for the 2.5.16-with-mixcoord step. */
export const CHART_PRE_26 = '4.2.58';
/** The chart the docs use for the 2.6 step (streaming node, indexnode off). */
export const CHART_26 = '5.0.22';
export const MIN_CHART_26 = '5.0.0';
export const MIN_OPERATOR_26 = '1.3.7';
const LAST_22 = '2.2.16';

export type HopKind = 'meta-migrate' | 'restart' | 'rolling' | 'mixcoord' | 'to-2.6';

const COORDS: ComponentName[] = ['rootcoord', 'datacoord', 'querycoord', 'indexcoord'];
const COORD_VALUES: Record<string, string> = {
  mixcoord: 'mixCoordinator',
  rootcoord: 'rootCoordinator',
  datacoord: 'dataCoordinator',
  querycoord: 'queryCoordinator',
  indexcoord: 'indexCoordinator',
};
/** Required 2.6 order (blog; milvus#42492); indexnode is removed after the last proxy. */
export const ORDER_26: ComponentName[] = ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy'];

/** Values that choose the message queue: pinned to what they are now, in every hop (chart 4 -> 5 changes defaults). */
export const MQ_KEYS = ['pulsar.enabled', 'pulsarv3.enabled', 'kafka.enabled', 'externalKafka.enabled', 'externalPulsar.enabled', 'woodpecker.enabled'] as const;

export interface PlanInput {
  release: string;
  namespace: string;
  method: InstallMethod;
  mode: Mode;
  /**
   * What runs: every distinct image of each component's pods (a component with no pod: its
   * template's image, what it starts with). Never the template alone: a decision rests on what runs.
   */
  images: Array<{ component: ComponentName; image: string | undefined }>;
  /** Components whose pods could not be read (their version is unknown). */
  unread?: ComponentName[] | undefined;
  /** Deployments whose template and pods disagree, or whose rollout is paused: a change half done. */
  unsettled?: string[] | undefined;
  /** Unfinished procedures of this plugin recorded for the release (their checkpoints). */
  recorded?: string[] | undefined;
  mq: MessageQueue;
  /** Helm: chart version and computed values (chart defaults + user values). */
  chartVersion?: string | undefined;
  values?: Values | undefined;
  /** Operator: the Milvus Operator version, when it could be read. */
  operatorVersion?: string | undefined;
}

export interface PlanFlags {
  to: string;
  chartVersion?: string | undefined;
  image?: string | undefined;
}

export interface HelmHopValues {
  chartVersion: string | undefined;
  /** --set pairs of the hop's helm upgrade, in order. */
  sets: Array<[string, string]>;
  /** The 2.6 hop: the second helm upgrade that removes indexnode. */
  finalSets?: Array<[string, string]>;
}

export interface Hop {
  id: string;
  kind: HopKind;
  from: string;
  to: string;
  image: string;
  reason: string;
  /** What is unavailable while the hop runs, when something is. */
  downtime?: string;
  /** Components after the hop, in update order. */
  order: ComponentName[];
  adds: ComponentName[];
  removes: ComponentName[];
  helm?: HelmHopValues;
  /** Operator: the merge patch of the Milvus resource (not for meta-migrate). */
  operatorPatch?: Record<string, unknown>;
}

export interface UpgradePlan {
  release: string;
  namespace: string;
  method: InstallMethod;
  mode: Mode;
  source: string;
  target: string;
  repository: string;
  mq: MessageQueue;
  /** Helm: the message-queue values every hop sets explicitly. */
  pins: Array<[string, string]>;
  hops: Hop[];
}

/** X.Y.Z (a leading v allowed) of a known release line; exit 2 otherwise. */
export function parseTarget(v: string): string {
  const s = semver.valid(v.trim().replace(/^v/, ''));
  if (!s || !/^v?\d+\.\d+\.\d+$/.test(v.trim())) throw usageError(`invalid --to "${v}": use a Milvus release X.Y.Z, e.g. 2.6.5`);
  const line = `${semver.major(s)}.${semver.minor(s)}`;
  if (!(KNOWN_LINES as readonly string[]).includes(line) || (LAST_PATCH[line] !== undefined && semver.patch(s) > LAST_PATCH[line]!)) {
    throw usageError(`unknown Milvus version ${s}: known release lines are ${KNOWN_LINES.join(', ')} (2.1 ends at 2.1.${LAST_PATCH['2.1']}, 2.2 at 2.2.${LAST_PATCH['2.2']})`);
  }
  return s;
}

const line = (v: string) => `${semver.major(v)}.${semver.minor(v)}`;
const lt = (a: string, b: string) => semver.lt(a, b);
const gte = (a: string, b: string) => semver.gte(a, b);

function tagOf(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const ref = image.split('@')[0]!;
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : undefined;
}

export function repositoryOf(image: string): string {
  const ref = image.split('@')[0]!;
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
}

/** The facts the planner needs, from a discovered release (pure); `recorded`: unfinished procedures of the release. */
export function planInput(r: Release, operatorVersion?: string, recorded?: string[]): PlanInput {
  const unread = r.components.filter((c) => c.runningImages === undefined).map((c) => c.component);
  return {
    release: r.name,
    namespace: r.namespace,
    method: r.method,
    mode: r.mode,
    images: r.components.flatMap((c) => (c.runningImages?.length ? c.runningImages : [c.image]).map((image) => ({ component: c.component, image }))),
    ...(unread.length ? { unread } : {}),
    unsettled: r.components.map(unsettledChange).filter((x): x is string => x !== undefined),
    ...(recorded?.length ? { recorded } : {}),
    mq: r.mq,
    chartVersion: r.helm?.chartVersion,
    values: r.helm?.computedValues,
    operatorVersion,
  };
}

function versionOf(image: string | undefined): string | undefined {
  const m = /^v?(\d+\.\d+\.\d+)/.exec(tagOf(image) ?? '');
  return m ? m[1] : undefined;
}

/** The message-queue switches as they are now (absent keys: off), and the standalone queue. */
export function mqPins(input: PlanInput): Array<[string, string]> {
  if (input.mq === 'unknown') {
    throw preconditionError(
      `cannot tell which message queue release "${input.release}" uses: an upgrade must keep it exactly as it is`,
      'set the message-queue values explicitly (e.g. pulsarv3.enabled=true) with helm upgrade first, then rerun',
    );
  }
  const pins: Array<[string, string]> = MQ_KEYS.map((k) => [k, String(getPath(input.values, k) === true || getPath(input.values, k) === 'true')]);
  if (input.mode === 'standalone') {
    const q = getPath(input.values, 'standalone.messageQueue');
    pins.push(['standalone.messageQueue', typeof q === 'string' && q ? q : input.mq === 'rocksmq' ? 'rocksmq' : input.mq]);
  }
  return pins;
}

function checkChart(flag: string | undefined, target: string, current: string | undefined): string | undefined {
  if (flag === undefined) return undefined;
  const v = semver.valid(flag.replace(/^v/, ''));
  if (!v) throw usageError(`invalid --chart-version "${flag}": use X.Y.Z, e.g. ${CHART_26}`);
  if (gte(target, '2.6.0') && lt(v, MIN_CHART_26)) {
    throw preconditionError(`chart ${v} cannot deliver Milvus ${target}: 2.6 needs chart ${MIN_CHART_26} or later (streaming node, no indexnode)`, `use --chart-version ${CHART_26}, or leave it out`);
  }
  if (lt(target, '2.6.0') && gte(v, MIN_CHART_26)) {
    throw preconditionError(`chart ${v} cannot deliver Milvus ${target}: chart 5 deploys Milvus 2.6 (streaming node on, indexnode off)`, `use a 4.x chart (e.g. ${CHART_PRE_26}), or leave --chart-version out`);
  }
  const cur = current ? semver.valid(semver.coerce(current)) : null;
  if (cur && lt(v, cur)) throw preconditionError(`--chart-version ${v} is older than the release's chart ${cur}: the chart is never downgraded by an upgrade`);
  return v;
}

/** A hop that rolls must be a jump the one rule allows (the same rule rolling-update applies). */
function mustRoll(j: RollingJump): void {
  const refusal = rollingJumpRefusal(j);
  if (refusal) throw preconditionError(refusal.reason, refusal.remedy);
}

/** Plans the chain of hops; throws a CliError (exit 2 or 7) for what it refuses. */
export function planUpgrade(input: PlanInput, flags: PlanFlags): UpgradePlan {
  const target = parseTarget(flags.to);
  if (input.method === 'operator' && flags.chartVersion !== undefined) throw usageError('--chart-version applies to Helm releases; the Milvus Operator has no chart to choose');
  if (input.images.length === 0) throw preconditionError(`release "${input.release}" has no Milvus Deployments in namespace "${input.namespace}"`);
  const rc = input.images.find((i) => /^v?2\.6\.0-rc/i.test(tagOf(i.image) ?? ''));
  if (rc) {
    throw preconditionError(
      `${rc.component} runs ${rc.image}: 2.6.0-rc1 is incompatible with later 2.6 releases and cannot be upgraded in place (milvus#43538)`,
      'the documented remedy: run birdwatcher "repair wal-recovery-storage" against the release etcd, then upgrade (https://github.com/milvus-io/milvus/issues/43538)',
    );
  }
  if (input.unread?.length) {
    throw preconditionError(`cannot tell what release "${input.release}" runs: the pods of ${[...new Set(input.unread)].join(', ')} could not be read`, 'grant "list" on pods and replicasets.apps in the namespace: the version an upgrade starts from is what the pods run');
  }
  const versions = [...new Set(input.images.map((i) => versionOf(i.image)))];
  if (versions.some((v) => v === undefined)) {
    const bad = input.images.filter((i) => !versionOf(i.image)).map((i) => `${i.component} (${i.image ?? 'no image'})`);
    throw preconditionError(`cannot tell the running Milvus version from the image tags of ${bad.join(', ')}`, 'tag the images with the Milvus version (vX.Y.Z)');
  }
  // A half-done change (mixed versions, pods behind their template, a paused rollout) has no one
  // source version: never "nothing to do", never a plan from the template's version.
  const unsettled = input.unsettled ?? [];
  if (versions.length > 1 || unsettled.length) {
    const byComponent = [...new Set(input.images.map((i) => i.component))].map((c) => `${c} ${[...new Set(input.images.filter((i) => i.component === c).map((i) => versionOf(i.image)))].join(' and ')}`);
    const what = versions.length > 1 ? `runs different versions (${byComponent.join(', ')})` : `is in the middle of a change`;
    throw preconditionError(
      `release "${input.release}" ${what}: an update is in progress or was left half done${unsettled.length ? ` (${unsettled.join('; ')})` : ''}`,
      input.recorded?.length
        ? `recorded: ${input.recorded.join('; ')}. Continue it with its --resume (not --restart), which follows its plan to the end`
        : 'finish or undo it first (kubectl rollout status / resume / undo), then rerun',
    );
  }
  const source = versions[0]!;
  if (!(KNOWN_LINES as readonly string[]).includes(line(source))) {
    throw preconditionError(`the running Milvus ${source} is not a release this plugin can upgrade (known lines: ${KNOWN_LINES.join(', ')})`);
  }
  const repository = flags.image ? repositoryOf(flags.image) : repositoryOf(input.images[0]!.image!);
  if (flags.image) {
    const t = versionOf(flags.image);
    if (tagOf(flags.image) && t !== target) throw usageError(`--image ${flags.image} is not Milvus ${target}: give the repository only (the tag of each hop is v<version>) or the target's tag`);
  }
  if (lt(target, source)) {
    if (lt(target, '2.2.0') && gte(source, '2.2.0')) {
      throw preconditionError(
        `the target ${target} is below the running ${source} and across the 2.2 metadata change: 2.1 cannot read 2.2 metadata`,
        `if this release was migrated by meta-migrate, restore its metadata backup: kubectl milvus meta-migrate ${input.release} -n ${input.namespace} --operation rollback -s ${target} -t <2.2 version migrated to>`,
      );
    }
    if (lt(target, '2.6.0') && gte(source, '2.6.0')) {
      throw preconditionError(
        `the target ${target} is below the running ${source} and across the 2.6 change (streaming WAL, mixcoord): there is no documented way back`,
        'restore a data backup (milvus-backup) into a new release of the old version',
      );
    }
    throw preconditionError(`the target ${target} is below the running ${source}: upgrade only goes forward`, `to go back within the same metadata format: kubectl milvus rolling-update ${input.release} -n ${input.namespace} --image ${repository}:v${target} --mode downgrade`);
  }
  const chartFlag = input.method === 'helm' ? checkChart(flags.chartVersion, target, input.chartVersion) : undefined;
  if (input.method === 'operator' && gte(target, '2.6.0') && lt(source, '2.6.0')) {
    const ov = input.operatorVersion ? semver.valid(semver.coerce(input.operatorVersion)) : null;
    if (!ov) throw preconditionError('cannot tell the Milvus Operator version (deployment milvus-operator not found or its image has no version tag): 2.6 needs operator >= 1.3.7', 'check "kubectl get deploy -A -l app.kubernetes.io/name=milvus-operator"');
    if (lt(ov, MIN_OPERATOR_26)) throw preconditionError(`Milvus Operator ${ov} cannot deliver Milvus 2.6: it needs ${MIN_OPERATOR_26} or later`, 'upgrade the operator first (helm -n milvus-operator upgrade milvus-operator zilliztech-milvus-operator/milvus-operator)');
  }
  const pins = input.method === 'helm' ? mqPins(input) : [];

  const hops: Hop[] = [];
  let v = source;
  let comps = [...new Set(input.images.map((i) => i.component))];
  const standalone = input.mode === 'standalone';
  const currentChart = input.chartVersion ? semver.valid(semver.coerce(input.chartVersion)) ?? undefined : undefined;
  const image = (ver: string) => `${repository}:v${ver}`;
  const add = (h: Omit<Hop, 'id' | 'image'>) => {
    hops.push({ id: `hop-${hops.length + 1}`, image: image(h.to), ...h });
    v = h.to;
  };
  const standbySets = (cs: ComponentName[]): Array<[string, string]> => cs.filter((c) => COORD_VALUES[c]).map((c) => [`${COORD_VALUES[c]}.activeStandby.enabled`, 'true']);
  const imageSets = (ver: string): Array<[string, string]> => [['image.all.repository', repository], ['image.all.tag', `v${ver}`]];
  const restart = (to: string, why: string, chartVersion: string | undefined, extra: Partial<Hop> = {}) =>
    add({
      kind: 'restart',
      from: v,
      to,
      reason: why,
      downtime: standalone ? 'standalone Milvus runs in one pod: it is unavailable while the pod is replaced' : `Milvus ${v} has no active-standby coordinators (rolling needs ${MIN_ROLLING}): every component restarts at once`,
      order: standalone ? comps : componentOrder(comps.map((c) => ({ component: c })), {}).filter((c) => comps.includes(c)),
      adds: [],
      removes: [],
      ...(input.method === 'helm' ? { helm: { chartVersion, sets: [...imageSets(to), ...pins] } } : { operatorPatch: { spec: { components: { image: image(to) } } } }),
      ...extra,
    });
  const rolling = (to: string, why: string, chartVersion: string | undefined) => {
    const order = componentOrder(comps.map((c) => ({ component: c })), { fromVersion: v, toVersion: to }).filter((c) => comps.includes(c));
    add({
      kind: 'rolling',
      from: v,
      to,
      reason: why,
      order,
      adds: [],
      removes: [],
      ...(input.method === 'helm'
        ? { helm: { chartVersion, sets: [...imageSets(to), ...standbySets(comps), ...pins] } }
        : { operatorPatch: { spec: { components: { image: image(to), enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } } }),
    });
  };

  if (line(v) === '2.1' && lt(v, target)) {
    const to = lt(target, '2.3.0') ? target : LAST_22;
    add({
      kind: 'meta-migrate',
      from: v,
      to,
      reason: `Milvus ${v} keeps its metadata in the 2.1 format: it must be migrated to 2.2 before any newer image starts ("collection not exist" otherwise, milvus#20199)`,
      downtime: 'Milvus is stopped from the stop step until it starts on the new version (metadata backup and migration run in between)',
      order: comps,
      adds: [],
      removes: [],
      ...(input.method === 'helm' ? { helm: { chartVersion: undefined, sets: [...imageSets(to), ...pins] } } : {}),
    });
  }
  if (lt(v, target) && gte(target, '2.6.0') && lt(v, '2.6.0')) {
    const pre = gte(v, PRE_26) ? v : PRE_26;
    const hasMix = comps.includes('mixcoord');
    const chartPre = currentChart && gte(currentChart, CHART_PRE_26) ? currentChart : CHART_PRE_26;
    if (standalone) {
      if (lt(v, pre)) restart(pre, `2.6 needs ${PRE_26} or later first (docs: upgrade_milvus_standalone-helm/operator, v2.6.x)`, input.method === 'helm' ? chartPre : undefined);
    } else if (lt(v, pre) || !hasMix) {
      const after = hasMix ? comps : [...comps.filter((c) => !COORDS.includes(c)), 'mixcoord' as ComponentName];
      const removes = comps.filter((c) => COORDS.includes(c));
      const order = hasMix
        ? componentOrder(after.map((c) => ({ component: c })), {}).filter((c) => after.includes(c))
        : input.method === 'helm'
          ? (['mixcoord', ...componentOrder(after.map((c) => ({ component: c })), {}).filter((c) => after.includes(c) && c !== 'mixcoord')] as ComponentName[])
          : componentOrder(after.map((c) => ({ component: c })), {}).filter((c) => after.includes(c));
      const below = lt(v, MIN_ROLLING);
      if (!below) mustRoll({ from: v, to: pre, components: after });
      add({
        kind: 'mixcoord',
        from: v,
        to: pre,
        reason: `2.6 needs ${PRE_26} or later running mixcoord first (docs: upgrade_milvus_cluster-helm.md v2.6.x; keep the same message queue)`,
        ...(below
          ? { downtime: `Milvus ${v} has no active-standby coordinators: every component restarts at once` }
          : !hasMix
            ? { downtime: `the separate coordinators (${removes.join(', ')}) are replaced by mixcoord: coordination pauses until mixcoord is ready` }
            : {}),
        order,
        adds: hasMix ? [] : ['mixcoord'],
        removes,
        ...(input.method === 'helm'
          ? {
              helm: {
                chartVersion: chartPre,
                sets: [
                  ...imageSets(pre),
                  ['mixCoordinator.enabled', 'true'],
                  ...COORDS.map((c): [string, string] => [`${COORD_VALUES[c]}.enabled`, 'false']),
                  ...(below ? [] : ([['mixCoordinator.activeStandby.enabled', 'true']] as Array<[string, string]>)),
                  ...pins,
                ],
              },
            }
          : { operatorPatch: { spec: { components: { image: image(pre), ...(below ? {} : { enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' }), ...(hasMix ? {} : { mixCoord: { replicas: 1 } }) } } } }),
      });
      comps = after;
    }
    const chart26 = chartFlag ?? CHART_26;
    if (standalone) {
      restart(target, 'Milvus 2.6 (chart 5): standalone keeps its message queue pinned (chart 5 defaults standalone to woodpecker)', input.method === 'helm' ? chart26 : undefined);
    } else {
      const had = comps;
      const after = ORDER_26.filter((c) => c === 'streamingnode' || had.includes(c));
      mustRoll({ from: v, to: target, components: after });
      add({
        kind: 'to-2.6',
        from: v,
        to: target,
        reason: 'the 2.6 architecture: streaming node first, then mixcoord, querynode, datanode, proxy; indexnode removed at the end (Milvus blog 2025-12-25; milvus#42492)',
        downtime: 'writes are refused from the first 2.6 component until every proxy runs 2.6 (the WAL is read-only while any node runs 2.5: milvus PR#42082); flush is unavailable from the datanode step on',
        order: after,
        adds: had.includes('streamingnode') ? [] : ['streamingnode'],
        removes: had.includes('indexnode') ? ['indexnode'] : [],
        ...(input.method === 'helm'
          ? {
              helm: {
                chartVersion: chart26,
                sets: [...imageSets(target), ['streaming.enabled', 'true'], ['indexNode.enabled', String(had.includes('indexnode'))], ['mixCoordinator.enabled', 'true'], ['mixCoordinator.activeStandby.enabled', 'true'], ...pins],
                finalSets: [...imageSets(target), ['streaming.enabled', 'true'], ['indexNode.enabled', 'false'], ['mixCoordinator.enabled', 'true'], ['mixCoordinator.activeStandby.enabled', 'true'], ...pins],
              },
            }
          : { operatorPatch: { spec: { components: { image: image(target), enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } } }),
      });
      comps = after;
    }
  } else if (lt(v, target)) {
    const chart = chartFlag;
    const refusal = standalone ? undefined : rollingJumpRefusal({ from: v, to: target, components: comps });
    if (standalone || refusal?.code === 'below-rolling') restart(target, standalone ? 'standalone: one pod, replaced with the new image' : `Milvus ${v} is below ${MIN_ROLLING}: an image change with a restart`, chart);
    else if (refusal) throw preconditionError(refusal.reason, refusal.remedy);
    else rolling(target, `Milvus ${v} -> ${target} is a documented rolling upgrade ("from v${MIN_ROLLING} or later", upgrade guides v2.3.x-v2.5.x): one component at a time with active-standby coordinators`, chart);
  }
  const last = hops[hops.length - 1];
  // --chart-version is the chart of the last hop; an --image with a tag is the last hop's image.
  if (last?.helm && chartFlag) last.helm.chartVersion = chartFlag;
  if (last && flags.image && tagOf(flags.image)) {
    last.image = flags.image;
    const setTag = (sets: Array<[string, string]> | undefined) => sets?.forEach((kv) => kv[0] === 'image.all.tag' && (kv[1] = tagOf(flags.image)!));
    setTag(last.helm?.sets);
    setTag(last.helm?.finalSets);
    const comps = (last.operatorPatch as { spec?: { components?: { image?: string } } } | undefined)?.spec?.components;
    if (comps) comps.image = flags.image;
  }
  return { release: input.release, namespace: input.namespace, method: input.method, mode: input.mode, source, target, repository, mq: input.mq, pins, hops };
}
