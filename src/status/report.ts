/**
 * The facts `status` shows, computed from a discovered Release: component health, dependency
 * health, which upgrade procedures apply, and the risks an operator must know before touching it.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import semver from 'semver';
import type { Kube } from '../kube/client.js';
import { decidingVersions, unsettledChange } from '../release/discover.js';
import { kafkaRunsInCluster } from '../release/kafka.js';
import { etcdSelector, kafkaSelector, minioSelector } from '../release/labels.js';
import type { HelmInfo, Release, RolloutState } from '../release/types.js';
import { sortVersions, versionAtLeast, versionBelow } from '../release/version.js';
import { describeVersions } from './versions-text.js';
import { getPath, hasPath, truthy } from '../util/values.js';
import { goneImageRisks } from '../health/image-checks.js';
import { queueSource, type EtcdQueueRead } from './queue-source.js';

export interface ComponentStatus {
  component: string;
  deployment: string;
  ready: string;
  upToDate: number;
  available: number;
  /** The template's image (what the Deployment asks for). */
  image: string;
  /** The images its pods run (undefined: pods not read). */
  running?: string[] | undefined;
  /** kubectl's rollout state, a paused change told apart. */
  rollout?: RolloutState | undefined;
  paused?: boolean | undefined;
  /** Set when the template and the pods disagree or the rollout is paused: what is half done. */
  unsettled?: string | undefined;
  strategy: string;
  healthy: boolean;
}

export interface DependencyStatus {
  dependency: string;
  kind: string;
  name: string;
  ready: string;
  healthy: boolean;
  /** The images of its pod template. */
  images?: string[];
}

export interface ProcedureAdvice {
  procedure: 'rolling-update' | 'meta-migrate' | 'pulsar-upgrade' | 'mq-switch';
  applies: boolean;
  reason: string;
}

export interface ProcedureInProgress {
  procedure: string;
  checkpoint: string;
  stepsDone: string[];
  startedAt: string;
  finished: boolean;
}

export interface StatusReport {
  name: string;
  namespace: string;
  installedBy: string;
  mode: string;
  /** The lowest version the pods run (what procedures assume). */
  milvusVersion: string | undefined;
  /** One version, "mixed", or undefined when it cannot be told. */
  running: string | undefined;
  /** Each version the pods run, with the components running it (lowest first). */
  runningVersions: Array<{ version: string; components: string[] }>;
  messageQueue: string;
  /** Where the queue is named: Helm values, the Operator resource, etcd's mq.type (3.0+). */
  messageQueueSource?: string | undefined;
  /** What etcd's mq.type says (3.0+), or why it could not be read. */
  messageQueueEtcd?: string | undefined;
  pulsar: { version: string; selector: string; evidence: string } | undefined;
  proxy: string | undefined;
  operatorStatus: string | undefined;
  healthy: boolean;
  components: ComponentStatus[];
  dependencies: DependencyStatus[];
  procedures: ProcedureAdvice[];
  /** Procedures of this plugin recorded for the release (checkpoints in the cluster). */
  inProgress: ProcedureInProgress[];
  risks: string[];
}

/**
 * Our checkpoints of the release (labelled ConfigMaps). A list that fails, or a checkpoint that
 * does not parse, is reported as a problem: "could not read" is never "nothing in progress".
 */
async function checkpoints(kube: Kube, release: Release): Promise<{ items: ProcedureInProgress[]; problems: string[] }> {
  let cms;
  try {
    cms = await kube.listAll(
      { verb: 'list', resource: 'configmaps', namespace: release.namespace },
      (o) => kube.core.listNamespacedConfigMap({ namespace: release.namespace, ...o }),
      { labelSelector: `app.kubernetes.io/managed-by=kubectl-milvus,kubectl-milvus.io/release=${release.name}` },
    );
  } catch (e) {
    return { items: [], problems: [`could not list the checkpoints of kubectl-milvus procedures (${(e as Error).message}): an interrupted procedure may be recorded; check "kubectl get configmap -n ${release.namespace} -l app.kubernetes.io/managed-by=kubectl-milvus" before anything else`] };
  }
  const items: ProcedureInProgress[] = [];
  const problems: string[] = [];
  for (const c of cms.filter((x) => x.data?.['checkpoint.json'])) {
    try {
      const cp = JSON.parse(c.data!['checkpoint.json']!) as { procedure: string; completed: Array<{ id: string }>; startedAt: string; finished: boolean };
      items.push({ procedure: cp.procedure, checkpoint: `configmap/${c.metadata!.name}`, stepsDone: cp.completed.map((x) => x.id), startedAt: cp.startedAt, finished: cp.finished });
    } catch (e) {
      problems.push(`configmap/${c.metadata?.name} holds a checkpoint that does not parse (${(e as Error).message}): look at it before running a procedure on this release`);
    }
  }
  return { items, problems };
}

/**
 * The unfinished procedures recorded for the release, one line each ("upgrade in configmap/… (steps
 * done: …)"), and any checkpoint that could not be read: for a refusal to name what a resume continues.
 */
export async function unfinishedProcedures(kube: Kube, release: Release): Promise<string[]> {
  const { items, problems } = await checkpoints(kube, release);
  return [...items.filter((p) => !p.finished).map((p) => `${p.procedure} in ${p.checkpoint} (steps done: ${p.stepsDone.join(', ') || 'none'})`), ...problems];
}

const MQ_LABEL: Record<string, string> = {
  'pulsar-v2': 'Pulsar v2',
  'pulsar-v3': 'Pulsar v3',
  'external-pulsar': 'external Pulsar',
  kafka: 'Kafka',
  rocksmq: 'RocksMQ',
  woodpecker: 'Woodpecker',
  natsmq: 'NATS',
  unknown: 'unknown',
};

const COORDS = new Set(['mixcoord', 'rootcoord', 'datacoord', 'querycoord', 'indexcoord']);

function statefulSetStatus(dependency: string, s: V1StatefulSet): DependencyStatus {
  const want = s.spec?.replicas ?? 1;
  const ready = s.status?.readyReplicas ?? 0;
  return { dependency, kind: 'StatefulSet', name: s.metadata?.name ?? '', ready: `${ready}/${want}`, healthy: ready >= want, images: (s.spec?.template.spec?.containers ?? []).map((c) => c.image ?? '') };
}

async function dependencyStatuses(kube: Kube, release: Release): Promise<DependencyStatus[]> {
  const ns = release.namespace;
  const out: DependencyStatus[] = [];
  const families: Array<[string, string]> = [
    ['etcd', etcdSelector(release.method, release.name)],
    ['minio', minioSelector(release.method, release.name)],
  ];
  for (const [dep, labelSelector] of families) {
    const [sets, deps] = await Promise.all([
      kube.listAll({ verb: 'list', resource: 'statefulsets.apps', namespace: ns }, (o) => kube.apps.listNamespacedStatefulSet({ namespace: ns, ...o }), { labelSelector }),
      kube.listAll({ verb: 'list', resource: 'deployments.apps', namespace: ns }, (o) => kube.apps.listNamespacedDeployment({ namespace: ns, ...o }), { labelSelector }),
    ]);
    for (const s of sets) out.push(statefulSetStatus(dep, s));
    for (const d of deps) {
      const want = d.spec?.replicas ?? 1;
      const ready = d.status?.readyReplicas ?? 0;
      out.push({ dependency: dep, kind: 'Deployment', name: d.metadata?.name ?? '', ready: `${ready}/${want}`, healthy: ready >= want, images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? '') });
    }
  }
  for (const s of release.pulsar?.statefulSets ?? []) {
    out.push(statefulSetStatus(`pulsar ${release.pulsar!.version}`, s));
  }
  if (kafkaRunsInCluster(release)) {
    const labelSelector = kafkaSelector(release.method, release.name);
    const sets = await kube.listAll({ verb: 'list', resource: 'statefulsets.apps', namespace: ns }, (o) => kube.apps.listNamespacedStatefulSet({ namespace: ns, ...o }), { labelSelector });
    // Brokers "kafka", their ZooKeeper "kafka zookeeper".
    for (const s of sets) out.push(statefulSetStatus(s.metadata?.labels?.['app.kubernetes.io/name'] === 'zookeeper' ? 'kafka zookeeper' : 'kafka', s));
  }
  return out;
}

export function adviseProcedures(release: Release): ProcedureAdvice[] {
  const v = release.milvusVersion;
  const rolling: ProcedureAdvice =
    v === undefined
      ? { procedure: 'rolling-update', applies: false, reason: 'Milvus version unknown (image tag is not a version)' }
      : versionAtLeast(v, '2.2.3')
        ? release.mode === 'standalone' && (release.mq === 'rocksmq' || release.mq === 'natsmq')
          ? { procedure: 'rolling-update', applies: false, reason: `standalone with ${MQ_LABEL[release.mq]} cannot roll; upgrade with a restart` }
          : { procedure: 'rolling-update', applies: true, reason: `Milvus ${v} >= 2.2.3` }
        : { procedure: 'rolling-update', applies: false, reason: `Milvus ${v} < 2.2.3` };
  const meta: ProcedureAdvice =
    v !== undefined && versionAtLeast(v, '2.1.0') && versionBelow(v, '2.2.0')
      ? { procedure: 'meta-migrate', applies: true, reason: `Milvus ${v} is 2.1.x: metadata must be migrated before any 2.2+ image` }
      : { procedure: 'meta-migrate', applies: false, reason: v ? `Milvus ${v} is not 2.1.x` : 'Milvus version unknown' };
  const pulsar: ProcedureAdvice =
    release.mq === 'pulsar-v2'
      ? { procedure: 'pulsar-upgrade', applies: true, reason: 'Pulsar v2 in use; v3 available' }
      : { procedure: 'pulsar-upgrade', applies: false, reason: `message queue is ${MQ_LABEL[release.mq]}` };
  const advice = [rolling, meta, pulsar];
  const on30 = versionAtLeast(v, '3.0.0');
  // The Pulsar v3 chart is end of life (milvus-helm#294): a Pulsar v3 release is a candidate for Woodpecker.
  if (release.mq === 'pulsar-v3' || on30) {
    const from = ['pulsar-v2', 'pulsar-v3', 'external-pulsar', 'kafka', 'rocksmq'].includes(release.mq);
    advice.push(
      release.mq === 'woodpecker'
        ? { procedure: 'mq-switch', applies: false, reason: 'the release runs on Woodpecker' }
        : !from
          ? { procedure: 'mq-switch', applies: false, reason: `message queue is ${MQ_LABEL[release.mq]}` }
          : !on30
            ? { procedure: 'mq-switch', applies: false, reason: `candidate: the Pulsar v3 chart is end of life (milvus-helm#294); the switch to Woodpecker needs Milvus 3.0, this runs ${v ?? 'an unknown version'}` }
            : { procedure: 'mq-switch', applies: true, reason: `${release.mq === 'pulsar-v3' ? 'candidate: the Pulsar v3 chart is end of life (milvus-helm#294); ' : ''}Milvus ${v} can switch ${MQ_LABEL[release.mq]} to Woodpecker` },
    );
  }
  return advice;
}

export function assessRisks(release: Release, components: ComponentStatus[], deps: DependencyStatus[]): string[] {
  const risks: string[] = [];
  const unhealthy = components.filter((c) => !c.healthy).map((c) => c.component);
  if (unhealthy.length > 0) risks.push(`not all components are ready (${unhealthy.join(', ')}): fix them before any upgrade`);
  const badDeps = deps.filter((d) => !d.healthy).map((d) => d.name);
  if (badDeps.length > 0) risks.push(`dependencies not ready: ${badDeps.join(', ')}`);
  if (components.length === 0) risks.push('no Milvus Deployments found with the release labels: the release may be stopped or not installed by a known method');
  const byVersion = runningVersions(release);
  if (byVersion.length > 1) risks.push(`components run different versions (${describeVersions(byVersion)}): an upgrade may be half done`);
  const images = new Set(components.flatMap((c) => (c.running?.length ? c.running : [c.image])));
  if (byVersion.length <= 1 && images.size > 1) risks.push(`components run different images (${[...images].join(', ')}): an upgrade may be half done`);
  const unsettled = components.map((c) => c.unsettled).filter((u): u is string => u !== undefined);
  if (unsettled.length) risks.push(`rollouts not finished (${unsettled.join('; ')}): a change is half done; finish or undo it before any other procedure`);
  if (components.some((c) => c.running === undefined)) risks.push('the pods of the release could not be read: what runs is unknown, the versions shown are the templates\'');
  const v = release.milvusVersion;
  if (v && versionAtLeast(v, '2.1.0') && versionBelow(v, '2.2.0')) {
    risks.push('Milvus 2.1.x: changing the image to 2.2+ without meta-migrate makes collections and indexes disappear');
  }
  if (release.method === 'helm' && release.helm) {
    const user = release.helm.userValues;
    const computed = release.helm.computedValues;
    if (release.mq === 'pulsar-v2' && !hasPath(user, 'pulsar.enabled')) {
      risks.push(
        'Pulsar v2 is enabled only by the chart default: "helm upgrade" to chart >= 4.2.27 switches to an empty Pulsar v3 and loses unconsumed messages; set pulsar.enabled=true and pulsarv3.enabled=false explicitly, or run pulsar-upgrade',
      );
    }
    if (truthy(getPath(computed, 'pulsar.enabled')) && truthy(getPath(computed, 'pulsarv3.enabled'))) {
      risks.push('both Pulsar v2 and Pulsar v3 are deployed; Milvus uses v2');
    }
    const unpinned = unpinnedImageRisk(release.helm, release.milvusVersion);
    if (unpinned) risks.push(unpinned);
  }
  const noStandby = components.filter((c) => COORDS.has(c.component) && c.strategy !== 'RollingUpdate').map((c) => c.component);
  if (noStandby.length > 0) {
    risks.push(`coordinators without active-standby (${noStandby.join(', ')}, strategy Recreate) cannot roll without downtime`);
  }
  if (release.method === 'operator') {
    const st = release.operator?.status;
    if (st && st !== 'Healthy') risks.push(`the Milvus resource reports status ${st}`);
    const rolling = release.operator?.resource.spec?.components?.enableRollingUpdate;
    if (rolling === false) risks.push('spec.components.enableRollingUpdate is false: an image change restarts every component at once');
  }
  risks.push(...goneImageRisks(release.method, deps));
  if (release.mode === 'standalone' && release.mq === 'rocksmq') {
    risks.push('standalone with RocksMQ keeps the message queue on the Milvus volume: back it up before upgrades');
  }
  return risks;
}

/** The first chart whose default Milvus is 3.0 (v3.0.1; zilliztech/milvus-helm). */
export const CHART_DEFAULT_30 = '5.0.27';

/**
 * A Helm release on a chart whose default image is Milvus 3.0 and whose image tag is only that
 * default (image.all.tag not in the user values): a plain "helm upgrade" (of any value, or to a
 * later chart) takes it to the chart's Milvus without the metadata snapshot the way back needs.
 */
export function unpinnedImageRisk(h: Pick<HelmInfo, 'chartVersion' | 'userValues'>, running: string | undefined): string | undefined {
  const chart = semver.coerce(h.chartVersion)?.version;
  if (!chart || semver.lt(chart, CHART_DEFAULT_30) || hasPath(h.userValues, 'image.all.tag')) return undefined;
  const pin = running ? `image.all.tag=v${running}` : 'image.all.tag';
  const to = running && semver.valid(running) && semver.gte(running, '3.0.0') ? "to the chart's default Milvus version" : "to the chart's Milvus 3.0";
  return `chart ${h.chartVersion} defaults Milvus to 3.0 and image.all.tag is not pinned${running ? ` (Milvus ${running} runs)` : ''}: a plain "helm upgrade" takes the release ${to} without a metadata snapshot, the only way back; pin ${pin} in the values, and reach a new version with "upgrade --to X.Y.Z"`;
}

/** Each version the serving components' pods run, with its components (a component with no pod: its template). */
export function runningVersions(release: Release): Array<{ version: string; components: string[] }> {
  const per = release.components.map((c) => ({ c: c.component, vs: decidingVersions(c) ?? [] }));
  return sortVersions(per.flatMap((p) => p.vs)).map((version) => ({ version, components: [...new Set(per.filter((p) => p.vs.includes(version)).map((p) => p.c))] }));
}


/** Each component's row: READY as ready/desired, healthy when every replica is ready and updated. */
export function componentStatuses(release: Release): ComponentStatus[] {
  return release.components.map((c) => ({
    component: c.component,
    deployment: c.name,
    ready: `${c.readyReplicas}/${c.replicas}`,
    upToDate: c.updatedReplicas,
    available: c.availableReplicas,
    image: c.image ?? '',
    running: c.runningImages,
    rollout: c.rollout,
    paused: c.paused,
    unsettled: unsettledChange(c),
    strategy: c.strategy ?? '',
    healthy: c.readyReplicas >= c.replicas && c.updatedReplicas >= c.replicas,
  }));
}

/** "Helm (chart milvus-4.2.8, revision 2, failed (last deployed: 1))": helm's latest revision, and the deployed one when it is another. */
export function installedByHelm(h: HelmInfo): string {
  const lastDeployed = h.lastDeployedRevision !== undefined ? ` (last deployed: ${h.lastDeployedRevision})` : '';
  return `Helm (chart ${h.chartName}-${h.chartVersion}, revision ${h.revision}, ${h.status}${lastDeployed})`;
}

export async function buildStatusReport(kube: Kube, release: Release, opts: { etcdQueue?: EtcdQueueRead | undefined } = {}): Promise<StatusReport> {
  const queue = queueSource(release, opts.etcdQueue);
  const components = componentStatuses(release);
  const dependencies = await dependencyStatuses(kube, release);
  const installedBy =
    release.method === 'helm' && release.helm
      ? installedByHelm(release.helm)
      : `Milvus Operator (milvus.io/v1beta1 Milvus ${release.name})`;
  const risks = assessRisks(release, components, dependencies);
  const { items: inProgress, problems } = await checkpoints(kube, release);
  for (const p of inProgress.filter((x) => !x.finished)) {
    risks.unshift(`an interrupted ${p.procedure} is recorded in ${p.checkpoint} (steps done: ${p.stepsDone.join(', ') || 'none'}): finish it with "${p.procedure} ${release.name} --resume" before anything else`);
  }
  risks.unshift(...problems);
  return {
    name: release.name,
    namespace: release.namespace,
    installedBy,
    mode: release.mode,
    milvusVersion: release.milvusVersion,
    running: release.running,
    runningVersions: runningVersions(release),
    messageQueue: queue.runs ? `${MQ_LABEL[queue.runs]} (switched; the installation still names ${MQ_LABEL[release.mq] ?? release.mq})` : (MQ_LABEL[release.mq] ?? release.mq),
    messageQueueSource: queue.source,
    messageQueueEtcd: queue.etcd,
    pulsar: release.pulsar ? { version: release.pulsar.version, selector: release.pulsar.selector, evidence: release.pulsar.evidence } : undefined,
    proxy: release.proxyDeployment ? `deployment/${release.proxyDeployment} (management API on port 9091)` : undefined,
    operatorStatus: release.operator?.status,
    healthy: components.length > 0 && components.every((c) => c.healthy) && dependencies.every((d) => d.healthy),
    components,
    dependencies,
    procedures: adviseProcedures(release),
    inProgress,
    risks,
  };
}
