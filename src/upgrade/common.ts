/** What every hop of an upgrade shares: its options, state, the flush step and small waits. */
import type { V1Deployment } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { metaBackupStep, type MetaBackupState } from '../backup-meta/step.js';
import { CliError, preconditionError } from '../errors.js';
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
        throw new CliError(e.message, e.exitCode, hint(run.state), { cause: e });
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
  const steps = o.steps.map((s) => ((s.id === 'flush' || s.id === 'meta-backup') && firstChange ? { ...s, repeatUntil: firstChange } : s));
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
