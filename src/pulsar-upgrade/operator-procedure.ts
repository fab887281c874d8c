/**
 * Pulsar v2 -> v3 for a Milvus Operator release. The operator names Pulsar `<name>-pulsar` for
 * both generations, so v2 and v3 PVC names collide: the v2 volumes must be gone before v3 starts
 * (a bookie on an old volume fails its cookie check). Flush and verify, save the manifest (file +
 * Secret), merge-patch deletion policies (keep etcd and storage, drop Pulsar with its volumes),
 * delete the Milvus resource and wait, make sure the v2 volumes are gone, recreate it from the
 * saved manifest with chartVersion pulsar-v3, wait until Healthy.
 */
import { join } from 'node:path';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { backupSecretName, readBackup, requireBackup, saveBackup } from '../backup/backup.js';
import { MILVUS_GROUP, MILVUS_VERSION } from '../kube/client.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import { anyPulsarSelector } from '../release/labels.js';
import type { MilvusResource, Release } from '../release/types.js';
import { readOperatorVersion } from '../release/operator-version.js';
import { DELETION_POLICY_PATCH, droppedPulsarValues, hasPulsarDeletePolicy, revertPolicyPatch, toPulsarV3Manifest } from './transform.js';
import { flushStep } from './flush-step.js';
import { proveQuiescence, WRITERS_WARNING } from './quiescence.js';
import { compareInventory, inventoryOf, listInventory, type Inventory } from './data-check.js';
import { pollUntil } from '../procedure/wait.js';
import { beginStop, freshFlushStep, licenseSeenStop, noLicenseYet, noProvenStop, requireFreshFlush, requireStoppedAfterFlush, type LicensedState } from './stop-license.js';
import { deletePulsarVolumes, listPulsarVolumes, type PulsarVolume } from './volumes.js';
import { PROCEDURE, type PulsarUpgradeOptions } from './helm-procedure.js';
import { getMilvusResource, mergePatchMilvus } from '../kube/milvus-resource.js';

export const MIN_OPERATOR = '1.1.2';

export interface OperatorUpgradeState extends LicensedState {
  backupDir: string;
  backupSecret: string;
  pulsarSelector: string;
  volumes: PulsarVolume[];
  flushVerifiedAt: string | undefined;
  flushedCollections: number;
  operatorVersion: string | undefined;
  backupFiles: string[];
  /** What the last flush before the stop saw: verify requires all of it back. */
  inventory?: Inventory | undefined;
  /** Merge patch restoring the saved deletion policies (set by the backup step). */
  revertPatch?: object | undefined;
  /** What the last failure found of the resource (read by onFailure): decides the printed way back. */
  afterFailure?: 'running' | 'deleting' | 'gone' | 'unread' | undefined;
  /** Pulsar v2 chart values the recreate drops, for the plan. */
  droppedValues?: string[] | undefined;
}

const plural = 'milvuses';

const getMilvus = (ctx: RunContext, namespace: string, name: string) => getMilvusResource(ctx.kube(), namespace, name);

/** Why an Operator release is not one pulsar-upgrade can move (it needs in-cluster Pulsar v2). */
export function notOnPulsarV2(r: Release): string {
  if (r.mq === 'external-pulsar') {
    return `release "${r.name}" uses an external Pulsar (spec.dependencies.pulsar.external: true): its Pulsar is not managed by the operator, so there is nothing for pulsar-upgrade to move; upgrade that Pulsar where it is run`;
  }
  if (r.mq === 'pulsar-v3') return `release "${r.name}" already runs in-cluster Pulsar v3 (${r.pulsar?.evidence ?? 'spec.dependencies.pulsar.inCluster.chartVersion'}): there is nothing to upgrade`;
  return `release "${r.name}" does not use in-cluster Pulsar v2 (message queue: ${r.mq}): there is nothing to upgrade`;
}

export function operatorPulsarUpgrade(ctx: RunContext, opts: PulsarUpgradeOptions, discovered: Release | undefined): ProcedureDefinition<OperatorUpgradeState> {
  const { release: name, namespace } = opts;
  const kube = () => ctx.kube();
  const saved = (s: OperatorUpgradeState, file: string) => `${join(s.backupDir, file)}   (also in secret/${s.backupSecret} -n ${namespace}, key ${file})`;
  const revertCommand = (s: OperatorUpgradeState) => `kubectl patch milvus ${name} -n ${namespace} --type merge -p '${JSON.stringify(s.revertPatch)}'   (the deletion policies as they were)`;
  /** The way back when the resource went away without a proven stop of ours: the messages are still in the Pulsar v2 volumes. */
  const recovery = (s: OperatorUpgradeState) =>
    [
      `if the Pulsar v2 volumes are still there, they hold the messages: once milvus/${name} is fully deleted, create it again on Pulsar v2 from the backup with the deletion policies as they were:`,
      `  kubectl create -f ${saved(s, 'milvus.yaml')}`,
      `then rerun "${ctx.commandPrefix} pulsar-upgrade ${name} -n ${namespace} --resume": it flushes again before it deletes the resource`,
    ].join('\n');
  return {
    name: PROCEDURE,
    release: name,
    namespace,
    params: { method: 'operator' },
    warning: WRITERS_WARNING,
    confirmQuestion: 'Have you stopped every client that writes to Milvus?',
    initialState: {
      backupDir: opts.backupDir,
      backupSecret: backupSecretName(PROCEDURE, name),
      // Both labels of the operator's Pulsar (app=pulsarv2 from chart 2.7.8, app=pulsar from 3.3.0):
      // the release runs v2 here, so every Pulsar volume of it is a v2 volume.
      pulsarSelector: anyPulsarSelector('operator', name),
      volumes: [],
      ...noLicenseYet(),
      operatorVersion: undefined,
      backupFiles: [],
    },
    async preflight(state, done) {
      // Read on every run: an unreadable version is no evidence of a good one.
      state.operatorVersion = await readOperatorVersion(ctx);
      if (!state.operatorVersion) {
        throw preconditionError(
          `cannot tell the Milvus Operator version (deployment milvus-operator not found or its image has no version tag): Pulsar v3 needs operator >= ${MIN_OPERATOR}`,
          'check "kubectl get deploy -A -l app.kubernetes.io/name=milvus-operator" (the user must be allowed to list Deployments there)',
        );
      }
      if (semver.lt(state.operatorVersion, MIN_OPERATOR)) {
        throw preconditionError(`Milvus Operator ${state.operatorVersion} cannot run Pulsar v3: upgrade the operator to >= ${MIN_OPERATOR} first`);
      }
      if (!done.has('delete-milvus') && !state.stoppedAfterFlushAt) {
        if (!discovered && (state.stopBegunAt || done.has('backup-manifest'))) throw noProvenStop(`milvus/${name} is gone`, recovery(state));
        if (discovered?.operator?.status === 'Deleting' && state.stopBegunAt) throw noProvenStop(`milvus/${name} is being deleted`, recovery(state));
      }
      // A deletion of ours that took effect may be over already: the delete step finishes it.
      if (!done.has('delete-milvus') && !state.stoppedAfterFlushAt) {
        const r = discovered;
        if (!r || r.method !== 'operator') throw preconditionError(`release "${name}" is not a Milvus Operator release`);
        if (r.mq !== 'pulsar-v2') throw preconditionError(notOnPulsarV2(r));
        if (r.operator?.status !== 'Healthy') throw preconditionError(`the Milvus resource "${name}" is ${r.operator?.status ?? 'not reporting a status'}, not Healthy: fix that first`);
        state.volumes = await listPulsarVolumes(ctx, namespace, state.pulsarSelector);
        const live = await getMilvus(ctx, namespace, name);
        if (live) {
          state.droppedValues = droppedPulsarValues(live);
          // The operator's webhooks and the schema judge the recreated resource now, not after the deletion.
          const probe = toPulsarV3Manifest(live);
          probe.metadata = { ...probe.metadata, name: `${name}-kubectl-milvus-dry-run`.slice(0, 63) };
          const k = kube();
          await k
            .call({ verb: 'create', resource: 'milvuses.milvus.io', namespace, name: probe.metadata.name }, () =>
              k.custom.createNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural, body: probe, dryRun: 'All' }),
            )
            .catch((e: unknown) => {
              throw preconditionError(`the recreated milvus/${name} would be refused (server-side dry run of the create): ${(e as Error).message}; nothing was changed`);
            });
        }
      }
    },
    restoreCommands: (s, done) => {
      // Decided by what the failure left (onFailure read the resource), not by what was begun.
      const cmds: string[] = [];
      if (done.has('recreate')) return cmds;
      if (!s.stoppedAfterFlushAt) {
        // Not stopped by us: the resource runs (or someone else deletes it) with its Pulsar messages.
        if (s.afterFailure === 'gone' || s.afterFailure === 'deleting') return [recovery(s)];
        if (done.has('patch-deletion-policies') && s.revertPatch) cmds.push(revertCommand(s));
        return cmds;
      }
      const file = done.has('delete-pulsar-v2-volumes') ? 'milvus-pulsarv3.yaml' : 'milvus.yaml';
      cmds.push(`kubectl create -f ${saved(s, file)}; once milvus/${name} is fully deleted`);
      return cmds;
    },
    async onFailure(s, done, log) {
      // Pulsar must not stay "Delete with its volumes" on a resource that was not stopped by us (a
      // refused or failed delete, or a stop never begun): a later kubectl delete milvus would wipe
      // it. What the resource is now decides; the patch step repeats on --resume.
      s.afterFailure = undefined;
      if (!done.has('patch-deletion-policies') || s.stoppedAfterFlushAt || !s.revertPatch) return;
      s.afterFailure = 'unread';
      const m = await getMilvus(ctx, namespace, name);
      s.afterFailure = !m ? 'gone' : m.metadata.deletionTimestamp ? 'deleting' : 'running';
      if (!m) return;
      await mergePatchMilvus(kube(), namespace, name, s.revertPatch);
      log(`deletion policies of milvus/${name} put back as they were (it was not stopped by this run)`);
    },
    steps: [
      {
        id: 'backup-manifest',
        title: 'Save the Milvus resource',
        plan: (s) => [`kubectl get milvus ${name} -n ${namespace} -o yaml  ->  ${join(s.backupDir, 'milvus.yaml')} and secret/${s.backupSecret}`],
        async run({ state, log, runId }) {
          let m = await getMilvus(ctx, namespace, name);
          if (!m) throw preconditionError(`milvus/${name} is gone before it was saved`);
          const earlier = (await readBackup(ctx, namespace, state.backupSecret))?.['milvus.yaml'];
          const earlierM = earlier ? (yaml.load(earlier) as MilvusResource) : undefined;
          if (hasPulsarDeletePolicy(m) && earlierM && !hasPulsarDeletePolicy(earlierM)) {
            // An abandoned run left its deletion policies: put the saved ones back before saving.
            await mergePatchMilvus(kube(), namespace, name, revertPolicyPatch(earlierM));
            log(`an earlier run left Pulsar "deletionPolicy: Delete, pvcDeletion: true" on milvus/${name}: reverted to the saved policies`);
            m = (await getMilvus(ctx, namespace, name))!;
          }
          state.revertPatch = revertPolicyPatch(m);
          const saved = await saveBackup(ctx, { namespace, release: name, procedure: PROCEDURE, dir: state.backupDir, runId }, {
            'milvus.yaml': yaml.dump(m, { noRefs: true }),
            'milvus-pulsarv3.yaml': yaml.dump(toPulsarV3Manifest(m), { noRefs: true }),
          });
          state.backupFiles = saved.paths;
          log(`saved to ${state.backupDir} and secret/${saved.secret}`);
        },
      },
      {
        id: 'patch-deletion-policies',
        title: 'Keep etcd and object storage, let the operator remove Pulsar with its volumes',
        destructive: true,
        // Reverted when the run stops before the deletion (onFailure): applied again on --resume.
        repeatUntil: 'delete-milvus',
        plan: () => [`kubectl patch milvus ${name} -n ${namespace} --type merge -p '${JSON.stringify(DELETION_POLICY_PATCH)}'`],
        async run() {
          await mergePatchMilvus(kube(), namespace, name, DELETION_POLICY_PATCH);
        },
      },
      freshFlushStep(flushStep<OperatorUpgradeState>(ctx, name, namespace, opts.flushTimeoutMs, opts.databases, opts.milvusSecret), {
        stopStep: 'delete-milvus',
        stopping: async () => {
          const m = await getMilvus(ctx, namespace, name);
          return !m ? `milvus/${name} is already deleted` : m.metadata.deletionTimestamp ? `milvus/${name} is being deleted` : undefined;
        },
        recovery,
      }),
      {
        id: 'delete-milvus',
        title: 'Delete the Milvus resource and wait until it is gone',
        destructive: true,
        plan: () => [
          `a second flush of the same scope must seal nothing new (no writer left), else stop with exit 7 naming the collections`,
          `kubectl delete milvus ${name} -n ${namespace} --wait`,
        ],
        async run({ state, log, invocation, checkpoint }) {
          const k = kube();
          const m = await getMilvus(ctx, namespace, name);
          if (m && !m.metadata.deletionTimestamp) {
            requireFreshFlush(ctx, state, invocation, `delete milvus/${name}`);
            const last = await proveQuiescence(ctx, { release: name, namespace, databases: opts.databases, timeoutMs: opts.flushTimeoutMs, flushedCollections: state.flushedCollections, milvusSecret: opts.milvusSecret }, log);
            state.inventory = inventoryOf(last);
            beginStop(ctx, state, invocation, `delete milvus/${name}`);
            await checkpoint();
            try {
              await k.call({ verb: 'delete', resource: 'milvuses.milvus.io', namespace, name }, () =>
                k.custom.deleteNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural, name }),
              );
            } catch (e) {
              // A refused delete (admission, RBAC) stopped nothing; an answer lost after the
              // deletion was accepted did: what the resource shows right now tells which.
              const after = await getMilvus(ctx, namespace, name).then(
                (x) => (x ? (x.metadata.deletionTimestamp ? 'deleting' : 'running') : 'gone'),
                () => 'unread',
              );
              if (after === 'deleting' || after === 'gone') {
                licenseSeenStop(state, invocation);
                await checkpoint().catch(() => undefined);
              }
              throw e;
            }
            licenseSeenStop(state, invocation);
            await checkpoint();
          } else if (!state.stoppedAfterFlushAt) {
            throw noProvenStop(m ? `milvus/${name} is being deleted` : `milvus/${name} is already deleted`, recovery(state));
          }
          await pollUntil(ctx, {
            what: `milvus/${name} to be deleted`,
            timeoutMs: opts.timeoutMs,
            hint: `see "kubectl get milvus ${name} -n ${namespace}" (status Deleting?); --resume finishes the deletion`,
            check: async () => ((await getMilvus(ctx, namespace, name)) ? undefined : true),
          });
          log(`milvus/${name} deleted`);
        },
      },
      {
        id: 'delete-pulsar-v2-volumes',
        title: 'Make sure the Pulsar v2 volumes are gone (v3 reuses their names)',
        destructive: true,
        plan: (s) => [
          `selector ${s.pulsarSelector}`,
          ...s.volumes.map((v) => `kubectl delete persistentvolumeclaim/${v.pvc} -n ${namespace} (if the operator left it)`),
          ...s.volumes.filter((v) => v.reclaimPolicy === 'Retain').map((v) => `kubectl delete persistentvolume/${v.pv} (reclaim policy Retain)`),
        ],
        async run({ state, log }) {
          requireStoppedAfterFlush(state, 'delete Pulsar volumes');
          const now = await listPulsarVolumes(ctx, namespace, state.pulsarSelector);
          const planned = new Map(state.volumes.map((v) => [v.pvc, v]));
          const unexpected = now.filter((v) => !planned.has(v.pvc));
          if (unexpected.length) throw preconditionError(`unplanned Pulsar PVCs appeared (${unexpected.map((v) => v.pvc).join(', ')}): rerun with --restart to review`);
          // Also the PVs of PVCs the operator already removed, when Retain kept them.
          const retained = state.volumes.filter((v) => !now.some((n) => n.pvc === v.pvc) && v.reclaimPolicy === 'Retain');
          await deletePulsarVolumes(ctx, namespace, [...now, ...retained], log, opts.timeoutMs);
        },
      },
      {
        id: 'recreate',
        title: 'Create the Milvus resource again with Pulsar v3',
        plan: (s) => [
          `kubectl create -f ${join(s.backupDir, 'milvus-pulsarv3.yaml')} (the saved resource without server fields and operator annotations, dependencies.pulsar.inCluster.chartVersion: pulsar-v3, values reset; checked by a server-side dry run before anything changed)`,
          s.droppedValues?.length ? `Pulsar v2 chart values dropped (they do not apply to the v3 chart): ${s.droppedValues.join(', ')}` : 'no Pulsar v2 chart values to drop',
        ],
        async run({ state, log }) {
          if (await getMilvus(ctx, namespace, name)) {
            log(`milvus/${name} already exists`);
            return;
          }
          const body = yaml.load(await requireBackup(ctx, namespace, state.backupSecret, 'milvus-pulsarv3.yaml')) as MilvusResource;
          const k = kube();
          await k.call({ verb: 'create', resource: 'milvuses.milvus.io', namespace, name }, () =>
            k.custom.createNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural, body }),
          );
        },
      },
      {
        id: 'verify',
        title: 'Wait until the Milvus resource is Healthy on Pulsar v3',
        plan: () => [`milvus/${name} status Healthy, Pulsar StatefulSets of chart pulsar-3.x ready`],
        async run({ state, log }) {
          let pending = 'not read yet';
          await pollUntil(ctx, {
            timeoutMs: opts.timeoutMs,
            async check() {
              // A failed read is no evidence either way: the wait goes on and the timeout names it.
              const r = await discoverRelease(kube(), name, namespace).catch((e: unknown) => {
                pending = `could not read the release: ${(e as Error).message}`;
                return undefined;
              });
              if (!r) return undefined;
              if (!(r.operator?.status === 'Healthy' && r.mq === 'pulsar-v3' && r.components.every((c) => c.readyReplicas >= c.replicas))) {
                pending = `status ${r.operator?.status ?? '?'}, message queue ${r.mq}, ${r.components.filter((c) => c.readyReplicas < c.replicas).map((c) => c.component).join(', ') || 'every component'} not ready`;
                return undefined;
              }
              if (state.inventory) {
                const now = await listInventory(ctx, r, state.inventory.databases).catch((e: unknown) => {
                  pending = `the management API did not list the collections: ${(e as Error).message}`;
                  return undefined;
                });
                if (!now) return undefined;
                compareInventory(state.inventory, now);
                log(`all ${state.inventory.collections.length} collection(s) of ${state.inventory.databases.join(', ')} are back`);
              }
              return true;
            },
            onTimeout: () => new CliError(`milvus/${name} did not become Healthy on Pulsar v3 with its collections back in time (${pending})`, ExitCode.TIMEOUT),
          });
          log(`milvus/${name} Healthy on Pulsar v3`);
        },
      },
    ],
  };
}
