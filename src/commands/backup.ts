import type { FlagSpec } from '../cli/flags.js';
import { defineCommand, PROCEDURE_FLAGS, procedureRunOptions, validateReleaseName, type CommandArgs } from '../cli/command.js';
import { CliError, usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';

/** The opt-out of the metadata snapshot that pulsar-upgrade, rolling-update and meta-migrate take first. */
export const SKIP_META_BACKUP_FLAG = {
  name: 'skip-meta-backup',
  type: 'boolean',
  default: false,
  describe: 'Go on without the metadata snapshot (etcd) taken first; the plan says so.',
} as const;

/** The etcd root path of the metadata snapshot, for a release whose configuration does not tell it. */
export const ROOT_PATH_FLAG = {
  name: 'root-path',
  type: 'string',
  describe: "etcd root path of the metadata snapshot (default: etcd.rootPath of the release's configuration, else by-dev on Helm, the resource name on the Operator).",
} as const;

/** The root path as given, checked: no empty value, no leading or trailing "/". */
export function validateRootPath(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!v || v.startsWith('/') || v.endsWith('/')) throw usageError(`invalid --root-path "${v}": give the root path as Milvus's etcd.rootPath, without a leading or trailing "/" (e.g. by-dev)`);
  return v;
}

export const BACKUP_ACTIONS = ['meta', 'list', 'restore-meta'] as const;
export type BackupAction = (typeof BACKUP_ACTIONS)[number];

const BACKUP_ARGS = [
  { name: 'action', describe: 'meta (snapshot the metadata), list (snapshots of the release), restore-meta (put one back)' },
  { name: 'release', describe: 'Helm release or Milvus resource name' },
] as const;

const BACKUP_FLAGS = [
  { name: 'file', short: 'f', type: 'string', describe: 'meta: the snapshot file to write (never overwritten).' },
  { name: 'dir', type: 'string', describe: 'Directory of snapshots (default ./kubectl-milvus-backup/NS/RELEASE/meta).' },
  { name: 'from', type: 'string', describe: 'restore-meta: the snapshot file to restore.' },
  { ...ROOT_PATH_FLAG, describe: `meta, restore-meta: ${ROOT_PATH_FLAG.describe}` },
  ...PROCEDURE_FLAGS.map((f) => ({ ...f, describe: `restore-meta: ${f.describe}` })),
] as const satisfies readonly FlagSpec[];

type Args = CommandArgs<typeof BACKUP_ARGS, typeof BACKUP_FLAGS>;

export type BackupOptions =
  | { action: 'meta'; release: string; file: string | undefined; dir: string | undefined; rootPath?: string | undefined }
  | { action: 'list'; release: string; dir: string | undefined }
  | { action: 'restore-meta'; release: string; from: string; dir: string | undefined; rootPath?: string | undefined; run: ReturnType<typeof procedureRunOptions> };

/** Parses and checks the arguments, no I/O. */
export function toBackupOptions(args: Args): BackupOptions {
  const action = args.action as BackupAction;
  if (!BACKUP_ACTIONS.includes(action)) throw usageError(`unknown backup action "${args.action}": use ${BACKUP_ACTIONS.join(', ')}`);
  const release = validateReleaseName(args.release);
  const only = (flag: keyof Args, allowed: BackupAction[]) => {
    if (args[flag] !== undefined && args[flag] !== false && !allowed.includes(action)) throw usageError(`--${flag} does not apply to "backup ${action}"`);
  };
  only('file', ['meta']);
  only('from', ['restore-meta']);
  only('root-path', ['meta', 'restore-meta']);
  const rootPath = validateRootPath(args['root-path']);
  const withRoot = rootPath !== undefined ? { rootPath } : {};
  for (const f of ['dry-run', 'yes', 'resume', 'restart'] as const) only(f, ['restore-meta']);
  if (args.file !== undefined && args.dir !== undefined) throw usageError('--file and --dir exclude each other');
  if (action === 'meta') return { action, release, file: args.file, dir: args.dir, ...withRoot };
  if (action === 'list') return { action, release, dir: args.dir };
  if (!args.from) throw usageError('"backup restore-meta" needs --from FILE (a snapshot taken by "backup meta")');
  return { action, release, from: args.from, dir: args.dir, ...withRoot, run: procedureRunOptions(args) };
}

const size = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}Mi` : n >= 1024 ? `${(n / 1024).toFixed(1)}Ki` : `${n}B`);

export const backupCommand = defineCommand({
  name: 'backup',
  args: BACKUP_ARGS,
  describe: "Snapshot, list and restore the release's Milvus metadata (its etcd keys) in verified local files",
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 backup meta my-release -n milvus', 'Snapshot to ./kubectl-milvus-backup/milvus/my-release/meta/ (mode 0600), verified'],
    ['$0 backup meta my-release -f /safe/place/meta.jsonl.gz', 'Snapshot to a file of your choice'],
    ['$0 backup list my-release', 'Snapshots of the release, each verified (revision, keys, sha256)'],
    ['$0 backup restore-meta my-release --from FILE --dry-run', 'Plan a restore; Milvus must be stopped'],
  ],
  flags: BACKUP_FLAGS,
  run: async (ctx, args) => {
    const o = toBackupOptions(args);
    const fmt = ctx.globals.output;
    const doc = (d: unknown) => void printDocument(ctx, d);
    if (o.action === 'list') {
      const { listMetaSnapshots } = await import('../backup-meta/backup.js');
      const namespace = ctx.kube().namespace;
      const { dir, items } = await listMetaSnapshots({ name: o.release, namespace }, o.dir);
      if (fmt !== 'table') return doc({ dir, snapshots: items.map((i) => ({ file: i.file, ...(i.info ?? {}), problem: i.problem })) });
      if (items.length === 0) return ctx.log.info(`No snapshots of release "${o.release}" in ${dir}.`);
      ctx.print(
        formatTable(
          ['NAME', 'CREATED', 'REVISION', 'KEYS', 'SIZE', 'VERIFIED'],
          items.map((i) => [i.file.slice(dir.length + 1), i.info?.createdAt, i.info?.revision, i.info?.keys, i.info ? size(i.info.bytes) : '', i.problem ? `no: ${i.problem}` : 'yes']),
        ),
      );
      return;
    }
    const { discoverRelease } = await import('../release/discover.js');
    const kube = ctx.kube();
    if (o.action === 'meta') {
      const { takeMetaSnapshot } = await import('../backup-meta/backup.js');
      const release = await discoverRelease(kube, o.release, kube.namespace);
      const info = await takeMetaSnapshot(ctx, release, { file: o.file, dir: o.dir, rootPath: o.rootPath });
      if (fmt !== 'table') return doc(info);
      ctx.print(formatTable(['FILE', 'REVISION', 'KEYS', 'SHA256'], [[info.file, info.revision, info.keys, info.sha256]]));
      return;
    }
    const [{ runProcedure }, { restoreMetaProcedure }] = await Promise.all([import('../procedure/engine.js'), import('../backup-meta/restore.js')]);
    let summary;
    try {
      const def = await restoreMetaProcedure(ctx, { release: o.release, namespace: kube.namespace, from: o.from, dir: o.dir, rootPath: o.rootPath });
      summary = await runProcedure(ctx, def, o.run);
    } catch (e) {
      // The engine names the procedure as its command; here it is a subcommand of backup.
      if (e instanceof CliError && e.hint?.includes(` restore-meta ${o.release}`)) {
        throw new CliError(e.message, e.exitCode, e.hint.replace(` restore-meta ${o.release}`, ` backup restore-meta ${o.release}`).replace(/--resume/, `--from ${o.from} --resume`), { cause: e.cause, result: e.result });
      }
      throw e;
    }
    if (fmt !== 'table') return doc(summary);
    if (summary.dryRun) return;
    let out = formatTable(['STEP', 'STATUS', 'DURATION'], summary.steps.map((s) => [s.title, s.status, s.durationMs !== undefined ? elapsed(s.durationMs) : '']));
    out += `\nMetadata of "${o.release}" restored from ${o.from} (${summary.state.restored ?? 0} keys, verified).`;
    out += `\nThe metadata before the restore is in ${summary.state.metaSnapshot}.\n`;
    ctx.print(out);
  },
});
