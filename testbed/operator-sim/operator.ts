/**
 * SIMULATOR of Milvus Operator for the test bed (not the real operator; see README.md beside this
 * file for what blocked the real one). It reproduces, from the operator's source (zilliztech/
 * milvus-operator, summarised in the project's research notes, section 5), the behaviour that
 * kubectl-milvus reads and changes:
 *
 * Milvus (milvus.io/v1beta1)
 * - webhook defaults written into the spec once: components.image, dependencies.msgStreamType
 *   (cluster: pulsar, standalone: rocksmq), components.enableRollingUpdate (true, false for
 *   standalone with rocksmq/natsmq; when true also config.<coord>.enableActiveStandby),
 *   dependencies.pulsar.inCluster.chartVersion (pulsar-v3 on a first start, else pulsar-v2);
 *   imageUpdateMode defaults to rollingUpgrade through the CRD schema;
 * - Deployments `<name>-milvus-<component>` labelled app.kubernetes.io/{instance,name=milvus,
 *   component,managed-by=milvus-operator} (proxy/standalone pods also milvus.io/service=true),
 *   owned by the Milvus resource; Service `<name>-milvus` (19530 milvus, 9091 metrics);
 *   topologies: standalone; cluster with mixcoord (default), separate coordinators (when
 *   spec.components has rootCoord/dataCoord/queryCoord/indexCoord and no mixCoord), or streaming
 *   (spec.components.streamingNode);
 * - replicas from spec.components.<component>.replicas (0 = stopped, -1 = left to an HPA);
 * - image changes: with enableRollingUpdate and imageUpdateMode rollingUpgrade one component at
 *   a time in the operator's dependency order (pkg/controllers/dependency_graph.go), the next one
 *   only when the previous has rolled out; rollingDowngrade in the reverse order; all/force, or
 *   rolling update disabled: every component at once;
 * - in-cluster dependencies as the operator's Helm releases name them, NOT owned by the Milvus
 *   resource: etcd (release `<name>-etcd`), MinIO (`<name>-minio`), Pulsar (`<name>-pulsar` for
 *   both chart versions: labels app=pulsar, release=<name>-pulsar, component=..., StatefulSet
 *   label chart=pulsar-2.7.8|pulsar-3.3.0, the same PVC names for v2 and v3), Kafka
 *   (`<name>-kafka`); a v3 bookie started on a bookie volume left by v2 never becomes ready (the
 *   real cookie mismatch); an in-place chartVersion change upgrades the Pulsar StatefulSets;
 * - finalizer milvus.milvus.io/finalizer: on deletion, each in-cluster dependency with
 *   deletionPolicy Delete is uninstalled and, with pvcDeletion, its PVCs are deleted; Retain (the
 *   default) leaves it running; the Milvus Deployments go with their owner;
 * - status.status Pending/Healthy/Unhealthy/Deleting/Stopped, conditions EtcdReady,
 *   StorageReady, MsgStreamReady, MilvusReady, MilvusUpdated (reasons MilvusComponentsUpdated,
 *   MilvusUpgradingImage, MilvusDowngradingImage, MilvusComponentsUpdating), currentImage,
 *   observedGeneration.
 *
 * MilvusUpgrade (milvus.io/v1beta1): the state machine of pkg/controllers/milvusupgrade_fsm.go,
 * states run one after another within a reconcile as there:
 *   "" -> OldVersionStopping -> BackupMeta -> UpdatingMeta -> NewVersionStarting -> Succeeded;
 *   a failed backup pod -> BakupMetaFailed, retried maxRetry times (pod deleted, BackupMeta
 *   again), then, like UpdateMetaFailed, the rollback path when rollbackIfFailed (default true):
 *   RollbackNewVersionStopping -> RollbackRestoringOldMeta -> RollbackOldVersionStarting ->
 *   RollbackedSucceeded (or RollbackFailed); operation: rollback starts on the rollback path.
 *   Stopping sets every component's replicas to 0, then annotates milvus.io/stopped-at once every
 *   Deployment is at 0 and waits for the sessions to expire (the real operator: 1 minute; here
 *   TESTBED_DEREGISTER_SECONDS, default 3). Objects: PVC `<upgrade>` (10Gi, unless
 *   spec.backupPVC), ConfigMaps and Pods `<upgrade>-backup-meta|update-meta|rollback-meta` labelled
 *   milvus.io/upgrade and milvus.io/task-kind, container named after the task kind, running
 *   spec.toolImage (the test bed's KWOK stages complete or fail them, see faults/controller.ts).
 *
 * Event driven: informers on the resources above feed a work queue; a resync every 30 s is the
 * safety net.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1StatefulSet,
} from '@kubernetes/client-node';

type Obj = Record<string, any>;
type Log = (m: string) => void;

const FINALIZER = 'milvus.milvus.io/finalizer';
const GEN = 'testbed.kubectl-milvus.io/pulsar-generation';
const OWNER_LABEL = 'testbed.kubectl-milvus.io/milvus';
const STOPPED_AT = 'milvus.io/stopped-at';
const G = { group: 'milvus.io', version: 'v1beta1', plural: 'milvuses' };
const U = { group: 'milvus.io', version: 'v1beta1', plural: 'milvusupgrades' };
const DEFAULT_IMAGE = 'milvusdb/milvus:v2.6.11';
const DEFAULT_TOOL_IMAGE = 'milvusdb/meta-migration:v2.2.0-bugfix-20230112';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const notFound = (e: unknown) => (e as { code?: number }).code === 404;

/** Component name -> its key under spec.components. */
const KEY: Record<string, string> = {
  standalone: 'standalone',
  mixcoord: 'mixCoord',
  rootcoord: 'rootCoord',
  datacoord: 'dataCoord',
  querycoord: 'queryCoord',
  indexcoord: 'indexCoord',
  proxy: 'proxy',
  querynode: 'queryNode',
  datanode: 'dataNode',
  indexnode: 'indexNode',
  streamingnode: 'streamingNode',
};

/** The components of a Milvus resource in the operator's rolling-upgrade order. */
export function topology(spec: Obj, currentImage?: string): string[] {
  if (spec.mode !== 'cluster') return ['standalone'];
  const c = spec.components ?? {};
  // Operator v1.3.7 (milvus_types.go IsVersionGreaterThan2_6, components.go
  // GetDependenciesFor2_6Upgrade): an image above 2.5.999 means the 2.6 components (mixcoord and a
  // streaming node, no separate coordinators, no indexnode), and while the running image is still
  // below 2.6 the upgrade order starts with the streaming node.
  if (isAbove25(c.image)) return isAbove25(currentImage) ? ['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy'] : ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy'];
  if (c.streamingNode) return ['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy'];
  if (!c.mixCoord && (c.rootCoord || c.dataCoord || c.queryCoord || c.indexCoord)) {
    return ['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'querynode', 'datanode', 'proxy'];
  }
  return ['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy'];
}

function isAbove25(image: string | undefined): boolean {
  const m = /:v?(\d+)\.(\d+)\.\d+/.exec(image ?? '');
  return Boolean(m && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 6)));
}

function msgStream(spec: Obj): string {
  return spec.dependencies?.msgStreamType || (spec.mode === 'cluster' ? 'pulsar' : 'rocksmq');
}

/** The webhook's defaulting, as a merge patch of what is missing (undefined when nothing is). */
export function webhookDefaults(m: Obj): Obj | undefined {
  const spec = m.spec ?? {};
  const patch: Obj = {};
  const comps: Obj = {};
  const deps: Obj = {};
  if (!spec.components?.image) comps.image = DEFAULT_IMAGE;
  const mq = msgStream(spec);
  if (!spec.dependencies?.msgStreamType) deps.msgStreamType = mq;
  let rolling = spec.components?.enableRollingUpdate;
  if (rolling === undefined || rolling === null) {
    rolling = !(spec.mode !== 'cluster' && (mq === 'rocksmq' || mq === 'natsmq'));
    comps.enableRollingUpdate = rolling;
  }
  if (mq === 'pulsar' && !spec.dependencies?.pulsar?.external && !spec.dependencies?.pulsar?.inCluster?.chartVersion) {
    deps.pulsar = { inCluster: { chartVersion: m.status?.status ? 'pulsar-v2' : 'pulsar-v3' } };
  }
  if (Object.keys(comps).length) patch.components = comps;
  if (Object.keys(deps).length) patch.dependencies = deps;
  if (rolling) {
    const cfg: Obj = {};
    for (const coord of ['rootCoord', 'dataCoord', 'indexCoord', 'queryCoord']) {
      if (spec.config?.[coord]?.enableActiveStandby !== true) cfg[coord] = { enableActiveStandby: true };
    }
    if (Object.keys(cfg).length) patch.config = cfg;
  }
  return Object.keys(patch).length ? { spec: patch } : undefined;
}

const rolledOut = (d: V1Deployment) => {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  return (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) && (s.updatedReplicas ?? 0) >= want && (s.readyReplicas ?? 0) >= want && (s.replicas ?? 0) <= want;
};
const setReady = (x: V1StatefulSet) => (x.status?.readyReplicas ?? 0) >= (x.spec?.replicas ?? 1) && (x.status?.observedGeneration ?? 0) >= (x.metadata?.generation ?? 0) && (x.status?.updateRevision === undefined || x.status.currentRevision === x.status.updateRevision || (x.status.updatedReplicas ?? 0) >= (x.spec?.replicas ?? 1));
const imageOf = (d: V1Deployment | V1StatefulSet) => d.spec?.template?.spec?.containers?.[0]?.image;

/** A work queue: one reconcile at a time, keys deduplicated, retries and requeues by timer. */
class Queue {
  private pending = new Map<string, () => Promise<number | void>>();
  private timers = new Map<string, NodeJS.Timeout>();
  private running = false;
  constructor(private log: Log) {}
  add(key: string, fn: () => Promise<number | void>) {
    this.pending.set(key, fn);
    void this.drain();
  }
  later(key: string, fn: () => Promise<number | void>, ms: number) {
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.add(key, fn);
      }, ms),
    );
  }
  stop() {
    for (const t of this.timers.values()) clearTimeout(t);
    this.pending.clear();
  }
  private async drain() {
    if (this.running) return;
    this.running = true;
    while (this.pending.size) {
      const [key, fn] = this.pending.entries().next().value!;
      this.pending.delete(key);
      try {
        const again = await fn();
        if (again) this.later(key, fn, again);
      } catch (e) {
        const code = (e as { code?: number }).code;
        const body = String((e as { body?: unknown }).body ?? '');
        if (code === 404) continue;
        if (code === 403 && body.includes('being terminated')) {
          // The namespace is going away: retry quietly until the resource is gone.
          this.later(key, fn, 2000);
          continue;
        }
        if (code !== 409) this.log(`${key}: ${(e as Error).message.split('\n')[0]}${body ? ` ${body.slice(0, 300)}` : ''}`);
        this.later(key, fn, code === 409 ? 200 : 1000);
      }
    }
    this.running = false;
  }
}

export function startOperatorSim(kc: KubeConfig, log: Log, opts: { deregisterSeconds?: number } = {}): { stop(): Promise<void> } {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const deregisterMs = (opts.deregisterSeconds ?? Number(process.env.TESTBED_DEREGISTER_SECONDS ?? 3)) * 1000;
  const queue = new Queue(log);

  const getMilvus = (namespace: string, name: string) => custom.getNamespacedCustomObject({ ...G, namespace, name }) as Promise<Obj>;
  const patchMilvus = (namespace: string, name: string, body: Obj) => custom.patchNamespacedCustomObject({ ...G, namespace, name, body }, merge) as Promise<Obj>;
  const patchMilvusStatus = (namespace: string, name: string, body: Obj) => custom.patchNamespacedCustomObjectStatus({ ...G, namespace, name, body }, merge) as Promise<Obj>;

  // ---------------------------------------------------------------- Milvus workloads

  function owner(m: Obj) {
    return [{ apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', name: m.metadata.name, uid: m.metadata.uid, controller: true, blockOwnerDeletion: true }];
  }

  function deployment(m: Obj, component: string, image: string, replicas: number, rolling: boolean): V1Deployment {
    const name = m.metadata.name;
    const selector = { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/component': component };
    const service = component === 'proxy' || component === 'standalone';
    return {
      metadata: { name: `${name}-milvus-${component}`, labels: { ...selector, 'app.kubernetes.io/managed-by': 'milvus-operator' }, ownerReferences: owner(m) },
      spec: {
        replicas,
        progressDeadlineSeconds: 60,
        strategy: rolling ? { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...selector, ...(service ? { 'milvus.io/service': 'true' } : {}) } },
          spec: {
            containers: [
              {
                name: component,
                image,
                args: ['milvus', 'run', component],
                ports: [...(service ? [{ name: 'milvus', containerPort: 19530 }] : []), { name: 'metrics', containerPort: 9091 }],
              },
            ],
          },
        },
      },
    };
  }

  async function ensureService(ns: string, name: string, labels: Record<string, string>, selector: Record<string, string>, ports: Array<{ name: string; port: number }>, m?: Obj) {
    try {
      await core.readNamespacedService({ name, namespace: ns });
    } catch (e) {
      if (!notFound(e)) throw e;
      await core.createNamespacedService({ namespace: ns, body: { metadata: { name, labels, ...(m ? { ownerReferences: owner(m) } : {}) }, spec: { selector, ports } } });
    }
  }

  // ---------------------------------------------------------------- dependencies

  interface Dep {
    release: string;
    sets: V1StatefulSet[];
  }

  function depSet(m: Obj, name: string, selector: Record<string, string>, extra: Record<string, string>, image: string, claims: string[], port: number): V1StatefulSet {
    return {
      metadata: { name, labels: { ...selector, ...extra, [OWNER_LABEL]: m.metadata.name } },
      spec: {
        replicas: 1,
        serviceName: name,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selector },
        template: { metadata: { labels: { ...selector, ...(extra.cluster ? { cluster: extra.cluster } : {}) } }, spec: { containers: [{ name, image, ports: [{ name: 'main', containerPort: port }] }] } },
        volumeClaimTemplates: claims.map((c) => ({ metadata: { name: c }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } })),
      },
    };
  }

  /** Creates the StatefulSet, or brings its chart label and image to the wanted ones (a helm upgrade). */
  async function applySet(ns: string, s: V1StatefulSet): Promise<V1StatefulSet> {
    const name = s.metadata!.name!;
    let cur: V1StatefulSet;
    try {
      cur = await apps.readNamespacedStatefulSet({ name, namespace: ns });
    } catch (e) {
      if (!notFound(e)) throw e;
      const created = await apps.createNamespacedStatefulSet({ namespace: ns, body: s });
      const port = s.spec!.template.spec!.containers[0]!.ports![0]!.containerPort;
      await ensureService(ns, name, s.metadata!.labels!, s.spec!.selector.matchLabels!, [{ name: 'main', port }]);
      return created;
    }
    const wantChart = s.metadata!.labels!.chart;
    const wantImage = imageOf(s);
    if ((wantChart && cur.metadata?.labels?.chart !== wantChart) || imageOf(cur) !== wantImage) {
      const c0 = cur.spec!.template.spec!.containers[0]!;
      return apps.patchNamespacedStatefulSet(
        { name, namespace: ns, body: { metadata: { labels: { chart: wantChart ?? null } }, spec: { template: { spec: { containers: [{ name: c0.name, image: wantImage }] } } } } },
        strategic,
      );
    }
    return cur;
  }

  async function deleteRelease(ns: string, selector: string) {
    const sets = await apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: selector });
    for (const s of sets.items) await apps.deleteNamespacedStatefulSet({ name: s.metadata!.name!, namespace: ns }).catch(() => undefined);
    const svcs = await core.listNamespacedService({ namespace: ns, labelSelector: selector });
    for (const s of svcs.items) await core.deleteNamespacedService({ name: s.metadata!.name!, namespace: ns }).catch(() => undefined);
  }

  async function deletePvcs(ns: string, selector: string) {
    const list = await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: selector });
    for (const p of list.items) await core.deleteNamespacedPersistentVolumeClaim({ name: p.metadata!.name!, namespace: ns }).catch(() => undefined);
  }

  /** The in-cluster dependencies: [spec key, release selector, PVC selector]. */
  function depSelectors(name: string): Array<[string, string, string]> {
    return [
      ['etcd', `app.kubernetes.io/instance=${name}-etcd,${OWNER_LABEL}=${name}`, `app.kubernetes.io/instance=${name}-etcd`],
      ['storage', `release=${name}-minio,${OWNER_LABEL}=${name}`, `release=${name}-minio`],
      ['pulsar', `release=${name}-pulsar,${OWNER_LABEL}=${name}`, `release=${name}-pulsar`],
      ['kafka', `app.kubernetes.io/instance=${name}-kafka,${OWNER_LABEL}=${name}`, `app.kubernetes.io/instance=${name}-kafka`],
    ];
  }

  async function dependencies(m: Obj): Promise<{ etcd?: V1StatefulSet[]; storage?: V1StatefulSet[]; mq?: V1StatefulSet[] }> {
    const ns = m.metadata.namespace;
    const name = m.metadata.name;
    const deps = m.spec?.dependencies ?? {};
    const out: { etcd?: V1StatefulSet[]; storage?: V1StatefulSet[]; mq?: V1StatefulSet[] } = {};
    if (!deps.etcd?.external) {
      const sel = { 'app.kubernetes.io/instance': `${name}-etcd`, 'app.kubernetes.io/name': 'etcd' };
      out.etcd = [await applySet(ns, depSet(m, `${name}-etcd`, sel, { 'helm.sh/chart': 'etcd-8.12.0' }, 'milvusdb/etcd:3.5.18-r1', ['data'], 2379))];
    }
    if (!deps.storage?.external) {
      const sel = { app: 'minio', release: `${name}-minio` };
      out.storage = [await applySet(ns, depSet(m, `${name}-minio`, sel, { chart: 'minio-8.0.17' }, 'minio/minio:RELEASE.2023-03-20T20-16-18Z', ['export'], 9000))];
    }
    const mq = msgStream(m.spec ?? {});
    if (mq === 'pulsar' && !deps.pulsar?.external) {
      const gen = deps.pulsar?.inCluster?.chartVersion === 'pulsar-v2' ? 'v2' : 'v3';
      const chart = gen === 'v2' ? 'pulsar-2.7.8' : 'pulsar-3.3.0';
      const prefix = `${name}-pulsar`;
      const bookieClaims = await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: `app=pulsar,release=${prefix},component=bookie` });
      // The bookie's cookie on its journal/ledgers volume was written by the other generation.
      const cookieMismatch = bookieClaims.items.some((p) => p.metadata?.annotations?.[GEN] && p.metadata.annotations[GEN] !== gen);
      out.mq = [];
      for (const c of ['zookeeper', 'bookie', 'broker', 'proxy']) {
        const sel = { app: 'pulsar', release: prefix, component: c };
        const claims = c === 'zookeeper' ? [`${prefix}-zookeeper-data`] : c === 'bookie' ? [`${prefix}-bookie-journal`, `${prefix}-bookie-ledgers`] : [];
        const img = `apachepulsar/pulsar:${gen === 'v2' ? '2.9.5' : '3.0.7'}${c === 'bookie' && cookieMismatch ? '-broken' : ''}`;
        const port = c === 'zookeeper' ? 2181 : c === 'bookie' ? 3181 : 6650;
        out.mq.push(await applySet(ns, depSet(m, `${prefix}-${c}`, sel, { chart, cluster: prefix }, img, claims, port)));
      }
      for (const p of (await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: `app=pulsar,release=${prefix}` })).items) {
        if (!p.metadata?.annotations?.[GEN]) {
          await core.patchNamespacedPersistentVolumeClaim({ name: p.metadata!.name!, namespace: ns, body: { metadata: { annotations: { [GEN]: gen } } } }, merge);
        }
      }
    } else if (mq === 'kafka' && !deps.kafka?.external) {
      const sel = { 'app.kubernetes.io/instance': `${name}-kafka`, 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/component': 'kafka' };
      out.mq = [await applySet(ns, depSet(m, `${name}-kafka`, sel, { 'helm.sh/chart': 'kafka-15.5.1' }, 'docker.io/bitnami/kafka:3.1.0-debian-10-r52', ['data'], 9092))];
    }
    return out;
  }

  // ---------------------------------------------------------------- Milvus reconcile

  async function finalize(m: Obj) {
    const ns = m.metadata.namespace;
    const name = m.metadata.name;
    if (!(m.metadata.finalizers ?? []).includes(FINALIZER)) return;
    if (m.status?.status !== 'Deleting') await patchMilvusStatus(ns, name, { status: { status: 'Deleting' } }).catch(() => undefined);
    const deps = m.spec?.dependencies ?? {};
    for (const [key, release, pvcs] of depSelectors(name)) {
      const ic = deps[key]?.inCluster ?? {};
      if (ic.deletionPolicy !== 'Delete') continue;
      await deleteRelease(ns, release);
      if (ic.pvcDeletion) await deletePvcs(ns, pvcs);
    }
    const fin = (m.metadata.finalizers ?? []).filter((f: string) => f !== FINALIZER);
    await patchMilvus(ns, name, { metadata: { finalizers: fin.length ? fin : null } });
    log(`finalized ${ns}/${name}`);
  }

  async function reconcileMilvus(ns: string, name: string): Promise<number | void> {
    const m = await getMilvus(ns, name);
    if (m.metadata.deletionTimestamp) return finalize(m);
    if (!(m.metadata.finalizers ?? []).includes(FINALIZER)) {
      await patchMilvus(ns, name, { metadata: { finalizers: [...(m.metadata.finalizers ?? []), FINALIZER] } });
      return 50;
    }
    const defaults = webhookDefaults(m);
    if (defaults) {
      await patchMilvus(ns, name, defaults);
      return 50;
    }
    const spec = m.spec;
    const comps = spec.components ?? {};
    const image: string = comps.image;
    const rolling = comps.enableRollingUpdate === true;
    const mode: string = comps.imageUpdateMode ?? 'rollingUpgrade';
    const deps = await dependencies(m);

    const order = topology(spec, m.status?.currentImage);
    const existing = new Map<string, V1Deployment>();
    for (const d of (await apps.listNamespacedDeployment({ namespace: ns, labelSelector: `app.kubernetes.io/instance=${name},app.kubernetes.io/managed-by=milvus-operator` })).items) {
      existing.set(d.metadata!.labels!['app.kubernetes.io/component']!, d);
    }
    // Components the topology no longer has (operator deployments.go): the separate coordinators
    // once mixcoord rolled out (cleanupCoordinatorsIfNeeded), indexnode in 2.6 once the proxy runs
    // the new image (cleanupIndexNodeIfNeeded, which also drops spec.components.indexNode).
    const proxy = existing.get('proxy');
    for (const [c, d] of existing) {
      if (order.includes(c) || c === 'standalone') continue;
      const mix = existing.get('mixcoord');
      const coordGone = ['rootcoord', 'datacoord', 'querycoord', 'indexcoord'].includes(c) && mix && imageOf(mix) === image && rolledOut(mix);
      const indexGone = c === 'indexnode' && isAbove25(image) && proxy && imageOf(proxy) === image && rolledOut(proxy);
      if (coordGone || indexGone) {
        await apps.deleteNamespacedDeployment({ name: d.metadata!.name!, namespace: ns });
        existing.delete(c);
        log(`${ns}/${name}: ${c} removed`);
        if (indexGone && comps.indexNode) {
          await patchMilvus(ns, name, { spec: { components: { indexNode: null } } });
          return 50;
        }
      }
    }
    const wantReplicas = (c: string, cur?: V1Deployment) => {
      const r = comps[KEY[c]!]?.replicas;
      if (r === -1) return cur?.spec?.replicas ?? 1;
      return typeof r === 'number' ? r : 1;
    };
    // Image rollout: which components may take the new image now.
    const stepwise = rolling && (mode === 'rollingUpgrade' || mode === 'rollingDowngrade');
    const sequence = mode === 'rollingDowngrade' ? [...order].reverse() : order;
    const mayUpdate = new Set<string>();
    if (stepwise) {
      for (const c of sequence) {
        const d = existing.get(c);
        if (!d || imageOf(d) !== image) {
          mayUpdate.add(c);
          // A component new to a running release (the streaming node of a 2.6 upgrade) comes up
          // before the ones after it are updated; a fresh release creates everything at once.
          if (d || existing.size > 0) break;
          continue;
        }
        if (!rolledOut(d)) break;
      }
    } else {
      for (const c of order) mayUpdate.add(c);
    }
    const deployments: V1Deployment[] = [];
    for (const c of order) {
      const cur = existing.get(c);
      const replicas = wantReplicas(c, cur);
      if (!cur) {
        deployments.push(await apps.createNamespacedDeployment({ namespace: ns, body: deployment(m, c, image, replicas, rolling) }));
        continue;
      }
      const c0 = cur.spec!.template.spec!.containers[0]!;
      const newImage = mayUpdate.has(c) && c0.image !== image ? image : undefined;
      const strategy = rolling ? 'RollingUpdate' : 'Recreate';
      if (newImage || cur.spec!.replicas !== replicas || cur.spec!.strategy?.type !== strategy) {
        const body: Obj = { spec: { replicas, template: { spec: { containers: [{ name: c0.name, image: newImage ?? c0.image }] } } } };
        if (cur.spec!.strategy?.type !== strategy) {
          body.spec.strategy = rolling ? { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: 'Recreate', rollingUpdate: null };
        }
        deployments.push(await apps.patchNamespacedDeployment({ name: cur.metadata!.name!, namespace: ns, body }, strategic));
        if (newImage) log(`${ns}/${name}: ${c} -> ${image}`);
      } else {
        deployments.push(cur);
      }
    }
    const svcSel = { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/component': spec.mode === 'cluster' ? 'proxy' : 'standalone' };
    await ensureService(ns, `${name}-milvus`, { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/managed-by': 'milvus-operator' }, svcSel, [
      { name: 'milvus', port: 19530 },
      { name: 'metrics', port: 9091 },
    ], m);

    const ok = (sets?: V1StatefulSet[]) => sets === undefined || sets.every(setReady);
    const etcdReady = ok(deps.etcd);
    const storageReady = ok(deps.storage);
    const mqReady = ok(deps.mq);
    const allNew = deployments.every((d) => imageOf(d) === image);
    const updated = allNew && deployments.every(rolledOut);
    const stopped = deployments.every((d) => d.spec?.replicas === 0);
    const milvusReady = deployments.every((d) => (d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 1));
    const status = stopped ? 'Stopped' : etcdReady && storageReady && mqReady && milvusReady ? 'Healthy' : m.status?.status ? 'Unhealthy' : 'Pending';
    const updatingReason = !allNew && stepwise ? (mode === 'rollingDowngrade' ? 'MilvusDowngradingImage' : 'MilvusUpgradingImage') : 'MilvusComponentsUpdating';
    const prevConds: Obj[] = m.status?.conditions ?? [];
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const cond = (type: string, ok: boolean, reason: string, message: string) => {
      const prev = prevConds.find((c) => c.type === type);
      const st = ok ? 'True' : 'False';
      return { type, status: st, reason, message, lastTransitionTime: prev && prev.status === st ? prev.lastTransitionTime : now };
    };
    const body = {
      status: {
        status,
        observedGeneration: m.metadata.generation,
        currentImage: updated ? image : m.status?.currentImage ?? (deployments.length ? imageOf(deployments[0]!) : image),
        conditions: [
          cond('EtcdReady', etcdReady, etcdReady ? 'EtcdReady' : 'EtcdNotReady', etcdReady ? 'Etcd endpoints is healthy' : 'Etcd is not ready'),
          cond('StorageReady', storageReady, storageReady ? 'StorageReady' : 'StorageNotReady', storageReady ? 'Storage is ready' : 'Storage is not ready'),
          cond('MsgStreamReady', mqReady, mqReady ? 'MsgStreamReady' : 'MsgStreamNotReady', mqReady ? 'MsgStream is ready' : 'MsgStream is not ready'),
          cond('MilvusReady', milvusReady, milvusReady ? 'MilvusClusterHealthy' : 'MilvusComponentsNotReady', milvusReady ? 'All Milvus components are healthy' : 'Some Milvus components are not ready'),
          cond('MilvusUpdated', updated, updated ? 'MilvusComponentsUpdated' : updatingReason, updated ? 'Milvus components are all updated' : 'Milvus components are being updated'),
        ],
      },
    };
    const sig = (s: Obj | undefined) =>
      JSON.stringify({ s: s?.status, g: s?.observedGeneration, i: s?.currentImage, c: (s?.conditions ?? []).map((c: Obj) => [c.type, c.status, c.reason]) });
    if (sig(m.status) !== sig(body.status)) {
      await patchMilvusStatus(ns, name, body);
      if (m.status?.status !== status) log(`${ns}/${name}: ${status}`);
    }
  }

  // ---------------------------------------------------------------- MilvusUpgrade

  const TERMINAL = new Set(['Succeeded', 'RollbackedSucceeded', 'RollbackFailed']);
  const NOT_ROLLBACK = new Set(['', 'OldVersionStopping', 'BackupMeta', 'UpdatingMeta', 'NewVersionStarting', 'Succeeded', 'BakupMetaFailed', 'UpdateMetaFailed']);

  async function reconcileUpgrade(ns: string, name: string): Promise<number | void> {
    const u = (await custom.getNamespacedCustomObject({ ...U, namespace: ns, name })) as Obj;
    if (u.metadata.deletionTimestamp) return;
    const spec = u.spec ?? {};
    const st: Obj = structuredClone(u.status ?? {});
    st.retriedTimes ??= 0;
    const mNs = spec.milvus?.namespace || ns;
    const mName = spec.milvus?.name;
    const maxRetry = spec.maxRetry ?? 3;
    const rollbackIfFailed = spec.rollbackIfFailed ?? true;
    const tool = spec.toolImage || DEFAULT_TOOL_IMAGE;
    const targetImage = spec.targetImage || `milvusdb/milvus:v${String(spec.targetVersion).replace(/^v/, '')}`;
    const conds: Obj[] = (st.conditions ?? []).filter((c: Obj) => c.type !== 'CheckingUpgrationState');
    let m: Obj;
    try {
      m = await getMilvus(mNs, mName);
    } catch (e) {
      conds.push({ type: 'CheckingUpgrationState', status: 'False', reason: 'GetMilvusFailed', message: (e as Error).message.split('\n')[0], lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
      await custom.patchNamespacedCustomObjectStatus({ ...U, namespace: ns, name, body: { status: { ...st, conditions: conds } } }, merge);
      return 5000;
    }

    // DetermineCurrentState
    let state: string = st.state ?? '';
    if (st.isRollbacking || spec.operation === 'rollback') {
      if (NOT_ROLLBACK.has(state)) {
        st.isRollbacking = true;
        state = 'RollbackNewVersionStopping';
      }
    } else if (state === '') {
      state = 'OldVersionStopping';
    }
    const before = st.state ?? '';

    const components = topology(m.spec ?? {});
    const milvusPatch = (body: Obj) => patchMilvus(mNs, mName, body);
    const isStopping = () => components.every((c) => (m.spec?.components?.[KEY[c]!]?.replicas ?? 1) <= 0);
    const stop = async () => {
      await milvusPatch({ spec: { components: Object.fromEntries(components.map((c) => [KEY[c], { replicas: 0 }])) } });
    };
    const isStopped = async (): Promise<boolean> => {
      const at = m.metadata.annotations?.[STOPPED_AT];
      if (at) return Date.now() - Date.parse(at) > deregisterMs;
      const list = await apps.listNamespacedDeployment({ namespace: mNs, labelSelector: `app.kubernetes.io/instance=${mName}` });
      for (const d of list.items) {
        if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
        if (d.spec?.replicas === undefined || d.spec.replicas > 0 || (d.status?.replicas ?? 0) > 0) return false;
      }
      await milvusPatch({ metadata: { annotations: { [STOPPED_AT]: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } } });
      return false;
    };
    const start = async (image: string | undefined) => {
      const before: Obj = st.replicasBeforeUprade ?? {};
      await milvusPatch({
        metadata: { annotations: { [STOPPED_AT]: null } },
        spec: { components: { ...(image ? { image } : {}), ...Object.fromEntries(components.map((c) => [KEY[c], { replicas: before[KEY[c]!] ?? 0 }])) } },
      });
    };
    const taskName = (kind: string) => `${name}-${kind}`;
    const taskPods = async (kind: string) =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: `milvus.io/upgrade=${name},milvus.io/task-kind=${kind}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
    const ownerRef = [{ apiVersion: 'milvus.io/v1beta1', kind: 'MilvusUpgrade', name, uid: u.metadata.uid, controller: true, blockOwnerDeletion: true }];
    const createIgnore = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw e;
      }
    };
    const startTask = async (kind: string, command: string) => {
      const labels = { 'milvus.io/upgrade': name, 'milvus.io/task-kind': kind };
      const rootPath = m.spec?.config?.etcd?.rootPath ?? mName;
      const endpoints: string[] = m.spec?.dependencies?.etcd?.endpoints ?? [`${mName}-etcd.${mNs}:2379`];
      const conf = [
        `cmd:`,
        `  type: ${command}`,
        `  runWithBackup: true`,
        `config:`,
        `  sourceVersion: ${String(spec.sourceVersion).replace(/^v/, '')}`,
        `  targetVersion: ${String(spec.targetVersion).replace(/^v/, '')}`,
        `  backupFilePath: /milvus/data/meta.bak`,
        `metastore:`,
        `  type: etcd`,
        `etcd:`,
        ...endpoints.map((e) => `  endpoints:\n  - ${e}`),
        `  rootPath: ${rootPath}`,
        `  metaSubPath: ${m.spec?.config?.etcd?.metaSubPath ?? 'meta'}`,
        `  kvSubPath: ${m.spec?.config?.etcd?.kvSubPath ?? 'kv'}`,
        '',
      ].join('\n');
      await createIgnore(() => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: taskName(kind), labels, ownerReferences: ownerRef }, data: { 'migration.yaml': conf } } }));
      await createIgnore(() =>
        core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: { name: taskName(kind), labels: { ...labels, 'app.kubernetes.io/managed-by': 'milvus-operator' }, ownerReferences: ownerRef },
            spec: {
              restartPolicy: 'Never',
              containers: [
                {
                  name: kind,
                  image: tool,
                  command: ['/milvus/bin/meta-migration'],
                  args: ['-config', '/milvus/configs/migration.yaml'],
                  volumeMounts: [
                    { name: 'backup', mountPath: '/milvus/data' },
                    { name: 'config', mountPath: '/milvus/configs/migration.yaml', subPath: 'migration.yaml' },
                  ],
                },
              ],
              volumes: [
                { name: 'backup', persistentVolumeClaim: { claimName: st.backupPVC } },
                { name: 'config', configMap: { name: taskName(kind) } },
              ],
            },
          },
        }),
      );
    };
    /** doOnPodPhase: 'none' | 'succeeded' | 'running' | 'failed'. */
    const podPhase = async (kind: string) => {
      const pods = await taskPods(kind);
      if (!pods.length) return 'none';
      const phase = pods[0]!.status?.phase;
      return phase === 'Succeeded' ? 'succeeded' : phase === 'Running' || phase === 'Pending' || !phase ? 'running' : 'failed';
    };
    const upgradeFailed = () => {
      if (rollbackIfFailed) {
        st.isRollbacking = true;
        return 'RollbackNewVersionStopping';
      }
      return '';
    };

    const fsm: Record<string, (() => Promise<string>) | null> = {
      OldVersionStopping: async () => {
        if (!isStopping()) {
          if (!st.replicasBeforeUprade) {
            st.replicasBeforeUprade = Object.fromEntries(components.map((c) => [KEY[c], m.spec?.components?.[KEY[c]!]?.replicas ?? 1]));
            st.sourceImage = m.spec?.components?.image;
          }
          await stop();
          return '';
        }
        return (await isStopped()) ? 'BackupMeta' : '';
      },
      BackupMeta: async () => {
        const phase = await podPhase('backup-meta');
        if (phase === 'none') {
          st.backupPVC = spec.backupPVC || name;
          if (!spec.backupPVC) {
            await createIgnore(() =>
              core.createNamespacedPersistentVolumeClaim({
                namespace: ns,
                body: { metadata: { name, labels: { 'milvus.io/upgrade': name }, ownerReferences: ownerRef }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } } },
              }),
            );
          }
          await startTask('backup-meta', 'backup');
          return '';
        }
        if (phase === 'succeeded') {
          st.metaBackuped = true;
          return 'UpdatingMeta';
        }
        return phase === 'failed' ? 'BakupMetaFailed' : '';
      },
      UpdatingMeta: async () => {
        if (!st.metaStorageChanged) {
          st.metaStorageChanged = true;
          await startTask('update-meta', 'run');
          return '';
        }
        const phase = await podPhase('update-meta');
        if (phase === 'succeeded') return 'NewVersionStarting';
        return phase === 'none' || phase === 'failed' ? 'UpdateMetaFailed' : '';
      },
      NewVersionStarting: async () => {
        await start(targetImage);
        return 'Succeeded';
      },
      Succeeded: null,
      BakupMetaFailed: async () => {
        if (st.retriedTimes + 1 > maxRetry) return upgradeFailed();
        for (const p of await taskPods('backup-meta')) await core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: ns }).catch(() => undefined);
        st.retriedTimes++;
        state = 'BackupMeta';
        return '';
      },
      UpdateMetaFailed: async () => upgradeFailed(),
      RollbackNewVersionStopping: async () => {
        if (!isStopping()) {
          await stop();
          return '';
        }
        return (await isStopped()) ? 'RollbackRestoringOldMeta' : '';
      },
      RollbackRestoringOldMeta: async () => {
        if (!st.metaBackuped) return 'RollbackOldVersionStarting';
        const phase = await podPhase('rollback-meta');
        if (phase === 'none') {
          await startTask('rollback-meta', 'rollback');
          return '';
        }
        if (phase === 'succeeded') return 'RollbackOldVersionStarting';
        return phase === 'failed' ? 'RollbackFailed' : '';
      },
      RollbackOldVersionStarting: async () => {
        await start(st.sourceImage);
        return 'RollbackedSucceeded';
      },
      RollbackedSucceeded: null,
      RollbackFailed: null,
    };

    let err: Error | undefined;
    try {
      for (;;) {
        const fn = fsm[state];
        if (fn === undefined) throw new Error(`Unexpected upgrade state[${state}]`);
        if (fn === null) break;
        const next = await fn();
        if (!next) break;
        state = next;
      }
    } catch (e) {
      err = e as Error;
    }
    st.state = state;
    const type = st.isRollbacking ? 'Rollbacked' : 'Upgraded';
    const ok = state === 'Succeeded' || state === 'RollbackedSucceeded';
    const prev = conds.find((c) => c.type === type);
    const condition = {
      type,
      status: ok ? 'True' : 'False',
      reason: state || 'Pending',
      message: err ? err.message.split('\n')[0] : '',
      lastTransitionTime: prev && prev.status === (ok ? 'True' : 'False') ? prev.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    st.conditions = [...conds.filter((c) => c.type !== type), condition];
    if (JSON.stringify(st) !== JSON.stringify(u.status ?? {})) {
      await custom.patchNamespacedCustomObjectStatus({ ...U, namespace: ns, name, body: { status: st } }, merge);
      if (state !== before) log(`milvusupgrade ${ns}/${name}: ${state}`);
    }
    if (err) throw err;
    // Failed states without a retry left wait for a change of the resource (no requeue), as there.
    return TERMINAL.has(state) || state === 'BakupMetaFailed' || state === 'UpdateMetaFailed' ? undefined : 1000;
  }

  // ---------------------------------------------------------------- watches

  const milvusKey = (ns: string, name: string) => queue.add(`milvus ${ns}/${name}`, () => reconcileMilvus(ns, name));
  const upgradeKey = (ns: string, name: string) => queue.add(`milvusupgrade ${ns}/${name}`, () => reconcileUpgrade(ns, name));
  const informers: Array<{ start(): Promise<void>; stop(): Promise<void> }> = [];
  function watch<T extends KubernetesObject>(path: string, list: () => Promise<any>, onEvent: (o: T) => void, labelSelector?: string) {
    const inf = makeInformer<T>(kc, path, list, labelSelector);
    inf.on('add', onEvent);
    inf.on('update', onEvent);
    inf.on('delete', onEvent);
    inf.on('error', (e) => {
      log(`watch ${path}: ${(e as Error)?.message ?? e}; restarting`);
      setTimeout(() => void inf.start().catch(() => undefined), 1000);
    });
    informers.push(inf);
    return inf;
  }
  const milvuses = watch<Obj & KubernetesObject>('/apis/milvus.io/v1beta1/milvuses', () => custom.listClusterCustomObject({ ...G }), (o) => {
    milvusKey(o.metadata!.namespace!, o.metadata!.name!);
    // A MilvusUpgrade follows its Milvus resource.
    for (const u of upgrades.list()) if ((u.spec?.milvus?.name === o.metadata!.name) && (u.spec?.milvus?.namespace || u.metadata!.namespace) === o.metadata!.namespace) upgradeKey(u.metadata!.namespace!, u.metadata!.name!);
  });
  const upgrades = watch<Obj & KubernetesObject>('/apis/milvus.io/v1beta1/milvusupgrades', () => custom.listClusterCustomObject({ ...U }), (o) => {
    if (!o.metadata!.deletionTimestamp) upgradeKey(o.metadata!.namespace!, o.metadata!.name!);
  });
  watch<V1Deployment>('/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector: 'app.kubernetes.io/managed-by=milvus-operator' }), (d) => {
    const inst = d.metadata?.labels?.['app.kubernetes.io/instance'];
    if (inst) milvusKey(d.metadata!.namespace!, inst);
    for (const u of upgrades.list()) if (u.spec?.milvus?.name === inst && (u.spec?.milvus?.namespace || u.metadata!.namespace) === d.metadata!.namespace) upgradeKey(u.metadata!.namespace!, u.metadata!.name!);
  }, 'app.kubernetes.io/managed-by=milvus-operator');
  watch<V1StatefulSet>('/apis/apps/v1/statefulsets', () => apps.listStatefulSetForAllNamespaces({ labelSelector: OWNER_LABEL }), (s) => {
    const owner = s.metadata?.labels?.[OWNER_LABEL];
    if (owner) milvusKey(s.metadata!.namespace!, owner);
  }, OWNER_LABEL);
  watch<KubernetesObject>('/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: 'milvus.io/upgrade' }), (p) => {
    const u = p.metadata?.labels?.['milvus.io/upgrade'];
    if (u) upgradeKey(p.metadata!.namespace!, u);
  }, 'milvus.io/upgrade');
  for (const inf of informers) void inf.start().catch((e) => log(`start watch: ${(e as Error).message}`));
  const resync = setInterval(() => {
    for (const o of milvuses.list()) milvusKey(o.metadata!.namespace!, o.metadata!.name!);
    for (const u of upgrades.list()) if (!TERMINAL.has(u.status?.state)) upgradeKey(u.metadata!.namespace!, u.metadata!.name!);
  }, 30_000);
  log('milvus operator simulator started');
  return {
    async stop() {
      clearInterval(resync);
      queue.stop();
      await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
    },
  };
}
