import { defineCommand, positiveDuration, PROCEDURE_FLAGS, procedureRunOptions, RELEASE_ARG, validateReleaseName, type CommandArgs } from '../cli/command.js';
import type { FlagSpec } from '../cli/flags.js';
import { elapsed } from '../output/duration.js';
import { printDocument } from '../output/printer.js';
import { formatTable } from '../output/table.js';

const ETCD_MAINTAIN_ARGS = [RELEASE_ARG] as const;
const ETCD_MAINTAIN_FLAGS = [
  ...PROCEDURE_FLAGS,
  { name: 'backup-dir', type: 'string', describe: 'Directory of the metadata snapshot taken first (default ./kubectl-milvus-backup/NS/RELEASE/meta).' },
  { name: 'timeout', type: 'string', default: '5m', describe: 'How long one defragment may take, and a member to answer again after it.' },
] as const satisfies readonly FlagSpec[];

type Args = CommandArgs<typeof ETCD_MAINTAIN_ARGS, typeof ETCD_MAINTAIN_FLAGS>;

/** Parses and checks the arguments, no I/O. */
export function toEtcdMaintainOptions(args: Args) {
  const release = validateReleaseName(args.release);
  const timeoutMs = positiveDuration(args.timeout, '--timeout');
  return { release, dir: args['backup-dir'], timeoutMs, run: procedureRunOptions(args) };
}

const mib = (n: number | undefined) => (n === undefined ? '' : `${(n / 1024 ** 2).toFixed(1)}Mi`);

export const etcdMaintainCommand = defineCommand({
  name: 'etcd-maintain',
  args: ETCD_MAINTAIN_ARGS,
  describe: "Bring the release's etcd back from a full quota: snapshot, compact, defragment each member, disarm NOSPACE",
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 etcd-maintain my-release --dry-run', 'The plan: snapshot, compact, each member in order (followers first, the leader last), disarm, verify'],
    ['$0 etcd-maintain my-release -y', 'Run it; each member is blocked only while it defragments'],
    ['$0 etcd-maintain my-release -y --resume', 'Continue after an interruption or a member that did not come back'],
  ],
  flags: ETCD_MAINTAIN_FLAGS,
  run: async (ctx, args) => {
    const o = toEtcdMaintainOptions(args);
    const [{ runProcedure }, { etcdMaintainProcedure, maintainSummary }] = await Promise.all([import('../procedure/engine.js'), import('../etcd/maintain.js')]);
    const namespace = ctx.kube().namespace;
    const def = await etcdMaintainProcedure(ctx, { release: o.release, namespace, dir: o.dir, timeoutMs: o.timeoutMs });
    const summary = await runProcedure(ctx, def, o.run);
    if (printDocument(ctx, summary)) return;
    if (summary.dryRun) return;
    const rows = maintainSummary(summary.state).map((m) => [m.member, mib(m.before), mib(m.after), m.blockedMs === undefined ? '' : elapsed(m.blockedMs)]);
    ctx.print(formatTable(['MEMBER', 'DB BEFORE', 'DB AFTER', 'BLOCKED'], rows));
    ctx.log.info(`etcd of "${o.release}" maintained in ${elapsed(summary.elapsedMs)}${summary.resumed ? ' (resumed)' : ''}; the metadata before it is in ${summary.state.metaSnapshot}.`);
  },
});
