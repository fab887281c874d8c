/**
 * The charts a Helm upgrade plan upgrades with, resolved before the plan is printed or anything
 * changes: a chart helm cannot resolve (for any hop still to run, not only the first) is one
 * error line with exit 7, never a failure half way through the path.
 */
import { requireChart } from '../helm/chart-ref.js';
import type { Helm } from '../helm/helm.js';
import { stepId } from '../procedure/chain.js';
import { chartSteps } from './helm-hop.js';
import type { Hop, UpgradePlan } from './plan.js';

export interface HopChart {
  hop: Hop;
  /** The chart version the hop's helm upgrade pins (undefined: the release's, unknown). */
  chartVersion: string | undefined;
}

/**
 * The chart each Helm hop upgrades with: its own version, else the one an earlier hop chose, else
 * the release's chart now (what the hop finds when it starts, as helm-hop reads it).
 */
export function hopCharts(plan: UpgradePlan, chartNow: string | undefined): HopChart[] {
  if (plan.method !== 'helm') return [];
  const out: HopChart[] = [];
  let chart = chartNow;
  for (const hop of plan.hops) {
    if (!hop.helm) continue;
    chart = hop.helm.chartVersion ?? chart;
    out.push({ hop, chartVersion: chart });
  }
  return out;
}

/**
 * Resolves (helm show chart) every chart version a step still to run upgrades with; `done` holds
 * the chain's step ids (`<hop>.<step>`). Throws exit 7 naming the chart and the way out.
 */
export async function requireHopCharts(helm: Pick<Helm, 'run'>, chart: string, plan: UpgradePlan, chartNow: string | undefined, done: ReadonlySet<string>): Promise<void> {
  const needed = hopCharts(plan, chartNow).filter(({ hop }) => chartSteps(hop).some((s) => !done.has(stepId(hop.id, s))));
  const versions = [...new Set(needed.map((h) => h.chartVersion ?? ''))];
  for (const v of versions) await requireChart(helm, chart, v || undefined);
}
