import { databaseList, defineCommand, positiveDuration, PROCEDURE_FLAGS, procedureRunOptions, RELEASE_ARG, validateReleaseName, type CommandArgs } from '../cli/command.js';
import type { FlagSpec } from '../cli/flags.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import { validateMilvusSecret } from '../flush/credentials.js';
import { targetRefusal } from '../mq-switch/rules.js';
import { ROOT_PATH_FLAG, SKIP_META_BACKUP_FLAG, validateRootPath } from './backup.js';
import { MILVUS_SECRET_FLAG } from './flush.js';

const MQ_SWITCH_ARGS = [RELEASE_ARG] as const;

const MQ_SWITCH_FLAGS = [
  ...PROCEDURE_FLAGS,
  { name: 'to', type: 'string', describe: 'The message queue to switch to: woodpecker (the only target supported).' },
  { name: 'cleanup', type: 'boolean', default: false, describe: "After the switch (this run or an earlier one) and a fresh verified flush on Woodpecker, delete the old queue's workloads and volumes of this release." },
  SKIP_META_BACKUP_FLAG,
  ROOT_PATH_FLAG,
  { name: 'backup-dir', type: 'string', describe: 'Local directory for backups (default ./kubectl-milvus-backup/NS/RELEASE/TIME).' },
  { name: 'chart', type: 'string', default: 'zilliztech/milvus', describe: 'Helm chart of the release (repo/chart, path or URL); its version is pinned to the release\'s own.' },
  { name: 'chart-version', type: 'string', describe: "Chart version for the helm upgrade (default: the release's own)." },
  { name: 'timeout', type: 'string', default: '15m', describe: 'Timeout of each wait (helm upgrade, operator, streaming nodes, deletions).' },
  { name: 'flush-timeout', type: 'string', default: '30m', describe: 'Timeout of each flush verification.' },
  { name: 'confirm-timeout', type: 'string', default: '5m', describe: 'How long etcd may take to show mq.type=woodpecker after the switch was requested.' },
  { name: 'database', type: 'strings', describe: 'Every database to flush, where the proxy cannot list them.' },
  MILVUS_SECRET_FLAG,
] as const satisfies readonly FlagSpec[];

type Args = CommandArgs<typeof MQ_SWITCH_ARGS, typeof MQ_SWITCH_FLAGS>;

/** Parses and checks the arguments, no I/O: every usage error (exit 2) before the cluster is asked anything. */
export function toMqSwitchOptions(args: Args) {
  const release = validateReleaseName(args.release);
  if (args.to === undefined || args.to === '') throw usageError('--to is required: --to woodpecker');
  const refused = targetRefusal(args.to);
  if (refused) throw usageError(refused);
  return {
    release,
    cleanup: args.cleanup,
    chart: args.chart,
    chartVersion: args['chart-version'],
    backupDir: args['backup-dir'],
    timeoutMs: positiveDuration(args.timeout, '--timeout'),
    flushTimeoutMs: positiveDuration(args['flush-timeout'], '--flush-timeout'),
    confirmTimeoutMs: positiveDuration(args['confirm-timeout'], '--confirm-timeout'),
    databases: databaseList(args.database),
    milvusSecret: validateMilvusSecret(args['milvus-secret']),
    skipMetaBackup: args['skip-meta-backup'],
    rootPath: validateRootPath(args['root-path']),
    run: procedureRunOptions(args),
  };
}

export const mqSwitchCommand = defineCommand({
  name: 'mq-switch',
  args: MQ_SWITCH_ARGS,
  describe: 'Switch a Milvus 3.0 release from Pulsar, Kafka or RocksMQ to Woodpecker; --cleanup retires the old queue after a fresh verified flush',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 mq-switch my-release --to woodpecker --dry-run', 'Show the preflight verdict and every step; change nothing'],
    ['$0 mq-switch my-release --to woodpecker -y', 'Switch; the old queue and its volumes are kept'],
    ['$0 mq-switch my-release --to woodpecker --cleanup -y', 'Switch (or, once switched, only) delete the old queue of this release'],
    ['$0 mq-switch my-release --to woodpecker --resume', 'Continue after an interruption; a requested switch is confirmed from etcd, never requested twice'],
  ],
  flags: MQ_SWITCH_FLAGS,
  run: async (ctx, args) => {
    const o = toMqSwitchOptions(args);
    const [{ runProcedure }, { mqSwitchProcedure }, { defaultBackupDir }, { Helm, helmTargetFrom }, { withMetaBackup }] = await Promise.all([
      import('../procedure/engine.js'),
      import('../mq-switch/procedure.js'),
      import('../backup/backup.js'),
      import('../helm/helm.js'),
      import('../backup-meta/step.js'),
    ]);
    const kube = ctx.kube();
    const namespace = kube.namespace;
    const backupDir = o.backupDir ?? defaultBackupDir(namespace, o.release, ctx.now());
    const helm = new Helm(helmTargetFrom(ctx.globals, kube.contextName, namespace), ctx.env, ctx.signal);
    const def = mqSwitchProcedure(ctx, { ...o, namespace, backupDir }, helm);
    const summary = await runProcedure(ctx, withMetaBackup(ctx, def, { skip: o.skipMetaBackup, dir: backupDir, rootPath: o.rootPath }), o.run);
    if (printDocument(ctx, summary)) return;
    if (summary.dryRun) return;
    const st = summary.state;
    let out = formatTable(['STEP', 'STATUS', 'DURATION'], summary.steps.map((s) => [s.title, s.status, s.durationMs !== undefined ? elapsed(s.durationMs) : '']));
    out += `\nRelease "${o.release}" runs on Woodpecker (etcd ${st.rootPath ?? '?'}/config/mqtype; ${elapsed(summary.elapsedMs)}${summary.resumed ? ', resumed' : ''}).\n`;
    if (!o.cleanup) out += `The old queue and its volumes are kept: "${ctx.commandPrefix} mq-switch ${o.release} -n ${namespace} --to woodpecker --cleanup" deletes them after a fresh verified flush.\n`;
    if (st.metaSnapshot) out += `Metadata snapshot: ${st.metaSnapshot}\n`;
    ctx.print(out);
  },
});
