/**
 * `upgrade`: the planned hops as one chained procedure (src/procedure/chain.ts), so that one
 * checkpoint covers the whole path and --resume continues in the middle of any hop. Each hop is
 * defined for the plan from the release as it is now, and again from the cluster when it starts.
 * The plan itself is kept in the checkpoint's parameters: a resumed run follows the plan it
 * started with, never one recomputed from a half-upgraded release; a rerun that asks for another
 * target, image or chart is refused (followSavedPlan).
 */
import type { RunContext } from '../cli/context.js';
import { composeChain, type ChainLink, type ChainState } from '../procedure/chain.js';
import { checkpointName, paramDiff, type ProcedureDefinition } from '../procedure/engine.js';
import { preconditionError } from '../errors.js';
import { discoverRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { PROCEDURE, hopTitle, type UpgradeOptions } from './common.js';
import { helmHop } from './helm-hop.js';
import { requireHopCharts } from './hop-charts.js';
import { operatorHop } from './operator-hop.js';
import { parseTarget, type PlanFlags, type UpgradePlan } from './plan.js';

export function upgradeParams(plan: UpgradePlan, flags: PlanFlags, chart: string): Record<string, string> {
  return {
    method: plan.method,
    to: parseTarget(flags.to),
    chart: plan.method === 'helm' ? chart : '',
    chartVersion: flags.chartVersion ?? '',
    image: flags.image ?? '',
    plan: JSON.stringify(plan),
  };
}

/** An unfinished upgrade as its checkpoint has it: the plan it follows and the parameters it was started with. */
export interface SavedUpgrade {
  plan: UpgradePlan;
  params: Record<string, string>;
}

/**
 * The plan this run follows when an upgrade is unfinished: the saved one, but only for the same
 * request. Another --to, --image, --chart or --chart-version would silently follow the old plan:
 * refused (exit 7) naming each difference, as the engine refuses other parameters.
 */
export function followSavedPlan(saved: SavedUpgrade, flags: PlanFlags, chart: string): UpgradePlan {
  const { plan: _p, ...asked } = upgradeParams(saved.plan, flags, chart);
  const { plan: _q, ...started } = saved.params;
  const diff = paramDiff(started, asked);
  if (diff.length) {
    throw preconditionError(
      `an unfinished upgrade of "${saved.plan.release}" to ${saved.plan.target} follows the plan it started with, and this run asks for another: ${diff.join('; ')}`,
      'rerun with the parameters of the unfinished run to continue it (--resume), or --restart to plan anew from the release as it is now',
    );
  }
  return saved.plan;
}

/** The unfinished upgrade of this release, from its checkpoint (undefined when there is none). */
export async function checkpointedUpgrade(ctx: RunContext, namespace: string, release: string): Promise<SavedUpgrade | undefined> {
  const kube = ctx.kube();
  const name = checkpointName(PROCEDURE, release);
  // Only "not found" means there is no checkpoint; any other error stops the command.
  const cm = await kube.getIfExists({ verb: 'get', resource: 'configmaps', namespace, name }, () => kube.core.readNamespacedConfigMap({ name, namespace }));
  if (!cm) return undefined;
  const raw = cm.data?.['checkpoint.json'];
  const cp = raw ? (JSON.parse(raw) as { procedure?: string; finished?: boolean; params?: Record<string, string> }) : undefined;
  if (!cp || cp.finished || cp.procedure !== PROCEDURE || !cp.params?.plan) return undefined;
  return { plan: JSON.parse(cp.params.plan) as UpgradePlan, params: cp.params };
}

export async function upgradeProcedure(ctx: RunContext, r: Release, plan: UpgradePlan, flags: PlanFlags, o: UpgradeOptions): Promise<ProcedureDefinition<ChainState>> {
  const links: ChainLink<any>[] = plan.hops.map((hop) => ({
    id: hop.id,
    title: hopTitle(plan, hop),
    async define(live: boolean) {
      const rel = live ? await discoverRelease(ctx.kube(), plan.release, plan.namespace) : r;
      return plan.method === 'helm' ? helmHop(ctx, rel, plan, hop, o) : operatorHop(ctx, rel, plan, hop, o);
    },
  }));
  const downtime = plan.hops.filter((h) => h.downtime).map((h) => `${h.id} (${h.from} -> ${h.to}): ${h.downtime}`);
  const def = await composeChain({
    name: PROCEDURE,
    release: plan.release,
    namespace: plan.namespace,
    params: upgradeParams(plan, flags, o.chart),
    links,
    confirmQuestion: [
      downtime.length ? `Downtime:\n  ${downtime.join('\n  ')}` : 'No hop needs downtime: components are updated one at a time.',
      ...plan.hops.filter((h) => h.wayBack).map((h) => `Way back from ${h.id} (${h.from} -> ${h.to}): ${h.wayBack}`),
    ].join('\n'),
  });
  if (plan.method !== 'helm') return def;
  // Every chart a hop still to run upgrades with resolves now, before the plan is printed or anything changes.
  const chained = def.preflight;
  return {
    ...def,
    async preflight(cs, done) {
      await chained(cs, done);
      await requireHopCharts(o.helm, o.chart, plan, r.helm?.chartVersion, done);
    },
  };
}
