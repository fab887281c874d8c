/**
 * One hop of an upgrade on a Milvus Operator release: the documented merge patches of the Milvus
 * resource (image; mixCoord.replicas for the 2.6 prerequisite; imageUpdateMode rollingUpgrade),
 * never a partial manifest (operator#167). The operator does the rollout; the plugin enforces and
 * watches it instead of trusting MilvusUpdated alone (it turns True early: operator#187; the 2.6
 * order has been reported stuck: operator#446, milvus#47806):
 *
 * - the components must finish in the hop's order (the operator's own graphs; for 2.6
 *   `GetDependenciesFor2_6Upgrade`: streaming node -> mixcoord -> querynode -> datanode -> proxy);
 *   a component that starts before the one ahead of it finished stops the run;
 * - each component gets its own timeout, and a stuck one is named with the known remedy;
 * - removed components (separate coordinators; indexnode after the last proxy in 2.6) must be
 *   gone, then the resource must report Healthy and MilvusUpdated for its generation, and every
 *   Deployment must run the image once more.
 *
 * The 2.1 hop is meta-migrate itself (a MilvusUpgrade, reused as it is).
 */
import type { V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import semver from 'semver';
import type { RunContext } from '../cli/context.js';
import { saveBackup } from '../backup/backup.js';
import { CliError, ExitCode, failedError, notFoundError, preconditionError } from '../errors.js';
import { deploymentImage, deploymentRolloutStatus } from '../kube/rollout.js';
import { operatorMetaMigrate, type OperatorMetaMigrateState } from '../meta-migrate/operator-procedure.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import { MILVUS_COMPONENTS, componentLabelKey } from '../release/labels.js';
import type { ComponentName, MilvusResource, Release } from '../release/types.js';
import { deploymentUpdated, milvusReportsUpdated } from '../rolling-update/operator-procedure.js';
import { unhealthyComponents } from '../rolling-update/preflight.js';
import { pollUntil } from '../procedure/wait.js';
import { readOperatorVersion } from '../release/operator-version.js';
import { PROCEDURE, changedAlready, checkRunsFrom, checkTopology30, hopDefinition, hopSteps, keptOnceChanged, metaMigrateHopDefinition, strayVersions, type HopState, type UpgradeOptions, metaMigrateOptions } from './common.js';
import { MIN_OPERATOR_26, type Hop, type UpgradePlan } from './plan.js';
import { MIN_OPERATOR_30 } from './rules.js';
import { completeResource, fieldLines, replaceMilvus, showsApplied } from './operator-apply.js';
import { SPEC_FIELD, getMilvusResource, mergePatchMilvus } from '../kube/milvus-resource.js';

const COMPONENT = componentLabelKey('operator');

export interface ComponentProgress {
  component: string;
  state: 'old' | 'rolling' | 'done';
}

/** Where each component of the order stands: old image, rolling to the image, or done. */
export function progressOf(deployments: V1Deployment[], order: ComponentName[], image: string): ComponentProgress[] {
  return order.map((c) => {
    const ds = deployments.filter((d) => d.metadata?.labels?.[COMPONENT] === c);
    if (ds.length === 0) return { component: c, state: 'old' as const };
    const running = ds.filter((d) => (d.spec?.replicas ?? 1) > 0);
    if (running.length && running.every((d) => deploymentUpdated(d, image))) return { component: c, state: 'done' as const };
    return { component: c, state: running.some((d) => deploymentImage(d, c) === image) ? ('rolling' as const) : ('old' as const) };
  });
}

/** The first component that started before the one ahead of it finished, if any. */
export function orderViolation(p: ComponentProgress[]): { early: string; waitingFor: string } | undefined {
  const firstOpen = p.findIndex((x) => x.state !== 'done');
  if (firstOpen < 0) return undefined;
  const early = p.slice(firstOpen + 1).find((x) => x.state !== 'old');
  return early ? { early: early.component, waitingFor: p[firstOpen]!.component } : undefined;
}

async function getMilvus(ctx: RunContext, ns: string, name: string): Promise<MilvusResource> {
  const m = await getMilvusResource(ctx.kube(), ns, name);
  if (!m) throw notFoundError(`milvus/${name} not found in namespace "${ns}"`);
  return m;
}

async function listMilvusDeployments(ctx: RunContext, r: Release): Promise<V1Deployment[]> {
  const kube = ctx.kube();
  const all = await kube.listAll({ verb: 'list', resource: 'deployments.apps', namespace: r.namespace }, (q) => kube.apps.listNamespacedDeployment({ namespace: r.namespace, ...q }), { labelSelector: r.workloadSelector });
  return all.filter((d) => (MILVUS_COMPONENTS as readonly string[]).includes(d.metadata?.labels?.[COMPONENT] ?? ''));
}

/**
 * heldAt: when this hop paused the operator's rollouts (spec.components.paused) because the order broke.
 * heldComponents: the components a resumed run holds (spec.components.<c>.paused) and releases one
 * at a time, each once the one before it is done.
 * changeBegunAt: set (and checkpointed) right before the hop's write of the resource: a resumed run
 * that finds it set asks the resource whether the write reached the server.
 */
type OpHopState = HopState & { patchedAt?: string; changeBegunAt?: string; heldAt?: string; heldComponents?: string[] };

const HOLD = { spec: { components: { paused: true } } };
const RELEASE_HOLD = { spec: { components: { paused: false } } };

/** A merge patch setting spec.components.<c>.paused of the given components (and, when given, the resource-wide hold). */
export function componentPausePatch(paused: Partial<Record<ComponentName, boolean>>, all?: boolean): object {
  const components: Record<string, unknown> = all === undefined ? {} : { paused: all };
  for (const [c, v] of Object.entries(paused)) components[SPEC_FIELD[c as ComponentName]] = { paused: v };
  return { spec: { components } };
}
const patchText = (plan: UpgradePlan, body: object) => `kubectl patch milvus ${plan.release} -n ${plan.namespace} --type merge -p '${JSON.stringify(body)}'`;

const patchMilvus = (ctx: RunContext, plan: UpgradePlan, body: object) => mergePatchMilvus(ctx.kube(), plan.namespace, plan.release, body);

function restoreHint(ctx: RunContext, plan: UpgradePlan, hop: Hop, st: OpHopState): string {
  const ns = plan.namespace;
  const lines = [`check "kubectl describe milvus ${plan.release} -n ${ns}" and the operator's logs`];
  if (st.heldAt) {
    const rest = hop.order.slice(Math.max(0, hop.order.findIndex((c) => st.rolled[c] === undefined)));
    lines.push(
      `the upgrade paused milvus/${plan.release}'s rollouts when the order broke (spec.components.paused: true, ${st.heldAt}); --resume holds every component after the first unfinished one (spec.components.<c>.paused: true), lifts the hold and releases them one at a time in the order ${hop.order.join(' -> ')}`,
      `by hand, the same: ${patchText(plan, componentPausePatch(Object.fromEntries(rest.map((c, i) => [c, i > 0])), false))}, then release each (paused: false) only once the one before it runs ${hop.image} everywhere`,
    );
  }
  if (st.heldComponents?.length) {
    const next = st.heldComponents[0] as ComponentName;
    lines.push(
      `the upgrade holds ${st.heldComponents.join(', ')} (spec.components.<c>.paused: true); --resume releases them in this order; by hand, release each only once the one before it runs ${hop.image} everywhere, the next being: ${patchText(plan, componentPausePatch({ [next]: false }))}`,
    );
  }
  if (hop.kind === 'to-2.6') {
    lines.push(`a 2.6 rollout the operator leaves stuck (operator#446, milvus#47806): restart mixcoord and the streaming node: kubectl rollout restart deployment/${plan.release}-milvus-mixcoord deployment/${plan.release}-milvus-streamingnode -n ${ns}`);
  }
  if (hop.kind === 'to-3.0' && st.patchedAt) {
    lines.push(
      `the complete resource with ${hop.image} was applied (${st.patchedAt}); an image-only rollback is not validated by the 3.0 guide: to go back to ${hop.from}, stop Milvus, put back the metadata snapshot this hop took with "${ctx.commandPrefix} backup restore-meta ${plan.release} -n ${ns} --from ${st.metaSnapshot ?? 'FILE'}", then apply the resource of the backup below (image ${st.imageBefore ?? `${plan.repository}:v${hop.from}`})`,
    );
  }
  if (st.imageBefore && hop.kind !== 'to-2.6' && hop.kind !== 'to-3.0') {
    lines.push(`to go back: kubectl patch milvus ${plan.release} -n ${ns} --type merge -p '${JSON.stringify({ spec: { components: { image: st.imageBefore, imageUpdateMode: 'rollingDowngrade' } } })}'`);
  }
  if (st.backupSecret) lines.push(`the Milvus resource before this hop is in secret/${st.backupSecret} (key ${hop.id}-milvus.yaml) and ${st.backupFiles?.[0] ?? 'the local backup directory'}`);
  lines.push(`after fixing, continue with: ${ctx.commandPrefix} upgrade ${plan.release} -n ${ns} --to ${plan.target} --resume`);
  return lines.join('\n');
}

function backupStep(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): Step<OpHopState> {
  return {
    id: 'backup-milvus',
    title: 'Back up the Milvus resource',
    plan: () => [`kubectl get milvus ${plan.release} -n ${plan.namespace} -o yaml  ->  ${o.backupDir}/${hop.id}-milvus.yaml and secret/kubectl-milvus-backup-${PROCEDURE}-${plan.release}`],
    async run({ state, checkpoint, log, runId }) {
      const m = await getMilvus(ctx, plan.namespace, plan.release);
      const { managedFields: _m, ...meta } = m.metadata as MilvusResource['metadata'] & { managedFields?: unknown };
      const saved = await saveBackup(ctx, { namespace: plan.namespace, release: plan.release, procedure: PROCEDURE, dir: o.backupDir, runId }, {
        [`${hop.id}-milvus.yaml`]: yaml.dump({ apiVersion: m.apiVersion, kind: m.kind, metadata: meta, spec: m.spec }),
      });
      state.backupSecret = saved.secret;
      state.backupFiles = saved.paths;
      state.imageBefore ??= m.spec?.components?.image;
      await checkpoint();
      log(`saved to ${saved.paths[0]} and secret/${saved.secret}`);
    },
  };
}

/**
 * Takes a held hop to its end in the hop's order: one merge patch lifts the resource-wide hold and
 * holds every component after the first unfinished one (spec.components.<c>.paused: true: the
 * operator then keeps that Deployment paused, and reports it Paused, not Complete, so nothing that
 * depends on it starts either); then each is released and watched to the image in turn.
 */
async function driveInOrder(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions, r: Release, state: OpHopState, checkpoint: () => Promise<void>, log: (m: string) => void): Promise<void> {
  const order = hop.order;
  const progress = progressOf(await listMilvusDeployments(ctx, r), order, hop.image);
  const first = progress.findIndex((x) => x.state !== 'done');
  const rest = (first < 0 ? [] : order.slice(first)) as ComponentName[];
  const spec = ((await getMilvus(ctx, plan.namespace, plan.release)).spec?.components ?? {}) as Record<string, unknown>;
  const configured = (c: ComponentName) => spec[SPEC_FIELD[c]] !== undefined && spec[SPEC_FIELD[c]] !== null;
  const unset = rest.slice(1).filter((c) => !configured(c));
  if (unset.length) {
    // Writing spec.components.<c> where the resource has none would configure (enable) that component: not ours to do.
    throw preconditionError(
      `milvus/${plan.release} has no spec.components.${unset.map((c) => SPEC_FIELD[c]).join(', spec.components.')}: those components cannot be held one by one, so the order ${order.join(' -> ')} cannot be kept from here`,
      `look at the resource (kubectl get milvus ${plan.release} -n ${plan.namespace} -o yaml); the hold stays (spec.components.paused: true)`,
    );
  }
  state.heldComponents = rest.slice(1);
  await checkpoint();
  // The first one is only released, and only where the resource configures it (never enabled by this patch).
  await patchMilvus(ctx, plan, componentPausePatch(Object.fromEntries(rest.filter((c, i) => i > 0 || configured(c)).map((c, i) => [c, c !== rest[0]])), false));
  state.heldAt = undefined;
  await checkpoint();
  log(rest.length > 1 ? `milvus/${plan.release}: hold lifted; ${rest.slice(1).join(', ')} held until the one before each is done` : `milvus/${plan.release}: hold lifted`);
  for (const c of rest) {
    if (state.heldComponents.includes(c)) {
      await patchMilvus(ctx, plan, componentPausePatch({ [c]: false }));
      state.heldComponents = state.heldComponents.filter((x) => x !== c);
      await checkpoint();
      log(`${c}: released`);
    }
    const ts = ctx.now().getTime();
    let seen = '';
    await pollUntil(ctx, {
      intervalMs: 500,
      timeoutMs: o.timeoutMs,
      check: async () => {
        const held = new Set(state.heldComponents);
        const p = progressOf(await listMilvusDeployments(ctx, r), order, hop.image);
        // A held component may stand half rolled (it was started early): frozen, not moving.
        const bad = orderViolation(p.filter((x) => !held.has(x.component)));
        if (bad) throw failedError(`the operator started ${bad.early} before ${bad.waitingFor} finished, although ${bad.early} was not held: the order ${order.join(' -> ')} is broken`);
        const mine = p.find((x) => x.component === c)!;
        if (mine.state !== seen) log(`${c}: ${mine.state === 'old' ? 'waiting for the operator' : mine.state === 'rolling' ? `rolling to ${hop.image}` : 'done'}`);
        seen = mine.state;
        return mine.state === 'done' ? true : undefined;
      },
      onTimeout: () => new CliError(`${c} did not finish rolling to ${hop.image} in ${elapsed(o.timeoutMs)} (state: ${seen || 'old'}); still held: ${state.heldComponents?.join(', ') || 'none'}`, ExitCode.TIMEOUT),
    });
    state.rolled[c] ??= Math.round((ctx.now().getTime() - ts) / 100) / 10;
    await checkpoint();
    log(`${c} rolled out in ${elapsed(ctx.now().getTime() - ts)}`);
  }
}

function verifyStep(ctx: RunContext, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): Step<OpHopState> {
  return {
    id: 'verify',
    title: hop.kind === 'to-2.6' ? 'Verify every component runs 2.6 and the resource agrees (writes are accepted again only then)' : hop.kind === 'to-3.0' ? `Verify every Deployment runs ${hop.image}, no indexnode pod, and the resource reports Healthy` : `Verify every component runs ${hop.image} and the resource agrees`,
    plan: () => [
      `every Deployment of ${plan.release}: image ${hop.image}, observed, all replicas updated and available${hop.removes.length ? `; no ${hop.removes.join(', ')} left` : ''}`,
      `milvus/${plan.release}: status Healthy, MilvusUpdated=True for its generation, message queue still ${plan.mq}`,
    ],
    async run({ log }) {
      let last = '';
      await pollUntil(ctx, {
        intervalMs: 500,
        timeoutMs: o.timeoutMs,
        check: async () => {
          const r = await discoverRelease(ctx.kube(), plan.release, plan.namespace);
          const m = r.operator?.resource;
          const ds = await listMilvusDeployments(ctx, r);
          const behind = ds.filter((d) => !deploymentUpdated(d, hop.image)).map((d) => `${d.metadata?.name} (${deploymentImage(d, d.metadata?.labels?.[COMPONENT])}, ${deploymentRolloutStatus(d).message})`);
          const left = ds.filter((d) => hop.removes.includes(d.metadata?.labels?.[COMPONENT] as ComponentName) && (d.spec?.replicas ?? 1) > 0).map((d) => `${d.metadata?.name} still exists`);
          // The 3.0 hop keeps indexNode at 0 replicas: one the operator re-enabled is a failure of the apply, not a rollout to wait for.
          const revived = hop.kind === 'to-3.0' ? ds.filter((d) => d.metadata?.labels?.[COMPONENT] === 'indexnode' && (d.spec?.replicas ?? 1) > 0) : [];
          if (revived.length) throw failedError(`${revived.map((d) => d.metadata?.name).join(', ')} has ${revived[0]!.spec?.replicas ?? 1} replica(s): indexnode was re-enabled`, `set spec.components.indexNode.replicas: 0 in milvus/${plan.release} (kubectl edit milvus ${plan.release} -n ${plan.namespace})`);
          if (r.mq !== plan.mq) throw failedError(`the message queue changed: ${plan.mq} before, ${r.mq} now`);
          const verdict = milvusReportsUpdated(m) ? '' : `milvus/${plan.release}: status ${m?.status?.status ?? '?'}, MilvusUpdated ${m?.status?.conditions?.find((c) => c.type === 'MilvusUpdated')?.status ?? '?'}`;
          last = [...behind, ...left, verdict].filter(Boolean).join('; ');
          return last ? undefined : r;
        },
        onTimeout: () => new CliError(`not every component is on ${hop.image}: ${last}`, ExitCode.TIMEOUT),
      });
      log(hop.kind === 'to-2.6' ? `every component runs ${hop.to}: writes and flush are available again` : `every component runs ${hop.image}`);
    },
  };
}

export function operatorHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): ProcedureDefinition<any> {
  return hop.kind === 'meta-migrate' ? metaMigrateHop(ctx, r, plan, hop, o) : patchHop(ctx, r, plan, hop, o);
}

/**
 * Whether the hop's write of the resource reached the server although the checkpoint does not
 * record the step as done: a run began it (changeBegunAt) and the resource as read now shows it.
 */
export function changeReached(r: Release, hop: Hop, state: { changeBegunAt?: string | undefined }): boolean {
  const m = r.operator?.resource;
  if (state.changeBegunAt === undefined || !m) return false;
  return hop.operatorApply ? showsApplied(m, hop.operatorApply) : m.spec?.components?.image === hop.image;
}

function patchHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): ProcedureDefinition<OpHopState> {
  const ordered = hop.kind !== 'restart';
  /** Set by this run's preflight: the change reached the cluster before this run, unrecorded (see changeReached). */
  let reachedUnrecorded = false;
  const steps: Step<OpHopState>[] = keptOnceChanged(hopSteps(ctx, plan, hop, o, [
    backupStep(ctx, plan, hop, o),
    hop.operatorApply ? applyStep(ctx, plan, hop) : patchStep(ctx, plan, hop),
    {
      id: 'follow',
      title: ordered ? `Watch the operator update ${hop.order.join(' -> ')} in this order` : 'Watch the operator replace every component',
      plan: () => [
        ...(ordered ? [`each component must finish (observed, updated, available, image ${hop.image}) before the next one starts; one that starts early stops the upgrade`] : []),
        `each component within ${elapsed(o.timeoutMs)}`,
        ...(ordered ? [`a component that starts early stops the operator too: ${patchText(plan, HOLD)} (lifted by --resume)`] : []),
        ...(hop.removes.length ? [`then ${hop.removes.join(', ')} must be gone (the operator removes ${hop.kind === 'to-2.6' ? 'indexnode once every proxy runs 2.6' : 'the separate coordinators'})`] : []),
      ],
      async run({ state, checkpoint, log }) {
        const t0 = ctx.now().getTime();
        if (!ordered && state.heldAt) {
          await patchMilvus(ctx, plan, RELEASE_HOLD);
          log(`lifted the hold of the last run on milvus/${plan.release} (spec.components.paused: false)`);
          state.heldAt = undefined;
          await checkpoint();
        }
        if (ordered && (state.heldAt || state.heldComponents?.length)) {
          // The operator broke the order once: a component it started early may be half rolled.
          // Lifting the hold alone lets that one go on (and the check would hold again at once), so
          // this run keeps the order itself: every component after the first unfinished one is held
          // on its own, and released only once the one before it is done.
          await driveInOrder(ctx, plan, hop, o, r, state, checkpoint, log);
        }
        if (!ordered) {
          await pollUntil(ctx, {
            intervalMs: 500,
            timeoutMs: o.timeoutMs,
            check: async () => {
              const ds = await listMilvusDeployments(ctx, r);
              return ds.length && ds.every((d) => deploymentUpdated(d, hop.image)) ? true : undefined;
            },
            onTimeout: () => new CliError(`the operator did not replace every component with ${hop.image} in ${elapsed(o.timeoutMs)}`, ExitCode.TIMEOUT),
          });
          log(`every component replaced in ${elapsed(ctx.now().getTime() - t0)}`);
          return;
        }
        for (const c of hop.order) {
          if (state.rolled[c] !== undefined) continue;
          const ts = ctx.now().getTime();
          let seen = '';
          await pollUntil(ctx, {
            intervalMs: 500,
            timeoutMs: o.timeoutMs,
            check: async () => {
              const p = progressOf(await listMilvusDeployments(ctx, r), hop.order, hop.image);
              // mixcoord replacing the separate coordinators is created at once, outside the order.
              const bad = orderViolation(hop.kind === 'mixcoord' ? p.filter((x) => !hop.adds.includes(x.component as ComponentName)) : p);
              if (bad) {
                // Hold the operator where it is: no further component starts on the new image.
                await patchMilvus(ctx, plan, HOLD);
                state.heldAt = ctx.now().toISOString();
                await checkpoint();
                throw failedError(`the operator started ${bad.early} before ${bad.waitingFor} finished: the order ${hop.order.join(' -> ')} is broken; milvus/${plan.release} is paused (spec.components.paused: true) so that no other component starts`);
              }
              const mine = p.find((x) => x.component === c)!;
              if (mine.state !== seen) log(`${c}: ${mine.state === 'old' ? 'waiting for the operator' : mine.state === 'rolling' ? `rolling to ${hop.image}` : 'done'}`);
              seen = mine.state;
              return mine.state === 'done' ? true : undefined;
            },
            onTimeout: () => new CliError(`${c} did not finish rolling to ${hop.image} in ${elapsed(o.timeoutMs)} (state: ${seen || 'old'})`, ExitCode.TIMEOUT),
          });
          state.rolled[c] = Math.round((ctx.now().getTime() - ts) / 100) / 10;
          log(`${c} rolled out in ${elapsed(ctx.now().getTime() - ts)}`);
        }
        if (hop.removes.length) {
          await pollUntil(ctx, {
            intervalMs: 500,
            timeoutMs: o.timeoutMs,
            check: async () => ((await listMilvusDeployments(ctx, r)).some((d) => hop.removes.includes(d.metadata?.labels?.[COMPONENT] as ComponentName) && (d.spec?.replicas ?? 1) > 0) ? undefined : true),
            onTimeout: () => new CliError(`the operator did not remove ${hop.removes.join(', ')} in ${elapsed(o.timeoutMs)}`, ExitCode.TIMEOUT),
          });
          log(`${hop.removes.join(', ')} removed by the operator`);
        }
      },
    },
    verifyStep(ctx, plan, hop, o),
  ]), () => reachedUnrecorded);
  return hopDefinition(ctx, plan, {
    steps,
    restoreHint: (state) => restoreHint(ctx, plan, hop, state),
    // Every run, from the release as it is now: the start version and health until the patch, then only the hop's two versions.
    async preflight(st, done) {
      if (r.method !== 'operator') throw preconditionError(`release "${r.name}" is not a Milvus Operator release any more`);
      // What the cluster shows decides: a write a cut-off run made is a change made, recorded or not.
      reachedUnrecorded = !changedAlready(steps, done) && changeReached(r, hop, st);
      if (changedAlready(steps, done) || reachedUnrecorded) {
        const stray = strayVersions(r, hop);
        if (stray.length) throw preconditionError(`${hop.id} goes from Milvus ${hop.from} to ${hop.to}, but components run ${stray.join(', ')}`, `the release changed outside this upgrade: look at it (kubectl describe milvus ${r.name} -n ${r.namespace}) before resuming`);
      } else {
        checkRunsFrom(r, hop, 'review with --dry-run --restart');
        if (hop.kind === 'to-3.0') checkTopology30(r, hop);
        if (r.operator?.status !== 'Healthy') throw preconditionError(`milvus/${r.name} reports status "${r.operator?.status ?? 'none'}", not Healthy`, `see "kubectl describe milvus ${r.name} -n ${r.namespace}"`);
        const unhealthy = unhealthyComponents(r);
        if (unhealthy.length) throw preconditionError(`not every component is healthy before ${hop.id}: ${unhealthy.join('; ')}`);
        // The complete resource the hop applies, validated and defaulted by the server now (nothing stored).
        if (hop.operatorApply) await replaceMilvus(ctx.kube(), plan.namespace, completeResource(await getMilvus(ctx, plan.namespace, plan.release), hop.operatorApply), true);
      }
      if (hop.kind === 'to-3.0') {
        const v = await readOperatorVersion(ctx);
        if (!v || semver.lt(v, MIN_OPERATOR_30)) throw preconditionError(`Milvus Operator ${v ?? '(version unknown)'}: the 3.0 guide was validated with ${MIN_OPERATOR_30} and keeps the installed operator (never older)`);
      }
      if (hop.kind === 'to-2.6') {
        const v = await readOperatorVersion(ctx);
        if (!v || semver.lt(v, MIN_OPERATOR_26)) throw preconditionError(`Milvus Operator ${v ?? '(version unknown)'} cannot deliver Milvus 2.6: it needs ${MIN_OPERATOR_26} or later`);
      }
    },
  });
}

/** The documented merge patch of the hop (image; mixCoord.replicas for the 2.6 prerequisite; rolling upgrade). */
function patchStep(ctx: RunContext, plan: UpgradePlan, hop: Hop): Step<OpHopState> {
  const body = hop.operatorPatch!;
  return {
    id: 'patch',
    title: `Patch the Milvus resource: ${hop.kind === 'mixcoord' && hop.adds.includes('mixcoord') ? 'mixCoord.replicas 1 and ' : ''}image ${hop.image}`,
    destructive: true,
    plan: () => [
      patchText(plan, body),
      'a merge patch of these fields only: the rest of the spec stays as it is',
      ...(hop.downtime ? [`downtime: ${hop.downtime}`] : []),
    ],
    async run({ state, checkpoint, log }) {
      state.changeBegunAt = ctx.now().toISOString();
      await checkpoint();
      await patchMilvus(ctx, plan, body);
      state.patchedAt = ctx.now().toISOString();
      await checkpoint();
      log(`milvus/${plan.release} patched`);
    },
  };
}

/**
 * The 3.0 hop's change: the complete resource with the hop's fields (image, indexNode.replicas 0,
 * rolling upgrade) replaced whole, a server-side dry-run of the same body first. Run again after a
 * run that began the write and was cut off, it asks the resource: one that shows the fields
 * already is not applied again (the operator may be rolling it out); otherwise it reads the
 * resource anew and applies the same fields.
 */
function applyStep(ctx: RunContext, plan: UpgradePlan, hop: Hop): Step<OpHopState> {
  const set = hop.operatorApply!;
  return {
    id: 'apply',
    title: `Apply the complete Milvus resource with ${hop.image} and indexNode.replicas 0 (server-side dry-run first)`,
    destructive: true,
    plan: () => [
      `kubectl get milvus ${plan.release} -n ${plan.namespace} -o yaml, with ${fieldLines(set).join(', ')}`,
      `kubectl replace --dry-run=server -f - (the server validates and defaults it), then kubectl replace -f - at the resourceVersion read: a concurrent change is refused, never overwritten`,
      'the complete resource, never an image-only merge patch: the operator can re-enable components whose replicas were zero (3.0 guide)',
      ...(hop.downtime ? [`downtime: ${hop.downtime}`] : []),
    ],
    async run({ state, checkpoint, log }) {
      const kube = ctx.kube();
      const m = await getMilvus(ctx, plan.namespace, plan.release);
      if (state.changeBegunAt && showsApplied(m, set)) {
        state.patchedAt ??= state.changeBegunAt;
        await checkpoint();
        log(`milvus/${plan.release} shows ${hop.image} already: the apply begun at ${state.changeBegunAt} reached the server; not applied again`);
        return;
      }
      const body = completeResource(m, set);
      await replaceMilvus(kube, plan.namespace, body, true);
      state.changeBegunAt = ctx.now().toISOString();
      await checkpoint();
      await replaceMilvus(kube, plan.namespace, body, false);
      state.patchedAt = ctx.now().toISOString();
      await checkpoint();
      log(`milvus/${plan.release} applied (server-side dry-run passed): ${fieldLines(set).join(', ')}`);
    },
  };
}

function metaMigrateHop(ctx: RunContext, r: Release, plan: UpgradePlan, hop: Hop, o: UpgradeOptions): ProcedureDefinition<OpHopState & OperatorMetaMigrateState> {
  const mm = operatorMetaMigrate(ctx, r, metaMigrateOptions(hop, o));
  type S = OpHopState & OperatorMetaMigrateState;
  return metaMigrateHopDefinition<S>(ctx, plan, hop, o, {
    migrate: mm,
    backup: backupStep(ctx, plan, hop, o) as Step<S>,
    after: [verifyStep(ctx, plan, hop, o) as Step<S>],
    restoreHint: (state) => restoreHint(ctx, plan, hop, state),
  });
}
