import { join } from 'node:path';
import type { FlagSpec } from '../cli/flags.js';
import { defineCommand, parseDuration, positiveDuration, PROCEDURE_FLAGS, procedureRunOptions, RELEASE_ARG, validateReleaseName, type CommandArgs } from '../cli/command.js';
import type { RunContext } from '../cli/context.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import type { UpgradePlan } from '../upgrade/plan.js';
import { validateMilvusSecret } from '../flush/credentials.js';
import { MILVUS_SECRET_FLAG } from './flush.js';

const UPGRADE_ARGS = [RELEASE_ARG] as const;

const UPGRADE_FLAGS = [
  ...PROCEDURE_FLAGS,
  { name: 'to', type: 'string', describe: 'Target Milvus version X.Y.Z (required).' },
  { name: 'chart-version', type: 'string', describe: 'Helm: chart version of the last hop (default: 5.0.22 for 2.6, else the current chart).' },
  { name: 'image', type: 'string', describe: 'Image repository for every hop (default: the one running now; each hop uses the tag v<version>), or the target image with its tag (e.g. milvusdb/milvus:v2.6.5-gpu) for the last hop.' },
  { name: 'chart', type: 'string', default: 'zilliztech/milvus', describe: 'Helm: the chart reference to upgrade with.' },
  { name: 'timeout', type: 'string', default: '10m', describe: 'Timeout of each wait (each component rollout, readiness, removals).' },
  { name: 'flush-timeout', type: 'string', default: '30m', describe: 'Timeout of the flush verification before each hop.' },
  { name: 'serving-timeout', type: 'string', default: '10m', describe: 'After a hop that reaches 2.6 or 3.0: how long to wait for the release to serve (streaming nodes, proxies, collections loaded again).' },
  { name: 'session-wait', type: 'string', default: '75s', describe: 'The 2.1 hop (Helm): wait after the stop for the etcd sessions to expire.' },
  { name: 'migration-image', type: 'string', default: 'milvusdb/meta-migration:v2.2.0-bugfix-20230112', describe: 'The 2.1 hop: image of the metadata migration tool.' },
  { name: 'backup-dir', type: 'string', describe: 'Local directory for backups (default ./kubectl-milvus-backup/NS/RELEASE/TIME).' },
  MILVUS_SECRET_FLAG,
] as const satisfies readonly FlagSpec[];

type Args = CommandArgs<typeof UPGRADE_ARGS, typeof UPGRADE_FLAGS>;

export interface UpgradeCommandOptions {
  release: string;
  flags: { to: string; chartVersion?: string; image?: string };
  chart: string;
  timeoutMs: number;
  flushTimeoutMs: number;
  servingTimeoutMs: number;
  sessionWaitMs: number;
  migrationImage: string;
  backupDir: string | undefined;
  milvusSecret: string | undefined;
  run: { dryRun: boolean; yes: boolean; resume: boolean; restart: boolean };
}

/** Parse and validate (no I/O): every usage error (exit 2) before the cluster is asked anything. */
export function toOptions(args: Args): UpgradeCommandOptions {
  const release = validateReleaseName(args.release);
  if (!args.to) throw usageError('--to is required, e.g. --to 2.6.5');
  const timeoutMs = positiveDuration(args.timeout, '--timeout');
  const flushTimeoutMs = positiveDuration(args['flush-timeout'], '--flush-timeout');
  const servingTimeoutMs = parseDuration(args['serving-timeout'], '--serving-timeout');
  if (servingTimeoutMs < 1000) throw usageError('--serving-timeout must be at least 1s');
  if (args.image !== undefined && !/^[a-z0-9]+(?:[._\-/:][a-z0-9]+)*(?::[\w][\w.-]{0,127})?$/.test(args.image)) throw usageError(`invalid --image "${args.image}": use a repository (milvusdb/milvus) or repository:tag`);
  return {
    release,
    flags: { to: args.to, ...(args['chart-version'] !== undefined ? { chartVersion: args['chart-version'] } : {}), ...(args.image !== undefined ? { image: args.image } : {}) },
    chart: args.chart,
    timeoutMs,
    flushTimeoutMs,
    servingTimeoutMs,
    sessionWaitMs: parseDuration(args['session-wait'], '--session-wait'),
    migrationImage: args['migration-image'],
    backupDir: args['backup-dir'],
    milvusSecret: validateMilvusSecret(args['milvus-secret']),
    run: procedureRunOptions(args),
  };
}

/** The hops, each with the rule that planned it, its reason and documented source, and the way back where it is not the way in. */
export function renderPlanTable(plan: UpgradePlan): string {
  const table = formatTable(
    ['HOP', 'FROM', 'TO', 'KIND', 'DOWNTIME', 'REASON'],
    plan.hops.map((h) => [h.id, h.from, h.to, h.kind, h.downtime ? 'yes' : 'no', h.reason]),
  );
  const notes = plan.hops.flatMap((h) => [`${h.id} rule ${h.rule}, source: ${h.source}`, ...(h.wayBack ? [`${h.id} way back: ${h.wayBack}`] : [])]);
  return `${table}\n${notes.join('\n')}`;
}

export const upgradeCommand = defineCommand({
  name: 'upgrade',
  args: UPGRADE_ARGS,
  describe: 'Take a release from its version to a target: the whole path planned in hops (2.1 -> 2.2 metadata, rolling, 2.5 -> 2.6, 2.6 -> 3.0), verified and resumable',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 upgrade my-release --to 2.6.5 --dry-run', 'Every hop, step, object and command; change nothing'],
    ['$0 upgrade my-release --to 2.6.5 --dry-run -o json', 'The plan as data'],
    ['$0 upgrade my-release --to 2.6.5 -y', 'Run it: flush and verify, back up, then each hop in order'],
    ['$0 upgrade my-release --to 2.6.5 --resume', 'Continue after an interruption or a fixed failure, in the middle of a hop'],
  ],
  flags: UPGRADE_FLAGS,
  run: async (ctx, args) => {
    const opts = toOptions(args);
    const [{ discoverRelease }, { runProcedure }, { planInput, planUpgrade }, up, { readOperatorVersion }, { defaultBackupDir }, { Helm, helmTargetFrom }, { servingProbe }] = await Promise.all([
      import('../release/discover.js'),
      import('../procedure/engine.js'),
      import('../upgrade/plan.js'),
      import('../upgrade/procedure.js'),
      import('../release/operator-version.js'),
      import('../backup/backup.js'),
      import('../helm/helm.js'),
      import('../milvus/serving.js'),
    ]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, opts.release, kube.namespace);
    // An unfinished upgrade follows the plan it started with (the release is half way now), for the same request only.
    const saved = opts.run.restart ? undefined : await up.checkpointedUpgrade(ctx, release.namespace, release.name);
    // A fresh plan starts from what the pods run; a half-done release is refused, naming the procedure recorded for it.
    const plan = saved
      ? up.followSavedPlan(saved, opts.flags, opts.chart)
      : planUpgrade(planInput(release, release.method === 'operator' ? await readOperatorVersion(ctx) : undefined, await (await import('../status/report.js')).unfinishedProcedures(kube, release)), opts.flags);
    if (plan.hops.length === 0) {
      if (!printDocument(ctx, { plan })) ctx.log.info(`Release "${release.name}" already runs Milvus ${plan.source}: nothing to do.`);
      return;
    }
    const helm = new Helm(helmTargetFrom(ctx.globals, kube.contextName, kube.namespace), ctx.env, ctx.signal);
    const def = await up.upgradeProcedure(ctx, release, plan, opts.flags, {
      chart: opts.chart,
      timeoutMs: opts.timeoutMs,
      flushTimeoutMs: opts.flushTimeoutMs,
      servingTimeoutMs: opts.servingTimeoutMs,
      serving: servingProbe,
      sessionWaitMs: opts.sessionWaitMs,
      migrationImage: opts.migrationImage,
      milvusSecret: opts.milvusSecret,
      // A --backup-dir can serve several releases: each gets its own folder (backups are never overwritten).
      backupDir: opts.backupDir ? join(opts.backupDir, kube.namespace, opts.release) : defaultBackupDir(kube.namespace, opts.release, ctx.now()),
      // The 3.0 hop's metadata snapshot: beside the backups when a directory was given, else where "backup list" looks.
      metaDir: opts.backupDir ? join(opts.backupDir, kube.namespace, opts.release, 'meta') : undefined,
      helm,
    });
    // The table of hops is printed once the preflight passed: input it refuses (a chart helm cannot resolve) is one error line.
    if (ctx.globals.output === 'table') def.intro = `Upgrade of "${release.name}" (${plan.method}, ${plan.mode}, ${plan.mq}) from ${plan.source} to ${plan.target}:\n\n${renderPlanTable(plan)}\n`;
    const summary = await runProcedure(ctx, def, opts.run);
    if (printDocument(ctx, { plan, result: summary })) return;
    if (summary.dryRun) return;
    ctx.print(
      `${formatTable(
        ['STEP', 'STATUS', 'DURATION'],
        summary.steps.map((s) => [s.id, s.status, s.durationMs !== undefined ? elapsed(s.durationMs) : '']),
      )}\n`,
    );
    ctx.log.info(`Release "${release.name}" runs Milvus ${plan.target} (${plan.hops.length} hop(s), ${elapsed(summary.elapsedMs)}${summary.resumed ? ', resumed' : ''}).`);
  },
});
