/**
 * SIMULATOR of Milvus Operator for the test bed (not the real operator). The real
 * zilliztech/milvus-operator needs its admission webhooks (cert-manager) and deploys its
 * dependencies from embedded Helm charts with real images; this project's test bed has neither a
 * certificate manager nor images, so this controller reproduces the behaviour kubectl-milvus
 * relies on, from the operator's source as summarised in the project's research notes (section 5):
 * - Milvus (milvus.io/v1beta1): Deployments `<name>-milvus-<component>` labelled
 *   app.kubernetes.io/{instance,name=milvus,component,managed-by=milvus-operator}, image from
 *   spec.components.image, replicas from spec.components.<component>.replicas (0 = stopped),
 *   cluster (mixcoord, proxy, querynode, datanode, indexnode) or standalone mode;
 * - in-cluster etcd (`<name>-etcd`), MinIO (`<name>-minio`) and Pulsar (release `<name>-pulsar`,
 *   labels app=pulsar, release=<name>-pulsar, StatefulSet label chart=pulsar-2.7.8|pulsar-3.3.0,
 *   the same PVC names for v2 and v3); chartVersion defaults to pulsar-v3 on first start, else v2;
 *   a v3 bookie on a volume left by v2 never becomes ready (the real cookie mismatch);
 * - deletion through a finalizer honouring inCluster.deletionPolicy and pvcDeletion;
 * - status.status (Pending/Healthy/Unhealthy/Deleting/Stopped), conditions EtcdReady,
 *   StorageReady, MsgStreamReady, MilvusReady, MilvusUpdated, currentImage, observedGeneration.
 * - MilvusUpgrade (milvus.io/v1beta1): the state machine of the operator's milvusupgrade_fsm.go,
 *   OldVersionStopping -> BackupMeta -> UpdatingMeta -> NewVersionStarting -> Succeeded (or
 *   BakupMetaFailed / UpdateMetaFailed), with pods `<upgrade>-backup-meta` / `-update-meta` of
 *   container "meta-migration" running the toolImage (the test bed completes or fails them), and
 *   the rollback path RollbackNewVersionStopping -> RollbackRestoringOldMeta ->
 *   RollbackOldVersionStarting -> RollbackedSucceeded.
 * It reconciles every second (list + compare); the test bed is small.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1StatefulSet,
} from '@kubernetes/client-node';

const kc = new KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG!);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const FINALIZER = 'milvus.milvus.io/finalizer';
const GEN = 'testbed.kubectl-milvus.io/pulsar-generation';
const G = { group: 'milvus.io', version: 'v1beta1', plural: 'milvuses' };

type Obj = Record<string, any>;
const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
const notFound = (e: unknown) => (e as { code?: number }).code === 404;

function owner(m: Obj) {
  return [{ apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', name: m.metadata.name, uid: m.metadata.uid, controller: true, blockOwnerDeletion: false }];
}

async function applyDeployment(ns: string, d: V1Deployment): Promise<V1Deployment> {
  const name = d.metadata!.name!;
  try {
    const cur = await apps.readNamespacedDeployment({ name, namespace: ns });
    const c0 = cur.spec!.template!.spec!.containers[0]!;
    const want = d.spec!.template!.spec!.containers[0]!;
    if (c0.image !== want.image || cur.spec!.replicas !== d.spec!.replicas) {
      await apps.patchNamespacedDeployment(
        { name, namespace: ns, body: { spec: { replicas: d.spec!.replicas, template: { spec: { containers: [{ name: c0.name, image: want.image }] } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      return apps.readNamespacedDeployment({ name, namespace: ns });
    }
    return cur;
  } catch (e) {
    if (!notFound(e)) throw e;
    return apps.createNamespacedDeployment({ namespace: ns, body: d });
  }
}

async function applyStatefulSet(ns: string, s: V1StatefulSet): Promise<V1StatefulSet> {
  try {
    return await apps.readNamespacedStatefulSet({ name: s.metadata!.name!, namespace: ns });
  } catch (e) {
    if (!notFound(e)) throw e;
    return apps.createNamespacedStatefulSet({ namespace: ns, body: s });
  }
}

function deployment(m: Obj, component: string, image: string, replicas: number): V1Deployment {
  const name = m.metadata.name;
  const labels = { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/component': component };
  return {
    metadata: { name: `${name}-milvus-${component}`, labels: { ...labels, 'app.kubernetes.io/managed-by': 'milvus-operator' }, ownerReferences: owner(m) },
    spec: {
      replicas,
      progressDeadlineSeconds: 60,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels: { ...labels, ...(component === 'proxy' || component === 'standalone' ? { 'milvus.io/service': 'true' } : {}) } },
        spec: { containers: [{ name: component, image, ports: [{ name: 'metrics', containerPort: 9091 }, { name: 'milvus', containerPort: 19530 }] }] },
      },
    },
  };
}

function statefulSet(m: Obj, name: string, labels: Record<string, string>, extra: Record<string, string>, image: string, claims: string[]): V1StatefulSet {
  return {
    metadata: { name, labels: { ...labels, ...extra }, ownerReferences: owner(m) },
    spec: {
      replicas: 1,
      serviceName: name,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name, image }] } },
      volumeClaimTemplates: claims.map((c) => ({ metadata: { name: c }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } })),
    },
  };
}

const ready = (x: { spec?: { replicas?: number }; status?: { readyReplicas?: number } }) => (x.status?.readyReplicas ?? 0) >= (x.spec?.replicas ?? 1);

async function deletePvcs(ns: string, selector: string) {
  const list = await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: selector });
  for (const p of list.items) await core.deleteNamespacedPersistentVolumeClaim({ name: p.metadata!.name!, namespace: ns }).catch(() => undefined);
}

async function finalize(m: Obj) {
  const ns = m.metadata.namespace;
  const name = m.metadata.name;
  const deps = m.spec?.dependencies ?? {};
  if (m.status?.status !== 'Deleting') {
    await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: ns, name, body: { status: { ...(m.status ?? {}), status: 'Deleting' } } }, merge).catch(() => undefined);
  }
  const pulsar = deps.pulsar?.inCluster ?? {};
  if (pulsar.deletionPolicy === 'Delete') {
    const sets = await apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: `release=${name}-pulsar` });
    for (const s of sets.items) await apps.deleteNamespacedStatefulSet({ name: s.metadata!.name!, namespace: ns }).catch(() => undefined);
    if (pulsar.pvcDeletion) await deletePvcs(ns, `release=${name}-pulsar`);
  }
  for (const [dep, sel] of [['etcd', `app.kubernetes.io/instance=${name}-etcd`], ['storage', `release=${name}-minio`]] as const) {
    const ic = deps[dep]?.inCluster ?? {};
    if (ic.deletionPolicy === 'Delete' && ic.pvcDeletion) await deletePvcs(ns, sel);
  }
  const fin = (m.metadata.finalizers ?? []).filter((f: string) => f !== FINALIZER);
  await custom.patchNamespacedCustomObject({ ...G, namespace: ns, name, body: { metadata: { finalizers: fin.length ? fin : null } } }, merge);
  log(`finalized ${ns}/${name}`);
}

async function reconcile(m: Obj) {
  const ns = m.metadata.namespace;
  const name = m.metadata.name;
  if (m.metadata.deletionTimestamp) return finalize(m);
  if (!(m.metadata.finalizers ?? []).includes(FINALIZER)) {
    await custom.patchNamespacedCustomObject({ ...G, namespace: ns, name, body: { metadata: { finalizers: [...(m.metadata.finalizers ?? []), FINALIZER] } } }, merge);
    return;
  }
  const spec = m.spec ?? {};
  const mode = spec.mode ?? 'standalone';
  const image = spec.components?.image ?? 'milvusdb/milvus:v2.4.5';
  const deps = spec.dependencies ?? {};
  const stream = deps.msgStreamType || (mode === 'cluster' ? 'pulsar' : 'rocksmq');
  // Webhook defaulting: Pulsar v3 for a new resource, v2 for one that has started before.
  if (stream === 'pulsar' && !deps.pulsar?.external && !deps.pulsar?.inCluster?.chartVersion) {
    const cv = m.status?.status ? 'pulsar-v2' : 'pulsar-v3';
    await custom.patchNamespacedCustomObject({ ...G, namespace: ns, name, body: { spec: { dependencies: { pulsar: { inCluster: { chartVersion: cv } } } } } }, merge);
    return;
  }

  const etcdLabels = { 'app.kubernetes.io/instance': `${name}-etcd`, 'app.kubernetes.io/name': 'etcd' };
  const etcd = await applyStatefulSet(ns, statefulSet(m, `${name}-etcd`, etcdLabels, {}, 'milvusdb/etcd:3.5.16', ['data']));
  const minioLabels = { app: 'minio', release: `${name}-minio` };
  const minio = await applyStatefulSet(ns, statefulSet(m, `${name}-minio`, minioLabels, {}, 'minio/minio:RELEASE.2023-03-20T20-16-18Z', ['export']));
  let pulsarSets: V1StatefulSet[] = [];
  if (stream === 'pulsar' && !deps.pulsar?.external) {
    const gen = deps.pulsar.inCluster.chartVersion === 'pulsar-v2' ? 'v2' : 'v3';
    const chart = gen === 'v2' ? 'pulsar-2.7.8' : 'pulsar-3.3.0';
    const prefix = `${name}-pulsar`;
    const leftovers = await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: `app=pulsar,release=${prefix},component=bookie` });
    const cookieMismatch = leftovers.items.some((p) => p.metadata?.annotations?.[GEN] && p.metadata.annotations[GEN] !== gen);
    for (const c of ['zookeeper', 'bookie', 'broker', 'proxy']) {
      const labels = { app: 'pulsar', release: prefix, component: c };
      const claims = c === 'zookeeper' ? [`${prefix}-zookeeper-data`] : c === 'bookie' ? [`${prefix}-bookie-journal`, `${prefix}-bookie-ledgers`] : [];
      const img = `apachepulsar/pulsar:${gen === 'v2' ? '2.9.5' : '3.0.7'}${c === 'bookie' && cookieMismatch ? '-broken' : ''}`;
      pulsarSets.push(await applyStatefulSet(ns, statefulSet(m, `${prefix}-${c}`, labels, { chart, cluster: prefix }, img, claims)));
    }
    for (const p of (await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: `app=pulsar,release=${prefix}` })).items) {
      if (!p.metadata?.annotations?.[GEN]) {
        await core.patchNamespacedPersistentVolumeClaim({ name: p.metadata!.name!, namespace: ns, body: { metadata: { annotations: { [GEN]: gen } } } }, merge);
      }
    }
  }
  const components = mode === 'cluster' ? ['mixcoord', 'proxy', 'querynode', 'datanode', 'indexnode'] : ['standalone'];
  const deployments: V1Deployment[] = [];
  const key: Record<string, string> = { mixcoord: 'mixCoord', proxy: 'proxy', querynode: 'queryNode', datanode: 'dataNode', indexnode: 'indexNode', standalone: 'standalone' };
  for (const c of components) {
    const replicas = spec.components?.[key[c]!]?.replicas ?? 1;
    deployments.push(await applyDeployment(ns, deployment(m, c, image, replicas)));
  }
  const depsReady = ready(etcd) && ready(minio) && pulsarSets.every(ready);
  const updated = deployments.every(
    (d) => (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) && (d.status?.updatedReplicas ?? 0) >= (d.spec?.replicas ?? 0) && d.spec?.template?.spec?.containers[0]?.image === image,
  );
  const stopped = deployments.every((d) => d.spec?.replicas === 0);
  const milvusReady = deployments.every(ready);
  const status = stopped ? 'Stopped' : depsReady && milvusReady ? 'Healthy' : m.status?.status === 'Healthy' ? 'Unhealthy' : 'Pending';
  const cond = (type: string, ok: boolean, reason: string) => ({ type, status: ok ? 'True' : 'False', reason });
  const body = {
    status: {
      status,
      observedGeneration: m.metadata.generation,
      currentImage: updated ? image : m.status?.currentImage ?? image,
      conditions: [
        cond('EtcdReady', ready(etcd), ready(etcd) ? 'EtcdReady' : 'EtcdNotReady'),
        cond('StorageReady', ready(minio), ready(minio) ? 'StorageReady' : 'StorageNotReady'),
        cond('MsgStreamReady', pulsarSets.every(ready), pulsarSets.every(ready) ? 'MsgStreamReady' : 'MsgStreamNotReady'),
        cond('MilvusReady', milvusReady, milvusReady ? 'MilvusClusterHealthy' : 'MilvusComponentsNotReady'),
        cond('MilvusUpdated', updated, updated ? 'MilvusComponentsUpdated' : 'MilvusComponentsUpdating'),
      ],
    },
  };
  const prev = JSON.stringify({ s: m.status?.status, c: m.status?.conditions?.map((c: Obj) => c.status), g: m.status?.observedGeneration, i: m.status?.currentImage });
  const next = JSON.stringify({ s: body.status.status, c: body.status.conditions.map((c) => c.status), g: body.status.observedGeneration, i: body.status.currentImage });
  if (prev !== next) {
    await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: ns, name, body }, merge);
    log(`${ns}/${name}: ${status}`);
  }
}

const U = { group: 'milvus.io', version: 'v1beta1', plural: 'milvusupgrades' };
const TERMINAL = new Set(['Succeeded', 'BakupMetaFailed', 'UpdateMetaFailed', 'RollbackedSucceeded', 'RollbackFailed']);

async function taskPod(ns: string, name: string, image: string): Promise<string | undefined> {
  try {
    const p = await core.readNamespacedPod({ name, namespace: ns });
    return p.status?.phase;
  } catch (e) {
    if (!notFound(e)) throw e;
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name, labels: { 'milvus.io/task-kind': name.split('-').slice(-2).join('-') } }, spec: { restartPolicy: 'Never', containers: [{ name: 'meta-migration', image }] } },
    });
    return 'Pending';
  }
}

async function reconcileUpgrade(u: Obj) {
  const ns = u.metadata.namespace;
  const name = u.metadata.name;
  const st: Obj = u.status ?? {};
  const state: string = st.state ?? '';
  if (TERMINAL.has(state)) return;
  const spec = u.spec ?? {};
  const mName = spec.milvus?.name;
  const mNs = spec.milvus?.namespace ?? ns;
  const rollback = spec.operation === 'rollback';
  const tool = spec.toolImage ?? 'milvusdb/meta-migration:v2.2.0-bugfix-20230112';
  const target = spec.targetImage ?? `milvusdb/milvus:v${String(spec.targetVersion).replace(/^v/, '')}`;
  const setState = async (next: string, extra: Obj = {}) => {
    await custom.patchNamespacedCustomObjectStatus({ ...U, namespace: ns, name, body: { status: { ...st, ...extra, state: next } } }, merge);
    log(`milvusupgrade ${ns}/${name}: ${next}`);
  };
  const m = (await custom.getNamespacedCustomObject({ ...G, namespace: mNs, name: mName })) as Obj;
  const comps = ['mixCoord', 'proxy', 'queryNode', 'dataNode', 'indexNode', 'standalone'];
  const scale = (replicas: number | Record<string, number>) =>
    custom.patchNamespacedCustomObject(
      { ...G, namespace: mNs, name: mName, body: { spec: { components: Object.fromEntries(comps.map((c) => [c, { replicas: typeof replicas === 'number' ? replicas : replicas[c] ?? 1 }])) } } },
      merge,
    );
  const stoppedNow = async () => (await apps.listNamespacedDeployment({ namespace: mNs, labelSelector: `app.kubernetes.io/instance=${mName}` })).items.every((d) => (d.status?.replicas ?? 0) === 0);
  switch (state) {
    case '':
      await setState(rollback ? 'RollbackNewVersionStopping' : 'OldVersionStopping', {
        sourceImage: m.spec?.components?.image,
        replicasBeforeUprade: Object.fromEntries(comps.map((c) => [c, m.spec?.components?.[c]?.replicas ?? 1])),
        backupPVC: `${name}`,
      });
      return;
    case 'OldVersionStopping':
    case 'RollbackNewVersionStopping':
      await scale(0);
      if (await stoppedNow()) await setState(state === 'OldVersionStopping' ? 'BackupMeta' : 'RollbackRestoringOldMeta');
      return;
    case 'BackupMeta':
    case 'UpdatingMeta':
    case 'RollbackRestoringOldMeta': {
      const kind = state === 'BackupMeta' ? 'backup-meta' : state === 'UpdatingMeta' ? 'update-meta' : 'rollback-meta';
      const phase = await taskPod(ns, `${name}-${kind}`, tool);
      if (phase === 'Succeeded') await setState(state === 'BackupMeta' ? 'UpdatingMeta' : state === 'UpdatingMeta' ? 'NewVersionStarting' : 'RollbackOldVersionStarting', state === 'BackupMeta' ? { metaBackuped: true } : {});
      else if (phase === 'Failed') await setState(state === 'BackupMeta' ? 'BakupMetaFailed' : state === 'UpdatingMeta' ? 'UpdateMetaFailed' : 'RollbackFailed');
      return;
    }
    case 'NewVersionStarting':
    case 'RollbackOldVersionStarting': {
      const image = state === 'NewVersionStarting' ? target : st.sourceImage ?? target;
      await custom.patchNamespacedCustomObject({ ...G, namespace: mNs, name: mName, body: { spec: { components: { image } } } }, merge);
      await scale(st.replicasBeforeUprade ?? 1);
      const cur = (await custom.getNamespacedCustomObject({ ...G, namespace: mNs, name: mName })) as Obj;
      if (cur.status?.status === 'Healthy' && cur.status?.currentImage === image) await setState(state === 'NewVersionStarting' ? 'Succeeded' : 'RollbackedSucceeded');
      return;
    }
  }
}

let stopping = false;
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));
log('milvus operator simulator started');
while (!stopping) {
  try {
    const list = (await custom.listClusterCustomObject({ ...G })) as { items: Obj[] };
    for (const m of list.items) {
      await reconcile(m).catch((e) => log(`reconcile ${m.metadata.namespace}/${m.metadata.name}: ${(e as Error).message}`));
    }
    const ups = (await custom.listClusterCustomObject({ ...U })) as { items: Obj[] };
    for (const u of ups.items) {
      await reconcileUpgrade(u).catch((e) => log(`reconcile upgrade ${u.metadata.namespace}/${u.metadata.name}: ${(e as Error).message}`));
    }
  } catch (e) {
    log(`list: ${(e as Error).message}`);
  }
  await new Promise((r) => setTimeout(r, 1000));
}
