/**
 * `health` of every release read by a fleet command: each release's graded checks, as `health
 * RELEASE` makes them, at most --max-parallel releases at once across all contexts (each release
 * opens at most 8 port-forwards at a time plus one to its etcd, each closed when its check ends,
 * on errors and Ctrl-C too). A release whose checks cannot be made is an error of that release;
 * the others are still judged.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, type ExitCodeValue } from '../errors.js';
import { checkHealth, type HealthReport } from '../health/health.js';
import type { Grade } from '../health/checks.js';
import type { ContextOutcome } from './read.js';
import type { FleetOptions } from './options.js';
import { mapLimit } from '../util/map-limit.js';

export type FleetHealthItem = HealthReport & { context?: string };

export interface FleetHealthError {
  context: string;
  namespace?: string;
  release?: string;
  message: string;
  exitCode: ExitCodeValue;
}

export async function fleetHealth(ctx: RunContext, outcomes: ContextOutcome[], o: FleetOptions, several: boolean): Promise<{ items: FleetHealthItem[]; errors: FleetHealthError[] }> {
  const jobs = outcomes.flatMap((x) => ('ok' in x ? x.ok.releases.map((r) => ({ context: x.ok.context, kube: x.ok.kube, release: r.release })) : []));
  const results = await mapLimit(jobs, o.maxParallel, async (job): Promise<{ item: FleetHealthItem } | { error: FleetHealthError }> => {
    const where = { context: job.context, namespace: job.release.namespace, release: job.release.name };
    if (ctx.signal.aborted) return { error: { ...where, message: 'not checked: interrupted', exitCode: ExitCode.INTERRUPTED } };
    try {
      const h = await checkHealth({ ...ctx, kube: () => job.kube }, job.release);
      return { item: { ...(several ? { context: job.context } : {}), ...h } };
    } catch (e) {
      return { error: { ...where, message: e instanceof Error ? e.message : String(e), exitCode: e instanceof CliError ? e.exitCode : ExitCode.INTERNAL } };
    }
  });
  const items: FleetHealthItem[] = [];
  const errors: FleetHealthError[] = [];
  for (const r of results) {
    if ('item' in r) items.push(r.item);
    else errors.push(r.error);
  }
  return { items, errors };
}

const RANK: Record<Grade, number> = { ok: 0, warning: 1, critical: 2 };

/** The check that makes a release's grade (the first of the worst), as "check: detail". */
export function worstCheck(h: HealthReport, max = 90): string {
  if (h.status === 'ok') return '';
  const c = h.checks.find((x) => x.status === h.status)!;
  const text = `${c.check}: ${c.detail}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function fleetGrade(items: HealthReport[]): { status: Grade; summary: Record<Grade, number> } {
  const summary: Record<Grade, number> = { ok: 0, warning: 0, critical: 0 };
  let status: Grade = 'ok';
  for (const h of items) {
    summary[h.status]++;
    if (RANK[h.status] > RANK[status]) status = h.status;
  }
  return { status, summary };
}
