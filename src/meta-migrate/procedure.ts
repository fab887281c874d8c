/**
 * meta-migrate: Milvus 2.1.x -> 2.2 metadata migration with backup and rollback, what upstream
 * migrate.sh does for Helm releases, done safely: every check (versions, etcd endpoint, root
 * path, storage class, an existing backup for rollback) before anything is stopped; replica counts
 * recorded durably and reused on reruns; failed task pods replaced; waits with timeouts. For
 * Operator releases a MilvusUpgrade resource is created and followed.
 */
import type { V1Pod } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { MILVUS_GROUP, MILVUS_VERSION, mergePatch, strategicMergePatch as setHeaderStrategic } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { etcdSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { versionFromImage } from '../release/version.js';
import { backupPvc, configMap, names, parseReplicaRecord, replicaRecord, taskPod, type TaskKind } from './manifests.js';

export const PROCEDURE = 'meta-migrate';

export interface MetaMigrateOptions {
  operation: 'migrate' | 'rollback';
  sourceVersion: string;
  targetVersion: string;
  rootPath: string | undefined;
  image: string | undefined;
  migrationImage: string;
  storageClass: string | undefined;
  etcdEndpoints: string[] | undefined;
  sessionWaitMs: number;
  timeoutMs: number;
  deletePods: boolean;
}

export interface MetaMigrateState {
  replicas: Record<string, number>;
  images: Record<string, string>;
  etcdEndpoints: string[];
  rootPath: string;
  targetImage: string;
  backupPvc: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

export function validateVersions(o: Pick<MetaMigrateOptions, 'sourceVersion' | 'targetVersion' | 'operation'>): void {
  const s = semver.valid(o.sourceVersion);
  const t = semver.valid(o.targetVersion);
  if (!s) throw new CliError(`invalid --source-version "${o.sourceVersion}": use X.Y.Z without a leading v, e.g. 2.1.4`, ExitCode.USAGE);
  if (!t) throw new CliError(`invalid --target-version "${o.targetVersion}": use X.Y.Z without a leading v, e.g. 2.2.0`, ExitCode.USAGE);
  if (!semver.satisfies(s, '>=2.1.0 <2.2.0')) throw preconditionError(`source version ${s} is not 2.1.x: the metadata migration only converts 2.1.x metadata`);
  if (!semver.satisfies(t, '>=2.2.0 <2.3.0')) {
    throw preconditionError(`target version ${t} is not 2.2.x: the migration tool accepts only 2.2.x targets`, 'migrate to 2.2.x first, then upgrade further with rolling-update');
  }
}

async function findEtcd(ctx: RunContext, r: Release): Promise<string[]> {
  const kube = ctx.kube();
  const svcs = await kube.listAll(
    { verb: 'list', resource: 'services', namespace: r.namespace },
    (o) => kube.core.listNamespacedService({ namespace: r.namespace, ...o }),
    { labelSelector: etcdSelector(r.method, r.name) },
  );
  for (const s of svcs) {
    if (s.spec?.clusterIP === 'None') continue;
    const port = s.spec?.ports?.find((p) => p.name === 'client')?.port;
    if (port) return [`${s.metadata!.name}:${port}`];
  }
  throw preconditionError(`no etcd client service of release "${r.name}" found (labels ${etcdSelector(r.method, r.name)})`, 'pass --etcd-endpoints host:port for an external etcd');
}

/** The root path the chart configured (etcd.rootPath in the release ConfigMap), if it says. */
async function configuredRootPath(ctx: RunContext, r: Release): Promise<string | undefined> {
  if (!r.helm) return undefined;
  const kube = ctx.kube();
  try {
    const cm = await kube.core.readNamespacedConfigMap({ name: r.helm.fullname, namespace: r.namespace });
    for (const key of ['user.yaml', 'milvus.yaml', 'default.yaml']) {
      const doc = yaml.load(cm.data?.[key] ?? '') as { etcd?: { rootPath?: string } } | null;
      if (doc?.etcd?.rootPath) return doc.etcd.rootPath;
    }
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  return undefined;
}

async function checkStorageClass(ctx: RunContext, name: string | undefined): Promise<void> {
  const kube = ctx.kube();
  const list = await kube.listAll({ verb: 'list', resource: 'storageclasses.storage.k8s.io' }, (o) => kube.storage.listStorageClass(o));
  if (name) {
    if (!list.some((s) => s.metadata?.name === name)) throw preconditionError(`storage class "${name}" does not exist`);
  } else if (!list.some((s) => s.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true')) {
    throw preconditionError('no default storage class for the backup volume: pass --storage-class');
  }
}

async function backupDone(ctx: RunContext, ns: string, instance: string): Promise<boolean> {
  const kube = ctx.kube();
  try {
    const cm = await kube.core.readNamespacedConfigMap({ name: names(instance).config, namespace: ns });
    return cm.metadata?.annotations?.backup === 'succeed';
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

async function runTask(ctx: RunContext, ns: string, instance: string, kind: TaskKind, image: string, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const kube = ctx.kube();
  const name = names(instance).pod(kind);
  // A pod of a failed earlier run keeps its phase; replace it instead of reading its old result.
  try {
    await kube.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
    for (;;) {
      await kube.core.readNamespacedPod({ name, namespace: ns });
      await sleep(500, ctx.signal);
    }
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  await kube.call({ verb: 'create', resource: 'pods', namespace: ns, name }, () => kube.core.createNamespacedPod({ namespace: ns, body: taskPod(instance, ns, kind, image) }));
  const t0 = Date.now();
  for (;;) {
    const pod: V1Pod = await kube.call({ verb: 'get', resource: 'pods', namespace: ns, name }, () => kube.core.readNamespacedPod({ name, namespace: ns }));
    if (pod.status?.phase === 'Succeeded') {
      log(`pod/${name} succeeded after ${elapsed(Date.now() - t0)}`);
      return;
    }
    if (pod.status?.phase === 'Failed') {
      const term = pod.status.containerStatuses?.[0]?.state?.terminated;
      throw new CliError(
        `pod/${name} failed (exit code ${term?.exitCode ?? '?'}${term?.message ? `: ${term.message}` : ''})`,
        ExitCode.FAILED,
        `see "kubectl logs pod/${name} -n ${ns}"`,
      );
    }
    if (Date.now() - t0 > timeoutMs) throw new CliError(`pod/${name} did not finish within ${elapsed(timeoutMs)}`, ExitCode.TIMEOUT);
    await sleep(1000, ctx.signal);
  }
}

export function helmMetaMigrate(ctx: RunContext, r: Release, o: MetaMigrateOptions): ProcedureDefinition<MetaMigrateState> {
  const ns = r.namespace;
  const instance = r.name;
  const n = names(instance);
  const kube = () => ctx.kube();
  const deployments = r.components.map((c) => c.name);
  const state: MetaMigrateState = {
    replicas: Object.fromEntries(r.components.map((c) => [c.name, c.replicas])),
    images: Object.fromEntries(r.components.map((c) => [c.name, c.image ?? ''])),
    etcdEndpoints: o.etcdEndpoints ?? [],
    rootPath: o.rootPath ?? 'by-dev',
    targetImage: o.image ?? (o.operation === 'migrate' ? `milvusdb/milvus:v${o.targetVersion}` : `milvusdb/milvus:v${o.sourceVersion}`),
    backupPvc: n.pvc,
  };
  const steps: Step<MetaMigrateState>[] = [
    {
      id: 'record-replicas',
      title: 'Record the replica count of every Milvus component',
      plan: (s) => [`configmap/${n.replicas}: ${replicaRecord(s.replicas)} (an existing record is kept)`],
      async run({ state: s, log }) {
        const k = kube();
        try {
          const cm = await k.core.readNamespacedConfigMap({ name: n.replicas, namespace: ns });
          s.replicas = parseReplicaRecord(cm.data?.replicas ?? '');
          log(`reusing configmap/${n.replicas}: ${cm.data?.replicas}`);
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        if (Object.values(s.replicas).every((x) => x === 0)) throw preconditionError('every component already has 0 replicas and no replica record exists: refusing to record zeros');
        await k.call({ verb: 'create', resource: 'configmaps', namespace: ns, name: n.replicas }, () =>
          k.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n.replicas, labels: { 'app.kubernetes.io/managed-by': 'kubectl-milvus' } }, data: { replicas: replicaRecord(s.replicas) } } }),
        );
      },
    },
    {
      id: 'stop',
      title: 'Stop Milvus (scale every component to 0 and wait for its pods to go)',
      destructive: true,
      plan: () => deployments.map((d) => `kubectl scale deployment/${d} -n ${ns} --replicas=0`),
      async run({ log }) {
        const k = kube();
        for (const d of deployments) {
          await k.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: d }, () =>
            k.apps.patchNamespacedDeployment({ name: d, namespace: ns, body: { spec: { replicas: 0 } } }, mergePatch),
          );
        }
        const deadline = Date.now() + o.timeoutMs;
        for (;;) {
          const pods = await k.core.listNamespacedPod({ namespace: ns, labelSelector: r.workloadSelector });
          const milvus = pods.items.filter((p) => p.metadata?.labels?.component !== 'attu');
          if (milvus.length === 0) break;
          if (Date.now() > deadline) throw new CliError(`${milvus.length} Milvus pods still running after ${elapsed(o.timeoutMs)}`, ExitCode.TIMEOUT);
          await sleep(1000, ctx.signal);
        }
        log('all Milvus pods are gone');
      },
    },
    {
      id: 'wait-sessions',
      title: `Wait ${elapsed(o.sessionWaitMs)} for the Milvus sessions in etcd to expire`,
      plan: () => ['the migration tool refuses to run while any Milvus session is alive (session TTL)'],
      run: () => sleep(o.sessionWaitMs, ctx.signal),
    },
    {
      id: 'prepare',
      title: 'Create the backup volume and the migration configuration',
      plan: (s) => [
        `persistentvolumeclaim/${n.pvc} (10Gi${o.storageClass ? `, storage class ${o.storageClass}` : ', default storage class'}; kept afterwards)`,
        `configmap/${n.config}: backup.yaml, migration.yaml, rollback.yaml (etcd ${s.etcdEndpoints.join(',') || '<discovered>'}, root path ${s.rootPath}, ${o.sourceVersion} -> ${o.targetVersion})`,
      ],
      async run({ state: s }) {
        const k = kube();
        try {
          await k.core.readNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: ns });
        } catch (e) {
          if (!isNotFound(e)) throw e;
          await k.call({ verb: 'create', resource: 'persistentvolumeclaims', namespace: ns, name: n.pvc }, () =>
            k.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: backupPvc(instance, ns, o.storageClass) }),
          );
        }
        const body = configMap(instance, ns, { sourceVersion: o.sourceVersion, targetVersion: o.targetVersion, etcdEndpoints: s.etcdEndpoints, rootPath: s.rootPath });
        try {
          const cur = await k.core.readNamespacedConfigMap({ name: n.config, namespace: ns });
          body.metadata!.annotations = cur.metadata?.annotations;
          await k.core.replaceNamespacedConfigMap({ name: n.config, namespace: ns, body });
        } catch (e) {
          if (!isNotFound(e)) throw e;
          await k.core.createNamespacedConfigMap({ namespace: ns, body });
        }
      },
    },
  ];
  if (o.operation === 'migrate') {
    steps.push(
      {
        id: 'backup',
        title: 'Back up the metadata into the backup volume',
        plan: () => [`pod/${n.pod('backup')} (${o.migrationImage}); skipped when configmap/${n.config} is annotated backup=succeed`],
        async run({ log }) {
          if (await backupDone(ctx, ns, instance)) {
            log('a finished backup exists: reusing it');
            return;
          }
          await runTask(ctx, ns, instance, 'backup', o.migrationImage, o.timeoutMs, log);
          const k = kube();
          await k.core.patchNamespacedConfigMap({ name: n.config, namespace: ns, body: { metadata: { annotations: { backup: 'succeed' } } } }, mergePatch);
        },
      },
      {
        id: 'migrate',
        title: `Migrate the metadata from ${o.sourceVersion} to ${o.targetVersion}`,
        destructive: true,
        plan: () => [`pod/${n.pod('run')} (${o.migrationImage}); on failure run "meta-migrate --operation rollback" to restore the backup`],
        async run({ log }) {
          try {
            await runTask(ctx, ns, instance, 'run', o.migrationImage, o.timeoutMs, log);
          } catch (e) {
            if (e instanceof CliError) {
              throw new CliError(e.message, e.exitCode, `Milvus stays stopped; the backup is in persistentvolumeclaim/${n.pvc}. Restore it with "${ctx.commandPrefix} meta-migrate ${instance} -n ${ns} --operation rollback --source-version ${o.sourceVersion} --target-version ${o.targetVersion} --image <old image>"`);
            }
            throw e;
          }
        },
      },
    );
  } else {
    steps.push({
      id: 'rollback',
      title: 'Restore the metadata from the backup volume',
      destructive: true,
      plan: () => [`pod/${n.pod('rollback')} (${o.migrationImage})`],
      run: ({ log }) => runTask(ctx, ns, instance, 'rollback', o.migrationImage, o.timeoutMs, log),
    });
  }
  steps.push(
    {
      id: 'start',
      title: 'Start Milvus with the recorded replicas',
      destructive: true,
      plan: (s) => deployments.map((d) => `deployment/${d}: image ${s.targetImage}, replicas ${s.replicas[d] ?? 1}`),
      async run({ state: s }) {
        const k = kube();
        for (const c of r.components) {
          const body = { spec: { replicas: s.replicas[c.name] ?? 1, template: { spec: { containers: [{ name: c.component, image: s.targetImage }] } } } };
          await k.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: c.name }, () =>
            k.apps.patchNamespacedDeployment({ name: c.name, namespace: ns, body }, setHeaderStrategic),
          );
        }
      },
    },
    {
      id: 'wait-ready',
      title: 'Wait until every component is ready',
      plan: () => [`all ${deployments.length} Deployments ready within ${elapsed(o.timeoutMs)}`],
      async run({ state: s, log }) {
        const k = kube();
        const deadline = Date.now() + o.timeoutMs;
        for (;;) {
          const list = await k.apps.listNamespacedDeployment({ namespace: ns, labelSelector: r.workloadSelector });
          const pending = list.items.filter((d) => deployments.includes(d.metadata!.name!) && (d.status?.readyReplicas ?? 0) < (s.replicas[d.metadata!.name!] ?? 1));
          if (pending.length === 0) break;
          if (Date.now() > deadline) throw new CliError(`not ready after ${elapsed(o.timeoutMs)}: ${pending.map((d) => d.metadata!.name).join(', ')}`, ExitCode.TIMEOUT);
          await sleep(1000, ctx.signal);
        }
        log(`Milvus runs ${s.targetImage}; the metadata backup stays in persistentvolumeclaim/${n.pvc}`);
        if (o.deletePods) {
          for (const kind of ['backup', 'run', 'rollback'] as TaskKind[]) await k.core.deleteNamespacedPod({ name: n.pod(kind), namespace: ns }).catch(() => undefined);
          log('migration pods deleted (the backup volume and configuration are kept)');
        }
      },
    },
  );
  return {
    name: PROCEDURE,
    release: instance,
    namespace: ns,
    params: { method: 'helm', operation: o.operation, sourceVersion: o.sourceVersion, targetVersion: o.targetVersion, image: state.targetImage },
    initialState: state,
    steps,
    async preflight(s, done) {
      validateVersions(o);
      if (done.size > 0) return;
      if (r.components.length === 0) throw preconditionError(`release "${instance}" has no Milvus Deployments`);
      const running = r.milvusVersion;
      if (o.operation === 'migrate' && running && running !== o.sourceVersion) {
        throw preconditionError(`Milvus runs ${running}, but --source-version is ${o.sourceVersion}`);
      }
      if (s.etcdEndpoints.length === 0) s.etcdEndpoints = await findEtcd(ctx, r);
      const configured = await configuredRootPath(ctx, r);
      if (o.rootPath === undefined && configured) s.rootPath = configured;
      else if (configured && configured !== s.rootPath) throw preconditionError(`--root-path ${s.rootPath} differs from etcd.rootPath ${configured} in configmap/${r.helm?.fullname}`);
      if (o.operation === 'migrate') await checkStorageClass(ctx, o.storageClass);
      if (o.operation === 'rollback' && !(await backupDone(ctx, ns, instance))) {
        throw preconditionError(`no finished metadata backup of "${instance}" (configmap/${n.config} annotated backup=succeed): nothing to roll back to; Milvus was not stopped`);
      }
    },
  };
}


/** Operator releases: one MilvusUpgrade resource, followed to a terminal state. */
export function operatorMetaMigrate(ctx: RunContext, r: Release, o: MetaMigrateOptions): ProcedureDefinition<MetaMigrateState> {
  const ns = r.namespace;
  const upgradeName = `${r.name}-${o.operation === 'migrate' ? 'upgrade' : 'rollback'}-${o.targetVersion.replace(/\./g, '-')}`;
  const body = {
    apiVersion: 'milvus.io/v1beta1',
    kind: 'MilvusUpgrade',
    metadata: { name: upgradeName, namespace: ns },
    spec: {
      milvus: { namespace: ns, name: r.name },
      operation: o.operation === 'migrate' ? 'upgrade' : 'rollback',
      sourceVersion: o.sourceVersion,
      targetVersion: o.targetVersion,
      ...(o.image ? { targetImage: o.image } : {}),
      toolImage: o.migrationImage,
    },
  };
  const terminal = new Set(['Succeeded', 'BakupMetaFailed', 'UpdateMetaFailed', 'RollbackedSucceeded', 'RollbackFailed']);
  const plural = 'milvusupgrades';
  return {
    name: PROCEDURE,
    release: r.name,
    namespace: ns,
    params: { method: 'operator', operation: o.operation, sourceVersion: o.sourceVersion, targetVersion: o.targetVersion },
    initialState: { replicas: {}, images: {}, etcdEndpoints: [], rootPath: o.rootPath ?? r.name, targetImage: o.image ?? `milvusdb/milvus:v${o.targetVersion}`, backupPvc: '' },
    async preflight() {
      validateVersions(o);
    },
    steps: [
      {
        id: 'create-upgrade',
        title: `Create MilvusUpgrade ${upgradeName}`,
        destructive: true,
        plan: () => [`kubectl create -f - <<< '${JSON.stringify(body)}' (the operator stops Milvus, backs up, migrates and starts it; etcd root path defaults to the resource name)`],
        async run({ log }) {
          const k = ctx.kube();
          try {
            await k.custom.getNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural, name: upgradeName });
            log(`milvusupgrade/${upgradeName} exists: following it`);
          } catch (e) {
            if (!isNotFound(e)) throw e;
            await k.call({ verb: 'create', resource: 'milvusupgrades.milvus.io', namespace: ns, name: upgradeName }, () =>
              k.custom.createNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural, body }),
            );
          }
        },
      },
      {
        id: 'follow-upgrade',
        title: 'Follow the MilvusUpgrade to its end',
        plan: () => [`milvusupgrade/${upgradeName} status.state until ${[...terminal].join('|')}`],
        async run({ state: s, log }) {
          const k = ctx.kube();
          const deadline = Date.now() + o.timeoutMs;
          let last = '';
          for (;;) {
            const u = (await k.custom.getNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural, name: upgradeName })) as { status?: { state?: string; backupPVC?: string } };
            const st = u.status?.state ?? '';
            if (st !== last) log(`state ${st || 'Pending'}`);
            last = st;
            if (terminal.has(st)) {
              s.backupPvc = u.status?.backupPVC ?? '';
              if (st === 'Succeeded' || st === 'RollbackedSucceeded') {
                if (o.deletePods) await k.custom.deleteNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural, name: upgradeName });
                return;
              }
              throw new CliError(`milvusupgrade/${upgradeName} ended in ${st}`, ExitCode.FAILED, `see "kubectl describe milvusupgrade ${upgradeName} -n ${ns}" and the operator's logs`);
            }
            if (Date.now() > deadline) throw new CliError(`milvusupgrade/${upgradeName} still ${st || 'Pending'} after ${elapsed(o.timeoutMs)}`, ExitCode.TIMEOUT);
            await sleep(1000, ctx.signal);
          }
        },
      },
    ],
  };
}
