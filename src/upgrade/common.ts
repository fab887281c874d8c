/** What every hop of an upgrade shares: its options, state, the flush step and small waits. */
import type { V1Deployment } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { metaBackupStep, type MetaBackupState } from '../backup-meta/step.js';
import semver from 'semver';
import { CliError, failedError, preconditionError } from '../errors.js';
import type { ServingBaseline, ServingProbe } from '../milvus/serving-types.js';
import { discoverRelease } from '../release/discover.js';
import type { Helm } from '../helm/helm.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { flushStep, type FlushedState } from '../pulsar-upgrade/flush-step.js';
import { componentSelector } from '../release/labels.js';
import { componentsRunning } from '../release/discover.js';
import type { ComponentName, Release } from '../release/types.js';
import type { Hop, HopKind, UpgradePlan } from './plan.js';
import { topology30Refusal } from './rules.js';

export const PROCEDURE = 'upgrade';

export interface UpgradeOptions {
  chart: string;
  /** Timeout of each wait (each component's rollout, pods gone, readiness). */
  timeoutMs: number;
  flushTimeoutMs: number;
  /** meta-migrate: the wait for the etcd sessions after the stop. */
  sessionWaitMs: number;
  migrationImage: string;
  backupDir: string;
  /** Directory of the 3.0 hop's metadata snapshot (default: backup-meta's, which "backup list" reads). */
  metaDir?: string | undefined;
  /** The serving check of the hops that reach 2.6 or 3.0 (src/milvus/serving.ts's servingProbe). */
  serving?: ServingProbe | undefined;
  /** How long the serving check after such a hop waits for the release to serve. */
  servingTimeoutMs?: number | undefined;
  helm: Helm;
  /** Secret with the Milvus user for listing databases when authentication is on. */
  milvusSecret?: string | undefined;
}

export interface HopState extends FlushedState, MetaBackupState {
  backupSecret?: string;
  backupFiles?: string[];
  /** Helm revision before the hop's first helm upgrade (the restore target). */
  helmRevisionBefore?: number;
  /** Operator: spec.components.image before the hop. */
  imageBefore?: string;
  /** Component -> seconds it took to roll out. */
  rolled: Record<string, number>;
  /** What served before the hop (the loaded collections), taken right before its first change. */
  servingBaseline?: ServingBaseline;
}

export const KIND_TEXT: Record<HopKind, string> = {
  'meta-migrate': 'metadata migration, Milvus stopped',
  restart: 'image change with a restart',
  rolling: 'rolling update',
  mixcoord: 'the 2.6 prerequisite: >= 2.5.16 with mixcoord',
  'to-2.6': 'Milvus 2.6: streaming node, mixcoord, querynode, datanode, proxy; indexnode removed',
  'to-3.0': 'Milvus 3.0: the image of the 2.6 topology, after a metadata snapshot',
};

export function hopTitle(plan: UpgradePlan, hop: Hop): string {
  const i = plan.hops.indexOf(hop) + 1;
  return `Hop ${i}/${plan.hops.length}: ${hop.from} -> ${hop.to} (${KIND_TEXT[hop.kind]})`;
}

export const initialHopState = (): HopState => ({ flushVerifiedAt: undefined, flushedCollections: 0, rolled: {} });

/** The flush of pulsar-upgrade, reused: this run's flush, verified, right before the hop changes anything. */
export function hopFlushStep<S extends HopState>(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): Step<S> {
  const step = flushStep<S>(ctx, plan.release, plan.namespace, o.flushTimeoutMs, [], o.milvusSecret);
  return {
    ...step,
    title: `Flush every collection and verify it (Milvus ${hop.from}, ${plan.mq})`,
    plan: (s) => [...step.plan(s), 'a flush that cannot be verified stops the upgrade here, before anything changes'],
  };
}

/**
 * The metadata snapshot of a hop that takes one (the 3.0 hop): every etcd key of the release,
 * verified by reading it back, before the hop changes anything. It cannot be skipped: after 3.0
 * ran, it is the way back (the 3.0 guide did not validate an image-only rollback).
 */
export function hopMetaSnapshotStep<S extends HopState>(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): Step<S> {
  const step = metaBackupStep<S>(ctx, { release: plan.release, namespace: plan.namespace, dir: o.metaDir });
  return {
    ...step,
    title: `Snapshot the Milvus metadata (etcd) of ${hop.from}: the way back from ${hop.to}`,
    plan: (s) => [...step.plan(s), 'a snapshot that cannot be taken or verified stops the upgrade here, before anything changes; this hop never goes on without one'],
    async run(run) {
      try {
        await step.run(run);
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        throw new CliError(e.message, e.exitCode, `make the release's etcd reachable and continue with --resume: the ${hop.to} hop does not start without a verified snapshot (it is the only way back)`, { cause: e });
      }
    },
  };
}

/**
 * The 3.0 topology from what runs now (pods, not templates): mixcoord and a streaming node with
 * pods, no indexnode pod; pods that could not be read refuse (unknown is not "gone").
 */
export function checkTopology30(r: Release, hop: Hop): void {
  const unread = r.components.filter((c) => c.runningImages === undefined).map((c) => c.component);
  if (unread.length) throw preconditionError(`cannot tell what runs before ${hop.id}: the pods of ${[...new Set(unread)].join(', ')} could not be read`, 'grant "list" on pods and replicasets.apps in the namespace, then rerun');
  const refusal = topology30Refusal([...new Set(r.components.filter((c) => (c.runningImages?.length ?? 0) > 0).map((c) => c.component))], r.mode);
  if (refusal) throw preconditionError(`${hop.id} (${hop.from} -> ${hop.to}): ${refusal.reason}`, refusal.remedy);
}

/**
 * The start of a hop that has not changed anything yet: every pod runs the hop's source version
 * (what runs, not the templates). Throws exit 7 otherwise.
 */
export function checkRunsFrom(r: Release, hop: Hop, remedy: string): void {
  const running = componentsRunning(r.components);
  if (running === undefined) throw preconditionError(`cannot tell what release "${r.name}" runs before ${hop.id}: its pods could not be read`, 'grant "list" on pods and replicasets.apps in the namespace, then rerun');
  if (running.length !== 1 || running[0] !== hop.from) {
    throw preconditionError(`${hop.id} starts from Milvus ${hop.from}, but the components run ${running.map((v) => v ?? '(untagged)').join(', ') || 'nothing'}`, remedy);
  }
}

/** Whether a hop ends on 2.6 or later: then the release must be shown to serve again after it (issue 19 item 4). */
export const checksServing = (hop: Hop): boolean => semver.gte(hop.to, '2.6.0');

const DEFAULT_SERVING_TIMEOUT_MS = 600_000;

function probeOf(o: UpgradeOptions): ServingProbe {
  if (!o.serving) throw new Error('upgrade: a hop that reaches 2.6 or later needs the serving probe');
  return o.serving;
}

/** Before the hop changes anything: the collections loaded now, which must be loaded again after it. */
/** The release as the cluster has it now (a seam for unit tests). */
export type LiveRelease = () => Promise<Release>;
const discoverLive = (ctx: RunContext, plan: UpgradePlan): LiveRelease => () => discoverRelease(ctx.kube(), plan.release, plan.namespace);

export function servingBaselineStep<S extends HopState>(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions, live: LiveRelease = discoverLive(ctx, plan)): Step<S> {
  return {
    id: 'serving-baseline',
    title: `Record what serves on ${hop.from}: the loaded collections`,
    plan: () => [
      'every collection of every database and its load state (gRPC ShowCollections and GetLoadState through a proxy): the loaded ones must be loaded again after the hop',
      'a release that cannot be asked stops the upgrade here, before anything changes',
    ],
    async run({ state, log, checkpoint }) {
      const r = await live();
      const b = await probeOf(o).baseline(ctx, r, { milvusSecret: o.milvusSecret });
      state.servingBaseline = b;
      await checkpoint();
      log(`${b.loaded.length} collection(s) loaded${b.loaded.length ? `: ${b.loaded.slice(0, 10).join(', ')}${b.loaded.length > 10 ? ', ...' : ''}` : ''}`);
    },
  };
}

/**
 * After the hop: the release serves on the new version (streaming nodes registered and writable,
 * proxies healthy, every collection of the baseline loaded again), waited for up to the serving
 * timeout. A failed verdict fails the step, naming each component and its documented remedy.
 */
export function servingVerifyStep<S extends HopState>(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions, live: LiveRelease = discoverLive(ctx, plan)): Step<S> {
  const timeoutMs = o.servingTimeoutMs ?? DEFAULT_SERVING_TIMEOUT_MS;
  return {
    id: 'serving-verify',
    title: `Verify the release serves on ${hop.to}: streaming nodes registered and writable, proxies healthy, collections loaded again`,
    plan: () => [
      "every streaming node pod ready and listed by mixcoord's /management/streaming/nodes (9091), not suspended; every proxy ready with /healthz 200",
      'a FlushAll through the proxies succeeds (the write path milvus#47806 breaks); every collection loaded before the hop is loaded again (GetLoadState)',
      `waits up to ${Math.round(timeoutMs / 1000)}s; then each problem stops the upgrade, named with its remedy`,
    ],
    async run({ state, log }) {
      const baseline = state.servingBaseline;
      if (!baseline) throw preconditionError(`no record of what served before ${hop.id}: the serving check has nothing to compare with`, `look at the release's collections by hand (GetLoadState), then continue with --resume`);
      const r = await live();
      const verdict = await probeOf(o).verify(ctx, r, baseline, { timeoutSeconds: Math.max(1, Math.round(timeoutMs / 1000)), onProgress: log, signal: ctx.signal, milvusSecret: o.milvusSecret });
      if (!verdict.ok || verdict.problems.length) {
        const problems = verdict.problems.length ? verdict.problems : [{ component: 'release', what: 'the serving check did not pass', remedy: 'look at the release (status, health) before resuming' }];
        throw failedError(
          `Milvus ${hop.to} does not serve after ${hop.id}: ${problems.map((p) => `${p.component}: ${p.what}`).join('; ')}`,
          problems.map((p) => `${p.component}: ${p.remedy}`).join('\n'),
        );
      }
      log(`Milvus ${hop.to} serves: streaming nodes registered and writable, proxies healthy, ${baseline.loaded.length} collection(s) loaded again`);
    },
  };
}

/** The Milvus Deployments of one component of the release, as the cluster has them now. */
export async function componentDeployments(ctx: RunContext, r: { method: Release['method']; release: string; namespace: string }, component: ComponentName): Promise<V1Deployment[]> {
  const kube = ctx.kube();
  return kube.listAll(
    { verb: 'list', resource: 'deployments.apps', namespace: r.namespace },
    (q) => kube.apps.listNamespacedDeployment({ namespace: r.namespace, ...q }),
    { labelSelector: componentSelector(r.method, r.release, component) },
  );
}


/** Wraps a step so that a failure carries the hop's restore advice, computed from the state at the failure. */
export function withRestoreHint<S>(ctx: RunContext, step: Step<S>, hint: (state: S) => string): Step<S> {
  return {
    ...step,
    async run(run) {
      try {
        await step.run(run);
      } catch (e) {
        if (!(e instanceof CliError) || ctx.signal.aborted) throw e;
        // The step's own advice first (what is wrong and its remedy), then how to restore or continue.
        throw new CliError(e.message, e.exitCode, [e.hint, hint(run.state)].filter(Boolean).join('\n'), { cause: e });
      }
    },
  };
}

/** The meta-migrate run of a 2.1 hop, the same for both install methods: migrate to the hop's image, nothing else asked of the user. */
export function metaMigrateOptions(hop: Hop, o: UpgradeOptions) {
  return {
    operation: 'migrate' as const,
    sourceVersion: hop.from,
    targetVersion: hop.to,
    rootPath: undefined,
    image: hop.image,
    migrationImage: o.migrationImage,
    storageClass: undefined,
    etcdEndpoints: undefined,
    sessionWaitMs: o.sessionWaitMs,
    timeoutMs: o.timeoutMs,
    deletePods: false,
  };
}

/** Whether a step that changes the release is done: until then the hop starts from its version, healthy. */
export function changedAlready<S>(steps: Step<S>[], done: ReadonlySet<string>): boolean {
  return steps.some((s) => s.destructive && done.has(s.id));
}

/**
 * The versions the pods run once a hop changed something, other than its start and its target
 * (what runs, and what the templates ask for: both must be one of the two).
 */
export function strayVersions(r: Release, hop: Hop): string[] {
  const running = componentsRunning(r.components) ?? ['(pods not read)'];
  const templates = r.components.map((c) => c.version ?? '(unknown)');
  return [...new Set([...running.map((v) => v ?? '(untagged)'), ...templates])].filter((v) => v !== hop.from && v !== hop.to);
}

/** Steps whose result must be fresh when the hop's first change starts: taken again by a run that resumes before it. */
const FRESH_BEFORE_CHANGE = new Set(['flush', 'meta-backup', 'serving-baseline']);

/**
 * The steps that must be fresh before the hop's first change, kept as they are (not taken again)
 * when `changed()` says the change reached the cluster although the checkpoint does not record it
 * as done (a run cut off between the write and its record): a snapshot or baseline taken now would
 * describe the release after the change, not before it. What they recorded before is in the state.
 */
export function keptOnceChanged<S extends HopState>(steps: Step<S>[], changed: () => boolean): Step<S>[] {
  return steps.map((s) =>
    FRESH_BEFORE_CHANGE.has(s.id)
      ? {
          ...s,
          async run(run) {
            if (!changed()) return s.run(run);
            run.log(`not taken again: the hop's change reached the cluster before this run; what this step recorded before the change is kept${s.id === 'meta-backup' && run.state.metaSnapshot ? ` (${run.state.metaSnapshot})` : ''}`);
          },
        }
      : s,
  );
}

/**
 * The steps of a hop, in the order every hop keeps: the flush, the metadata snapshot (hops that
 * take one) and the serving baseline (hops that reach 2.6 or later) before `changes` (the backup
 * and the hop's own steps, ending with its verify), then the serving check after them.
 */
export function hopSteps<S extends HopState>(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions, changes: Step<S>[]): Step<S>[] {
  const serving = checksServing(hop);
  return [
    hopFlushStep<S>(ctx, plan, hop, o),
    ...(hop.metaSnapshot ? [hopMetaSnapshotStep<S>(ctx, plan, hop, o)] : []),
    ...(serving ? [servingBaselineStep<S>(ctx, plan, hop, o)] : []),
    ...changes,
    ...(serving ? [servingVerifyStep<S>(ctx, plan, hop, o)] : []),
  ];
}

/**
 * One hop as a procedure of the chain: the upgrade's name, no parameters of its own, and every step
 * wrapped so that a failure carries the hop's restore advice. `reused` is a procedure a 2.1 hop runs
 * as it is (meta-migrate): its state, confirmation and preflight (told only of its own done steps)
 * come along.
 */
export function hopDefinition<S extends HopState>(
  ctx: RunContext,
  plan: UpgradePlan,
  o: {
    steps: Step<S>[];
    restoreHint: (state: S) => string;
    preflight: (state: S, done: ReadonlySet<string>) => Promise<void>;
    reused?: Pick<ProcedureDefinition<any>, 'steps' | 'initialState' | 'confirmQuestion' | 'preflight'>;
  },
): ProcedureDefinition<S> {
  const mm = o.reused;
  // The flush (and the metadata snapshot) license the hop's first change: a run that resumes before that change takes them again.
  const firstChange = o.steps.find((s) => s.destructive)?.id;
  const steps = o.steps.map((s) => (FRESH_BEFORE_CHANGE.has(s.id) && firstChange ? { ...s, repeatUntil: firstChange } : s));
  return {
    name: PROCEDURE,
    release: plan.release,
    namespace: plan.namespace,
    params: {},
    initialState: { ...(mm?.initialState ?? {}), ...initialHopState() } as S,
    steps: steps.map((s) => withRestoreHint(ctx, s, o.restoreHint)),
    ...(mm?.confirmQuestion ? { confirmQuestion: mm.confirmQuestion } : {}),
    async preflight(st, done) {
      await o.preflight(st, done);
      if (mm) await mm.preflight(st, new Set([...done].filter((d) => mm.steps.some((s) => s.id === d))));
    },
  };
}

/**
 * The 2.1 hop, one shape for both install methods: the flush, the method's backup, meta-migrate's
 * own steps (reused as they are, with its state, confirmation and preflight), what the method
 * records after them, its verify. `preflight` gets the hop's steps to tell what changed already.
 */
export function metaMigrateHopDefinition<S extends HopState>(
  ctx: RunContext,
  plan: UpgradePlan,
  hop: Hop,
  o: UpgradeOptions,
  p: {
    migrate: Pick<ProcedureDefinition<any>, 'steps' | 'initialState' | 'confirmQuestion' | 'preflight'>;
    backup: Step<S>;
    after: Step<S>[];
    restoreHint: (state: S) => string;
    preflight?: (state: S, done: ReadonlySet<string>, steps: Step<S>[]) => Promise<void>;
  },
): ProcedureDefinition<S> {
  const steps = hopSteps<S>(ctx, plan, hop, o, [p.backup, ...(p.migrate.steps as Step<S>[]), ...p.after]);
  return hopDefinition<S>(ctx, plan, {
    steps,
    restoreHint: p.restoreHint,
    reused: p.migrate,
    preflight: async (state, done) => p.preflight?.(state, done, steps),
  });
}
