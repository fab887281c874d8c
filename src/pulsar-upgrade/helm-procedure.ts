/**
 * Pulsar v2 -> v3 for a Helm release: flush and verify, back up the values (file + Secret), render
 * the target chart with the edited values BEFORE anything is removed, uninstall, delete exactly
 * the release's Pulsar v2 volumes, install again with Pulsar v3, wait until ready.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, failedError, preconditionError } from '../errors.js';
import { backupSecretName, requireBackup, saveBackup } from '../backup/backup.js';
import { Helm } from '../helm/helm.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import { pulsarSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { isPlainObject, type Values } from '../util/values.js';
import { toPulsarV3Values } from './transform.js';
import { flushStep } from './flush-step.js';
import { confirmReleaseGone } from './release-gone.js';
import { deletePulsarVolumes, listPulsarVolumes, type PulsarVolume } from './volumes.js';

export const MIN_HELM = '3.14.0';
/** First chart version whose Pulsar v3 installs work (nil pointer fixed after 4.2.28). */
export const MIN_CHART_FOR_V3 = '4.2.29';
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
}

export interface HelmUpgradeState {
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
}

function withTempValues<T>(values: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-milvus-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, values, { mode: 0o600 });
  return fn(file).finally(() => rmSync(dir, { recursive: true, force: true }));
}

export async function checkTargetChart(helm: Helm, chart: string, version: string | undefined): Promise<string> {
  const verArgs = version ? ['--version', version] : [];
  const meta = yaml.load(await helm.run(['show', 'chart', chart, ...verArgs], { kube: false })) as { version?: string; name?: string };
  const v = meta?.version;
  if (!v || !semver.valid(semver.coerce(v)) || semver.lt(semver.coerce(v)!, MIN_CHART_FOR_V3)) {
    throw preconditionError(
      `chart ${chart} ${v ?? '(no version)'} cannot install Pulsar v3 reliably: use chart >= ${MIN_CHART_FOR_V3} (--chart-version)`,
    );
  }
  const defaults = yaml.load(await helm.run(['show', 'values', chart, ...verArgs], { kube: false })) as Values;
  if (!isPlainObject(defaults) || !isPlainObject(defaults.pulsarv3)) {
    throw preconditionError(`chart ${chart} ${v} has no "pulsarv3" values: it cannot deploy Pulsar v3`);
  }
  return v;
}

export function helmPulsarUpgrade(ctx: RunContext, opts: PulsarUpgradeOptions, helm: Helm, discovered: Release | undefined): ProcedureDefinition<HelmUpgradeState> {
  const { release: name, namespace } = opts;
  const versionArgs = (s: HelmUpgradeState) => (s.chartVersion ? ['--version', s.chartVersion] : []);
  return {
    name: PROCEDURE,
    release: name,
    namespace,
    params: { method: 'helm', chart: opts.chart, chartVersion: opts.chartVersion ?? '' },
    confirmQuestion:
      'Milvus will be stopped and its Pulsar v2 volumes deleted. Stop every client that writes to Milvus first: data written during the upgrade may be lost.',
    initialState: {
      backupDir: opts.backupDir,
      backupSecret: backupSecretName(PROCEDURE, name),
      chart: opts.chart,
      chartVersion: opts.chartVersion,
      sourceChartVersion: discovered?.helm?.chartVersion,
      targetChartVersion: undefined,
      pulsarSelector: pulsarSelector('helm', name, 'pulsar'),
      volumes: [],
      flushVerifiedAt: undefined,
      flushedCollections: 0,
      backupFiles: [],
    },
    async preflight(state, done) {
      await helm.requireVersion(MIN_HELM);
      if (!done.has('uninstall')) {
        const r = discovered;
        if (!r) throw new CliError(`release "${name}" not found`, ExitCode.NOT_FOUND);
        if (r.method !== 'helm') throw preconditionError(`release "${name}" is not a Helm release`);
        if (r.mq !== 'pulsar-v2') {
          throw preconditionError(`release "${name}" does not use Pulsar v2 (message queue: ${r.mq}): there is nothing to upgrade`);
        }
        if (r.components.some((c) => c.readyReplicas < c.replicas)) {
          throw preconditionError(`not every Milvus component of "${name}" is ready: fix that first (see "${ctx.commandPrefix} status ${name}")`);
        }
        state.volumes = await listPulsarVolumes(ctx, namespace, state.pulsarSelector);
      }
      state.targetChartVersion = await checkTargetChart(helm, state.chart, state.chartVersion);
      // Render the target with the edited values now, so a broken chart stops us before anything is removed.
      if (!done.has('install')) {
        const current = done.has('backup-values')
          ? await requireBackup(ctx, namespace, state.backupSecret, 'values.yaml')
          : await helm.run(['get', 'values', name, '-o', 'yaml']);
        const edited = yaml.dump(toPulsarV3Values((yaml.load(current) as Values) ?? {}));
        const rendered = await withTempValues(edited, (f) => helm.run(['template', name, state.chart, '-f', f, ...versionArgs(state)]));
        if (!/\bapp: "?pulsarv3"?/.test(rendered) && !rendered.includes('-pulsarv3-')) {
          throw preconditionError(`chart ${state.chart} renders no Pulsar v3 objects with pulsarv3.enabled=true`);
        }
      }
    },
    steps: [
      flushStep(ctx, name, namespace, opts.flushTimeoutMs, opts.databases),
      {
        id: 'backup-values',
        title: 'Save the Helm values and manifest',
        plan: (s) => [
          `helm get values ${name} -n ${namespace} -o yaml  ->  ${join(s.backupDir, 'values.yaml')} and secret/${s.backupSecret}`,
          `helm get manifest ${name} -n ${namespace}  ->  ${join(s.backupDir, 'manifest.yaml')}`,
        ],
        async run({ state, log }) {
          const values = await helm.run(['get', 'values', name, '-o', 'yaml']);
          const manifest = await helm.run(['get', 'manifest', name]);
          const edited = yaml.dump(toPulsarV3Values((yaml.load(values) as Values) ?? {}));
          const saved = await saveBackup(ctx, { namespace, release: name, procedure: PROCEDURE, dir: state.backupDir }, {
            'values.yaml': values,
            'values-pulsarv3.yaml': edited,
            'manifest.yaml': manifest,
          });
          state.backupFiles = saved.paths;
          log(`saved to ${state.backupDir} and secret/${saved.secret}`);
        },
      },
      {
        id: 'uninstall',
        title: `Uninstall the Helm release (Milvus stops; PVCs of etcd, MinIO and Pulsar stay)`,
        destructive: true,
        plan: () => [`helm uninstall ${name} -n ${namespace} --wait`],
        async run({ log }) {
          // Only helm's "release: not found" means gone, and only with the cluster agreeing; any
          // other failure to read the status stops here (releaseStatus throws).
          const status = await helm.releaseStatus(name);
          if (status === 'not-found') {
            await confirmReleaseGone(ctx, namespace, name, opts.timeoutMs, log);
            log('release already uninstalled');
            return;
          }
          await helm.run(['uninstall', name, '--wait', '--timeout', `${Math.ceil(opts.timeoutMs / 1000)}s`]);
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
          if (!state.flushVerifiedAt) {
            throw new CliError('refusing to delete Pulsar volumes: no verified flush in this run', ExitCode.PRECONDITION);
          }
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
          `helm install ${name} ${s.chart}${s.chartVersion ? ` --version ${s.chartVersion}` : ''} -n ${namespace} -f <saved values with pulsar.enabled=false, pulsarv3.enabled=true> --wait`,
        ],
        async run({ state, log }) {
          const existing = await helm.releaseStatus(name);
          if (existing !== 'not-found' && existing.status === 'deployed') {
            log('release already installed');
            return;
          }
          const edited = await requireBackup(ctx, namespace, state.backupSecret, 'values-pulsarv3.yaml');
          await withTempValues(edited, (f) =>
            helm.run(['install', name, state.chart, '-f', f, ...versionArgs(state), '--wait', '--timeout', `${Math.ceil(opts.timeoutMs / 1000)}s`]),
          );
        },
      },
      {
        id: 'verify',
        title: 'Wait until Milvus and Pulsar v3 are ready',
        plan: () => [`every Milvus Deployment and Pulsar v3 StatefulSet of ${name} ready`],
        async run({ log }) {
          const deadline = Date.now() + opts.timeoutMs;
          for (;;) {
            const r = await discoverRelease(ctx.kube(), name, namespace);
            const ready =
              r.mq === 'pulsar-v3' &&
              r.components.length > 0 &&
              r.components.every((c) => c.readyReplicas >= c.replicas) &&
              (r.pulsar?.statefulSets ?? []).every((s) => (s.status?.readyReplicas ?? 0) >= (s.spec?.replicas ?? 1));
            if (ready) {
              log(`Milvus ${r.milvusVersion ?? ''} ready on Pulsar v3`);
              return;
            }
            if (Date.now() > deadline) throw new CliError('Milvus did not become ready on Pulsar v3 in time', ExitCode.TIMEOUT);
            await new Promise((res) => setTimeout(res, 1000));
          }
        },
      },
    ],
  };
}
