/**
 * meta-migrate of a Milvus Operator release: a MilvusUpgrade resource built from the flags,
 * followed to a terminal state. The operator stops Milvus, backs up, migrates and starts it; its
 * etcd root path is the Milvus resource's spec.config.etcd.rootPath, else the resource name (not
 * by-dev). The backup goes to a PVC of ours (spec.backupPVC), one per run and named in the
 * checkpoint: the operator's own PVC is owned by the MilvusUpgrade and would be deleted with it,
 * the operator's backup file name is fixed, and the plugin never deletes a backup.
 *
 * Both images are always explicit: the operator fills targetImage/toolImage only in its webhook,
 * which is off by default, and without a targetImage the release lands on the operator's default
 * image. Done means Milvus reports Healthy on the target image with its replicas back, not only
 * that the MilvusUpgrade says Succeeded.
 *
 * Rollback: the operator restores only from the status of the MilvusUpgrade that made the backup
 * (metaBackuped, sourceImage, replicasBeforeUpgrade); a new MilvusUpgrade with operation rollback
 * has none of it and would start Milvus at 0 replicas on the default image. So rollback switches
 * that MilvusUpgrade to spec.operation: rollback, and refuses when it is gone or recorded no
 * backup.
 */
import { randomBytes } from 'node:crypto';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { MILVUS_GROUP, MILVUS_VERSION, mergePatch } from '../kube/client.js';
import { isConflict } from '../kube/errors.js';
import { getMilvusResource } from '../kube/milvus-resource.js';
import { follow } from '../kube/rollout.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { pollUntil } from '../procedure/wait.js';
import { discoverRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { BACKUP_ANNOTATION, BACKUP_AT_ANNOTATION, BACKUP_DONE, RUN_LABEL, backupPvc, milvusUpgrade, runBackupPvc, upgradeFinished, upgradeName, upgradeSucceeded } from './manifests.js';
import { LABEL_RELEASE } from '../procedure/engine.js';
import type { MetaMigrateOptions } from './helm-procedure.js';
import { completable, DEPENDENCY_CONDITIONS, dependenciesNotReady, describeStall, instanceSelector, STOPPING_STATES, stallRemedy, stalledStop, type StalledStop } from './operator-stop.js';
import { checkStorageClass } from './preflight.js';

export interface OperatorMetaMigrateState {
  runId: string;
  upgrade: string;
  backupPvc: string;
  rootPath: string;
  storageClass?: string;
  finalState?: string;
  metaBackuped?: boolean;
  /** Rollback: the image the MilvusUpgrade recorded before the migration. */
  sourceImage?: string;
  /** Deployments this run scaled to 0 because the operator left its own stop undone (operator-stop.ts). */
  stoppedForOperator?: string[];
}

interface UpgradeObject {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { rollbackIfFailed?: boolean; maxRetry?: number; operation?: string; targetImage?: string; backupPVC?: string };
  status?: {
    state?: string;
    backupPVC?: string;
    metaBackuped?: boolean;
    retriedTimes?: number;
    sourceImage?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

const ROLLBACK_STATES = new Set(['RollbackNewVersionStopping', 'RollbackRestoringOldMeta', 'RollbackOldVersionStarting', 'RollbackedSucceeded', 'RollbackFailed']);

/** The image to migrate to: --image, else the repository Milvus runs now at v<target>. */
export function defaultTargetImage(r: Release, targetVersion: string): string {
  const current = r.components.find((c) => c.image)?.image ?? (r.operator?.resource.spec?.components?.image as string | undefined) ?? 'milvusdb/milvus';
  const at = current.indexOf('@');
  const ref = at >= 0 ? current.slice(0, at) : current;
  const colon = ref.lastIndexOf(':');
  const repo = colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
  return `${repo}:v${targetVersion}`;
}

const PLURAL = 'milvusupgrades';
/** How a run follows a MilvusUpgrade through its stop (unit tests shorten it). */
export interface FollowTiming {
  /** How often the Milvus resource and its Deployments are looked at while the MilvusUpgrade waits for the stop. */
  lookMs: number;
  /** How long a stalled stop must be seen before the run acts on it. */
  confirmMs: number;
  /** Longest single watch of the MilvusUpgrade before it is listed again. */
  watchSeconds: number;
}
const FOLLOW_TIMING: FollowTiming = { lookMs: 5000, confirmMs: 15_000, watchSeconds: 5 };

/** The value of a read, null when it failed for a transient reason (the cluster unreachable): no evidence either way. */
async function nullIfUnreachable<T>(p: Promise<T>, onTransient: (message: string) => void): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.UNREACHABLE) {
      onTransient(e.message);
      return null;
    }
    throw e;
  }
}

export function operatorMetaMigrate(ctx: RunContext, r: Release, o: MetaMigrateOptions, timing: FollowTiming = FOLLOW_TIMING): ProcedureDefinition<OperatorMetaMigrateState> {
  const ns = r.namespace;
  // A rollback runs on the MilvusUpgrade of the migration: only its status holds the backup.
  const name = upgradeName(r.name, 'migrate', o.targetVersion);
  const targetImage = o.image ?? defaultTargetImage(r, o.targetVersion);
  const spec = r.operator?.resource.spec ?? {};
  /** The Deployments serving now: what a stalled stop would leave running (for the plan). */
  const runningNow = r.components.filter((c) => c.replicas > 0).map((c) => c.name);
  const rootPath = (spec.config?.etcd?.rootPath as string | undefined) ?? r.name;
  const runId = randomBytes(4).toString('hex');
  // The operator writes its backup to a fixed file (migration.bak) in the volume it is given, so one
  // volume per run is what keeps a backup from an earlier migrate -> rollback cycle from being
  // reused or overwritten. A rollback takes the volume its MilvusUpgrade recorded (preflight).
  const state: OperatorMetaMigrateState = { runId, upgrade: name, backupPvc: runBackupPvc(r.name, runId), rootPath };
  const body = (s: OperatorMetaMigrateState) =>
    milvusUpgrade({ name, namespace: ns, release: r.name, operation: 'migrate', sourceVersion: o.sourceVersion, targetVersion: o.targetVersion, targetImage, toolImage: o.migrationImage, backupPvc: s.backupPvc, runId: s.runId });
  const kube = () => ctx.kube();
  const get = async (): Promise<UpgradeObject | undefined> => {
    const k = kube();
    return (await k.getIfExists({ verb: 'get', resource: 'milvusupgrades.milvus.io', namespace: ns, name }, () =>
      k.custom.getNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: PLURAL, name }),
    )) as UpgradeObject | undefined;
  };
  const readPvc = async (pvc: string) => {
    const k = kube();
    try {
      return await k.core.readNamespacedPersistentVolumeClaim({ name: pvc, namespace: ns });
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw await k.call({ verb: 'get', resource: 'persistentvolumeclaims', namespace: ns, name: pvc }, () => Promise.reject(e)).catch((x: unknown) => x);
    }
  };

  /** The stalled stop the cluster shows now, if any; undefined also when it could not be read (no evidence either way). */
  const readStall = async (upgradeState: string): Promise<StalledStop | undefined> => {
    const k = kube();
    const read = await nullIfUnreachable(
      Promise.all([
        getMilvusResource(k, ns, r.name),
        k.listAll({ verb: 'list', resource: 'deployments.apps', namespace: ns }, (q) => k.apps.listNamespacedDeployment({ namespace: ns, ...q }), { labelSelector: instanceSelector(r.name) }),
      ]),
      () => undefined,
    );
    return read ? stalledStop(upgradeState, read[0], read[1]) : undefined;
  };
  /**
   * The operator's stop, done for it: everything re-read right before, each Deployment scaled with
   * the resourceVersion it was read at (a change since is a 409: looked at again on the next check).
   * True when something was scaled.
   */
  const completeStop = async (s: OperatorMetaMigrateState, log: (m: string) => void): Promise<boolean> => {
    const k = kube();
    const u = await get();
    const now = u?.status?.state && STOPPING_STATES.has(u.status.state) ? await readStall(u.status.state) : undefined;
    if (!now || !completable(now)) return false;
    let scaled = false;
    for (const d of now.running) {
      try {
        await k.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: d.name }, () =>
          k.apps.patchNamespacedDeployment({ name: d.name, namespace: ns, body: { metadata: { resourceVersion: d.resourceVersion }, spec: { replicas: 0 } } }, mergePatch),
        );
      } catch (e) {
        if (e instanceof CliError && isConflict(e.cause)) {
          log(`deployment/${d.name} changed since it was read: looking again`);
          return scaled;
        }
        throw e;
      }
      scaled = true;
      s.stoppedForOperator = [...new Set([...(s.stoppedForOperator ?? []), d.name])];
      log(`deployment/${d.name} scaled from ${d.replicas} to 0, the stop milvusupgrade/${name} asked for and Milvus Operator did not do`);
    }
    return scaled;
  };

  /** Before the MilvusUpgrade stops Milvus: with a dependency condition not True the operator would never scale it (operator-stop.ts). */
  const refuseIfDependenciesNotReady = () => {
    const conditions = r.operator?.resource.status?.conditions;
    const notReady = dependenciesNotReady(conditions);
    if (notReady.length === 0) return;
    const why = notReady.map((t) => `${t} ${conditions?.find((c) => c.type === t)?.message ? `"${conditions.find((c) => c.type === t)!.message}"` : 'absent'}`).join(', ');
    throw preconditionError(
      `milvus/${r.name} reports ${why}: Milvus Operator scales Milvus only while its dependency conditions are all True, so the MilvusUpgrade would stop nothing and wait for good`,
      `make the dependency reachable and wait for the operator's next probe (every 30 s) to set the condition True (kubectl get milvus ${r.name} -n ${ns} -o jsonpath='{.status.conditions}'), then run again`,
    );
  };
  const steps: ProcedureDefinition<OperatorMetaMigrateState>['steps'] = [];
  if (o.operation === 'migrate') {
    steps.push({
      id: 'backup-volume',
      title: 'Create the backup volume of this run (kept after the upgrade)',
      plan: (s) => [`persistentvolumeclaim/${s.backupPvc} (10Gi, storage class ${s.storageClass ?? 'default'}; this run's own volume, recorded in the checkpoint; never deleted; backups of earlier runs are never reused)`],
      async run({ state: s, log }) {
        const pvc = s.backupPvc;
        const existing = await readPvc(pvc);
        if (existing) {
          // Only a resumed run finds its volume; anything else of that name is not this run's backup.
          if (existing.metadata?.labels?.[RUN_LABEL] !== s.runId) {
            throw preconditionError(`persistentvolumeclaim/${pvc} exists but was not created by this run (label ${RUN_LABEL}=${existing.metadata?.labels?.[RUN_LABEL] ?? 'none'})`, 'rerun with --restart: a new run creates a volume of its own');
          }
          return log(`persistentvolumeclaim/${pvc} of this run exists: reusing it`);
        }
        const k = kube();
        await k.call({ verb: 'create', resource: 'persistentvolumeclaims', namespace: ns, name: pvc }, () =>
          k.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: backupPvc(pvc, r.name, ns, o.storageClass, s.runId) }),
        );
        log(`created persistentvolumeclaim/${pvc}`);
      },
    });
  }
  const rollbackPatch = { spec: { operation: 'rollback' } };
  if (o.operation === 'rollback') {
    steps.push({
      id: 'rollback-upgrade',
      title: `Switch milvusupgrade/${name} to operation rollback`,
      destructive: true,
      plan: (s) => [
        `kubectl patch milvusupgrade ${name} -n ${ns} --type merge -p '${JSON.stringify(rollbackPatch)}'`,
        `the operator stops milvus/${r.name}, restores the metadata backup of ${name} and starts ${s.sourceImage ?? 'the recorded source image'} with the replicas recorded before the upgrade`,
      ],
      async run() {
        const k = kube();
        await k.call({ verb: 'patch', resource: 'milvusupgrades.milvus.io', namespace: ns, name }, () =>
          k.custom.patchNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: PLURAL, name, body: rollbackPatch }, mergePatch),
        );
      },
    });
  }
  steps.push(
    ...(o.operation === 'rollback' ? [] : [{
      id: 'create-upgrade',
      title: `Create milvusupgrade/${name}`,
      destructive: true,
      plan: (s) => [
        `kubectl create -f - <<< '${JSON.stringify(body(s))}'`,
        `the operator stops milvus/${r.name}, ${o.operation === 'migrate' ? 'backs up the metadata into' : 'restores the metadata from'} persistentvolumeclaim/${s.backupPvc}${o.operation === 'migrate' ? ', migrates it' : ''} and starts Milvus again; etcd root path ${s.rootPath}`,
      ],
      async run({ state: s, log }) {
        const cur = await get();
        if (cur) {
          log(`milvusupgrade/${name} of this run exists: following it`);
          return;
        }
        const k = kube();
        await k.call({ verb: 'create', resource: 'milvusupgrades.milvus.io', namespace: ns, name }, () =>
          k.custom.createNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: PLURAL, body: body(s) }),
        );
      },
    } satisfies ProcedureDefinition<OperatorMetaMigrateState>['steps'][number]]),
    {
      id: 'follow-upgrade',
      title: `Follow milvusupgrade/${name} to its end`,
      // It may complete the operator's stop of Milvus itself (Deployments to 0): part of what is confirmed.
      destructive: true,
      plan: () => [
        `status.state until ${o.operation === 'migrate' ? 'Succeeded' : 'RollbackedSucceeded'} or a final failure (RollbackFailed; RollbackedSucceeded of an upgrade means it failed and was undone) (timeout ${elapsed(o.timeoutMs)})`,
        `while it stops Milvus (${[...STOPPING_STATES].join(' or ')}): if milvus/${r.name} is at 0 replicas in its spec and the operator has seen that, but its ${DEPENDENCY_CONDITIONS.join('/')} conditions are not all True, Milvus Operator never scales the Deployments (it stops probing its dependencies once a stop begins); then, re-checked right before, the plugin does the operator's stop: kubectl scale deployment ${runningNow.join(' ') || '<the Deployments still running>'} -n ${ns} --replicas=0 (only the operator's own Deployments of the release; anything else stops the run with exit 10 and the remedy)`,
      ],
      async run({ state: s, log, checkpoint }) {
        const k = kube();
        const t0 = ctx.now().getTime();
        const deadline = t0 + o.timeoutMs;
        const fieldSelector = `metadata.name=${name}`;
        let last = '';
        let stall: StalledStop | undefined;
        let stallSince: number | undefined;
        let lookedAt = -Infinity;
        let named = '';
        let done: UpgradeObject | undefined;
        // What happens next, said with the stall.
        const stallWayOut = (st: StalledStop) =>
          st.foreign.length > 0
            ? `the run stops (exit 10): ${stallRemedy(r.name, ns, st)}`
            : completable(st)
              ? `the plugin does the operator's stop (scale to 0) if it still holds in ${elapsed(timing.confirmMs)}`
              : `the operator has not observed the stop yet (status.observedGeneration behind metadata.generation): waiting; if it stays so, ${stallRemedy(r.name, ns, st)}`;
        // The wait is one across the watches: its end says so, with the way out when the stop is what stalls.
        const timedOut = (cause?: unknown) =>
          new CliError(
            `timed out after ${elapsed(o.timeoutMs)} waiting for milvusupgrade/${name} to finish: ${stall ? describeStall(r.name, stall) : `state ${last || 'unknown'}`}`,
            ExitCode.TIMEOUT,
            stall ? stallRemedy(r.name, ns, stall) : undefined,
            cause ? { cause } : undefined,
          );
        while (!done) {
          if (ctx.now().getTime() >= deadline) throw timedOut();
          // The MilvusUpgrade is watched; while it waits for the stop, the Milvus resource and its Deployments are looked at too.
          const seen = await follow<UpgradeObject, { finished?: UpgradeObject; stopping?: string }>({
            kube: k,
            what: `milvusupgrade/${name} to finish`,
            path: `/apis/${MILVUS_GROUP}/${MILVUS_VERSION}/namespaces/${ns}/${PLURAL}`,
            fieldSelector,
            list: () =>
              k.call({ verb: 'list', resource: 'milvusupgrades.milvus.io', namespace: ns }, () =>
                k.custom.listNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: PLURAL, fieldSelector }),
              ) as Promise<{ items: UpgradeObject[]; metadata?: { resourceVersion?: string } }>,
            check: (items) => {
              const u = items.get(name);
              if (!u) throw new CliError(`milvusupgrade/${name} was deleted while it ran`, ExitCode.FAILED);
              const st = u.status?.state || 'Pending';
              const line = `${st}${u.status?.retriedTimes ? ` (retried ${u.status.retriedTimes})` : ''}`;
              if (line !== last) log(`state ${line} (${elapsed(ctx.now().getTime() - t0)})`);
              last = line;
              if (u.status?.metaBackuped) s.metaBackuped = true;
              // Right after the switch to rollback the state still reads Succeeded: wait for the rollback path.
              const onItsPath = o.operation !== 'rollback' || ROLLBACK_STATES.has(u.status?.state ?? '');
              if (onItsPath && upgradeFinished(u)) return { finished: u };
              if (!STOPPING_STATES.has(st)) {
                stall = undefined;
                stallSince = undefined;
                return undefined;
              }
              return ctx.now().getTime() - lookedAt >= timing.lookMs ? { stopping: st } : undefined;
            },
            describe: () => (stall ? describeStall(r.name, stall) : `state ${last}`),
            timeoutMs: Math.max(0, deadline - ctx.now().getTime()),
            watchSeconds: timing.watchSeconds,
            signal: ctx.signal,
          }).catch((e: unknown) => {
            throw e instanceof CliError && e.exitCode === ExitCode.TIMEOUT ? timedOut(e) : e;
          });
          if (seen.finished) {
            done = seen.finished;
            break;
          }
          // A stop the operator will never finish is named, then completed (or refused) from what the cluster shows now.
          lookedAt = ctx.now().getTime();
          stall = await readStall(seen.stopping!);
          if (!stall) {
            stallSince = undefined;
            continue;
          }
          const text = describeStall(r.name, stall);
          if (text !== named) log(`${text}; ${stallWayOut(stall)}`);
          named = text;
          stallSince ??= lookedAt;
          if (lookedAt - stallSince < timing.confirmMs) continue;
          if (stall.foreign.length > 0) throw new CliError(text, ExitCode.FAILED, `${stallRemedy(r.name, ns, stall)}. The backup volume persistentvolumeclaim/${s.backupPvc} is kept.`);
          if (!completable(stall)) continue;
          if (await completeStop(s, log)) await checkpoint();
          stallSince = undefined;
        }
        s.finalState = done.status?.state;
        if (o.operation === 'migrate' && (s.metaBackuped || done.status?.metaBackuped)) {
          const k = kube();
          await k.core
            .patchNamespacedPersistentVolumeClaim({ name: s.backupPvc, namespace: ns, body: { metadata: { annotations: { [BACKUP_ANNOTATION]: BACKUP_DONE, [BACKUP_AT_ANNOTATION]: ctx.now().toISOString() } } } }, mergePatch)
            .catch(() => undefined);
        }
        if (!upgradeSucceeded(o.operation, done.status?.state)) {
          const why = (done.status?.conditions ?? []).filter((c) => c.message).map((c) => `${c.type}: ${c.message}`).join('; ');
          const undone = o.operation === 'migrate' && done.status?.state === 'RollbackedSucceeded' ? ': the upgrade failed and the operator rolled Milvus back to the old version' : '';
          throw new CliError(
            `milvusupgrade/${name} ended in ${done.status?.state}${undone}${why ? ` (${why})` : ''}`,
            ExitCode.FAILED,
            `see "kubectl describe milvusupgrade ${name} -n ${ns}" and the operator's logs; the backup stays in persistentvolumeclaim/${s.backupPvc}. Delete milvusupgrade/${name} before running again.`,
          );
        }
      },
    },
    {
      id: 'wait-milvus',
      title: `Wait until milvus/${r.name} is Healthy on the ${o.operation === 'migrate' ? 'target' : 'source'} image`,
      plan: (s) => [
        `milvus/${r.name}: status Healthy, spec.components.image ${o.operation === 'migrate' ? targetImage : (s.sourceImage ?? 'the recorded source image')}, every serving Deployment ready on it with replicas > 0 (timeout ${elapsed(o.timeoutMs)})`,
      ],
      async run({ state: s, log }) {
        const want = o.operation === 'migrate' ? targetImage : s.sourceImage;
        if (!want) throw new CliError(`milvusupgrade/${name} records no source image to check`, ExitCode.FAILED);
        let last = '';
        await pollUntil(ctx, {
          timeoutMs: o.timeoutMs,
          intervalMs: 2000,
          async check() {
            // A failed read is no evidence either way: it is shown and the wait goes on.
            const now = await discoverRelease(kube(), r.name, ns).catch((e: unknown) => {
              last = `could not read the release: ${(e as Error).message}`;
              return undefined;
            });
            if (!now) return undefined;
            const image = now.operator?.resource.spec?.components?.image as string | undefined;
            const running = now.components.filter((c) => c.replicas > 0);
            const behind = now.components.filter((c) => c.replicas === 0 || c.image !== want || c.readyReplicas < c.replicas || c.updatedReplicas < c.replicas);
            const line = `status ${now.operator?.status ?? '?'}, image ${image ?? '(operator default)'}, ${running.length - behind.filter((c) => c.replicas > 0).length}/${now.components.length} components ready on ${want}`;
            if (line !== last) log(`milvus/${r.name}: ${line}`);
            last = line;
            return now.operator?.status === 'Healthy' && image === want && now.components.length > 0 && behind.length === 0 ? true : undefined;
          },
          onTimeout: () =>
            new CliError(`milvus/${r.name} is not Healthy on ${want} after milvusupgrade/${name} ended (${last})`, ExitCode.TIMEOUT, `check "kubectl describe milvus ${r.name} -n ${ns}"; the backup stays in persistentvolumeclaim/${s.backupPvc}`),
        });
      },
    },
  );
  if (o.deletePods) {
    steps.push({
      id: 'delete-upgrade',
      title: `Delete milvusupgrade/${name} (and its pods)`,
      destructive: true,
      plan: (s) => [`kubectl delete milvusupgrade ${name} -n ${ns}; persistentvolumeclaim/${s.backupPvc} is not owned by it and stays`],
      async run({ state: s, log }) {
        const k = kube();
        await k.call({ verb: 'delete', resource: 'milvusupgrades.milvus.io', namespace: ns, name }, () =>
          k.custom.deleteNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: PLURAL, name }),
        );
        log(`milvusupgrade/${name} deleted; the backup stays in persistentvolumeclaim/${s.backupPvc}`);
      },
    });
  }

  return {
    name: 'meta-migrate',
    release: r.name,
    namespace: ns,
    params: { method: 'operator', operation: o.operation, sourceVersion: o.sourceVersion, targetVersion: o.targetVersion, image: targetImage, migrationImage: o.migrationImage },
    initialState: state,
    steps,
    confirmQuestion: `The operator stops Milvus "${r.name}" for the ${o.operation === 'migrate' ? `backup and migration to ${targetImage}` : 'restore of the backup'}.`,
    // Every run checks what the steps still to do rest on, from the cluster as it is now.
    async preflight(s, done) {
      if (o.rootPath !== undefined && o.rootPath !== s.rootPath) {
        throw preconditionError(`--root-path ${o.rootPath} differs from the root path the operator uses for milvus/${r.name} (${s.rootPath}: spec.config.etcd.rootPath, else the resource name)`, 'drop --root-path; the MilvusUpgrade takes the root path from the Milvus resource');
      }
      if (o.etcdEndpoints) throw preconditionError('--etcd-endpoints does not apply to Milvus Operator releases: the operator uses spec.dependencies.etcd of the Milvus resource');
      const existing = await get();
      if (o.operation === 'rollback') {
        if (done.has('rollback-upgrade')) return;
        const how = `restore by hand: scale milvus/${r.name} to 0, run the migration tool's rollback with the backup in the volume the migration wrote (kubectl get pvc -n ${ns} -l ${LABEL_RELEASE}=${r.name}), then set spec.components.image back to the ${o.sourceVersion} image and the replicas`;
        if (!existing) {
          throw preconditionError(
            `no milvusupgrade/${name} to roll back: the operator restores a backup only through the MilvusUpgrade that made it (its status records the backup, source image and replicas), and a new one would start Milvus at 0 replicas on the operator's default image`,
            how,
          );
        }
        if (!existing.status?.metaBackuped || !existing.status.sourceImage) {
          throw preconditionError(
            `milvusupgrade/${name} (state ${existing.status?.state || 'Pending'}) recorded ${existing.status?.metaBackuped ? 'no source image' : 'no finished metadata backup'}: the operator would have nothing to restore; Milvus was not stopped`,
            how,
          );
        }
        refuseIfDependenciesNotReady();
        s.sourceImage = existing.status.sourceImage;
        s.backupPvc = existing.status.backupPVC || existing.spec?.backupPVC || s.backupPvc;
        return;
      }
      if (existing && existing.metadata.labels?.[RUN_LABEL] !== s.runId) {
        throw preconditionError(
          `milvusupgrade/${name} exists from an earlier run (state ${existing.status?.state || 'Pending'})`,
          `inspect it (kubectl describe milvusupgrade ${name} -n ${ns}); delete it before running again (kubectl delete milvusupgrade ${name} -n ${ns})`,
        );
      }
      if (o.operation !== 'migrate') return;
      const running = r.milvusVersion;
      // Once the MilvusUpgrade exists the operator moves the release to the target: either version is expected then.
      const begun = done.has('create-upgrade');
      if (running && running !== o.sourceVersion && !(begun && running === o.targetVersion)) throw preconditionError(`milvus/${r.name} runs ${running}, but --source-version is ${o.sourceVersion}`);
      if (!begun && r.operator?.status !== 'Healthy') throw preconditionError(`milvus/${r.name} reports status "${r.operator?.status ?? 'none'}", not Healthy`);
      if (!begun) refuseIfDependenciesNotReady();
      if (!done.has('backup-volume')) s.storageClass = await checkStorageClass(ctx, o.storageClass);
    },
  };
}
