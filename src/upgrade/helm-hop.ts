/**
 * One hop of an upgrade on a Helm release. Helm alone updates every Deployment at once (the chart
 * has one image for all, image.all); this hop keeps the order itself:
 *
 * 1. flush and verify (this run, right before anything changes);
 * 2. back up the values and the manifest (file + Secret), remember the revision to roll back to;
 * 3. pause every Milvus Deployment (`spec.paused`: Kubernetes keeps its pods while its template
 *    changes; helm's three-way merge leaves the field alone);
 * 4. `helm upgrade --reset-then-reuse-values` with the hop's values set explicitly: the image,
 *    the topology switches (mixCoordinator, streaming, indexNode), active-standby for the
 *    coordinators and every message-queue switch as it is now (chart 4 -> 5 changes defaults);
 *    new Deployments (the streaming node, mixcoord) start at once, the paused ones wait;
 * 5. resume the components one at a time in the hop's order, each watched to the new image;
 * 6. the 2.6 hop: a second helm upgrade with indexNode.enabled=false removes indexnode;
 * 7. verify: every component on the new image, rolled out and ready, nothing paused, removed
 *    components gone, the same message queue.
 *
 * Below 2.2.3 (no active-standby) nothing is paused: one helm upgrade, every component restarts.
 * The 2.1 hop is meta-migrate itself (reused), then the new image is recorded in the values.
 */
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { saveBackup } from '../backup/backup.js';
import { CliError, ExitCode, failedError, preconditionError } from '../errors.js';
import { requireChart } from '../helm/chart-ref.js';
import { mergePatch } from '../kube/client.js';
import { deploymentRolloutStatus, waitForRollout } from '../kube/rollout.js';
import { MIN_HELM, withTempValues } from '../helm/values-file.js';
import { helmMetaMigrate, type MetaMigrateState } from '../meta-migrate/helm-procedure.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { getPath } from '../util/values.js';
import { unhealthyComponents } from '../rolling-update/preflight.js';
import { ProgressReporter } from '../rolling-update/progress.js';
import { pollUntil } from '../procedure/wait.js';
import { PROCEDURE, changedAlready, checkRunsFrom, checkTopology30, componentDeployments, hopDefinition, hopSteps, metaMigrateHopDefinition, strayVersions, type HopState, type UpgradeOptions, metaMigrateOptions } from './common.js';
import type { Hop, UpgradePlan } from './plan.js';
import { helmUpgradeArgs } from '../helm/upgrade-args.js';


const quote = (a: string) => (/^[\w./:=,@-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const command = (args: string[], ns: string) => `helm ${args.map(quote).join(' ')} -n ${ns}`;

/** The steps of a Helm hop that run `helm upgrade` with the chart (the chart must resolve until they are done). */
export const HELM_UPGRADE_STEP = 'helm-upgrade';
export const REMOVE_INDEXNODE_STEP = 'remove-indexnode';
export const RECORD_VALUES_STEP = 'record-values';
const removesIndexnodeAfter = (hop: Hop) => hop.helm?.finalSets !== undefined && hop.removes.includes('indexnode');

/** The ids of a Helm hop's steps that upgrade with the chart. */
export function chartSteps(hop: Hop): string[] {
  if (!hop.helm) return [];
  if (hop.kind === 'meta-migrate') return [RECORD_VALUES_STEP];
  return [HELM_UPGRADE_STEP, ...(removesIndexnodeAfter(hop) ? [REMOVE_INDEXNODE_STEP] : [])];
}

/** targetRanAt: when a pod of the 2.6 hop's target was first seen ready (2.6 may have changed the metadata since). */
type HelmHopState = HopState & { paused?: string[]; targetRanAt?: string };

export function helmHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): ProcedureDefinition<HelmHopState> | ProcedureDefinition<HelmHopState & MetaMigrateState> {
  return hop.kind === 'meta-migrate' ? metaMigrateHop(ctx, r, plan, hop, o) : imageHop(ctx, r, plan, hop, o);
}

/**
 * Whether a pod of the new template has been ready: an updated replica while some replica is ready.
 * For a Deployment rolling from the old image that may still be an old pod: it errs towards "ran",
 * whose advice (the metadata snapshot) is safe either way.
 */
export function ranTarget(d: V1Deployment): boolean {
  return (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) && (d.status?.updatedReplicas ?? 0) > 0 && (d.status?.readyReplicas ?? 0) > 0;
}

/** The restore advice of a failed step: roll the values back, resume what is still paused, or continue. */
function restoreHint(ctx: RunContext, plan: UpgradePlan, hop: Hop, st: HelmHopState): string {
  const ns = plan.namespace;
  const lines: string[] = [];
  const ran = Object.keys(st.rolled ?? {});
  if (hop.kind === 'to-3.0' && (st.targetRanAt || ran.length)) {
    lines.push(`3.0 components have run (${ran.length ? `${ran.join(', ')} rolled out` : `first seen ready ${st.targetRanAt}`}): an image-only rollback to ${hop.from} is not validated by the 3.0 guide`);
    lines.push(`to go back to ${hop.from}: stop Milvus, put back the metadata snapshot this hop took with "${ctx.commandPrefix} backup restore-meta ${plan.release} -n ${ns} --from ${st.metaSnapshot ?? 'FILE'}"${st.metaSnapshot ? '' : ` (the snapshots: "${ctx.commandPrefix} backup list ${plan.release} -n ${ns}")`}, then run the ${hop.from} image ${plan.repository}:v${hop.from}${st.helmRevisionBefore ? ` (helm rollback ${plan.release} ${st.helmRevisionBefore} -n ${ns} restores those values)` : ''}`);
  } else if (hop.kind === 'to-2.6' && (st.targetRanAt || ran.length)) {
    // 2.6 rewrites the metadata (streaming WAL, mixcoord) as it runs: old values alone are no way back.
    lines.push(`2.6 components have run (${ran.length ? `${ran.join(', ')} rolled out` : `first seen ready ${st.targetRanAt}`}): "helm rollback" to ${hop.from} is no documented way back`);
    lines.push(
      `to go back to ${hop.from}: stop Milvus, put back the metadata snapshot taken before this hop with "${ctx.commandPrefix} backup restore-meta ${plan.release} -n ${ns} --from FILE" (the snapshots: "${ctx.commandPrefix} backup list ${plan.release} -n ${ns}")${st.helmRevisionBefore ? `, then the values of revision ${st.helmRevisionBefore}: helm rollback ${plan.release} ${st.helmRevisionBefore} -n ${ns}` : ''}`,
    );
  } else if (st.helmRevisionBefore) lines.push(`to restore the release as it was before this hop: helm rollback ${plan.release} ${st.helmRevisionBefore} -n ${ns}`);
  if (st.paused?.length) lines.push(`then resume what is still paused: kubectl rollout resume ${st.paused.map((d) => `deployment/${d}`).join(' ')} -n ${ns}`);
  if (st.backupSecret) lines.push(`the values before this hop are in secret/${st.backupSecret} (key ${hop.id}-values.yaml) and ${st.backupFiles?.[0] ?? 'the local backup directory'}`);
  lines.push(`or fix the cause and continue with: ${ctx.commandPrefix} upgrade ${plan.release} -n ${ns} --to ${plan.target} --resume`);
  return lines.join('\n');
}

/** Checks right before the hop changes anything: helm, the release, the target chart and what it renders. */
/**
 * Checks on every run, from the release as it is now, of what the steps still to do rest on: helm,
 * the release and its message queue always; the start version and health until the hop changed
 * something (then only its two versions); the target chart and what it renders until the helm upgrade.
 */
async function checkBeforeHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions, chartVersion: string | undefined, at: { changed: boolean; upgraded: boolean }): Promise<void> {
  await o.helm.requireVersion(MIN_HELM);
  if (r.method !== 'helm' || !r.helm) throw preconditionError(`release "${r.name}" is not a Helm release any more`);
  if (r.helm.status !== 'deployed') {
    throw preconditionError(`Helm release "${r.name}" is in state "${r.helm.status}", not "deployed"`, `finish or roll back the pending Helm operation first (helm history ${r.name} -n ${r.namespace})`);
  }
  if (r.mq !== plan.mq) throw preconditionError(`the message queue is ${r.mq}, the plan was made for ${plan.mq}: refusing to continue`, 'review with --dry-run --restart');
  if (at.changed) {
    const stray = strayVersions(r, hop);
    if (stray.length) throw preconditionError(`${hop.id} goes from Milvus ${hop.from} to ${hop.to}, but components run ${stray.join(', ')}`, 'the release changed outside this upgrade: look at it (helm history, kubectl get deployments) before resuming');
  } else {
    checkRunsFrom(r, hop, 'the release changed since the plan: review it with --dry-run --restart');
    if (hop.kind === 'to-3.0') checkTopology30(r, hop);
    const unhealthy = unhealthyComponents(r);
    if (unhealthy.length) throw preconditionError(`not every component is healthy before ${hop.id}: ${unhealthy.join('; ')}`, 'fix them first (kubectl rollout status / describe), then rerun');
  }
  if (!hop.helm || at.upgraded) return;
  if (hop.kind === 'to-3.0' && semver.valid(r.helm.chartVersion) !== semver.valid(chartVersion ?? '')) {
    throw preconditionError(`${hop.id} keeps the chart (the 3.0 guide changes only the image), planned as ${chartVersion}, but the release now has chart ${r.helm.chartVersion}`, 'the release changed since the plan: review it with --dry-run --restart');
  }
  const verArgs = chartVersion ? ['--version', chartVersion] : [];
  const meta = await requireChart(o.helm, o.chart, chartVersion);
  // Render the target with the hop's values before anything changes: the components and the message queue must be there.
  const values = await o.helm.run(['get', 'values', r.name, '-o', 'yaml']);
  const rendered = await withTempValues(values, (f) => o.helm.run(['template', r.name, o.chart, ...verArgs, '-n', r.namespace, '-f', f, ...hop.helm!.sets.flatMap(([k, v]) => ['--set', `${k}=${v}`])], { kube: false }));
  const docs = yaml.loadAll(rendered).filter(Boolean) as Array<{ kind?: string; metadata?: { name?: string; labels?: Record<string, string> } }>;
  const rendComps = new Set(docs.filter((d) => d.kind === 'Deployment').map((d) => d.metadata?.labels?.component));
  const want = [...hop.order, ...hop.removes.filter((c) => c === 'indexnode' && hop.kind === 'to-2.6')];
  const missing = want.filter((c) => !rendComps.has(c));
  if (missing.length) throw preconditionError(`chart ${o.chart} ${meta.version} with the hop's values renders no ${missing.join(', ')}: it cannot deliver this hop`, 'check --chart and --chart-version');
  if (hop.kind === 'to-3.0' && rendComps.has('indexnode')) {
    throw preconditionError(`chart ${o.chart} ${meta.version} with the release's values renders indexnode: the 3.0 guide upgrades only a release with no IndexNode`, `disable it first (helm upgrade ${r.name} ${o.chart} --version ${meta.version} --reset-then-reuse-values --set indexNode.enabled=false), then rerun`);
  }
  const gone = hop.removes.filter((c) => c !== 'indexnode' && rendComps.has(c));
  if (gone.length) throw preconditionError(`chart ${o.chart} ${meta.version} still renders ${gone.join(', ')} with mixCoordinator.enabled=true`);
  const app = plan.mq === 'pulsar-v2' ? 'pulsar' : plan.mq === 'pulsar-v3' ? 'pulsarv3' : undefined;
  if (app && !docs.some((d) => d.kind === 'StatefulSet' && d.metadata?.labels?.app === app && d.metadata?.labels?.component === 'bookie')) {
    throw preconditionError(`chart ${o.chart} ${meta.version} with the hop's values renders no ${app} bookies: the message queue would not be kept`);
  }
}

function verifyStep(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions, chartVersion: string | undefined): Step<HelmHopState> {
  const comps = hop.order;
  return {
    id: 'verify',
    title: hop.kind === 'to-2.6' ? 'Verify every component runs 2.6 (writes are accepted again only then)' : hop.kind === 'to-3.0' ? `Verify every component runs ${hop.image}, the chart and the message queue kept` : `Verify every component runs ${hop.image}`,
    plan: () => [
      `${comps.join(', ')}: image ${hop.image}, rolled out, every replica ready, none paused`,
      ...(hop.removes.length ? [`${hop.removes.join(', ')}: no Deployment left`] : []),
      `message queue still ${plan.mq}; Helm release deployed${chartVersion ? ` with chart ${chartVersion}` : ''}`,
    ],
    async run({ log }) {
      const check = async () => {
        const r = await discoverRelease(ctx.kube(), plan.release, plan.namespace);
        const problems: string[] = [];
        for (const c of comps) {
          const ds = r.components.filter((x) => x.component === c);
          if (!ds.length) problems.push(`${c}: no Deployment`);
          for (const d of ds) {
            const st = deploymentRolloutStatus(d.deployment);
            if (d.image !== hop.image) problems.push(`${d.name} runs ${d.image}`);
            else if (d.deployment.spec?.paused) problems.push(`${d.name} is paused`);
            else if (!st.done || d.readyReplicas < d.replicas) problems.push(`${d.name}: ${st.message}`);
          }
        }
        for (const c of hop.removes) for (const d of r.components.filter((x) => x.component === c)) problems.push(`${d.name} still exists`);
        const extra = r.components.filter((x) => !comps.includes(x.component) && !hop.removes.includes(x.component));
        for (const d of extra) if (d.image !== hop.image) problems.push(`${d.name} (${d.component}) runs ${d.image}`);
        const drifted = plan.pins.filter(([k, v]) => String(getPath(r.helm?.computedValues, k) ?? (v === 'true' || v === 'false' ? false : '')) !== v);
        if (drifted.length) throw failedError(`message-queue values changed: ${drifted.map(([k, v]) => `${k} was ${v}, now ${String(getPath(r.helm?.computedValues, k))}`).join(', ')}`, 'restore the values of the backup (helm rollback) at once');
        if (r.mq !== plan.mq) throw failedError(`the message queue changed: ${plan.mq} before, ${r.mq} now`, 'restore the values of the backup (helm rollback) at once: unconsumed messages live in the old queue');
        if (r.helm?.status !== 'deployed') problems.push(`helm release status ${r.helm?.status}`);
        if (chartVersion && semver.valid(r.helm?.chartVersion ?? '') !== semver.valid(chartVersion)) problems.push(`chart ${r.helm?.chartVersion}, expected ${chartVersion}`);
        return problems.length ? (last = problems, undefined) : r;
      };
      let last: string[] = [];
      const r = await pollUntil(ctx, { timeoutMs: o.timeoutMs, intervalMs: 500, check, onTimeout: () => new CliError(`not every component is on ${hop.image}: ${last.join('; ')}`, ExitCode.TIMEOUT) });
      log(hop.kind === 'to-2.6' ? `every component runs ${hop.to}: writes and flush are available again` : `Milvus ${r.milvusVersion} on ${r.mq}, ${r.components.length} Deployment(s) ready`);
    },
  };
}

function backupStep(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): Step<HelmHopState> {
  return {
    id: 'backup-values',
    title: 'Back up the Helm values and manifest',
    plan: () => [
      `helm get values ${plan.release} -n ${plan.namespace} -o yaml  ->  ${join(o.backupDir, `${hop.id}-values.yaml`)} and secret/kubectl-milvus-backup-${PROCEDURE}-${plan.release}`,
      `helm get manifest ${plan.release} -n ${plan.namespace}  ->  ${join(o.backupDir, `${hop.id}-manifest.yaml`)}`,
      `the revision now (${r.helm?.revision ?? '?'}) is the one "helm rollback" restores`,
    ],
    async run({ state, log, checkpoint, runId }) {
      const live = await discoverRelease(ctx.kube(), plan.release, plan.namespace);
      const values = await o.helm.run(['get', 'values', plan.release, '-o', 'yaml']);
      const manifest = await o.helm.run(['get', 'manifest', plan.release]);
      const saved = await saveBackup(ctx, { namespace: plan.namespace, release: plan.release, procedure: PROCEDURE, dir: o.backupDir, runId }, { [`${hop.id}-values.yaml`]: values, [`${hop.id}-manifest.yaml`]: manifest });
      state.backupSecret = saved.secret;
      state.backupFiles = saved.paths;
      state.helmRevisionBefore ??= live.helm?.revision;
      await checkpoint();
      log(`saved to ${saved.paths[0]} and secret/${saved.secret}; revision ${state.helmRevisionBefore}`);
    },
  };
}

function imageHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): ProcedureDefinition<HelmHopState> {
  const ns = plan.namespace;
  const chartVersion = hop.helm?.chartVersion ?? r.helm?.chartVersion;
  const args = helmUpgradeArgs(plan.release, o.chart, chartVersion, hop.helm!.sets);
  const finalArgs = hop.helm?.finalSets ? helmUpgradeArgs(plan.release, o.chart, chartVersion, hop.helm.finalSets) : undefined;
  const ordered = hop.kind !== 'restart';
  // The Deployments this hop starts from: the live ones once the release is at the hop's version,
  // for the plan of a later hop those the previous hop leaves.
  const prev = plan.hops[plan.hops.indexOf(hop) - 1];
  const atStart = r.components.length > 0 && r.components.every((c) => c.version === hop.from);
  const existing = atStart || !prev ? r.components.map((c) => c.name) : prev.order.map((c) => `${r.helm?.fullname ?? plan.release}-${c}`);
  const changes: Step<HelmHopState>[] = [backupStep(ctx, r, plan, hop, o)];
  if (ordered) {
    changes.push({
      id: 'pause',
      title: 'Pause every Milvus Deployment, so that the chart change does not roll them all at once',
      destructive: true,
      plan: () => [...existing.map((d) => `kubectl rollout pause deployment/${d} -n ${ns}`), 'their pods keep running the old image until each is resumed in order'],
      async run({ state, checkpoint, log }) {
        const kube = ctx.kube();
        const live = await discoverRelease(kube, plan.release, ns);
        state.paused = [];
        for (const c of live.components) {
          if (!c.deployment.spec?.paused) {
            await kube.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: c.name }, () =>
              kube.apps.patchNamespacedDeployment({ name: c.name, namespace: ns, body: { spec: { paused: true } } }, mergePatch),
            );
          }
          state.paused.push(c.name);
          await checkpoint();
        }
        log(`paused ${state.paused.join(', ')}`);
      },
    });
  }
  changes.push({
    id: HELM_UPGRADE_STEP,
    title: `helm upgrade to chart ${chartVersion ?? '(current)'} with ${hop.image}${ordered ? ' (paused Deployments wait)' : ' (every component restarts)'}`,
    destructive: true,
    plan: () => [
      command(args, ns),
      ...(hop.adds.length ? [`creates ${hop.adds.join(', ')} (starts at once)`] : []),
      ...(hop.kind === 'mixcoord' && hop.removes.length ? [`removes ${hop.removes.join(', ')} (replaced by mixcoord)`] : []),
      ...(hop.kind === 'to-3.0' ? [`the chart stays ${chartVersion} and the release's values are kept: only the image changes (${hop.source})`] : []),
      `message queue pinned: ${plan.pins.map(([k, v]) => `${k}=${v}`).join(', ')}`,
      ...(hop.downtime ? [`downtime: ${hop.downtime}`] : []),
    ],
    async run({ state, log }) {
      await o.helm.requireVersion(MIN_HELM);
      await o.helm.run(args);
      // The separate coordinators are gone now (replaced by mixcoord): nothing of them to resume.
      const removed = new Set(hop.kind === 'mixcoord' ? hop.removes : []);
      state.paused = state.paused?.filter((d) => !r.components.some((c) => c.name === d && removed.has(c.component)));
      log(`helm upgrade done: chart ${chartVersion ?? '(current)'}, image.all.tag v${hop.to}`);
    },
  });
  for (const c of hop.order) {
    const added = hop.adds.includes(c);
    changes.push({
      id: `roll-${c}`,
      title: ordered && !added ? `Resume ${c} and watch it roll out to ${hop.image}` : `Watch ${c} come up on ${hop.image}`,
      destructive: ordered && !added,
      plan: () => {
        // Every Deployment of the component (querynode resource groups have several); named as the chart names them.
        const live = r.components.filter((x) => x.component === c).map((x) => x.name);
        const names = (live.length ? live : [`${r.helm?.fullname ?? plan.release}-${c}`]).map((d) => `deployment/${d}`).join(' ');
        return [
          ...(ordered && !added ? [`kubectl rollout resume ${names} -n ${ns}`] : []),
          `kubectl rollout status ${names} -n ${ns} --timeout ${elapsed(o.timeoutMs)} (and image ${hop.image})`,
        ];
      },
      async run({ state, log }) {
        const t0 = ctx.now().getTime();
        const deps = await pollUntil(ctx, {
          intervalMs: 500,
          timeoutMs: o.timeoutMs,
          check: async () => {
            const ds = await componentDeployments(ctx, plan, c);
            return ds.length ? ds : undefined;
          },
          onTimeout: () => failedError(`no Deployment of ${c} after the helm upgrade`),
        });
        const kube = ctx.kube();
        const reporter = new ProgressReporter(log, () => ctx.now().getTime());
        for (const d of deps) {
          const name = d.metadata!.name!;
          const from = added ? '' : `${plan.repository}:v${hop.from}`;
          if (d.spec?.paused) {
            await kube.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name }, () =>
              kube.apps.patchNamespacedDeployment({ name, namespace: ns, body: { spec: { paused: false } } }, mergePatch),
            );
          }
          await waitForRollout(kube, ns, name, {
            timeoutMs: o.timeoutMs,
            signal: ctx.signal,
            image: hop.image,
            container: c,
            onUpdate: (x: V1Deployment) => {
              if ((hop.kind === 'to-2.6' || hop.kind === 'to-3.0') && !state.targetRanAt && ranTarget(x)) state.targetRanAt = ctx.now().toISOString();
              reporter.update(c, name, from, hop.image, x, t0);
            },
          });
          state.paused = state.paused?.filter((p) => p !== name);
        }
        state.rolled[c] = Math.round((ctx.now().getTime() - t0) / 100) / 10;
        log(`${c} rolled out in ${elapsed(ctx.now().getTime() - t0)}`);
      },
    });
  }
  if (finalArgs && removesIndexnodeAfter(hop)) {
    changes.push({
      id: REMOVE_INDEXNODE_STEP,
      title: 'Remove indexnode (helm upgrade with indexNode.enabled=false)',
      destructive: true,
      plan: () => [command(finalArgs, ns), `wait until no indexnode Deployment of ${plan.release} is left`],
      async run({ state, log }) {
        await o.helm.run(finalArgs);
        await pollUntil(ctx, {
          intervalMs: 500,
          timeoutMs: o.timeoutMs,
          check: async () => ((await componentDeployments(ctx, plan, 'indexnode')).length === 0 ? true : undefined),
          onTimeout: () => new CliError('indexnode is still there after the helm upgrade', ExitCode.TIMEOUT),
        });
        state.paused = state.paused?.filter((p) => !p.endsWith('-indexnode'));
        log('indexnode removed');
      },
    });
  }
  changes.push(verifyStep(ctx, plan, hop, o, chartVersion));
  const steps = hopSteps(ctx, plan, hop, o, changes);
  return hopDefinition(ctx, plan, {
    steps,
    restoreHint: (state) => restoreHint(ctx, plan, hop, state),
    async preflight(_st, done) {
      await checkBeforeHop(ctx, r, plan, hop, o, chartVersion, { changed: changedAlready(steps, done), upgraded: done.has(HELM_UPGRADE_STEP) });
    },
  });
}

/** The 2.1 hop: flush, meta-migrate (reused as it is), then the new image recorded in the Helm values. */
function metaMigrateHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): ProcedureDefinition<HelmHopState & MetaMigrateState> {
  const mm = helmMetaMigrate(ctx, r, metaMigrateOptions(hop, o));
  const chartVersion = r.helm?.chartVersion;
  const args = helmUpgradeArgs(plan.release, o.chart, chartVersion, hop.helm!.sets);
  type S = HelmHopState & MetaMigrateState;
  return metaMigrateHopDefinition<S>(ctx, plan, hop, o, {
    migrate: mm,
    backup: backupStep(ctx, r, plan, hop, o) as Step<S>,
    after: [
      {
        id: RECORD_VALUES_STEP,
        title: `Record ${hop.image} in the Helm values (so that a later helm upgrade keeps it)`,
        destructive: true,
        plan: () => [command(args, plan.namespace), 'the Deployments already run the new image: nothing restarts'],
        async run({ log }) {
          await o.helm.requireVersion(MIN_HELM);
          await o.helm.run(args);
          log(`helm values: image.all.tag v${hop.to}`);
        },
      },
      verifyStep(ctx, plan, hop, o, chartVersion) as Step<S>,
    ],
    restoreHint: (state) => restoreHint(ctx, plan, hop, state),
    // Every run: helm and the release's state; health only until the hop stopped anything (meta-migrate checks the rest).
    async preflight(_st, done, steps) {
      await o.helm.requireVersion(MIN_HELM);
      if (r.helm?.status !== 'deployed') throw preconditionError(`Helm release "${r.name}" is in state "${r.helm?.status}", not "deployed"`);
      if (changedAlready(steps, done)) return;
      const unhealthy = unhealthyComponents(r);
      if (unhealthy.length) throw preconditionError(`not every component is healthy before ${hop.id}: ${unhealthy.join('; ')}`);
    },
  });
}
