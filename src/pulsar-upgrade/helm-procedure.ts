/**
 * Pulsar v2 -> v3 for a Helm release: flush and verify, back up the values (file + Secret), render
 * the target chart with the edited values BEFORE anything is removed, uninstall, delete exactly
 * the release's Pulsar v2 volumes, install again with Pulsar v3, wait until ready.
 */
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, failedError, preconditionError, usageError } from '../errors.js';
import { backupSecretName, requireBackup, saveBackup } from '../backup/backup.js';
import { resolveChart } from '../helm/chart-ref.js';
import { deployedRevision, Helm } from '../helm/helm.js';
import { MIN_HELM, withTempValues } from '../helm/values-file.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import { pulsarSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { isPlainObject, type Values } from '../util/values.js';
import { toPulsarV3Values } from './transform.js';
import { looksLikeFlag, MIN_CHART_FOR_V3, pinnedChartVersion } from './chart-version.js';
import { milvusVersions, volumeDifferences } from './render-check.js';
import { flushStep } from './flush-step.js';
import { confirmReleaseGone } from './release-gone.js';
import { proveQuiescence, WRITERS_WARNING } from './quiescence.js';
import { compareInventory, inventoryOf, listInventory, type Inventory } from './data-check.js';
import { pollUntil } from '../procedure/wait.js';
import { beginStop, freshFlushStep, licenseSeenStop, noLicenseYet, noProvenStop, requireFreshFlush, requireStoppedAfterFlush, type LicensedState } from './stop-license.js';
import { deletePulsarVolumes, listPulsarVolumes, type PulsarVolume } from './volumes.js';

export { MIN_CHART_FOR_V3 };
export const PROCEDURE = 'pulsar-upgrade';

export interface PulsarUpgradeOptions {
  release: string;
  namespace: string;
  chart: string;
  chartVersion: string | undefined;
  backupDir: string;
  timeoutMs: number;
  flushTimeoutMs: number;
  /** Databases to flush when the proxy cannot list them (Milvus 2.2.9-2.3); default: all it lists. */
  databases: string[];
  /** Secret with the Milvus user for listing databases when authentication is on. */
  milvusSecret?: string | undefined;
  /** The reinstall may run another Milvus version than the release runs now. */
  allowMilvusVersionChange?: boolean;
}

export interface HelmUpgradeState extends LicensedState {
  backupDir: string;
  backupSecret: string;
  chart: string;
  chartVersion: string | undefined;
  sourceChartVersion: string | undefined;
  targetChartVersion: string | undefined;
  pulsarSelector: string;
  volumes: PulsarVolume[];
  /** Set only by the flush step of this run, after the flush was verified. */
  flushVerifiedAt: string | undefined;
  flushedCollections: number;
  backupFiles: string[];
  /** What the last flush before the stop saw: verify requires all of it back. */
  inventory?: Inventory | undefined;
  /** The deployed revision whose values and manifest are saved and reinstalled (never a newer failed one). */
  valuesRevision?: number | undefined;
  /** Milvus image versions now and in the render of the reinstall. */
  milvusVersions?: { before: string[]; after: string[] } | undefined;
}

const STOP_STEP = 'uninstall';


export async function checkTargetChart(helm: Helm, chart: string, version: string | undefined): Promise<string> {
  const verArgs = version ? ['--version', version] : [];
  // A chart helm cannot resolve: exit 7 with the way out (helm repo add, --chart), nothing changed.
  const v = (await resolveChart(helm, chart, version)).version;
  if (!v || !semver.valid(semver.coerce(v)) || semver.lt(semver.coerce(v)!, MIN_CHART_FOR_V3)) {
    throw preconditionError(
      `chart ${chart} ${v ?? '(no version)'} cannot install Pulsar v3 reliably: use chart >= ${MIN_CHART_FOR_V3} (--chart-version)`,
    );
  }
  // A chart directory or archive has one version whatever --version says: it must be the pinned one.
  if (version && v && semver.valid(semver.coerce(v)) && semver.valid(semver.coerce(version)) && !semver.eq(semver.coerce(v)!, semver.coerce(version)!)) {
    throw preconditionError(`chart ${chart} is version ${v}, not the pinned ${version}`, `pass --chart-version ${v} to reinstall with it, or a chart of version ${version}`);
  }
  const defaults = yaml.load(await helm.run(['show', 'values', chart, ...verArgs], { kube: false })) as Values;
  if (!isPlainObject(defaults) || !isPlainObject(defaults.pulsarv3)) {
    throw preconditionError(`chart ${chart} ${v} has no "pulsarv3" values: it cannot deploy Pulsar v3`);
  }
  return v;
}

export function helmPulsarUpgrade(ctx: RunContext, opts: PulsarUpgradeOptions, helm: Helm, discovered: Release | undefined): ProcedureDefinition<HelmUpgradeState> {
  const { release: name, namespace } = opts;
  for (const [flag, v] of [['--chart', opts.chart], ['--chart-version', opts.chartVersion]] as const) {
    if (looksLikeFlag(v)) throw usageError(`invalid ${flag} "${v}": a value starting with "-" would be read by helm as a flag`);
  }
  const versionArgs = (s: HelmUpgradeState) => (s.chartVersion ? ['--version', s.chartVersion] : []);
  const revisionArgs = (s: HelmUpgradeState) => (s.valuesRevision !== undefined ? ['--revision', String(s.valuesRevision)] : []);
  const savedValues = (s: HelmUpgradeState) => join(s.backupDir, 'values.yaml');
  /** The way back when the release went away without a proven stop of ours: its messages are still in the kept Pulsar v2 volumes. */
  const recovery = (s: HelmUpgradeState) =>
    [
      `the Pulsar v2 volumes still hold the messages: once the release is fully removed (helm uninstall ${name} -n ${namespace} keeps the PVCs), reinstall it on Pulsar v2 from the backup:`,
      `  helm upgrade --install ${name} ${s.chart}${s.sourceChartVersion ? ` --version ${s.sourceChartVersion}` : ''} -n ${namespace} -f ${savedValues(s)} --wait   (also in secret/${s.backupSecret} -n ${namespace}, key values.yaml)`,
      `then rerun "${ctx.commandPrefix} pulsar-upgrade ${name} -n ${namespace} --resume": it flushes again before it stops Milvus`,
    ].join('\n');
  return {
    name: PROCEDURE,
    release: name,
    namespace,
    params: { method: 'helm', chart: opts.chart, chartVersion: opts.chartVersion ?? '' },
    warning: WRITERS_WARNING,
    confirmQuestion: 'Have you stopped every client that writes to Milvus?',
    restoreCommands: (s, done) => {
      const secret = `(also in secret/${s.backupSecret} -n ${namespace})`;
      if (!done.has('delete-pulsar-v2-volumes')) {
        // The Pulsar v2 volumes are still there: the release can come back as it was.
        return [`helm upgrade --install ${name} ${s.chart}${s.sourceChartVersion ? ` --version ${s.sourceChartVersion}` : ''} -n ${namespace} -f ${join(s.backupDir, 'values.yaml')} --wait   ${secret}`];
      }
      return [`helm upgrade --install ${name} ${s.chart}${s.targetChartVersion ? ` --version ${s.targetChartVersion}` : ''} -n ${namespace} -f ${join(s.backupDir, 'values-pulsarv3.yaml')} --wait   ${secret}`];
    },
    initialState: {
      backupDir: opts.backupDir,
      backupSecret: backupSecretName(PROCEDURE, name),
      chart: opts.chart,
      // Pinned: never whatever the local repository cache holds.
      chartVersion: pinnedChartVersion(opts.chartVersion, discovered?.helm?.chartVersion),
      sourceChartVersion: discovered?.helm?.chartVersion,
      targetChartVersion: undefined,
      pulsarSelector: pulsarSelector('helm', name, 'pulsar'),
      volumes: [],
      ...noLicenseYet(),
      backupFiles: [],
    },
    async preflight(state, done) {
      await helm.requireVersion(MIN_HELM);
      // Only a stop this tool was seen to make finishes from a release that is gone; any other
      // absence, once the run has begun, keeps the volumes and says the way back.
      if (!done.has('uninstall') && !state.stoppedAfterFlushAt) {
        if (!discovered && (state.stopBegunAt || done.has('backup-values'))) throw noProvenStop(`release "${name}" is gone`, recovery(state));
        if (discovered?.helm?.status === 'uninstalling') throw noProvenStop(`release "${name}" is being uninstalled`, recovery(state));
      }
      // A stop of ours that took effect: the uninstall step finishes it from what the cluster shows.
      const stopping = state.stoppedAfterFlushAt !== undefined;
      if (!done.has('uninstall') && !stopping) {
        const r = discovered;
        if (!r) throw new CliError(`release "${name}" not found`, ExitCode.NOT_FOUND);
        if (r.method !== 'helm') throw preconditionError(`release "${name}" is not a Helm release`);
        if (r.mq !== 'pulsar-v2') {
          throw preconditionError(`release "${name}" does not use Pulsar v2 (message queue: ${r.mq}): there is nothing to upgrade`);
        }
        if (r.components.some((c) => c.readyReplicas < c.replicas)) {
          throw preconditionError(`not every Milvus component of "${name}" is ready: fix that first (see "${ctx.commandPrefix} status ${name}")`);
        }
        // helm's latest revision decides: a pending one is refused; values come from the deployed one.
        const revs = await helm.revisions(name);
        if (revs === 'not-found') throw new CliError(`helm has no release "${name}"`, ExitCode.NOT_FOUND);
        const rev = deployedRevision(name, namespace, revs);
        if (revs.latest.revision !== rev) ctx.log.warn(`Helm release "${name}" revision ${revs.latest.revision} is ${revs.latest.status}: the values of the deployed revision ${rev} are saved and reinstalled`);
        if (done.has('backup-values')) {
          // The saved values must still be the release's: a change since the backup would be undone by the reinstall.
          const live = yaml.load(await helm.run(['get', 'values', name, '--revision', String(rev), '-o', 'yaml']));
          const saved = yaml.load(await requireBackup(ctx, namespace, state.backupSecret, 'values.yaml'));
          if (!isDeepStrictEqual(live ?? {}, saved ?? {})) {
            throw preconditionError(`the values of release "${name}" (revision ${rev}) changed since they were saved: the reinstall would undo that change; nothing was changed`, 'rerun with --restart to save them again and review the plan');
          }
        }
        state.valuesRevision = rev;
        state.volumes = await listPulsarVolumes(ctx, namespace, state.pulsarSelector);
      }
      state.targetChartVersion = await checkTargetChart(helm, state.chart, state.chartVersion);
      // Render the target with the edited values now, so a broken chart stops us before anything is removed.
      if (!done.has('install')) {
        const current = done.has('backup-values')
          ? await requireBackup(ctx, namespace, state.backupSecret, 'values.yaml')
          : await helm.run(['get', 'values', name, ...revisionArgs(state), '-o', 'yaml']);
        const edited = yaml.dump(toPulsarV3Values((yaml.load(current) as Values) ?? {}));
        const rendered = await withTempValues(edited, (f) => helm.run(['template', name, state.chart, '-f', f, ...versionArgs(state)]));
        if (!/\bapp: "?pulsarv3"?/.test(rendered) && !rendered.includes('-pulsarv3-')) {
          throw preconditionError(`chart ${state.chart} renders no Pulsar v3 objects with pulsarv3.enabled=true`);
        }
        // The reinstall must come back on the same etcd and MinIO volumes and the same Milvus.
        const saved = done.has('backup-values') ? await requireBackup(ctx, namespace, state.backupSecret, 'manifest.yaml') : await helm.run(['get', 'manifest', name, ...revisionArgs(state)]);
        const volumes = volumeDifferences(saved, rendered);
        if (volumes.length) {
          throw preconditionError(`the reinstall with chart ${state.chart} ${state.chartVersion} would not reuse the data volumes (${volumes.join('; ')}): nothing was changed`);
        }
        const before = milvusVersions(saved);
        const after = milvusVersions(rendered);
        state.milvusVersions = { before, after };
        if (before.join(',') !== after.join(',') && !opts.allowMilvusVersionChange) {
          throw preconditionError(
            `the reinstall with chart ${state.chart} ${state.chartVersion} would change Milvus from ${before.join(', ') || 'unknown'} to ${after.join(', ') || 'unknown'}`,
            `pin the image in the values or pass --chart-version of a chart with Milvus ${before.join(', ')}; --allow-milvus-version-change accepts the change`,
          );
        }
      }
    },
    steps: [
      {
        id: 'backup-values',
        title: 'Save the Helm values and manifest',
        plan: (s) => [
          `helm get values ${name} ${revisionArgs(s).join(' ')} -n ${namespace} -o yaml  ->  ${savedValues(s)} and secret/${s.backupSecret}`.replace('  -n', ' -n'),
          `helm get manifest ${name} ${revisionArgs(s).join(' ')} -n ${namespace}  ->  ${join(s.backupDir, 'manifest.yaml')}`.replace('  -n', ' -n'),
        ],
        async run({ state, log, runId }) {
          // Explicitly the deployed revision: `helm get` alone answers with the latest, failed or not.
          const values = await helm.run(['get', 'values', name, ...revisionArgs(state), '-o', 'yaml']);
          const manifest = await helm.run(['get', 'manifest', name, ...revisionArgs(state)]);
          const edited = yaml.dump(toPulsarV3Values((yaml.load(values) as Values) ?? {}));
          const saved = await saveBackup(ctx, { namespace, release: name, procedure: PROCEDURE, dir: state.backupDir, runId }, {
            'values.yaml': values,
            'values-pulsarv3.yaml': edited,
            'manifest.yaml': manifest,
          });
          state.backupFiles = saved.paths;
          log(`saved to ${state.backupDir} and secret/${saved.secret}`);
        },
      },
      freshFlushStep(flushStep<HelmUpgradeState>(ctx, name, namespace, opts.flushTimeoutMs, opts.databases, opts.milvusSecret), {
        stopStep: STOP_STEP,
        stopping: async () => {
          const st = await helm.releaseStatus(name);
          return st === 'not-found' ? 'the release is already uninstalled' : st.status === 'uninstalling' ? 'the release is being uninstalled' : undefined;
        },
        recovery,
      }),
      {
        id: STOP_STEP,
        title: `Uninstall the Helm release (Milvus stops; PVCs of etcd, MinIO and Pulsar stay)`,
        destructive: true,
        plan: () => [
          `a second flush of the same scope must seal nothing new (no writer left), else stop with exit 7 naming the collections`,
          `helm uninstall ${name} -n ${namespace} --wait`,
        ],
        async run({ state, log, invocation, checkpoint }) {
          // Only helm's "release: not found" means gone, and only with the cluster agreeing; any
          // other failure to read the status stops here (releaseStatus throws).
          const status = await helm.releaseStatus(name);
          const uninstall = () => helm.run(['uninstall', name, '--wait', '--timeout', `${Math.ceil(opts.timeoutMs / 1000)}s`]);
          if (status === 'not-found' || status.status === 'uninstalling') {
            // Gone or going: finished here only when it is the stop an earlier run of ours was seen to make.
            const why = status === 'not-found' ? `release "${name}" is already uninstalled` : `release "${name}" is being uninstalled`;
            if (!state.stoppedAfterFlushAt) throw noProvenStop(why, recovery(state));
            if (status !== 'not-found') await uninstall();
            await confirmReleaseGone(ctx, namespace, name, opts.timeoutMs, log);
            log(`${why}: the stop this tool made right after the flush verified at ${state.flushVerifiedAt ?? '?'}`);
            return;
          }
          if (status.status.startsWith('pending-')) {
            throw preconditionError(`release "${name}" revision ${status.version ?? '?'} is ${status.status}: another helm operation is running or was cut off; nothing was stopped`, `let it finish or roll it back (helm history ${name} -n ${namespace}; helm rollback), then rerun with --resume`);
          }
          requireFreshFlush(ctx, state, invocation, `uninstall release "${name}"`);
          const last = await proveQuiescence(ctx, { release: name, namespace, databases: opts.databases, timeoutMs: opts.flushTimeoutMs, flushedCollections: state.flushedCollections, milvusSecret: opts.milvusSecret }, log);
          state.inventory = inventoryOf(last);
          beginStop(ctx, state, invocation, `uninstall release "${name}"`);
          await checkpoint();
          try {
            await uninstall();
          } catch (e) {
            // A failed call may still have stopped Milvus (a --wait that timed out after the
            // deletion, or a Ctrl-C that came after helm began): only what helm shows right now,
            // in this run, proves it did.
            const after = await helm.unsignalled().releaseStatus(name).catch(() => undefined);
            if (after === 'not-found' || after?.status === 'uninstalling') {
              licenseSeenStop(state, invocation);
              await checkpoint().catch(() => undefined);
            }
            throw e;
          }
          licenseSeenStop(state, invocation);
          await checkpoint();
          await confirmReleaseGone(ctx, namespace, name, opts.timeoutMs, log);
        },
      },
      {
        id: 'delete-pulsar-v2-volumes',
        title: 'Delete the Pulsar v2 volumes of this release',
        destructive: true,
        plan: (s) =>
          s.volumes.length === 0
            ? [`no PVC matches ${s.pulsarSelector}`]
            : [
                `selector ${s.pulsarSelector}`,
                ...s.volumes.map((v) => `kubectl delete persistentvolumeclaim/${v.pvc} -n ${namespace}`),
                ...s.volumes.filter((v) => v.reclaimPolicy === 'Retain').map((v) => `kubectl delete persistentvolume/${v.pv} (reclaim policy Retain)`),
              ],
        async run({ state, log }) {
          requireStoppedAfterFlush(state, 'delete Pulsar volumes');
          // Re-list by label at deletion time: exactly this release's Pulsar v2 PVCs, nothing else.
          const now = await listPulsarVolumes(ctx, namespace, state.pulsarSelector);
          const known = new Set(state.volumes.map((v) => v.pvc));
          const unexpected = now.filter((v) => !known.has(v.pvc));
          if (unexpected.length) {
            throw preconditionError(`new Pulsar v2 PVCs appeared since the plan (${unexpected.map((v) => v.pvc).join(', ')}): rerun with --restart to review the plan`);
          }
          await deletePulsarVolumes(ctx, namespace, now, log, opts.timeoutMs);
        },
      },
      {
        id: 'install',
        title: 'Install the release again with Pulsar v3',
        plan: (s) => [
          `helm upgrade --install ${name} ${s.chart} --version ${s.chartVersion} -n ${namespace} -f ${join(s.backupDir, 'values-pulsarv3.yaml')} (the saved values with pulsar.enabled=false, pulsarv3.enabled=true) --wait`,
          `chart version ${s.chartVersion} (${s.chartVersion === s.sourceChartVersion ? 'the release\'s own' : 'pinned'}); Milvus ${s.milvusVersions ? `${s.milvusVersions.before.join(', ')} -> ${s.milvusVersions.after.join(', ')}` : 'unchanged'}; etcd and MinIO volumes as now`,
        ],
        async run({ state, log }) {
          const existing = await helm.releaseStatus(name);
          if (existing !== 'not-found' && existing.status === 'deployed') {
            log('release already installed');
            return;
          }
          if (existing !== 'not-found' && existing.status === 'pending-install') {
            // An install of ours that was cut off: helm refuses any operation over it. Removing it
            // keeps the etcd and MinIO volumes, exactly as the uninstall step did.
            log(`an interrupted install left the release "pending-install": removing that record first`);
            await helm.run(['uninstall', name, '--wait', '--timeout', `${Math.ceil(opts.timeoutMs / 1000)}s`]);
            await confirmReleaseGone(ctx, namespace, name, opts.timeoutMs, log);
          } else if (existing !== 'not-found' && existing.status.startsWith('pending-')) {
            throw preconditionError(`release "${name}" is ${existing.status}: another helm operation is in progress or was cut off`, `look at "helm history ${name} -n ${namespace}" before resuming`);
          } else if (existing !== 'not-found') {
            log(`the release is "${existing.status}" (revision ${existing.version ?? '?'}): installing over it with helm upgrade --install`);
          }
          const edited = await requireBackup(ctx, namespace, state.backupSecret, 'values-pulsarv3.yaml');
          // upgrade --install: idempotent over a failed record, an install when there is none.
          await withTempValues(edited, (f) =>
            helm.run(['upgrade', '--install', name, state.chart, '-f', f, ...versionArgs(state), '--wait', '--timeout', `${Math.ceil(opts.timeoutMs / 1000)}s`]),
          );
        },
      },
      {
        id: 'verify',
        title: 'Wait until Milvus and Pulsar v3 are ready',
        plan: (s) => [
          `every Milvus Deployment and at least one Pulsar v3 StatefulSet of ${name}, all ready`,
          `the same databases and collections as before the stop${s.inventory ? ` (${s.inventory.collections.length} in ${s.inventory.databases.join(', ')})` : ''}, listed through the management API`,
        ],
        async run({ state, log }) {
          let why = 'not discovered yet';
          const r = await pollUntil(ctx, {
            what: `Milvus and Pulsar v3 of "${name}" to be ready`,
            timeoutMs: opts.timeoutMs,
            pending: () => why,
            check: async () => {
              const r = await discoverRelease(ctx.kube(), name, namespace);
              const sts = r.pulsar?.statefulSets ?? [];
              const notReady = [
                ...r.components.filter((c) => c.readyReplicas < c.replicas).map((c) => `deployment/${c.name}`),
                ...sts.filter((s) => (s.status?.readyReplicas ?? 0) < (s.spec?.replicas ?? 1)).map((s) => `statefulset/${s.metadata?.name}`),
              ];
              why = r.mq !== 'pulsar-v3' ? `message queue ${r.mq}` : sts.length === 0 ? 'no Pulsar v3 StatefulSet' : r.components.length === 0 ? 'no Milvus Deployment' : `not ready: ${notReady.join(', ')}`;
              return r.mq === 'pulsar-v3' && sts.length > 0 && r.components.length > 0 && notReady.length === 0 ? r : undefined;
            },
          });
          if (state.inventory) {
            const before = state.inventory;
            let last: unknown;
            const now = await pollUntil(ctx, {
              what: `the management API of "${name}" to list its collections`,
              timeoutMs: opts.timeoutMs,
              pending: () => (last instanceof Error ? last.message : undefined),
              check: () => listInventory(ctx, r, before.databases).catch((e: unknown) => void (last = e)),
            });
            compareInventory(before, now);
            log(`all ${before.collections.length} collection(s) of ${before.databases.join(', ')} are back`);
          }
          log(`Milvus ${r.milvusVersion ?? ''} ready on Pulsar v3`);
        },
      },
    ],
  };
}
