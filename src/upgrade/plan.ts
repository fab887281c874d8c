/**
 * The upgrade planner (pure: no I/O). From what `status` reads about a release (discovery) and the
 * flags, it plans the chain of hops from the running version to the target by walking the hop
 * rules (rules.ts: from range, target, kind, gates, reason, documented source), one row a hop:
 * 2.1 metadata migration, restarts below 2.2.3, rolling updates, the 2.5.16-with-mixcoord
 * prerequisite, the 2.6 hop, the rolling update to the 2.6 release the 3.0 guide starts from, and
 * the 3.0 hop.
 *
 * Before the walk it refuses, with the documented remedy where one exists: a 2.6.0-rc1 source
 * (milvus#43538), a release on several versions or half changed, a target below the source (and
 * says when the way back crosses a metadata change; from 3.0 it is the metadata snapshot), an
 * unknown version or 3.0 patch, a chart that cannot deliver the target, an operator too old for
 * 2.6 (docs: >= 1.3.7), a message queue it cannot tell (it would not know what to keep).
 */
import semver from 'semver';
import { preconditionError, usageError } from '../errors.js';
import { unsettledChange } from '../release/discover.js';
import type { ComponentName, InstallMethod, MessageQueue, Mode, Release } from '../release/types.js';
import { MIN_ROLLING, PRE_26 } from '../release/version.js';
import { getPath, type Values } from '../util/values.js';
import { CHART_26, CHART_PRE_26, DOCS_30, HOP_RULES, MIN_CHART_26, MIN_OPERATOR_26, VALIDATED_30_SOURCE, runningAfter, type Cursor, type HopRule } from './rules.js';

/** The last release of each closed line; lines not listed here are open (any patch). */
export const LAST_PATCH: Readonly<Record<string, number>> = { '2.1': 4, '2.2': 16 };
/**
 * The newest known patch of a line whose every release matters to the plan (its guide names
 * versions): a later patch is refused as unknown rather than guessed at.
 */
export const NEWEST_KNOWN_PATCH: Readonly<Record<string, number>> = { '3.0': 2 };
export const KNOWN_LINES = ['2.1', '2.2', '2.3', '2.4', '2.5', '2.6', '3.0'] as const;
export { MIN_ROLLING, PRE_26, CHART_PRE_26, CHART_26, MIN_CHART_26, MIN_OPERATOR_26, VALIDATED_30_SOURCE, HOP_RULES };
export { ORDER_26 } from './rules.js';

export type HopKind = 'meta-migrate' | 'restart' | 'rolling' | 'mixcoord' | 'to-2.6' | 'to-3.0';

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
  /**
   * Components with at least one pod running (not a template's promise). Undefined in inputs that
   * do not tell: every component of `images` is then taken as running.
   */
  running?: ComponentName[] | undefined;
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
  /** Operator: the merge patch of the Milvus resource (not for meta-migrate nor the 3.0 hop). */
  operatorPatch?: Record<string, unknown>;
  /** Operator, the 3.0 hop: the fields set in the complete Milvus resource, which is applied whole (server-side dry-run first). */
  operatorApply?: Record<string, unknown>;
  /** The hop takes a verified metadata snapshot before it changes anything (never skipped: it is the way back). */
  metaSnapshot?: boolean;
  /** How to go back once the hop ran, told before it starts. */
  wayBack?: string;
  /** The row of the hop rules (rules.ts) that planned the hop, and its documented source. */
  rule: string;
  source: string;
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
  const newest = NEWEST_KNOWN_PATCH[line];
  if (newest !== undefined && semver.patch(s) > newest) {
    throw usageError(`unknown Milvus version ${s}: the ${line} releases known to this plugin are ${line}.0 to ${line}.${newest}`);
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
    running: [...new Set(r.components.filter((c) => (c.runningImages?.length ?? 0) > 0).map((c) => c.component))],
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
    if (lt(target, '3.0.0') && gte(source, '3.0.0')) {
      throw preconditionError(
        `the target ${target} is below the running ${source}: going back from 3.0 is not an upgrade, and the 3.0 guide did not validate an image-only rollback (${DOCS_30.helm})`,
        `the way back is the metadata snapshot the 3.0 hop took before it changed anything: stop Milvus, restore it with "kubectl milvus backup restore-meta ${input.release} -n ${input.namespace} --from FILE" (FILE: "kubectl milvus backup list ${input.release} -n ${input.namespace}"), then run the 2.6 image ${repository}:v${target} (the snapshot's metadata is that of the 2.6 release it was taken from)`,
      );
    }
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
  const hops = walkRules({
    input,
    target,
    v: source,
    comps: [...new Set(input.images.map((i) => i.component))],
    running: input.running ?? [...new Set(input.images.map((i) => i.component))],
    chart: input.chartVersion ? semver.valid(semver.coerce(input.chartVersion)) ?? undefined : undefined,
    chartFlag,
    pins,
    repository,
  });
  const last = hops[hops.length - 1];
  // --chart-version is the chart of the last hop that chooses one (the 3.0 hop keeps the chart it finds);
  // an --image with a tag is the last hop's image.
  if (last?.helm && chartFlag && last.kind !== 'to-3.0') last.helm.chartVersion = chartFlag;
  if (last && flags.image && tagOf(flags.image)) {
    last.image = flags.image;
    const setTag = (sets: Array<[string, string]> | undefined) => sets?.forEach((kv) => kv[0] === 'image.all.tag' && (kv[1] = tagOf(flags.image)!));
    setTag(last.helm?.sets);
    setTag(last.helm?.finalSets);
    for (const body of [last.operatorPatch, last.operatorApply]) {
      const comps = (body as { spec?: { components?: { image?: string } } } | undefined)?.spec?.components;
      if (comps) comps.image = flags.image;
    }
  }
  return { release: input.release, namespace: input.namespace, method: input.method, mode: input.mode, source, target, repository, mq: input.mq, pins, hops };
}

/** The rule that gives the next hop from where the walk stands, if any. */
export function nextRule(c: Cursor, used: ReadonlySet<string> = new Set()): HopRule | undefined {
  return HOP_RULES.find((r) => !used.has(r.id) && semver.satisfies(c.v, r.from) && (r.when?.(c) ?? true));
}

/** Walks the hop rules from the running version to the target: each row at most once, its gates first. */
function walkRules(start: Cursor): Hop[] {
  const hops: Hop[] = [];
  const used = new Set<string>();
  let c = start;
  while (lt(c.v, c.target)) {
    const rule = nextRule(c, used);
    if (!rule) throw preconditionError(`no documented way from Milvus ${c.v} to ${c.target} (${c.input.mode}, ${c.input.method})`, 'upgrade to a version the documentation leads from, or choose another --to');
    used.add(rule.id);
    const to = rule.to(c);
    for (const gate of rule.gates) gate(c, to);
    const body = rule.build(c, to);
    const hop: Hop = { id: `hop-${hops.length + 1}`, kind: rule.kind, from: c.v, to, image: `${c.repository}:v${to}`, reason: rule.reason(c, to), rule: rule.id, source: rule.source(c), ...body };
    hops.push(hop);
    c = {
      ...c,
      v: to,
      comps: rule.kind === 'mixcoord' || rule.kind === 'to-2.6' || rule.kind === 'to-3.0' ? hop.order : c.comps,
      running: runningAfter(c.running, hop),
      chart: hop.helm?.chartVersion ?? c.chart,
    };
  }
  return hops;
}
