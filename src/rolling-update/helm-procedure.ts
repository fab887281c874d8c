/**
 * rolling-update of a Helm release: what upstream rollingUpdate.sh means, done correctly.
 * 1. Coordinators switched to active-standby in the configuration file their pods really mount
 *    (backed up first; skipped when already on).
 * 2. Every Milvus Deployment patched one at a time in the topology's order (image of the component
 *    container, app.kubernetes.io/version, a rolling strategy for coordinators) and watched to
 *    completion by kubectl's rollout rules; the first failed rollout stops the run with the exact
 *    `kubectl rollout undo` commands and `--resume`.
 * Or, with --via-helm, one `helm upgrade --reset-then-reuse-values` (durable: the image is kept in
 * the release values) followed by the same ordered watching.
 */
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import type { RunContext } from '../cli/context.js';
import { saveBackup } from '../backup/backup.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { requireChart } from '../helm/chart-ref.js';
import type { Helm } from '../helm/helm.js';
import { helmUpgradeArgs as upgradeArgs } from '../helm/upgrade-args.js';
import { mergePatch, strategicMergePatch } from '../kube/client.js';
import { waitForRollout } from '../kube/rollout.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import type { MilvusComponent, Release } from '../release/types.js';
import { mountedUserConfig, missingActiveStandby, sectionsFor, withActiveStandby } from './active-standby.js';
import { COORDINATORS, componentContainer, deploymentPatch, topologyOf, updateOrder } from './order.js';
import { checkRelease, type ValidFlags } from './preflight.js';
import { ProgressReporter } from './progress.js';
import { PROCEDURE, recordResult, type PlannedComponent, type RollingUpdateState } from './state.js';

export interface HelmRollingUpdateOptions {
  flags: ValidFlags;
  /** Timeout of each component's rollout. */
  timeoutMs: number;
  coordinatorMinReadySeconds: number;
  backupDir: string;
  viaHelm?: { helm: Helm; chart: string; chartVersion: string | undefined };
}

const VALUES_KEY: Record<string, string> = {
  mixcoord: 'mixCoordinator',
  rootcoord: 'rootCoordinator',
  datacoord: 'dataCoordinator',
  querycoord: 'queryCoordinator',
  indexcoord: 'indexCoordinator',
};

/** `image.all.repository` and `image.all.tag` of an image reference. */
export function splitImage(image: string): { repository: string; tag: string } {
  const colon = image.lastIndexOf(':');
  if (colon < 0 || image.slice(colon).includes('/') || image.includes('@')) throw preconditionError(`"${image}" has no tag: --via-helm sets image.all.tag`);
  return { repository: image.slice(0, colon), tag: image.slice(colon + 1) };
}

/** The helm upgrade arguments of --via-helm (without kube flags, which Helm adds). */
export function helmUpgradeArgs(release: string, chart: string, chartVersion: string | undefined, image: string, coordinators: string[]): string[] {
  const { repository, tag } = splitImage(image);
  return upgradeArgs(release, chart, chartVersion, [['image.all.repository', repository], ['image.all.tag', tag], ...coordinators.map((c): [string, string] => [`${VALUES_KEY[c]}.activeStandby.enabled`, 'true'])]);
}

/** The commands that undo the updated Deployments, newest first. */
export function undoCommands(deployments: string[], namespace: string): string[] {
  return [...deployments].reverse().map((d) => `kubectl rollout undo deployment/${d} -n ${namespace}`);
}

function planned(c: MilvusComponent): PlannedComponent {
  return { component: c.component, deployment: c.name, container: componentContainer(c), from: c.image ?? '' };
}

/** Finds where the coordinators' configuration lives, and what it still lacks (preflight: reads only). */
async function locateActiveStandby(ctx: RunContext, r: Release, coords: MilvusComponent[]): Promise<RollingUpdateState['activeStandby']> {
  const targets = coords.map((c) => mountedUserConfig(c.deployment, componentContainer(c)));
  let target = targets[0];
  if (targets.some((t) => !t || t.configMap !== target?.configMap || t.key !== target?.key)) target = undefined;
  const kube = ctx.kube();
  const fallback = r.helm?.fullname;
  let cm: V1ConfigMap | undefined;
  const read = (name: string) =>
    kube.getIfExists({ verb: 'get', resource: 'configmaps', namespace: r.namespace, name }, () => kube.core.readNamespacedConfigMap({ name, namespace: r.namespace }));
  if (target) {
    cm = await read(target.configMap);
  } else if (fallback) {
    // No (consistent) mount of user.yaml found: the chart's own ConfigMap, only if it has the key.
    cm = await read(fallback);
    const key = cm?.data && 'user.yaml' in cm.data ? 'user.yaml' : cm?.data && 'milvus.yaml' in cm.data ? 'milvus.yaml' : undefined;
    if (cm && key) target = { configMap: fallback, key };
  }
  if (!target || !cm) {
    throw preconditionError(
      `cannot find the configuration file the coordinators mount (no /milvus/configs/user.yaml from a ConfigMap in ${coords.map((c) => c.name).join(', ')})`,
      `enable active-standby through the chart instead: add --via-helm (sets ${coords.map((c) => `${VALUES_KEY[c.component]}.activeStandby.enabled=true`).join(', ')})`,
    );
  }
  const sections = sectionsFor(coords.map((c) => c.component));
  return { configMap: target.configMap, key: target.key, missing: missingActiveStandby(cm, target.key, sections) };
}

/** The Deployments whose update (or, with --via-helm, whose watched rollout) is recorded done. */
export function updatedDeployments(st: Pick<RollingUpdateState, 'order'>, done: ReadonlySet<string>): Set<string> {
  return new Set(st.order.filter((p) => done.has('update-all') || done.has(`update-${p.deployment}`) || done.has(`watch-${p.deployment}`)).map((p) => p.deployment));
}

export function helmRollingUpdate(ctx: RunContext, r: Release, o: HelmRollingUpdateOptions): ProcedureDefinition<RollingUpdateState> {
  const ns = r.namespace;
  const { image, targetVersion: version, mode } = o.flags;
  const ordered = updateOrder(r.components, { downgrade: mode === 'downgrade', fromVersion: r.milvusVersion, toVersion: version });
  const coords = r.components.filter((c) => COORDINATORS.has(c.component));
  const state: RollingUpdateState = {
    image,
    version,
    mode,
    method: o.viaHelm ? 'helm-upgrade' : 'helm',
    order: ordered.map(planned),
    results: [],
  };
  const resumeCmd = `${ctx.commandPrefix} rolling-update ${r.name} -n ${ns} --image ${image} --mode ${mode}${o.viaHelm ? ' --via-helm' : ''} --resume`;
  const fromOf = (st: RollingUpdateState, c: MilvusComponent) => st.order.find((p) => p.deployment === c.name)?.from ?? c.image ?? '';

  /** Watches one Deployment to the new image, reporting progress; records the result. */
  const watch = async (c: MilvusComponent, st: RollingUpdateState, log: (m: string) => void, startedAt: number, onFail: (e: CliError) => CliError) => {
    const reporter = new ProgressReporter(log, () => ctx.now().getTime());
    const from = fromOf(st, c);
    try {
      await waitForRollout(ctx.kube(), ns, c.name, {
        timeoutMs: o.timeoutMs,
        signal: ctx.signal,
        image,
        container: componentContainer(c),
        onUpdate: (d: V1Deployment) => reporter.update(c.component, c.name, from, image, d, startedAt),
      });
    } catch (e) {
      if (!(e instanceof CliError) || ctx.signal.aborted) throw e;
      recordResult(st, { component: c.component, deployment: c.name, from, to: image, durationMs: ctx.now().getTime() - startedAt, status: 'failed' });
      throw onFail(e);
    }
    const ms = ctx.now().getTime() - startedAt;
    recordResult(st, { component: c.component, deployment: c.name, from, to: image, durationMs: ms, status: 'updated', replicas: c.replicas });
    log(`${c.component} rolled out in ${elapsed(ms)}`);
  };

  const patchFailure = (c: MilvusComponent, st: RollingUpdateState) => (e: CliError) => {
    const touched = st.order.filter((p) => st.results.some((x) => x.deployment === p.deployment)).map((p) => p.deployment);
    const later = st.order.slice(st.order.findIndex((p) => p.deployment === c.name) + 1).map((p) => p.component);
    return new CliError(
      `rollout of ${c.component} (deployment/${c.name}) to ${image} failed: ${e.message}. ` +
        `Stopped here${later.length ? `: ${later.join(', ')} still run the old image` : ''}.`,
      e.exitCode,
      `to undo the components already changed (newest first):\n  ${undoCommands(touched, ns).join('\n  ')}\n` +
        `or fix the cause (image, resources, scheduling) and continue with: ${resumeCmd}`,
      { cause: e },
    );
  };

  const patchAndWatch = async (c: MilvusComponent, st: RollingUpdateState, log: (m: string) => void) => {
    const kube = ctx.kube();
    const current = await kube.call({ verb: 'get', resource: 'deployments.apps', namespace: ns, name: c.name }, () => kube.apps.readNamespacedDeployment({ name: c.name, namespace: ns }));
    const body = deploymentPatch({ component: c.component, deployment: current }, image, version, { coordinatorMinReadySeconds: o.coordinatorMinReadySeconds });
    const t0 = ctx.now().getTime();
    await kube.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: c.name }, () =>
      kube.apps.patchNamespacedDeployment({ name: c.name, namespace: ns, body }, strategicMergePatch),
    );
    recordResult(st, { component: c.component, deployment: c.name, from: fromOf(st, c), to: image, durationMs: 0, status: 'rolling' });
    await watch(c, st, log, t0, patchFailure(c, st));
  };

  const patchPlan = (c: MilvusComponent): string[] => {
    const body = deploymentPatch(c, image, version, { coordinatorMinReadySeconds: o.coordinatorMinReadySeconds });
    const lines = [`kubectl patch deployment/${c.name} -n ${ns} --type strategic -p '${JSON.stringify(body)}'`, `image ${c.image} -> ${image}; then watch the rollout (timeout ${elapsed(o.timeoutMs)})`];
    if (c.component === 'standalone' && c.strategy === 'Recreate') lines.push('standalone uses Recreate (its volume is ReadWriteOnce): the pod is replaced, Milvus is unavailable meanwhile');
    return lines;
  };

  const steps: Step<RollingUpdateState>[] = [];
  if (o.viaHelm) {
    const { helm, chart } = o.viaHelm;
    const chartVersion = o.viaHelm.chartVersion ?? r.helm?.chartVersion;
    const args = helmUpgradeArgs(r.name, chart, chartVersion, image, [...new Set(coords.map((c) => c.component))]);
    steps.push({
      id: 'helm-upgrade',
      title: `helm upgrade ${r.name} to ${image} (kept in the release values)`,
      destructive: true,
      plan: () => [
        `helm ${args.join(' ')} -n ${ns}`,
        'the chart changes every Deployment in one upgrade; the rollouts are then watched one by one in the order below',
      ],
      async run({ state: st, log }) {
        await helm.requireVersion('3.14.0');
        st.helmRevisionBefore ??= r.helm?.revision;
        await helm.run(args);
        log(`helm upgrade done (revision before: ${st.helmRevisionBefore ?? '?'})`);
      },
    });
    const startedAt = ctx.now().getTime();
    for (const c of ordered) {
      steps.push({
        id: `watch-${c.name}`,
        title: `Watch ${c.component} (deployment/${c.name}) roll out`,
        plan: () => [`kubectl rollout status deployment/${c.name} -n ${ns} --timeout ${elapsed(o.timeoutMs)} (and image ${image})`],
        run: ({ state: st, log }) =>
          watch(c, st, log, startedAt, (e) =>
            new CliError(
              `rollout of ${c.component} (deployment/${c.name}) to ${image} failed: ${e.message}`,
              e.exitCode,
              `to go back: helm rollback ${r.name}${st.helmRevisionBefore ? ` ${st.helmRevisionBefore}` : ''} -n ${ns}\nor fix the cause and continue with: ${resumeCmd}`,
              { cause: e },
            ),
          ),
      });
    }
  } else {
    if (coords.length > 0) {
      steps.push({
        id: 'active-standby',
        title: 'Switch the coordinators to active-standby',
        destructive: true,
        plan: (st) => {
          const a = st.activeStandby;
          if (!a) return ['enableActiveStandby: true for the coordinators in the configuration file they mount'];
          if (a.missing.length === 0) return [`configmap/${a.configMap} key ${a.key} already enables active-standby: nothing to change`];
          return [
            `configmap/${a.configMap} key ${a.key}: enableActiveStandby: true for rootCoord, queryCoord, dataCoord, indexCoord (now off: ${a.missing.join(', ')})`,
            `backed up first to secret/kubectl-milvus-backup-${PROCEDURE}-${r.name} and ${o.backupDir}`,
            `a later "helm upgrade" reverts this edit: set ${[...new Set(coords.map((c) => VALUES_KEY[c.component]))].map((k) => `${k}.activeStandby.enabled=true`).join(', ')} in your values`,
          ];
        },
        async run({ state: st, log, checkpoint, runId }) {
          const a = st.activeStandby!;
          const kube = ctx.kube();
          const cm = await kube.call({ verb: 'get', resource: 'configmaps', namespace: ns, name: a.configMap }, () => kube.core.readNamespacedConfigMap({ name: a.configMap, namespace: ns }));
          const sections = sectionsFor(coords.map((c) => c.component));
          const missing = missingActiveStandby(cm, a.key, sections);
          if (missing.length === 0) {
            log(`configmap/${a.configMap} key ${a.key} already enables active-standby`);
            return;
          }
          const { managedFields: _m, ...meta } = cm.metadata ?? {};
          const saved = await saveBackup(ctx, { namespace: ns, release: r.name, procedure: PROCEDURE, dir: o.backupDir, runId }, {
            [`configmap-${a.configMap}.yaml`]: yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: cm.data }),
          });
          st.configBackup = saved.secret;
          await checkpoint();
          // resourceVersion in the merge patch: refused if the ConfigMap changed since it was read.
          const body = { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data: { [a.key]: withActiveStandby(cm.data?.[a.key]) } };
          await kube.call({ verb: 'patch', resource: 'configmaps', namespace: ns, name: a.configMap }, () =>
            kube.core.patchNamespacedConfigMap({ name: a.configMap, namespace: ns, body }, mergePatch),
          );
          log(`configmap/${a.configMap} key ${a.key}: active-standby enabled (was off: ${missing.join(', ')}); the old content is in secret/${saved.secret} and ${saved.paths[0]}`);
          log('a later "helm upgrade" reverts this edit unless the activeStandby values are set');
        },
      });
    }
    if (mode === 'all') {
      steps.push({
        id: 'update-all',
        title: `Update every component to ${image} at once`,
        destructive: true,
        plan: () => ordered.flatMap(patchPlan),
        async run({ state: st, log }) {
          const results = await Promise.allSettled(ordered.map((c) => patchAndWatch(c, st, log)));
          const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
          if (failed) throw failed.reason;
        },
      });
    } else {
      for (const c of ordered) {
        steps.push({
          id: `update-${c.name}`,
          title: `Update ${c.component} (deployment/${c.name})`,
          destructive: true,
          plan: () => patchPlan(c),
          run: ({ state: st, log }) => patchAndWatch(c, st, log),
        });
      }
    }
  }

  return {
    name: PROCEDURE,
    release: r.name,
    namespace: ns,
    params: { method: state.method, image, mode },
    initialState: state,
    steps,
    ...(o.viaHelm
      ? {}
      : { confirmQuestion: `Patched images are reverted by a later "helm upgrade" of ${r.name} unless image.all.tag is set to the new version in its values (or use --via-helm).` }),
    async preflight(st, done) {
      ctx.log.debug(1, `topology ${topologyOf(r.components)}, order ${st.order.map((p) => p.component).join(' -> ')}`);
      // The steps are fixed by the first run's Deployments; a resume must see the same ones.
      const gone = st.order.filter((p) => !r.components.some((c) => c.name === p.deployment));
      if (gone.length) throw preconditionError(`deployments changed since the interrupted run: ${gone.map((p) => p.deployment).join(', ')} no longer exist`, 'start over with --restart');
      // Every run, a resume included, checks the release as it is now for the steps still to do.
      checkRelease(r, o.flags, ctx.commandPrefix, done.size > 0 ? { order: st.order, updated: updatedDeployments(st, done) } : undefined);
      // Which ConfigMap and key the coordinators mount: found before anything changes, and the
      // switch recorded as done must still be there (a "helm upgrade" since reverts it).
      if (!o.viaHelm && coords.length > 0) {
        const found = await locateActiveStandby(ctx, r, coords);
        if (done.has('active-standby') && found?.missing.length && st.order.some((p) => COORDINATORS.has(p.component as MilvusComponent['component']) && !updatedDeployments(st, done).has(p.deployment))) {
          throw preconditionError(
            `configmap/${found.configMap} key ${found.key} no longer enables active-standby (off: ${found.missing.join(', ')}), though the switch is recorded done: a coordinator updated now would restart without a standby`,
            `review what changed it (a "helm upgrade"?), then start over with --restart`,
          );
        }
        if (!done.has('active-standby')) st.activeStandby = found;
      }
      // --via-helm: the chart resolves now (exit 7 naming the way out), before the plan and any change.
      if (o.viaHelm && !done.has('helm-upgrade')) await requireChart(o.viaHelm.helm, o.viaHelm.chart, o.viaHelm.chartVersion ?? r.helm?.chartVersion);
    },
  };
}

