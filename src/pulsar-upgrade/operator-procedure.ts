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
import { CliError, ExitCode, failedError, preconditionError } from '../errors.js';
import { backupSecretName, requireBackup, saveBackup } from '../backup/backup.js';
import { MILVUS_GROUP, MILVUS_VERSION, mergePatch } from '../kube/client.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import { anyPulsarSelector } from '../release/labels.js';
import type { MilvusResource, Release } from '../release/types.js';
import { versionFromImage } from '../release/version.js';
import { DELETION_POLICY_PATCH, toPulsarV3Manifest } from './transform.js';
import { flushStep } from './flush-step.js';
import { deletePulsarVolumes, listPulsarVolumes, type PulsarVolume } from './volumes.js';
import { PROCEDURE, type PulsarUpgradeOptions } from './helm-procedure.js';

export const MIN_OPERATOR = '1.1.2';

export interface OperatorUpgradeState {
  backupDir: string;
  backupSecret: string;
  pulsarSelector: string;
  volumes: PulsarVolume[];
  flushVerifiedAt: string | undefined;
  flushedCollections: number;
  operatorVersion: string | undefined;
  backupFiles: string[];
}

const plural = 'milvuses';

async function getMilvus(ctx: RunContext, namespace: string, name: string): Promise<MilvusResource | undefined> {
  const kube = ctx.kube();
  try {
    return (await kube.call({ verb: 'get', resource: 'milvuses.milvus.io', namespace, name }, () =>
      kube.custom.getNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural, name }),
    )) as MilvusResource;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND) return undefined;
    throw e;
  }
}

/** The Milvus Operator's version from its Deployment's image, where the user may list Deployments cluster-wide. */
export async function findOperatorVersion(ctx: RunContext): Promise<string | undefined> {
  const kube = ctx.kube();
  try {
    const list = await kube.apps.listDeploymentForAllNamespaces({ labelSelector: 'app.kubernetes.io/name=milvus-operator' });
    for (const d of list.items) {
      for (const c of d.spec?.template?.spec?.containers ?? []) {
        const v = versionFromImage(c.image);
        if (v) return v;
      }
    }
  } catch {
    /* not allowed to look: the caller warns */
  }
  return undefined;
}

/** Why an Operator release is not one pulsar-upgrade can move (it needs in-cluster Pulsar v2). */
export function notOnPulsarV2(r: Release): string {
  if (r.mq === 'external-pulsar') {
    return `release "${r.name}" uses an external Pulsar (spec.dependencies.pulsar.external: true): its Pulsar is not managed by the operator, so there is nothing for pulsar-upgrade to move; upgrade that Pulsar where it is run`;
  }
  if (r.mq === 'pulsar-v3') return `release "${r.name}" already runs in-cluster Pulsar v3 (${r.pulsar?.evidence ?? 'spec.dependencies.pulsar.inCluster.chartVersion'}): there is nothing to upgrade`;
  return `release "${r.name}" does not use in-cluster Pulsar v2 (message queue: ${r.mq}): there is nothing to upgrade`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function operatorPulsarUpgrade(ctx: RunContext, opts: PulsarUpgradeOptions, discovered: Release | undefined): ProcedureDefinition<OperatorUpgradeState> {
  const { release: name, namespace } = opts;
  const kube = () => ctx.kube();
  return {
    name: PROCEDURE,
    release: name,
    namespace,
    params: { method: 'operator' },
    confirmQuestion:
      'Milvus will be stopped and its Pulsar v2 volumes deleted. Stop every client that writes to Milvus first: data written during the upgrade may be lost.',
    initialState: {
      backupDir: opts.backupDir,
      backupSecret: backupSecretName(PROCEDURE, name),
      // Both labels of the operator's Pulsar (app=pulsarv2 from chart 2.7.8, app=pulsar from 3.3.0):
      // the release runs v2 here, so every Pulsar volume of it is a v2 volume.
      pulsarSelector: anyPulsarSelector('operator', name),
      volumes: [],
      flushVerifiedAt: undefined,
      flushedCollections: 0,
      operatorVersion: undefined,
      backupFiles: [],
    },
    async preflight(state, done) {
      state.operatorVersion = await findOperatorVersion(ctx);
      if (state.operatorVersion && semver.lt(state.operatorVersion, MIN_OPERATOR)) {
        throw preconditionError(`Milvus Operator ${state.operatorVersion} cannot run Pulsar v3: upgrade the operator to >= ${MIN_OPERATOR} first`);
      }
      if (!state.operatorVersion) ctx.log.warn(`could not find the Milvus Operator Deployment to check its version (needs >= ${MIN_OPERATOR})`);
      if (!done.has('delete-milvus')) {
        const r = discovered;
        if (!r || r.method !== 'operator') throw preconditionError(`release "${name}" is not a Milvus Operator release`);
        if (r.mq !== 'pulsar-v2') throw preconditionError(notOnPulsarV2(r));
        if (r.operator?.status !== 'Healthy') throw preconditionError(`the Milvus resource "${name}" is ${r.operator?.status ?? 'not reporting a status'}, not Healthy: fix that first`);
        state.volumes = await listPulsarVolumes(ctx, namespace, state.pulsarSelector);
      }
    },
    steps: [
      flushStep(ctx, name, namespace, opts.flushTimeoutMs, opts.databases),
      {
        id: 'backup-manifest',
        title: 'Save the Milvus resource',
        plan: (s) => [`kubectl get milvus ${name} -n ${namespace} -o yaml  ->  ${join(s.backupDir, 'milvus.yaml')} and secret/${s.backupSecret}`],
        async run({ state, log }) {
          const m = await getMilvus(ctx, namespace, name);
          if (!m) throw preconditionError(`milvus/${name} is gone before it was saved`);
          const saved = await saveBackup(ctx, { namespace, release: name, procedure: PROCEDURE, dir: state.backupDir }, {
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
        plan: () => [`kubectl patch milvus ${name} -n ${namespace} --type merge -p '${JSON.stringify(DELETION_POLICY_PATCH)}'`],
        async run() {
          await kube().call({ verb: 'patch', resource: 'milvuses.milvus.io', namespace, name }, () =>
            kube().custom.patchNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural, name, body: DELETION_POLICY_PATCH }, mergePatch),
          );
        },
      },
      {
        id: 'delete-milvus',
        title: 'Delete the Milvus resource and wait until it is gone',
        destructive: true,
        plan: () => [`kubectl delete milvus ${name} -n ${namespace} --wait`],
        async run({ log }) {
          const k = kube();
          if (await getMilvus(ctx, namespace, name)) {
            await k.call({ verb: 'delete', resource: 'milvuses.milvus.io', namespace, name }, () =>
              k.custom.deleteNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural, name }),
            );
          }
          const deadline = Date.now() + opts.timeoutMs;
          while (await getMilvus(ctx, namespace, name)) {
            if (Date.now() > deadline) throw new CliError(`milvus/${name} is still being deleted (status Deleting?)`, ExitCode.TIMEOUT);
            await sleep(1000);
          }
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
          if (!state.flushVerifiedAt) throw new CliError('refusing to delete Pulsar volumes: no verified flush in this run', ExitCode.PRECONDITION);
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
        plan: () => [`kubectl create -f <saved manifest, server fields removed, dependencies.pulsar.inCluster.chartVersion: pulsar-v3, values reset>`],
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
        async run({ log }) {
          const deadline = Date.now() + opts.timeoutMs;
          for (;;) {
            const r = await discoverRelease(kube(), name, namespace).catch(() => undefined);
            if (r && r.operator?.status === 'Healthy' && r.mq === 'pulsar-v3' && r.components.every((c) => c.readyReplicas >= c.replicas)) {
              log(`milvus/${name} Healthy on Pulsar v3`);
              return;
            }
            if (Date.now() > deadline) throw new CliError(`milvus/${name} did not become Healthy on Pulsar v3 in time`, ExitCode.TIMEOUT);
            await sleep(1000);
          }
        },
      },
    ],
  };
}
