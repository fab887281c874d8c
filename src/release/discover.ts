/**
 * Release discovery, shared by every command: given a release name and a namespace, find out how
 * Milvus was installed (Helm release record or milvus.io/v1beta1 Milvus resource), its mode,
 * components and versions, message queue, Pulsar generation and management-API endpoint.
 */
import type { V1ConfigMap, V1Deployment, V1Pod, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';
import { CliError, ExitCode, notFoundError, type ExitCodeValue } from '../errors.js';
import { MILVUS_GROUP, MILVUS_VERSION, type Kube } from '../kube/client.js';
import { isApiStatus, isNotFound } from '../kube/errors.js';
import { deploymentRolloutStatus } from '../kube/rollout.js';
import { getPath, mergeValues, truthy, type Values } from '../util/values.js';
import { readHelmRelease, type StoredHelmRelease } from './helm-secret.js';
import { HelmRecordIndex, type HelmObject } from './helm-index.js';
import { parseSelector, selectorMatches } from './selector.js';
import {
  MILVUS_COMPONENTS,
  componentLabelKey,
  componentSelector,
  anyPulsarSelector,
  milvusWorkloadSelector,
  pulsarSelector,
} from './labels.js';
import type {
  ComponentName,
  HelmInfo,
  InstallMethod,
  MessageQueue,
  MilvusComponent,
  MilvusResource,
  Mode,
  PulsarInfo,
  Release,
  RolloutState,
} from './types.js';
import semver from 'semver';
import { lowestVersion, sortVersions, versionFromImage } from './version.js';
import { getMilvusResource } from '../kube/milvus-resource.js';

/** The chart's `milvus.fullname`: fullnameOverride, else the release name when it contains the chart name, else `<release>-<name>`. */
export function helmFullname(release: string, values: Values): string {
  const override = getPath(values, 'fullnameOverride');
  if (typeof override === 'string' && override) return override.slice(0, 63).replace(/-+$/, '');
  const nameOverride = getPath(values, 'nameOverride');
  const name = typeof nameOverride === 'string' && nameOverride ? nameOverride : 'milvus';
  const full = release.includes(name) ? release : `${release}-${name}`;
  return full.slice(0, 63).replace(/-+$/, '');
}

/** The annotation the chart (5.0 and later) writes on the standalone Deployment: the queue it rendered. */
export const STANDALONE_MQ_ANNOTATION = 'milvus.io/message-queue';

/** What the chart reads to render `mq.type`, besides the values. */
export interface HelmQueueContext {
  /** The chart's version (what was rendered); not a version (unknown): the newest rules. */
  chartVersion?: string | undefined;
  /** The revision that was rendered (the last deployed one); the chart's lookup runs from revision 2 on. */
  revision?: number | undefined;
  /**
   * The standalone Deployment as it is now, with its message-queue annotation if any; null when
   * there is none. Undefined when not known: the lookup's result is then not assumed.
   */
  standaloneDeployment?: { name: string; annotation: string | undefined } | null | undefined;
}

export interface HelmQueue {
  mq: MessageQueue;
  /** Which values (or which annotation) name the queue, for status: "values kafka.enabled=true (overrides pulsarv3.enabled=true)". */
  evidence: string;
}

const chartAtLeast = (v: string | undefined, min: string) => !v || !semver.valid(v) || semver.gte(v, min);
/** standalone.messageQueue=woodpecker rendered (4.2.41 and 4.2.42, dropped in 4.2.43, back in 5.0.0). */
const chartStandaloneWoodpecker = (v: string | undefined) => chartAtLeast(v, '5.0.0') || (chartAtLeast(v, '4.2.41') && !chartAtLeast(v, '4.2.43'));
const STANDALONE_QUEUES: Record<string, MessageQueue> = { rocksmq: 'rocksmq', natsmq: 'natsmq', woodpecker: 'woodpecker' };
const SWITCH_QUEUES: Record<string, MessageQueue> = { 'externalPulsar.enabled': 'external-pulsar', 'pulsar.enabled': 'pulsar-v2', 'woodpecker.enabled': 'woodpecker', 'pulsarv3.enabled': 'pulsar-v3' };

/**
 * Which message queue the chart renders into Milvus's config, as the chart's config.tpl writes
 * `mq.type` (the last one written wins): (A) externalPulsar, else pulsar (v2), else woodpecker,
 * else pulsarv3; then (B) externalKafka or kafka overrides A; then (C) without cluster.enabled,
 * standalone.messageQueue (rocksmq, natsmq, woodpecker) overrides both. From chart 5.0 on, C goes
 * through `milvus.standalone.messageQueue`: standalone.messageQueue=woodpecker after revision 1
 * looks the standalone Deployment up — absent: woodpecker; present: its
 * `milvus.io/message-queue` annotation, else rocksmq (an upgraded RocksMQ standalone keeps
 * RocksMQ). The Deployment seen now carries what that render wrote.
 */
export function helmQueue(values: Values, mode: Mode, chart: HelmQueueContext = {}): HelmQueue {
  const on = (k: string) => truthy(getPath(values, k));
  let mq: MessageQueue | undefined;
  let evidence = '';
  const chain = ['externalPulsar.enabled', 'pulsar.enabled', 'woodpecker.enabled', 'pulsarv3.enabled'].filter(on);
  const a = chain[0];
  if (a) {
    mq = SWITCH_QUEUES[a];
    const after = chain.slice(1);
    evidence = `values ${a}=true${after.length ? ` (chart precedence over ${after.map((k) => `${k}=true`).join(', ')})` : ''}`;
  }
  const b = ['externalKafka.enabled', 'kafka.enabled'].find(on);
  if (b) {
    evidence = `values ${b}=true${a ? ` (overrides ${a}=true)` : ''}`;
    mq = 'kafka';
  }
  const clusterEnabled = getPath(values, 'cluster.enabled');
  const standalone = clusterEnabled === undefined ? mode === 'standalone' : !truthy(clusterEnabled);
  const asked = getPath(values, 'standalone.messageQueue');
  const c = standalone && typeof asked === 'string' ? STANDALONE_QUEUES[asked] : undefined;
  if (c && (c !== 'woodpecker' || chartStandaloneWoodpecker(chart.chartVersion))) {
    const overrides = [a, b].filter(Boolean).map((k) => `${k}=true`);
    const over = overrides.length ? `, overrides ${overrides.join(', ')}` : '';
    const dep = chart.standaloneDeployment;
    if (c !== 'woodpecker' || !chartAtLeast(chart.chartVersion, '5.0.0') || (chart.revision ?? 1) <= 1 || dep === undefined) {
      const why = [...(clusterEnabled === undefined ? [] : ['cluster.enabled=false']), ...(over ? [over.slice(2)] : [])];
      mq = c;
      evidence = `values standalone.messageQueue=${asked}${why.length ? ` (${why.join(', ')})` : ''}`;
    } else if (dep === null) {
      mq = 'woodpecker';
      evidence = `values standalone.messageQueue=woodpecker, no standalone Deployment to keep another queue${over}`;
    } else if (dep.annotation) {
      // The annotation holds what the helper rendered: a pulsar or kafka there is the one the values configure.
      const configured = mq;
      mq = STANDALONE_QUEUES[dep.annotation] ?? (dep.annotation === 'kafka' ? 'kafka' : dep.annotation === 'pulsar' && configured?.includes('pulsar') ? configured : 'unknown');
      evidence = `Deployment ${dep.name} annotation ${STANDALONE_MQ_ANNOTATION}=${dep.annotation} (what the chart renders for values standalone.messageQueue=woodpecker after revision 1${over})`;
    } else {
      mq = 'rocksmq';
      evidence = `values standalone.messageQueue=woodpecker, but Deployment ${dep.name} has no ${STANDALONE_MQ_ANNOTATION} annotation: the chart keeps rocksmq after revision 1${over}`;
    }
  }
  if (mq) return { mq, evidence };
  if (mode === 'standalone') return { mq: 'rocksmq', evidence: 'no message-queue value set (Milvus default for standalone)' };
  return { mq: 'unknown', evidence: 'no message-queue value enabled' };
}

/** Which message queue the chart configures Milvus for (helmQueue's queue). */
export function helmMessageQueue(values: Values, mode: Mode, chart: HelmQueueContext = {}): MessageQueue {
  return helmQueue(values, mode, chart).mq;
}

function chartOfStatefulSet(s: V1StatefulSet): string | undefined {
  return s.metadata?.labels?.chart;
}

function pulsarVersionFromStatefulSets(sets: V1StatefulSet[]): 'v2' | 'v3' | undefined {
  for (const s of sets) {
    const chart = chartOfStatefulSet(s);
    if (chart?.startsWith('pulsar-2.') || chart?.startsWith('pulsarv2-')) return 'v2';
    if (chart?.startsWith('pulsar-3.') || chart?.startsWith('pulsar-4.')) return 'v3';
  }
  return undefined;
}

export function toComponent(d: V1Deployment, method: InstallMethod): MilvusComponent | undefined {
  const comp = d.metadata?.labels?.[componentLabelKey(method)];
  if (!comp || !(MILVUS_COMPONENTS as readonly string[]).includes(comp)) return undefined;
  const containers = d.spec?.template?.spec?.containers ?? [];
  const container = containers.find((c) => c.name === comp) ?? containers[0];
  const image = container?.image;
  return {
    component: comp as ComponentName,
    deployment: d,
    name: d.metadata?.name ?? '',
    image,
    version: versionFromImage(image),
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    strategy: d.spec?.strategy?.type,
    paused: d.spec?.paused === true,
    rollout: rolloutState(d),
  };
}

/** kubectl's rollout rules, with a paused Deployment's unfinished change told apart. */
export function rolloutState(d: V1Deployment): RolloutState {
  const st = deploymentRolloutStatus(d);
  if (st.failed) return 'failed';
  if (st.done) return 'complete';
  return d.spec?.paused ? 'paused' : 'progressing';
}

const controllerOf = (o: { metadata?: { ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> } }, kind: string) =>
  o.metadata?.ownerReferences?.find((r) => r.kind === kind && r.controller !== false)?.name;

const matchesSelector = (d: V1Deployment, labels: Record<string, string>) => {
  const want = Object.entries(d.spec?.selector?.matchLabels ?? {});
  return want.length > 0 && want.every(([k, v]) => labels[k] === v);
};

/**
 * The pods of each Deployment (by name): through the pod's ReplicaSet and its owner, as the
 * Deployment controller links them. A ReplicaSet that is not in `replicaSets` (a fleet read lists
 * none) is linked by the controller's own naming: it names each ReplicaSet `<deployment>-<hash>`
 * and labels its pods `pod-template-hash=<hash>`, so a pod of ReplicaSet `<d>-<hash>` with that
 * label belongs to Deployment `<d>` when `<d>` is one of `deployments` and its selector matches the
 * pod. A pod linked neither way goes to every Deployment whose selector matches it. Pods that are
 * finished (Succeeded, Failed) or being deleted are not counted.
 */
export function podsByDeployment(deployments: V1Deployment[], replicaSets: V1ReplicaSet[], pods: V1Pod[]): Map<string, V1Pod[]> {
  const rsOwner = new Map(replicaSets.map((rs) => [rs.metadata?.name ?? '', controllerOf(rs, 'Deployment')]));
  const byName = new Map(deployments.map((d) => [d.metadata?.name ?? '', d]));
  const out = new Map<string, V1Pod[]>([...byName.keys()].map((n) => [n, []]));
  const namedOwner = (rs: string, p: V1Pod): string | undefined => {
    const hash = p.metadata?.labels?.['pod-template-hash'];
    if (!hash || !rs.endsWith(`-${hash}`)) return undefined;
    const d = byName.get(rs.slice(0, -(hash.length + 1)));
    return d && matchesSelector(d, p.metadata?.labels ?? {}) ? d.metadata?.name : undefined;
  };
  for (const p of pods) {
    // Finished pods run nothing; a pod being deleted is on its way out, as kubectl's rollout status counts it.
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' || p.metadata?.deletionTimestamp) continue;
    const rs = controllerOf(p, 'ReplicaSet');
    const owner = rs === undefined ? undefined : rsOwner.has(rs) ? rsOwner.get(rs) : namedOwner(rs, p);
    if (owner !== undefined && byName.has(owner)) {
      out.get(owner)!.push(p);
      continue;
    }
    // No owner to follow: every Deployment whose selector matches counts it (a version shown
    // twice, never one hidden).
    for (const d of deployments.filter((x) => matchesSelector(x, p.metadata?.labels ?? {}))) out.get(d.metadata?.name ?? '')?.push(p);
  }
  return out;
}

/** The images a component's pods run (its Milvus container: the one named after it, else the first). */
export function withRunning(c: MilvusComponent, pods: V1Pod[] | undefined): MilvusComponent {
  if (pods === undefined) return { ...c, runningImages: undefined, running: undefined };
  const images = [...new Set(pods.map((p) => {
    const cs = p.spec?.containers ?? [];
    return (cs.find((x) => x.name === c.component) ?? cs[0])?.image ?? '';
  }))].sort();
  const versions = sortVersions(images.map(versionFromImage));
  return { ...c, runningImages: images, running: versions };
}

/**
 * The versions a decision rests on for one component: what its pods run; for a component with no
 * pod (stopped), what its template will start. Undefined when the pods were not read.
 */
export function decidingVersions(c: MilvusComponent): Array<string | undefined> | undefined {
  if (c.runningImages === undefined) return undefined;
  if (c.runningImages.length === 0) return [c.version];
  return c.runningImages.map(versionFromImage);
}

/** A Deployment's change that is not finished: pods on another image than the template, or a paused rollout. */
export function unsettledChange(c: Pick<MilvusComponent, 'name' | 'image' | 'runningImages' | 'rollout'>): string | undefined {
  const pods = c.runningImages ?? [];
  const other = pods.filter((i) => i !== c.image);
  if (!other.length && c.rollout !== 'paused') return undefined;
  const runs = pods.length ? `pods run ${pods.join(' and ')}` : 'no pod runs';
  return `deployment/${c.name}: template ${c.image ?? '(no image)'}, ${runs}${c.rollout === 'paused' ? ', rollout paused' : c.rollout === 'failed' ? ', rollout failed' : c.rollout === 'progressing' ? ', rollout in progress' : ''}`;
}

/**
 * The distinct versions the components run (a component without pods: its template's; an image
 * without a version tag: undefined), lowest first; undefined when the pods were not read. For a
 * check such as "every component runs the hop's source version".
 */
export function componentsRunning(components: MilvusComponent[]): Array<string | undefined> | undefined {
  const per = components.map(decidingVersions);
  if (per.some((v) => v === undefined)) return undefined;
  const all = per.flat();
  return [...sortVersions(all), ...(all.some((v) => v === undefined) ? [undefined] : [])];
}

/** The release's running version: one version, "mixed", or undefined when it cannot be told. */
export function releaseRunning(components: MilvusComponent[]): string | 'mixed' | undefined {
  const all: Array<string | undefined> = [];
  for (const c of components) {
    const v = decidingVersions(c);
    if (v === undefined) return undefined;
    all.push(...v);
  }
  const distinct = new Set(all.filter((v): v is string => v !== undefined));
  if (distinct.size > 1) return 'mixed';
  if (all.some((v) => v === undefined)) return undefined;
  return [...distinct][0];
}

/** undefined when RBAC forbids the list; any other error is thrown (never a guess). */
async function unlessForbidden<T>(list: Promise<T>): Promise<T | undefined> {
  try {
    return await list;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.FORBIDDEN) return undefined;
    throw e;
  }
}

/**
 * Pods and ReplicaSets of the release; undefined when the pods may not be read. ReplicaSets that
 * may not be read leave the pods to the Deployments' selectors.
 */
async function readPods(kube: Kube, namespace: string, labelSelector: string): Promise<{ pods: V1Pod[]; replicaSets: V1ReplicaSet[] } | undefined> {
  const [pods, replicaSets] = await Promise.all([
    unlessForbidden(kube.listAll({ verb: 'list', resource: 'pods', namespace }, (o) => kube.core.listNamespacedPod({ namespace, ...o }), { labelSelector })),
    unlessForbidden(kube.listAll({ verb: 'list', resource: 'replicasets.apps', namespace }, (o) => kube.apps.listNamespacedReplicaSet({ namespace, ...o }), { labelSelector })),
  ]);
  return pods ? { pods, replicaSets: replicaSets ?? [] } : undefined;
}

/** The operator's spec.mode (it defaults an empty one to standalone). */
export function operatorMode(cr: MilvusResource): Mode {
  return cr.spec?.mode === 'cluster' ? 'cluster' : 'standalone';
}

/** The image the operator gives a querynode group it is not using (spec.components.dummyImage, else "dummy"). */
export function operatorDummyImage(cr: MilvusResource): string {
  const d = cr.spec?.components?.dummyImage;
  return typeof d === 'string' && d ? d : 'dummy';
}

export const QUERYNODE_GROUP_LABEL = 'milvus.io/querynode-group-id';
export const QUERYNODE_CURRENT_GROUP_ANNOTATION = 'milvus.io/querynode-current-group-id';

/**
 * Deployments the operator keeps without serving: the 0-replica `<name>-milvus-standalone` of a
 * cluster release, and every querynode group but the current one (two Deployments
 * `-querynode-0` / `-querynode-1` in rollingMode 2; the resource's annotation
 * milvus.io/querynode-current-group-id names the current group; without it, the group that runs
 * replicas on a real image).
 */
export function operatorIdleDeployments(cr: MilvusResource, components: MilvusComponent[]): Set<string> {
  const idle = new Set<string>();
  if (operatorMode(cr) === 'cluster') for (const c of components) if (c.component === 'standalone') idle.add(c.name);
  const groups = components.filter((c) => c.component === 'querynode' && c.deployment.metadata?.labels?.[QUERYNODE_GROUP_LABEL] !== undefined);
  if (groups.length > 1) {
    const current = cr.metadata.annotations?.[QUERYNODE_CURRENT_GROUP_ANNOTATION];
    const dummy = operatorDummyImage(cr);
    let serving = groups.filter((c) => current !== undefined && c.deployment.metadata?.labels?.[QUERYNODE_GROUP_LABEL] === current);
    if (!serving.length) serving = groups.filter((c) => c.replicas > 0 && c.image !== dummy);
    if (!serving.length) serving = groups.filter((c) => c.image !== dummy).slice(0, 1);
    for (const c of groups) if (!serving.includes(c)) idle.add(c.name);
  }
  return idle;
}

/**
 * Lowest version the components run: from their pods where they were read (a component with no
 * pod counts with its template); without pods read, from the templates of the components that
 * run replicas, or of all of them when the release is stopped.
 */
export function servingVersion(components: MilvusComponent[]): string | undefined {
  const fromPods = components.map(decidingVersions);
  if (components.length > 0 && fromPods.every((v) => v !== undefined)) return lowestVersion(fromPods.flat());
  const running = components.filter((c) => c.replicas !== 0);
  return lowestVersion((running.length ? running : components).map((c) => c.version));
}

const ORDER = new Map(MILVUS_COMPONENTS.map((c, i) => [c as string, i]));

async function assertNamespaceExists(kube: Kube, namespace: string): Promise<void> {
  try {
    await kube.core.readNamespace({ name: namespace });
  } catch (e) {
    if (isNotFound(e)) throw notFoundError(`namespaces "${namespace}" not found`);
    // Forbidden to read namespaces is common for namespaced users: say nothing more.
    if (isApiStatus(e, 403)) return;
  }
}

export async function discoverRelease(kube: Kube, name: string, namespace: string): Promise<Release> {
  const [helmResult, crResult] = await Promise.allSettled([
    readHelmRelease(kube, namespace, name),
    getMilvusResource(kube, namespace, name),
  ]);
  // A user may lack rights on one of the two sources (often milvus.io for Helm users): only
  // fail when neither can say whether the release exists.
  if (helmResult.status === 'rejected' && (crResult.status === 'rejected' || !crResult.value)) throw helmResult.reason;
  if (crResult.status === 'rejected' && (helmResult.status === 'rejected' || !helmResult.value)) throw crResult.reason;
  const helmStored = helmResult.status === 'fulfilled' ? helmResult.value : undefined;
  const milvusCr = crResult.status === 'fulfilled' ? crResult.value : undefined;
  if (!helmStored && !milvusCr) {
    await assertNamespaceExists(kube, namespace);
    throw notFoundError(
      `release "${name}" not found in namespace "${namespace}": no Helm release "${name}" and no Milvus resource "${name}"`,
      'check the name and the namespace (-n); list Helm releases with "helm list -A" and Operator ones with "kubectl get milvus -A"',
    );
  }
  const workloadSelector = milvusWorkloadSelector(name);
  const deployments = await kube.listAll(
    { verb: 'list', resource: 'deployments.apps', namespace },
    (o) => kube.apps.listNamespacedDeployment({ namespace, ...o }),
    { labelSelector: workloadSelector },
  );
  const seen = await readPods(kube, namespace, workloadSelector);
  return assembleRelease(name, namespace, helmStored, milvusCr, {
    deployments,
    seen,
    statefulSets: (labelSelector) =>
      kube.listAll({ verb: 'list', resource: 'statefulsets.apps', namespace }, (o) => kube.apps.listNamespacedStatefulSet({ namespace, ...o }), { labelSelector }),
  });
}

/**
 * The objects a release is assembled from, wherever they were read: asked of the server for one
 * release (discoverRelease), or cut out of one read of the whole cluster (discoverReleases).
 */
export interface ReleaseObjects {
  /** The release's Milvus Deployments (its workload selector). */
  deployments: V1Deployment[];
  /** Its pods and ReplicaSets; undefined when the pods may not be read. */
  seen: { pods: V1Pod[]; replicaSets: V1ReplicaSet[] } | undefined;
  /** The StatefulSets of the release's namespace that match a selector. */
  statefulSets(labelSelector: string): Promise<V1StatefulSet[]>;
}

/** One release from its Helm record or Milvus resource (the resource wins) and its objects. */
export async function assembleRelease(
  name: string,
  namespace: string,
  helmStored: StoredHelmRelease | undefined,
  milvusCr: MilvusResource | undefined,
  objects: ReleaseObjects,
): Promise<Release> {
  const method: InstallMethod = milvusCr ? 'operator' : 'helm';
  const workloadSelector = milvusWorkloadSelector(name);
  const { deployments, seen } = objects;
  const byDeployment = seen ? podsByDeployment(deployments, seen.replicaSets, seen.pods) : undefined;
  const all = deployments
    .map((d) => toComponent(d, method))
    .map((c) => (c ? withRunning(c, byDeployment?.get(c.name)) : c))
    .filter((c): c is MilvusComponent => c !== undefined)
    .sort((a, b) => (ORDER.get(a.component) ?? 99) - (ORDER.get(b.component) ?? 99) || a.name.localeCompare(b.name));
  const idle = method === 'operator' && milvusCr ? operatorIdleDeployments(milvusCr, all) : new Set<string>();
  const components = all.filter((c) => !idle.has(c.name));
  const idleComponents = all.filter((c) => idle.has(c.name));

  let helm: HelmInfo | undefined;
  let mode: Mode;
  let mq: MessageQueue;
  let pulsar: PulsarInfo | undefined;

  if (method === 'helm' && helmStored) {
    // Revision and status are the latest's; chart and values the last deployed one's (what was applied).
    const latest = helmStored.record;
    const rec = helmStored.lastDeployed?.record ?? latest;
    const userValues = (rec.config ?? {}) as Values;
    const computedValues = mergeValues((rec.chart?.values ?? {}) as Values, userValues);
    helm = {
      revision: latest.version,
      status: latest.info?.status ?? 'unknown',
      ...(helmStored.lastDeployed && helmStored.lastDeployed.record.version !== latest.version ? { lastDeployedRevision: helmStored.lastDeployed.record.version } : {}),
      chartName: rec.chart?.metadata?.name ?? 'milvus',
      chartVersion: rec.chart?.metadata?.version ?? 'unknown',
      appVersion: rec.chart?.metadata?.appVersion,
      userValues,
      computedValues,
      secretName: helmStored.objectName,
      fullname: helmFullname(name, computedValues),
    };
    const clusterEnabled = getPath(computedValues, 'cluster.enabled');
    mode = components.some((c) => c.component === 'standalone')
      ? 'standalone'
      : components.length > 0
        ? 'cluster'
        : clusterEnabled === false || clusterEnabled === 'false'
          ? 'standalone'
          : 'cluster';
    const standaloneDeployment = all.find((c) => c.component === 'standalone');
    const queue = helmQueue(computedValues, mode, {
      chartVersion: helm.chartVersion,
      revision: rec.version,
      standaloneDeployment: standaloneDeployment ? { name: standaloneDeployment.name, annotation: standaloneDeployment.deployment.metadata?.annotations?.[STANDALONE_MQ_ANNOTATION] } : null,
    });
    mq = queue.mq;
    helm.mqEvidence = queue.evidence;
    if (mq === 'pulsar-v2' || mq === 'pulsar-v3') {
      const app = mq === 'pulsar-v2' ? 'pulsar' : String(getPath(computedValues, 'pulsarv3.name') ?? 'pulsarv3');
      const selector = pulsarSelector('helm', name, app);
      const sets = await objects.statefulSets(selector);
      pulsar = {
        version: mq === 'pulsar-v2' ? 'v2' : 'v3',
        selector,
        evidence: `values ${mq === 'pulsar-v2' ? 'pulsar.enabled' : 'pulsarv3.enabled'}=true in chart ${helm.chartName}-${helm.chartVersion}`,
        statefulSets: sets,
      };
    }
  } else {
    const cr = milvusCr!;
    const spec = cr.spec ?? {};
    // The operator's own field (it defaults it to standalone); never the Deployments: in cluster
    // mode the operator keeps a 0-replica <name>-milvus-standalone Deployment too.
    mode = operatorMode(cr);
    const deps = (spec.dependencies ?? {}) as Values;
    const streamType = String(getPath(deps, 'msgStreamType') ?? '');
    const pulsarExternal = truthy(getPath(deps, 'pulsar.external'));
    if (streamType === 'pulsar' || (streamType === '' && mode === 'cluster')) {
      if (pulsarExternal) {
        mq = 'external-pulsar';
      } else {
        const selector = anyPulsarSelector('operator', name);
        const sets = await objects.statefulSets(selector);
        const chartVersion = getPath(deps, 'pulsar.inCluster.chartVersion');
        const live = pulsarVersionFromStatefulSets(sets);
        let version: 'v2' | 'v3';
        let evidence: string;
        if (live) {
          version = live;
          evidence = `StatefulSet label chart=${chartOfStatefulSet(sets[0]!)}`;
        } else if (chartVersion === 'pulsar-v2' || chartVersion === 'pulsar-v3') {
          version = chartVersion === 'pulsar-v2' ? 'v2' : 'v3';
          evidence = `spec.dependencies.pulsar.inCluster.chartVersion=${chartVersion}`;
        } else {
          version = 'v2';
          evidence = 'no chartVersion set and no Pulsar StatefulSet found: the operator defaults existing releases to pulsar-v2';
        }
        mq = version === 'v2' ? 'pulsar-v2' : 'pulsar-v3';
        pulsar = { version, selector, evidence, statefulSets: sets };
      }
    } else {
      const known: Record<string, MessageQueue> = { kafka: 'kafka', rocksmq: 'rocksmq', woodpecker: 'woodpecker', natsmq: 'natsmq' };
      mq = known[streamType] ?? (streamType === '' && mode === 'standalone' ? 'rocksmq' : 'unknown');
    }
  }

  const proxyComponent = mode === 'standalone' ? 'standalone' : 'proxy';
  const proxy = components.find((c) => c.component === proxyComponent);
  return {
    name,
    namespace,
    method,
    mode,
    ...(helm ? { helm } : {}),
    ...(milvusCr ? { operator: { resource: milvusCr, status: milvusCr.status?.status } } : {}),
    workloadSelector,
    components,
    milvusVersion: servingVersion(components) ?? versionFromImage(milvusCr?.spec?.components?.image),
    running: releaseRunning(components),
    idleComponents,
    mq,
    pulsar,
    proxyDeployment: proxy?.name,
    proxyPodSelector: componentSelector(method, name, proxyComponent),
  };
}

/** What a read of many releases covers: one namespace, or every namespace (undefined). */
export interface DiscoveryScope {
  namespace?: string | undefined;
}

export interface DiscoveredRelease {
  release: Release;
  /** When it was installed: Helm's first deployment, or the Milvus resource's creation. */
  createdAt: string | undefined;
  /** Our procedures recorded for it and not finished (from their checkpoints); undefined when they could not be read. */
  unfinished: string[] | undefined;
}

export interface DiscoveredReleases {
  releases: DiscoveredRelease[];
  /** What could not be read and what that leaves out, one line each. */
  warnings: string[];
  /** Set when a source of releases could not be read (the list may miss releases): its exit code. */
  partial?: ExitCodeValue | undefined;
  /** List calls made (one per collection) and HTTP requests (their pages). */
  calls: { lists: number; requests: number };
}

/**
 * Helm's records, but not the revisions it marked superseded (a release's latest revision and its
 * last deployed one never are: Helm marks a revision superseded once a later one replaced it):
 * a release keeps up to --history-max (10) revisions, each with the whole chart.
 */
const HELM_SELECTOR = 'owner=helm,status!=superseded';
/** The page size of Helm's record lists: each record holds a whole chart, so pages stay small. */
const HELM_PAGE = 100;
const PAGE = 500;
const CHECKPOINT_SELECTOR = 'app.kubernetes.io/managed-by=kubectl-milvus';
const RELEASE_LABEL = 'kubectl-milvus.io/release';

const isForbidden = (e: unknown) => e instanceof CliError && e.exitCode === ExitCode.FORBIDDEN;

/**
 * Every Milvus release in the scope, Helm and Operator alike, read with a fixed number of list
 * calls whatever the number of releases (Deployments, pods, StatefulSets, Helm records in Secrets
 * and ConfigMaps, Milvus resources, our checkpoints), each across the scope's namespaces and
 * paged; each release is then assembled exactly as discoverRelease assembles it, from the objects
 * its own selectors match. A list that fails is thrown, except: pods, checkpoints, Helm's
 * ConfigMaps, or one of the two sources of releases (Helm
 * records, Milvus resources) forbidden — said in `warnings`, and `partial` when releases may be
 * missing; a missing Milvus CRD (404) means no Operator releases.
 */
export async function discoverReleases(kube: Kube, scope: DiscoveryScope = {}): Promise<DiscoveredReleases> {
  const ns = scope.namespace;
  const where = ns ? `namespace "${ns}"` : 'any namespace';
  const calls = { lists: 0, requests: 0 };
  const warnings: string[] = [];
  let partial: ExitCodeValue | undefined;
  type PageOpts = { labelSelector?: string; limit: number; _continue?: string };
  /**
   * One list call over the scope (`group` '' for the core API), each page counted and handed to
   * onPage: the JSON as the server sends it, not the client's typed objects (a fleet's lists are
   * big, and typed deserialisation of them costs more time and memory than the rest).
   */
  const list = async <T>(group: string, resource: string, labelSelector: string, limit: number, onPage: (items: T[], first: boolean) => void, accept: 'object' | 'metadata' = 'object'): Promise<void> => {
    calls.lists++;
    const plural = resource.split('.')[0]!;
    const path = `${group ? `/apis/${group}` : '/api/v1'}${ns ? `/namespaces/${encodeURIComponent(ns)}` : ''}/${plural}`;
    await kube.eachPage<T>(
      { verb: 'list', resource, namespace: ns },
      (o: PageOpts) => {
        calls.requests++;
        return kube.rawListPage<T>(path, o, accept);
      },
      { labelSelector, limit },
      onPage,
    );
  };
  /** One list, each page cut down (`slim`) as it arrives: a fleet's pods are held only as what discovery reads of them. */
  const collect = <T>(group: string, resource: string, labelSelector: string, slim: (o: T) => T = withoutManagedFields, accept: 'object' | 'metadata' = 'object'): Promise<T[]> => {
    let items: T[] = [];
    return list<T>(group, resource, labelSelector, PAGE, (p, first) => {
      if (first) items = [];
      for (const o of p) items.push(slim(o));
    }, accept).then(() => items);
  };
  const milvusSelector = 'app.kubernetes.io/name=milvus';
  const helm = new HelmRecordIndex();
  const helmList = (storage: 'secret' | 'configmap') =>
    list<HelmObject>('', storage === 'secret' ? 'secrets' : 'configmaps', HELM_SELECTOR, HELM_PAGE, (p, first) => {
      if (first) helm.restart(storage);
      for (const o of p) helm.add(o, storage);
    });
  const settled = await Promise.allSettled([
    // Deployments and StatefulSets become part of each Release as the server sends them (without
    // their managedFields); nothing reads their timestamps, the one thing the typed client turns
    // into Dates. No ReplicaSets: podsByDeployment links a pod to its Deployment by the
    // controller's naming (`<deployment>-<pod-template-hash>`).
    collect<V1Deployment>('apps/v1', 'deployments.apps', milvusSelector),
    collect<V1Pod>('', 'pods', milvusSelector, slimPod),
    // Pulsar (v2, v3, the operator's) and the other charts' StatefulSets carry `release`.
    collect<V1StatefulSet>('apps/v1', 'statefulsets.apps', 'release'),
    helmList('secret'),
    helmList('configmap'),
    collect<MilvusResource>(`${MILVUS_GROUP}/${MILVUS_VERSION}`, 'milvuses.milvus.io', ''),
    collect<V1ConfigMap>('', 'configmaps', CHECKPOINT_SELECTOR),
  ]);
  const [deps, pods, sets, secrets, helmMaps, crs, cps] = settled;
  const failed = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? r.reason : undefined);
  // Required: what every release is assembled from.
  for (const r of [deps, sets]) if (r.status === 'rejected') throw r.reason;
  for (const r of [pods, helmMaps, cps]) if (r.status === 'rejected' && !isForbidden(r.reason)) throw r.reason;
  const crMissing = crs.status === 'rejected' && crs.reason instanceof CliError && crs.reason.exitCode === ExitCode.NOT_FOUND;
  const crForbidden = crs.status === 'rejected' && isForbidden(crs.reason);
  if (crs.status === 'rejected' && !crMissing && !crForbidden) throw crs.reason;
  if (secrets.status === 'rejected' && !isForbidden(secrets.reason)) throw secrets.reason;
  if (secrets.status === 'rejected' && crForbidden) throw secrets.reason;
  if (secrets.status === 'rejected') {
    warnings.push(`Helm releases in ${where} could not be read (${(failed(secrets) as Error).message}): only Operator releases are shown`);
    partial = ExitCode.FORBIDDEN;
  }
  if (crForbidden) {
    warnings.push(`Milvus resources in ${where} could not be read (${(failed(crs) as Error).message}): only Helm releases are shown`);
    partial = ExitCode.FORBIDDEN;
  }
  if (pods.status === 'rejected') warnings.push(`pods in ${where} could not be read (${(pods.reason as Error).message}): what runs is unknown, VERSION is <unknown>`);
  if (cps.status === 'rejected') warnings.push(`the checkpoints of kubectl-milvus procedures in ${where} could not be read (${(cps.reason as Error).message}): an interrupted procedure may be recorded`);

  const byNs = <T extends { metadata?: { namespace?: string } }>(items: T[]) => {
    const m = new Map<string, T[]>();
    for (const i of items) {
      const n = i.metadata?.namespace ?? '';
      const a = m.get(n);
      if (a) a.push(i);
      else m.set(n, [i]);
    }
    return (n: string) => m.get(n) ?? [];
  };
  const depsIn = byNs((deps as PromiseFulfilledResult<V1Deployment[]>).value);
  const setsIn = byNs((sets as PromiseFulfilledResult<V1StatefulSet[]>).value);
  const podsIn = pods.status === 'fulfilled' ? byNs(pods.value) : undefined;
  const cpsIn = cps.status === 'fulfilled' ? byNs(cps.value) : undefined;
  const crList = crs.status === 'fulfilled' ? crs.value : [];
  const crOf = new Map(crList.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));

  // The releases: every Milvus resource, and every Helm release of the milvus chart or whose
  // name Milvus workloads carry (a renamed chart).
  const names = new Map<string, { namespace: string; name: string }>();
  for (const c of crList) names.set(`${c.metadata.namespace}/${c.metadata.name}`, { namespace: c.metadata.namespace ?? '', name: c.metadata.name });
  const stored = new Map<string, StoredHelmRelease>();
  for (const r of helm.releases()) {
    const k = `${r.namespace}/${r.name}`;
    const h = helm.get(r.namespace, r.name);
    if (!h) continue;
    const chart = (h.lastDeployed ?? h).record.chart?.metadata?.name;
    if (chart !== 'milvus') {
      const sel = parseSelector(milvusWorkloadSelector(r.name));
      if (!depsIn(r.namespace).some((d) => selectorMatches(sel, d.metadata?.labels))) continue;
    }
    stored.set(k, h);
    if (!names.has(k)) names.set(k, r);
  }

  const releases: DiscoveredRelease[] = [];
  for (const [k, { namespace, name }] of [...names].sort(([a], [b]) => a.localeCompare(b))) {
    const sel = parseSelector(milvusWorkloadSelector(name));
    const mine = <T extends { metadata?: { labels?: Record<string, string> } }>(xs: T[]) => xs.filter((x) => selectorMatches(sel, x.metadata?.labels));
    const cr = crOf.get(k);
    const h = stored.get(k);
    const release = await assembleRelease(name, namespace, h, cr, {
      deployments: mine(depsIn(namespace)),
      seen: podsIn ? { pods: mine(podsIn(namespace)), replicaSets: [] } : undefined,
      statefulSets: async (labelSelector) => {
        const want = parseSelector(labelSelector);
        return setsIn(namespace).filter((s) => selectorMatches(want, s.metadata?.labels));
      },
    });
    const createdAt = cr ? cr.metadata.creationTimestamp : h?.record.info?.first_deployed;
    releases.push({ release, createdAt, unfinished: cpsIn ? unfinishedIn(cpsIn(namespace), name) : undefined });
  }
  return { releases, warnings, partial, calls };
}

type Meta = { metadata?: { managedFields?: unknown } };
function withoutManagedFields<T>(o: T): T {
  if ((o as Meta).metadata?.managedFields) delete (o as Meta).metadata!.managedFields;
  return o;
}

/** What podsByDeployment and withRunning read of a pod. */
export function slimPod(p: V1Pod): V1Pod {
  const m = p.metadata ?? {};
  return {
    metadata: { name: m.name, namespace: m.namespace, labels: m.labels, ownerReferences: m.ownerReferences, ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}) },
    spec: { containers: (p.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image })) },
    status: { phase: p.status?.phase },
  };
}

/** The unfinished procedures of a release among our checkpoint ConfigMaps (a checkpoint that does not parse is named as one). */
function unfinishedIn(maps: V1ConfigMap[], release: string): string[] {
  const out: string[] = [];
  for (const c of maps.filter((m) => m.metadata?.labels?.[RELEASE_LABEL] === release && m.data?.['checkpoint.json'])) {
    try {
      const cp = JSON.parse(c.data!['checkpoint.json']!) as { procedure?: string; finished?: boolean };
      if (!cp.finished) out.push(cp.procedure ?? 'unknown');
    } catch {
      out.push(`unreadable checkpoint configmap/${c.metadata?.name}`);
    }
  }
  return out;
}
