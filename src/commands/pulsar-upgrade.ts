import { databaseList, defineCommand, positiveDuration, PROCEDURE_FLAGS, procedureRunOptions, RELEASE_ARG, validateReleaseName, type CommandArgs } from '../cli/command.js';
import type { RunContext } from '../cli/context.js';
import type { FlagSpec } from '../cli/flags.js';
import { CliError, ExitCode } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import { validateMilvusSecret } from '../flush/credentials.js';
import { ROOT_PATH_FLAG, SKIP_META_BACKUP_FLAG, validateRootPath } from './backup.js';
import { MILVUS_SECRET_FLAG } from './flush.js';
import type { PulsarUpgradeOptions } from '../pulsar-upgrade/helm-procedure.js';

const PULSAR_UPGRADE_ARGS = [RELEASE_ARG] as const;

const PULSAR_UPGRADE_FLAGS = [
  ...PROCEDURE_FLAGS,
  SKIP_META_BACKUP_FLAG,
  ROOT_PATH_FLAG,
  { name: 'backup-dir', type: 'string', describe: 'Local directory for backups (default ./kubectl-milvus-backup/NS/RELEASE/TIME).' },
  { name: 'chart', type: 'string', default: 'zilliztech/milvus', describe: 'Helm chart to reinstall from (repo/chart, path or URL).' },
  { name: 'chart-version', type: 'string', describe: 'Chart version to reinstall (>= 4.2.29).' },
  { name: 'timeout', type: 'string', default: '15m', describe: 'Timeout of each wait (uninstall, deletions, install, readiness).' },
  { name: 'flush-timeout', type: 'string', default: '30m', describe: 'Timeout of the flush verification.' },
  { name: 'allow-milvus-version-change', type: 'boolean', default: false, describe: 'Let the Helm reinstall run another Milvus version than the release runs now (refused by default).' },
  { name: 'database', type: 'strings', describe: 'Every database to flush, where the proxy cannot list them (Milvus 2.2.9-2.3).' },
  MILVUS_SECRET_FLAG,
] as const satisfies readonly FlagSpec[];

export interface PulsarUpgradeCommandOptions {
  release: string;
  /** The procedure's options but the namespace (known once the cluster is); backupDir undefined for the default. */
  procedure: Omit<PulsarUpgradeOptions, 'namespace' | 'backupDir'> & { backupDir: string | undefined };
  skipMetaBackup: boolean;
  /** --root-path of the metadata snapshot. */
  rootPath?: string | undefined;
  run: ReturnType<typeof procedureRunOptions>;
}

/** Parses and checks the arguments, no I/O: every usage error (exit 2) before the cluster is asked anything. */
export function toPulsarUpgradeOptions(args: CommandArgs<typeof PULSAR_UPGRADE_ARGS, typeof PULSAR_UPGRADE_FLAGS>): PulsarUpgradeCommandOptions {
  const release = validateReleaseName(args.release);
  const timeoutMs = positiveDuration(args.timeout, '--timeout');
  const flushTimeoutMs = positiveDuration(args['flush-timeout'], '--flush-timeout');
  return {
    release,
    procedure: {
      release,
      chart: args.chart,
      chartVersion: args['chart-version'],
      backupDir: args['backup-dir'],
      timeoutMs,
      flushTimeoutMs,
      databases: databaseList(args.database),
      allowMilvusVersionChange: args['allow-milvus-version-change'],
      milvusSecret: validateMilvusSecret(args['milvus-secret']),
    },
    skipMetaBackup: args['skip-meta-backup'],
    ...(args['root-path'] !== undefined ? { rootPath: validateRootPath(args['root-path']) } : {}),
    run: procedureRunOptions(args),
  };
}

export const pulsarUpgradeCommand = defineCommand({
  name: 'pulsar-upgrade',
  args: PULSAR_UPGRADE_ARGS,
  describe: 'Upgrade the release from Pulsar v2 to Pulsar v3: flush, back up, stop, delete only Pulsar v2 volumes, start on v3',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 pulsar-upgrade my-release -n milvus --dry-run', 'Show every step, object and command; change nothing'],
    ['$0 pulsar-upgrade my-release --chart zilliztech/milvus --chart-version 4.2.30', 'Helm release: reinstall with that chart'],
    ['$0 pulsar-upgrade my-release --resume', 'Continue after an interruption, from the step that did not finish'],
  ],
  flags: PULSAR_UPGRADE_FLAGS,
  run: async (ctx, args) => {
    const o = toPulsarUpgradeOptions(args);
    const name = o.release;
    const [{ discoverRelease }, { runProcedure }, helmMod, opMod, { defaultBackupDir }, { Helm, helmTargetFrom }] = await Promise.all([
      import('../release/discover.js'),
      import('../procedure/engine.js'),
      import('../pulsar-upgrade/helm-procedure.js'),
      import('../pulsar-upgrade/operator-procedure.js'),
      import('../backup/backup.js'),
      import('../helm/helm.js'),
    ]);
    const kube = ctx.kube();
    const namespace = kube.namespace;
    let release;
    try {
      release = await discoverRelease(kube, name, namespace);
    } catch (e) {
      // After the uninstall/delete step the release is gone; only a resume may continue then.
      if (!(e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND && (o.run.resume || o.run.dryRun))) throw e;
    }
    const opts = { ...o.procedure, namespace, backupDir: o.procedure.backupDir ?? defaultBackupDir(namespace, name, ctx.now()) };
    const helm = new Helm(helmTargetFrom(ctx.globals, kube.contextName, namespace), ctx.env, ctx.signal);
    const method = release?.method ?? (await resumedMethod(ctx, namespace, name));
    const runOpts = o.run;
    const { withMetaBackup } = await import('../backup-meta/step.js');
    const meta = { skip: o.skipMetaBackup, dir: opts.backupDir, rootPath: o.rootPath };
    const summary =
      method === 'operator'
        ? await runProcedure(ctx, withMetaBackup(ctx, opMod.operatorPulsarUpgrade(ctx, opts, release), meta), runOpts)
        : await runProcedure(ctx, withMetaBackup(ctx, helmMod.helmPulsarUpgrade(ctx, opts, helm, release), meta), runOpts);
    if (printDocument(ctx, summary)) return;
    if (summary.dryRun) return;
    let out = formatTable(
      ['STEP', 'STATUS', 'DURATION'],
      summary.steps.map((s) => [s.title, s.status, s.durationMs !== undefined ? elapsed(s.durationMs) : '']),
    );
    const st = summary.state as { backupDir?: string; backupSecret?: string };
    out += `\nRelease "${name}" now runs on Pulsar v3 (${elapsed(summary.elapsedMs)}${summary.resumed ? ', resumed' : ''}).\n`;
    out += `Backups: ${st.backupDir} and secret/${st.backupSecret} in namespace ${namespace} (kept; delete them when you no longer need them).\n`;
    ctx.print(out);
  },
});

/** Which path an interrupted run took, from its checkpoint (the release itself may be gone). */
async function resumedMethod(ctx: RunContext, namespace: string, name: string): Promise<'helm' | 'operator'> {
  const { checkpointName } = await import('../procedure/engine.js');
  const kube = ctx.kube();
  const cmName = checkpointName('pulsar-upgrade', name);
  try {
    const cm = await kube.call({ verb: 'get', resource: 'configmaps', namespace, name: cmName }, () => kube.core.readNamespacedConfigMap({ name: cmName, namespace }));
    const cp = JSON.parse(cm.data?.['checkpoint.json'] ?? '{}') as { params?: { method?: string } };
    if (cp.params?.method === 'operator' || cp.params?.method === 'helm') return cp.params.method;
  } catch (e) {
    // Only "not found" means there is no checkpoint; any other error is not evidence of absence.
    if (!(e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND)) throw e;
  }
  // No checkpoint either: the backups may still be there.
  const { findBackups, restoreSteps } = await import('../backup/backup.js');
  const backups = await findBackups(ctx, namespace, name);
  if (backups.length) {
    const b = backups[0]!;
    throw new CliError(
      `release "${name}" not found in namespace "${namespace}" and no checkpoint is left, but its backup secret/${b.secret} (${b.keys.join(', ')}${b.createdAt ? `, ${b.createdAt}` : ''}) is`,
      ExitCode.NOT_FOUND,
      `to put the release back by hand:\n  ${restoreSteps(b, namespace, name).join('\n  ')}`,
    );
  }
  throw new CliError(`release "${name}" not found in namespace "${namespace}" and no interrupted pulsar-upgrade to resume`, ExitCode.NOT_FOUND);
}
