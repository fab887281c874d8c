/** What every hop of an upgrade shares: its options, state, the flush step and small waits. */
import type { V1Deployment } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError } from '../errors.js';
import type { Helm } from '../helm/helm.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { flushStep, type FlushedState } from '../pulsar-upgrade/flush-step.js';
import { componentSelector } from '../release/labels.js';
import type { ComponentName, Release } from '../release/types.js';
import type { Hop, HopKind, UpgradePlan } from './plan.js';

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
  helm: Helm;
  /** Secret with the Milvus user for listing databases when authentication is on. */
  milvusSecret?: string | undefined;
}

export interface HopState extends FlushedState {
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

/** The versions a hop's components may run once it changed something: its start and its target. */
export function strayVersions(r: Release, hop: Hop): string[] {
  return [...new Set(r.components.map((c) => c.version ?? '(unknown)'))].filter((v) => v !== hop.from && v !== hop.to);
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
  // The flush licenses the hop's first change: a run that resumes before that change flushes again.
  const firstChange = o.steps.find((s) => s.destructive)?.id;
  const steps = o.steps.map((s) => (s.id === 'flush' && firstChange ? { ...s, repeatUntil: firstChange } : s));
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
