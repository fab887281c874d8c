/**
 * The stop of a MilvusUpgrade that Milvus Operator can leave half done, recognised from what the
 * cluster shows.
 *
 * A MilvusUpgrade stops Milvus by setting every component's replicas to 0 in the Milvus resource
 * (milvusupgrade_fsm.go stopMilvus), then waits until every Deployment of the instance is at 0
 * (isMilvusStopped). Two rules of Milvus Operator v1.3.7 meet there:
 * - the Milvus reconciler changes Deployments only while the resource's EtcdReady, StorageReady
 *   and MsgStreamReady conditions are all True (milvus.go ReconcileMilvus, utils.go
 *   IsDependencyReady);
 * - its status syncer stops probing the dependencies of a stopping resource and removes those
 *   three conditions instead (status_cluster.go checkDependencyConditions).
 * So when a dependency probe failed shortly before the stop, the reconcile that sees the stop does
 * nothing, the conditions are then removed, and nothing ever scales the Deployments: the
 * MilvusUpgrade stays in OldVersionStopping (RollbackNewVersionStopping for a rollback) for good,
 * with Milvus still serving.
 *
 * The way out is the stop the MilvusUpgrade asked for: scaling those Deployments to 0 is exactly
 * what the reconciler would have done. It is safe to do for the operator only when the reconciler
 * has observed the stopping spec (status.observedGeneration) and still left them running, and only
 * for the operator's own Deployments of the instance.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { MilvusResource } from '../release/types.js';

/** MilvusUpgrade states that wait for Milvus to be stopped. */
export const STOPPING_STATES: ReadonlySet<string> = new Set(['OldVersionStopping', 'RollbackNewVersionStopping']);
/** The conditions the operator requires (all True) before it touches a Deployment. */
export const DEPENDENCY_CONDITIONS = ['EtcdReady', 'StorageReady', 'MsgStreamReady'] as const;
/** Component fields of spec.components (v1beta1 ComponentSpec) that carry replicas. */
const COMPONENT_FIELDS = ['standalone', 'mixCoord', 'rootCoord', 'dataCoord', 'queryCoord', 'indexCoord', 'proxy', 'dataNode', 'queryNode', 'indexNode', 'streamingNode', 'cdc'];
const INSTANCE_LABEL = 'app.kubernetes.io/instance';
const OPERATOR_LABELS: Record<string, string> = { 'app.kubernetes.io/managed-by': 'milvus-operator', 'app.kubernetes.io/name': 'milvus' };

/** The label selector of every Deployment the operator waits for (isMilvusStopped lists by instance only). */
export const instanceSelector = (instance: string) => `${INSTANCE_LABEL}=${instance}`;

/** The dependency conditions that are not True (a removed one counts as not True, as for the operator). */
export function dependenciesNotReady(conditions: ReadonlyArray<{ type: string; status: string }> | undefined): string[] {
  return DEPENDENCY_CONDITIONS.filter((t) => !(conditions ?? []).some((c) => c.type === t && c.status === 'True'));
}

/** The spec asks for a stopped Milvus: no manual mode, and every component present has replicas 0 (MilvusSpec.IsStopping). */
export function specStopping(spec: Record<string, any> | undefined): boolean {
  const components = spec?.components as Record<string, any> | undefined;
  if (!components || components.enableManualMode === true) return false;
  const present = COMPONENT_FIELDS.filter((f) => components[f] && typeof components[f] === 'object');
  return present.length > 0 && present.every((f) => components[f].replicas === 0);
}

export interface ScaledUp {
  name: string;
  replicas: number;
  /** The version read, sent with the scale so that a change made since is refused (409), not overwritten. */
  resourceVersion: string | undefined;
}

export interface StalledStop {
  state: string;
  /** Dependency conditions of the Milvus resource that are not True. */
  notReady: string[];
  /** The operator's Deployments of the instance still scaled up. */
  running: ScaledUp[];
  /** Deployments with the instance label that the operator does not manage, still scaled up: not ours to scale. */
  foreign: string[];
  /** The reconciler has seen the stopping spec (status.observedGeneration >= metadata.generation). */
  observed: boolean;
}

/**
 * The stalled stop, when the cluster shows one: the MilvusUpgrade waits for the stop, the Milvus
 * spec is stopped, the operator's dependency gate is closed and Deployments of the instance still
 * run. Undefined otherwise (the operator is, or will be, doing the stop itself).
 */
export function stalledStop(upgradeState: string | undefined, milvus: MilvusResource | undefined, deployments: readonly V1Deployment[]): StalledStop | undefined {
  const state = upgradeState ?? '';
  if (!STOPPING_STATES.has(state) || !milvus || !specStopping(milvus.spec)) return undefined;
  const notReady = dependenciesNotReady(milvus.status?.conditions);
  if (notReady.length === 0) return undefined;
  const instance = milvus.metadata?.name;
  const scaledUp = deployments.filter((d) => d.metadata?.labels?.[INSTANCE_LABEL] === instance && (d.spec?.replicas ?? 1) > 0);
  if (scaledUp.length === 0) return undefined;
  const isOperators = (d: V1Deployment) => Object.entries(OPERATOR_LABELS).every(([k, v]) => d.metadata?.labels?.[k] === v);
  const generation = milvus.metadata?.generation;
  const observedGeneration = milvus.status?.observedGeneration;
  return {
    state,
    notReady,
    running: scaledUp.filter(isOperators).map((d) => ({ name: d.metadata!.name!, replicas: d.spec?.replicas ?? 1, resourceVersion: d.metadata?.resourceVersion })),
    foreign: scaledUp.filter((d) => !isOperators(d)).map((d) => d.metadata!.name!),
    observed: generation !== undefined && observedGeneration !== undefined && observedGeneration >= generation,
  };
}

/** Whether scaling `running` to 0 is the operator's own intent and nothing else's to do. */
export const completable = (s: StalledStop) => s.observed && s.foreign.length === 0 && s.running.length > 0;

/** One line naming the stalled stop. */
export function describeStall(instance: string, s: StalledStop): string {
  const up = [...s.running.map((d) => `deployment/${d.name} (${d.replicas})`), ...s.foreign.map((d) => `deployment/${d} (not the operator's)`)].join(', ');
  return (
    `milvus/${instance} is stuck stopping (${s.state}): its spec is at 0 replicas but ${s.notReady.join(', ')} ${s.notReady.length === 1 ? 'is' : 'are'} not True, ` +
    `and Milvus Operator scales Deployments only while its dependency conditions are True (it stops probing them once a stop begins); still running: ${up}`
  );
}

/** The manual way out, as commands. */
export function stallRemedy(instance: string, namespace: string, s: StalledStop): string {
  const scale = s.running.length ? `scale the operator's Deployments still running to 0 as it would (kubectl scale deployment ${s.running.map((d) => d.name).join(' ')} -n ${namespace} --replicas=0)` : '';
  const foreign = s.foreign.length
    ? `deployment ${s.foreign.join(', ')} carr${s.foreign.length === 1 ? 'ies' : 'y'} ${instanceSelector(instance)} without being Milvus Operator's, and the operator waits for ${s.foreign.length === 1 ? 'it' : 'them'} at 0 too: scale ${s.foreign.length === 1 ? 'it' : 'them'} to 0 if part of milvus/${instance}, else remove that label`
    : '';
  return `${[scale, foreign].filter(Boolean).join('; ')}; then rerun with --resume: the MilvusUpgrade goes on once every Deployment of milvus/${instance} is at 0`;
}
