import { defineCommand, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { FLEET_FLAGS, fleetOptions } from '../fleet/options.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import type { HealthReport } from '../health/health.js';
import type { RunContext } from '../cli/context.js';

export function renderHealth(h: HealthReport): string {
  let out = formatTable(['CHECK', 'STATUS', 'DETAIL'], h.checks.map((c) => [c.check, c.status, c.detail]));
  out += `\nRelease "${h.release}": ${h.status} (${h.summary.ok} ok, ${h.summary.warning} warning, ${h.summary.critical} critical)\n`;
  return out;
}

export const healthCommand = defineCommand({
  name: 'health',
  args: [{ ...RELEASE_ARG, optional: true }],
  describe: 'Judge a Milvus release, or every release of a namespace, -A or several contexts: graded checks; exit 12 on a critical one',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 health my-release -n milvus', 'Components, versions, /healthz of every pod, etcd sessions, dependencies, volumes, risks'],
    ['$0 health my-release -o json', 'For scripts and monitoring: {"status": "ok|warning|critical", "checks": [...]}'],
    ['$0 health -A --context prod-eu,prod-us', 'A line per release of two clusters, its worst check named; exit 12 when one is critical'],
  ],
  flags: FLEET_FLAGS,
  run: async (ctx, args) => {
    if (args.release === undefined) return fleetHealthRun(ctx, args);
    if (args['all-namespaces'] || args['all-contexts'] || ctx.globals.context?.includes(',')) {
      throw usageError('a RELEASE is checked in one namespace of one context: leave the release name out to check every release with -A, --all-contexts or several --context values');
    }
    const name = validateReleaseName(args.release);
    const [{ discoverRelease }, { checkHealth, unhealthyError }] = await Promise.all([import('../release/discover.js'), import('../health/health.js')]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const h = await checkHealth(ctx, release);
    if (!printDocument(ctx, h)) ctx.print(renderHealth(h));
    if (h.status === 'critical') throw unhealthyError(h);
  },
});

/** `health` without a release: a line per release of the namespace, -A, or the contexts given. */
async function fleetHealthRun(ctx: RunContext, args: { 'all-namespaces': boolean; 'all-contexts': boolean; 'max-parallel': string }): Promise<void> {
  const o = fleetOptions(args, ctx.globals, ctx.host);
  const [{ resolveTargets }, { readTargets, fleetExitCode }, { fleetFailure, reportOutcomes }, { fleetHealth, fleetGrade, worstCheck }] = await Promise.all([
    import('../fleet/contexts.js'),
    import('../fleet/read.js'),
    import('../fleet/report.js'),
    import('../fleet/health.js'),
  ]);
  const { targets, several } = resolveTargets(ctx, o);
  const outcomes = await readTargets(targets, o);
  const { errors: contextErrors, warnings } = reportOutcomes(ctx, outcomes, several);
  const { items, errors: releaseErrors } = await fleetHealth(ctx, outcomes, o, several);
  if (ctx.signal.aborted) throw new Error('interrupted');
  for (const e of releaseErrors) ctx.log.info(`error: ${several ? `context "${e.context}": ` : ''}release "${e.release}" in namespace "${e.namespace}": ${e.message}`);
  const { status, summary } = fleetGrade(items);
  const doc = { apiVersion: 'kubectl-milvus.io/v1', kind: 'HealthList', status, summary, items, errors: [...contextErrors, ...releaseErrors], warnings };
  if (!printDocument(ctx, doc)) {
    if (items.length) {
      ctx.print(
        formatTable(
          [...(several ? ['CONTEXT'] : []), 'NAMESPACE', 'NAME', 'STATUS', 'OK', 'WARNING', 'CRITICAL', 'WORST'],
          items.map((h) => [...(several ? [h.context] : []), h.namespace, h.release, h.status, h.summary.ok, h.summary.warning, h.summary.critical, worstCheck(h)]),
        ) + `\n${items.length} release(s): ${summary.ok} ok, ${summary.warning} warning, ${summary.critical} critical\n`,
      );
    } else if (outcomes.some((x) => 'ok' in x)) ctx.log.info('No Milvus releases found.');
  }
  if (summary.critical > 0) {
    const critical = items.filter((h) => h.status === 'critical').map((h) => `${several ? `${h.context}/` : ''}${h.namespace}/${h.release}`);
    throw new CliError(`${critical.length} release(s) critical: ${critical.join(', ')}`, ExitCode.UNHEALTHY);
  }
  const code = fleetExitCode(outcomes);
  if (code !== 0) throw fleetFailure(outcomes, several, code);
  if (releaseErrors.length) throw new CliError(`${releaseErrors.length} release(s) could not be checked`, releaseErrors[0]!.exitCode);
}
