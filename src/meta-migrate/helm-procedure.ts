/**
 * meta-migrate of a Helm release: Milvus 2.1.x -> 2.2 metadata migration with backup and
 * rollback, what upstream migrate.sh does, done safely:
 * - every check (versions, etcd endpoint, root path, storage class, a finished backup for
 *   rollback, no task pod of another run still running) before anything is stopped;
 * - replica counts and images recorded durably (checkpoint and ConfigMap
 *   `milvus-deploy-replicas-<instance>`), never zeros on a rerun;
 * - stop, wait for the pods to go, wait for the etcd sessions to expire;
 * - a finished backup is reused, never overwritten (after a failed migration etcd may hold no
 *   metadata at all); a migration that started and did not finish is rolled back from the backup
 *   before it is run again;
 * - start with the new (or, for rollback, the recorded old) image and the recorded replicas,
 *   waiting for readiness with a timeout. The backup volume is never deleted.
 */
import { randomBytes } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { mergePatch, strategicMergePatch } from '../kube/client.js';
import { elapsed } from '../output/duration.js';
import { LABEL_RELEASE, MANAGED_BY, type ProcedureDefinition, type Step } from '../procedure/engine.js';
import type { Release } from '../release/types.js';
import { versionFromImage } from '../release/version.js';
import {
  BACKUP_AT_ANNOTATION,
  BACKUP_ANNOTATION,
  BACKUP_DONE,
  BACKUP_FILE,
  META_STATE_ANNOTATION,
  RUN_LABEL,
  backupPvc,
  configMap,
  decideRecord,
  imageRecord,
  names,
  parseImageRecord,
  parseReplicaRecord,
  replicaRecord,
  type MetaState,
  type TaskKind,
} from './manifests.js';
import { backupFinished, checkStorageClass, findEtcd, milvusConfig, resolveRootPath } from './preflight.js';
import { readPod, runTask, waitMilvusPodsGone, waitMilvusReady } from './tasks.js';

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
  runId: string;
  operation: 'migrate' | 'rollback';
  replicas: Record<string, number>;
  /** Images before the migration (from the record on reruns and rollbacks). */
  images: Record<string, string>;
  containers: Record<string, string>;
  /** The image each Deployment is started with. */
  targetImages: Record<string, string>;
  recordSource?: string;
  etcdEndpoints: string[];
  etcdFrom: string;
  rootPath: string;
  rootPathFrom: string;
  storageClass?: string;
  backupPvc: string;
  configMap: string;
  replicaConfigMap: string;
  backupReused?: boolean;
  /** When the backup of this run (or the one a rollback restores) was taken. */
  backupTakenAt?: string;
  /** This run's backup file in the backup volume: one per run (and attempt), never another run's. */
  backupFile?: string;
  backupAttempt?: number;
  metaState?: MetaState;
}

/** Which file of the backup volume holds the finished backup (the config ConfigMap records it). */
export const BACKUP_FILE_ANNOTATION = 'kubectl-milvus.io/backup-file';

const withTag = (image: string | undefined, version: string) => {
  if (!image) return `milvusdb/milvus:v${version}`;
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  const repo = colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
  return `${repo}:v${version}`;
};

/** The image each Deployment starts with: --image, else (rollback) the recorded one, else the same repository at the version. */
export function targetImages(o: Pick<MetaMigrateOptions, 'operation' | 'image' | 'sourceVersion' | 'targetVersion'>, images: Record<string, string>, deployments: string[]): Record<string, string> {
  const version = o.operation === 'migrate' ? o.targetVersion : o.sourceVersion;
  return Object.fromEntries(
    deployments.map((d) => [d, o.image ?? (o.operation === 'rollback' && images[d] && versionFromImage(images[d]) === o.sourceVersion ? images[d]! : withTag(images[d], version))]),
  );
}

async function readConfigMap(ctx: RunContext, ns: string, name: string): Promise<V1ConfigMap | undefined> {
  const kube = ctx.kube();
  return kube.getIfExists({ verb: 'get', resource: 'configmaps', namespace: ns, name }, () => kube.core.readNamespacedConfigMap({ name, namespace: ns }));
}

async function exists(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND) return false;
    throw e;
  }
}

/** What etcd holds, from our annotation, else from the migration pod an earlier (upstream) run left. */
export async function currentMetaState(ctx: RunContext, ns: string, instance: string): Promise<MetaState> {
  const cm = await readConfigMap(ctx, ns, names(instance).config);
  const marked = cm?.metadata?.annotations?.[META_STATE_ANNOTATION] as MetaState | undefined;
  if (marked) return marked;
  // Only "not found" means no migration ever ran: a failed read is no evidence that etcd holds the source metadata.
  const pod = await readPod(ctx, ns, names(instance).pod('run'));
  if (!pod) return 'source';
  return pod.status?.phase === 'Succeeded' ? 'migrated' : 'migrating';
}


async function annotateConfig(ctx: RunContext, ns: string, instance: string, annotations: Record<string, string>): Promise<void> {
  const kube = ctx.kube();
  const name = names(instance).config;
  await kube.call({ verb: 'patch', resource: 'configmaps', namespace: ns, name }, () =>
    kube.core.patchNamespacedConfigMap({ name, namespace: ns, body: { metadata: { annotations } } }, mergePatch),
  );
}

export function helmMetaMigrate(ctx: RunContext, r: Release, o: MetaMigrateOptions): ProcedureDefinition<MetaMigrateState> {
  const ns = r.namespace;
  const instance = r.name;
  const n = names(instance);
  const deployments = r.components.map((c) => c.name);
  const live = {
    replicas: Object.fromEntries(r.components.map((c) => [c.name, c.replicas])),
    images: Object.fromEntries(r.components.map((c) => [c.name, c.image ?? ''])),
  };
  const containers = Object.fromEntries(
    r.components.map((c) => {
      const cs = c.deployment.spec?.template?.spec?.containers ?? [];
      return [c.name, (cs.find((x) => x.name === c.component) ?? cs[0])?.name ?? c.component];
    }),
  );
  const state: MetaMigrateState = {
    runId: randomBytes(4).toString('hex'),
    operation: o.operation,
    replicas: live.replicas,
    images: live.images,
    containers,
    targetImages: targetImages(o, live.images, deployments),
    etcdEndpoints: o.etcdEndpoints ?? [],
    etcdFrom: o.etcdEndpoints ? '--etcd-endpoints' : '',
    rootPath: o.rootPath ?? 'by-dev',
    rootPathFrom: o.rootPath ? '--root-path' : 'default',
    backupPvc: n.pvc,
    configMap: n.config,
    replicaConfigMap: n.replicas,
  };
  const kube = () => ctx.kube();
  const rollbackCmd = `${ctx.commandPrefix} meta-migrate ${instance} -n ${ns} --operation rollback --source-version ${o.sourceVersion} --target-version ${o.targetVersion}`;

  /** The record as it would be written now (read-only): used by preflight for the plan and by the record step. */
  const decide = async (s: MetaMigrateState) => {
    const cm = await readConfigMap(ctx, ns, n.replicas);
    const existing = cm ? { replicas: parseReplicaRecord(cm.data?.replicas ?? ''), images: parseImageRecord(cm.data?.images) } : undefined;
    const d = decideRecord(existing, live, o.operation);
    if ('refuse' in d) throw preconditionError(d.refuse, `scale the components back up, or recreate configmap/${n.replicas} with "deploy:replicas ..."`);
    s.replicas = Object.fromEntries(deployments.map((x) => [x, d.record.replicas[x] ?? live.replicas[x] ?? 1]));
    s.images = Object.fromEntries(deployments.map((x) => [x, d.record.images[x] ?? live.images[x] ?? '']));
    s.targetImages = targetImages(o, s.images, deployments);
    s.recordSource = d.source;
    return { cm, record: { replicas: s.replicas, images: s.images } };
  };

  const steps: Step<MetaMigrateState>[] = [
    {
      id: 'record-replicas',
      title: 'Record the replica count and image of every Milvus component',
      plan: (s) => [
        `configmap/${n.replicas}: replicas "${replicaRecord(s.replicas)}"${s.recordSource === 'record' ? ' (kept from the existing record: some components are already at 0)' : ''}`,
        `images "${imageRecord(s.images)}"`,
      ],
      async run({ state: s, log }) {
        const { cm, record } = await decide(s);
        const body: V1ConfigMap = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: n.replicas,
            namespace: ns,
            labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: instance },
            ...(cm?.metadata?.resourceVersion ? { resourceVersion: cm.metadata.resourceVersion } : {}),
          },
          data: { replicas: replicaRecord(record.replicas), images: imageRecord(record.images) },
        };
        const k = kube();
        await k.call({ verb: cm ? 'update' : 'create', resource: 'configmaps', namespace: ns, name: n.replicas }, () =>
          cm ? k.core.replaceNamespacedConfigMap({ name: n.replicas, namespace: ns, body }) : k.core.createNamespacedConfigMap({ namespace: ns, body }),
        );
        log(`${s.recordSource === 'record' ? 'kept the existing' : cm ? 'updated' : 'wrote'} configmap/${n.replicas}: ${body.data!.replicas}`);
      },
    },
    {
      id: 'stop',
      title: 'Stop Milvus (scale every component to 0 and wait for its pods to go)',
      destructive: true,
      plan: () => [...deployments.map((d) => `kubectl scale deployment/${d} -n ${ns} --replicas=0`), `wait until no Milvus pod of ${r.workloadSelector} is left (timeout ${elapsed(o.timeoutMs)})`],
      async run({ log }) {
        const k = kube();
        for (const d of deployments) {
          await k.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: d }, () =>
            k.apps.patchNamespacedDeployment({ name: d, namespace: ns, body: { spec: { replicas: 0 } } }, mergePatch),
          );
        }
        await waitMilvusPodsGone(ctx, r, o.timeoutMs);
        log('every Milvus pod is gone');
      },
    },
    {
      id: 'wait-sessions',
      title: `Wait ${elapsed(o.sessionWaitMs)} for the Milvus sessions in etcd to expire`,
      plan: () => ['the migration tool refuses to run while a session of any component is alive ("there are still sessions alive")'],
      async run() {
        await new Promise<void>((resolve, reject) => {
          if (ctx.signal.aborted) return reject(ctx.signal.reason);
          const t = setTimeout(resolve, o.sessionWaitMs);
          ctx.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal.reason)), { once: true });
        });
      },
    },
    {
      id: 'prepare',
      title: o.operation === 'migrate' ? 'Create the backup volume and the migration configuration' : 'Write the migration configuration',
      plan: (s) => [
        o.operation === 'migrate'
          ? `persistentvolumeclaim/${n.pvc} (10Gi, storage class ${s.storageClass ?? 'default'}; an existing one is reused; never deleted)`
          : `persistentvolumeclaim/${n.pvc} holds the backup`,
        `configmap/${n.config}: backup.yaml, migration.yaml, rollback.yaml (etcd ${s.etcdEndpoints.join(',')} from ${s.etcdFrom}, rootPath ${s.rootPath} from ${s.rootPathFrom}, ${o.sourceVersion} -> ${o.targetVersion})`,
      ],
      async run({ state: s, log }) {
        const k = kube();
        if (o.operation === 'migrate' && !(await exists(() => k.core.readNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: ns }).catch((e) => Promise.reject(toNotFound(e)))))) {
          await k.call({ verb: 'create', resource: 'persistentvolumeclaims', namespace: ns, name: n.pvc }, () =>
            k.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: backupPvc(n.pvc, instance, ns, o.storageClass) }),
          );
          log(`created persistentvolumeclaim/${n.pvc}`);
        }
        if (o.operation === 'rollback') {
          // The backup the last migration took, recorded with it (the tool's default file before that was recorded).
          const cm = await readConfigMap(ctx, ns, n.config);
          s.backupFile = cm?.metadata?.annotations?.[BACKUP_FILE_ANNOTATION] ?? BACKUP_FILE;
        }
        await writeConfig(s);
      },
    },
  ];

  /** The config ConfigMap with the tool's three configs, pointing at this run's backup file. */
  async function writeConfig(s: MetaMigrateState): Promise<void> {
        const k = kube();
        const body = configMap(instance, ns, { sourceVersion: o.sourceVersion, targetVersion: o.targetVersion, etcdEndpoints: s.etcdEndpoints, rootPath: s.rootPath, backupFile: s.backupFile });
        const cur = await readConfigMap(ctx, ns, n.config);
        await k.call({ verb: cur ? 'update' : 'create', resource: 'configmaps', namespace: ns, name: n.config }, async () => {
          if (cur) {
            // Keep the markers (backup=succeed, meta-state) of earlier runs.
            body.metadata!.annotations = cur.metadata?.annotations;
            body.metadata!.resourceVersion = cur.metadata?.resourceVersion;
            await k.core.replaceNamespacedConfigMap({ name: n.config, namespace: ns, body });
          } else {
            await k.core.createNamespacedConfigMap({ namespace: ns, body });
          }
        });
  }

  /** A Milvus pod started after `at`: a backup taken at `at` no longer holds the current metadata. */
  async function milvusStartedSince(at: string): Promise<string | undefined> {
    const k = kube();
    const pods = await k.listAll({ verb: 'list', resource: 'pods', namespace: ns }, (q) => k.core.listNamespacedPod({ namespace: ns, ...q }), { labelSelector: r.workloadSelector });
    const later = pods.find((p) => p.status?.startTime && new Date(p.status.startTime as unknown as string).getTime() > Date.parse(at));
    return later?.metadata?.name;
  }

  const task = (kind: TaskKind, s: MetaMigrateState, log: (m: string) => void) =>
    runTask({ ctx, namespace: ns, instance, kind, image: o.migrationImage, runId: s.runId, timeoutMs: o.timeoutMs, log, ...(kind === 'backup' ? { neverOverwrite: s.backupFile } : {}) });

  if (o.operation === 'migrate') {
    steps.push(
      {
        id: 'backup',
        title: 'Back up the metadata into the backup volume',
        plan: (s) => [
          `pod/${n.pod('backup')} (${o.migrationImage}, backup.yaml) writes a backup file of this run only (/milvus/data/migration-${s.runId}-N.bak), recorded in the checkpoint and on configmap/${n.config}`,
          `the pod refuses to run over an existing file; a backup of an earlier run, or one older than Milvus's last start, is never reused`,
        ],
        async run({ state: s, log, checkpoint }) {
          const cm = await readConfigMap(ctx, ns, n.config);
          const recorded = cm?.metadata?.annotations?.[BACKUP_FILE_ANNOTATION];
          const at = cm?.metadata?.annotations?.[BACKUP_AT_ANNOTATION];
          const meta = await currentMetaState(ctx, ns, instance);
          if (meta !== 'source' && backupFinished(cm)) {
            // etcd holds a migration (half-done or finished), not the source metadata: the recorded
            // backup is the only copy of it, and backing up now would save the wrong thing.
            const started = meta === 'migrating' && at ? await milvusStartedSince(at) : undefined;
            if (started) {
              throw preconditionError(
                `etcd holds a half-done migration and pod/${started} started after the recorded backup (${at}): that backup no longer matches what Milvus ran`,
                'restore the metadata by hand before migrating again',
              );
            }
            s.backupFile = recorded ?? BACKUP_FILE;
            s.backupTakenAt = at;
            s.backupReused = true;
            await writeConfig(s);
            log(`etcd holds a ${meta === 'migrating' ? 'half-done' : 'finished'} migration: keeping the backup ${s.backupFile}${at ? ` taken ${at}` : ''} (the source metadata)`);
            return;
          }
          if (backupFinished(cm) && s.backupFile && recorded === s.backupFile && s.backupTakenAt) {
            const started = await milvusStartedSince(s.backupTakenAt);
            if (!started) {
              s.backupReused = true;
              log(`this run's backup ${s.backupFile} is finished (taken ${s.backupTakenAt}): reusing it`);
              return;
            }
            log(`pod/${started} started after this run's backup (${s.backupTakenAt}): taking a new one`);
          } else if (backupFinished(cm)) {
            log(`the finished backup ${recorded ?? BACKUP_FILE} of an earlier run${at ? ` (taken ${at})` : ''} is not reused: taking a new one`);
          }
          s.backupAttempt = (s.backupAttempt ?? 0) + 1;
          s.backupFile = `/milvus/data/migration-${s.runId}-${s.backupAttempt}.bak`;
          s.backupTakenAt = undefined;
          s.backupReused = false;
          await writeConfig(s);
          await checkpoint();
          await task('backup', s, log);
          const now = ctx.now().toISOString();
          await annotateConfig(ctx, ns, instance, { [BACKUP_ANNOTATION]: BACKUP_DONE, [BACKUP_AT_ANNOTATION]: now, [BACKUP_FILE_ANNOTATION]: s.backupFile, [META_STATE_ANNOTATION]: 'source' });
          s.backupTakenAt = now;
          log(`backup ${s.backupFile} taken`);
        },
      },
      {
        id: 'migrate',
        title: `Migrate the metadata from ${o.sourceVersion} to ${o.targetVersion}`,
        destructive: true,
        plan: () => [
          `pod/${n.pod('run')} (${o.migrationImage}, migration.yaml)`,
          `if an earlier migration started and did not finish, pod/${n.pod('rollback')} first restores the backup; if one finished, nothing runs`,
        ],
        async run({ state: s, log }) {
          const meta = await currentMetaState(ctx, ns, instance);
          s.metaState = meta;
          if (meta === 'migrated') {
            log(`the metadata was already migrated by an earlier run (configmap/${n.config} ${META_STATE_ANNOTATION}=migrated): not running the migration again`);
            return;
          }
          try {
            if (meta === 'migrating') {
              log('an earlier migration started and did not finish: restoring the backup first');
              await task('rollback', s, log);
              await annotateConfig(ctx, ns, instance, { [META_STATE_ANNOTATION]: 'source' });
            }
            await annotateConfig(ctx, ns, instance, { [META_STATE_ANNOTATION]: 'migrating' });
            await task('run', s, log);
            await annotateConfig(ctx, ns, instance, { [META_STATE_ANNOTATION]: 'migrated' });
            s.metaState = 'migrated';
          } catch (e) {
            if (e instanceof CliError && !ctx.signal.aborted) {
              throw new CliError(
                e.message,
                e.exitCode,
                `Milvus stays stopped; the backup is in persistentvolumeclaim/${n.pvc}. Either fix the cause and rerun with --resume (the backup is restored before the migration runs again), or go back: ${rollbackCmd}`,
                { cause: e },
              );
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
      plan: (s) => [
        `pod/${n.pod('rollback')} (${o.migrationImage}, rollback.yaml): cleans the 2.1 and 2.2 metadata, then restores ${s.backupFile ?? 'the recorded backup file'} from persistentvolumeclaim/${n.pvc}`,
        `the metadata returns to the state of the backup${s.backupTakenAt ? ` taken ${s.backupTakenAt}` : ''}: collections and indexes created on 2.2 since then are lost`,
      ],
      async run({ state: s, log }) {
        await task('rollback', s, log);
        await annotateConfig(ctx, ns, instance, { [META_STATE_ANNOTATION]: 'source' });
        s.metaState = 'source';
      },
    });
  }
  steps.push(
    {
      id: 'start',
      title: `Start Milvus ${o.operation === 'migrate' ? 'on the new image' : 'on the old image'} with the recorded replicas`,
      destructive: true,
      plan: (s) => deployments.map((d) => `deployment/${d}: image ${s.targetImages[d]}, replicas ${s.replicas[d] ?? 1}`),
      async run({ state: s }) {
        const k = kube();
        for (const d of deployments) {
          const version = versionFromImage(s.targetImages[d]);
          const body = {
            ...(version ? { metadata: { labels: { 'app.kubernetes.io/version': version } } } : {}),
            spec: { replicas: s.replicas[d] ?? 1, template: { spec: { containers: [{ name: s.containers[d], image: s.targetImages[d] }] } } },
          };
          await k.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: d }, () =>
            k.apps.patchNamespacedDeployment({ name: d, namespace: ns, body }, strategicMergePatch),
          );
        }
      },
    },
    {
      id: 'wait-ready',
      title: 'Wait until every component is ready',
      plan: () => [`all ${deployments.length} Deployments rolled out with their image and every replica ready (timeout ${elapsed(o.timeoutMs)})`],
      async run({ state: s, log }) {
        const want = Object.fromEntries(deployments.map((d) => [d, { image: s.targetImages[d]!, replicas: s.replicas[d] ?? 1, container: s.containers[d]! }]));
        try {
          await waitMilvusReady(ctx, r, want, o.timeoutMs, log);
        } catch (e) {
          if (e instanceof CliError && !ctx.signal.aborted && o.operation === 'migrate') {
            throw new CliError(e.message, e.exitCode, `check the pods (kubectl get pods -l ${r.workloadSelector} -n ${ns}); after fixing, rerun with --resume, or go back: ${rollbackCmd}`, { cause: e });
          }
          throw e;
        }
        log(`Milvus runs ${[...new Set(Object.values(s.targetImages))].join(', ')}; the metadata backup stays in persistentvolumeclaim/${n.pvc}`);
      },
    },
  );
  if (o.deletePods) {
    steps.push({
      id: 'delete-pods',
      title: 'Delete the finished migration pods',
      destructive: true,
      plan: () => [`pods ${(['backup', 'run', 'rollback'] as TaskKind[]).map((k) => n.pod(k)).join(', ')}; configmap/${n.config} (the backup marker) and persistentvolumeclaim/${n.pvc} are kept`],
      async run({ log }) {
        const k = kube();
        for (const kind of ['backup', 'run', 'rollback'] as TaskKind[]) {
          await k.core.deleteNamespacedPod({ name: n.pod(kind), namespace: ns }).catch(() => undefined);
        }
        log('migration pods deleted; the backup volume and configuration are kept');
      },
    });
  }

  return {
    name: PROCEDURE,
    release: instance,
    namespace: ns,
    params: { method: 'helm', operation: o.operation, sourceVersion: o.sourceVersion, targetVersion: o.targetVersion, image: o.image ?? '', migrationImage: o.migrationImage },
    initialState: state,
    steps,
    confirmQuestion: `Milvus "${instance}" is unavailable from the stop until the start (${o.operation === 'migrate' ? 'backup and migration' : 'restore'} run in between).`,
    // Every run checks what the steps still to do rest on, from the cluster as it is now.
    async preflight(s, done) {
      if (r.components.length === 0) throw preconditionError(`release "${instance}" has no Milvus Deployments`);
      const meta = await currentMetaState(ctx, ns, instance);
      const running = r.milvusVersion;
      if (o.operation === 'migrate' && running && running !== o.sourceVersion && !(running === o.targetVersion && meta !== 'source')) {
        throw preconditionError(`Milvus runs ${running}, but --source-version is ${o.sourceVersion}`, 'pass the version Milvus runs now');
      }
      const config = await milvusConfig(ctx, r);
      if (s.etcdEndpoints.length === 0) {
        const found = await findEtcd(ctx, r, config);
        s.etcdEndpoints = found.endpoints;
        s.etcdFrom = found.from;
      }
      const root = resolveRootPath(o.rootPath, config, 'by-dev');
      s.rootPath = root.rootPath;
      s.rootPathFrom = root.from;
      const k = kube();
      const pvcExists = await exists(() => k.core.readNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: ns }).catch((e) => Promise.reject(toNotFound(e))));
      if (o.operation === 'migrate' && !pvcExists && !done.has('backup')) s.storageClass = await checkStorageClass(ctx, o.storageClass);
      if (o.operation === 'rollback' && !done.has('rollback')) {
        const cm = await readConfigMap(ctx, ns, n.config);
        s.backupTakenAt = cm?.metadata?.annotations?.[BACKUP_AT_ANNOTATION];
        s.backupFile = cm?.metadata?.annotations?.[BACKUP_FILE_ANNOTATION] ?? BACKUP_FILE;
        if (!backupFinished(cm) || !pvcExists) {
          throw preconditionError(
            `no finished metadata backup of "${instance}" (configmap/${n.config} annotated ${BACKUP_ANNOTATION}=${BACKUP_DONE} and persistentvolumeclaim/${n.pvc}): nothing to roll back to; Milvus was not stopped`,
          );
        }
      }
      // A task pod of another run that still runs may be writing etcd: refuse before stopping anything.
      for (const kind of ['backup', 'run', 'rollback'] as TaskKind[]) {
        const p = await readPod(ctx, ns, n.pod(kind));
        const phase = p?.status?.phase;
        if (p && phase !== 'Succeeded' && phase !== 'Failed' && p.metadata?.labels?.[RUN_LABEL] !== s.runId) {
          throw preconditionError(`pod/${n.pod(kind)} of an earlier run is still ${phase ?? 'running'}; Milvus was not stopped`, `wait for it to finish (kubectl get pod ${n.pod(kind)} -n ${ns} -w), then rerun`);
        }
      }
      if (!done.has('record-replicas')) await decide(s);
    },
  };
}

/** The raw client error of a read as the NOT_FOUND CliError `exists` understands. */
function toNotFound(e: unknown): unknown {
  return (e as { code?: number }).code === 404 ? new CliError('not found', ExitCode.NOT_FOUND) : e;
}
