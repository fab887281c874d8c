/**
 * `upgrade`: the planned hops as one chained procedure (src/procedure/chain.ts), so that one
 * checkpoint covers the whole path and --resume continues in the middle of any hop. Each hop is
 * defined for the plan from the release as it is now, and again from the cluster when it starts.
 * The plan itself is kept in the checkpoint's parameters: a resumed run follows the plan it
 * started with, never one recomputed from a half-upgraded release.
 */
import type { RunContext } from '../cli/context.js';
import { composeChain, type ChainLink, type ChainState } from '../procedure/chain.js';
import { checkpointName, type ProcedureDefinition } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { PROCEDURE, hopTitle, type UpgradeOptions } from './common.js';
import { helmHop } from './helm-hop.js';
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

/** The plan of an unfinished upgrade of this release, from its checkpoint (undefined when there is none). */
export async function checkpointedPlan(ctx: RunContext, namespace: string, release: string): Promise<UpgradePlan | undefined> {
  const kube = ctx.kube();
  const name = checkpointName(PROCEDURE, release);
  // Only "not found" means there is no checkpoint; any other error stops the command.
  const cm = await kube.getIfExists({ verb: 'get', resource: 'configmaps', namespace, name }, () => kube.core.readNamespacedConfigMap({ name, namespace }));
  if (!cm) return undefined;
  const raw = cm.data?.['checkpoint.json'];
  const cp = raw ? (JSON.parse(raw) as { procedure?: string; finished?: boolean; params?: Record<string, string> }) : undefined;
  if (!cp || cp.finished || cp.procedure !== PROCEDURE || !cp.params?.plan) return undefined;
  return JSON.parse(cp.params.plan) as UpgradePlan;
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
  return composeChain({
    name: PROCEDURE,
    release: plan.release,
    namespace: plan.namespace,
    params: upgradeParams(plan, flags, o.chart),
    links,
    confirmQuestion: downtime.length ? `Downtime:\n  ${downtime.join('\n  ')}` : 'No hop needs downtime: components are updated one at a time.',
  });
}
