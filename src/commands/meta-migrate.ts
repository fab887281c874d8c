import type { CommandSpec } from '../cli/command.js';
import { parseDuration, procedureFlags, procedureRunOptions, validateReleaseName } from '../cli/command.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { toJson, toYaml } from '../output/printer.js';

interface Args {
  release: string;
  'source-version'?: string;
  'target-version'?: string;
  operation: string;
  'root-path'?: string;
  image?: string;
  'migration-image': string;
  'storage-class'?: string;
  'etcd-endpoints'?: string;
  'delete-pod': boolean;
  'session-wait': string;
  timeout: string;
  'dry-run': boolean;
  yes: boolean;
  resume: boolean;
  restart: boolean;
}

export const metaMigrateCommand: CommandSpec<Args> = {
  command: 'meta-migrate <release>',
  describe: 'Migrate Milvus 2.1.x metadata to 2.2 with a backup, or roll back to the backup',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 meta-migrate my-release --source-version 2.1.4 --target-version 2.2.0 --dry-run', 'Show every step; change nothing'],
    ['$0 meta-migrate my-release -s 2.1.4 -t 2.2.0 --image milvusdb/milvus:v2.2.0 -y', 'Stop, back up, migrate, start on 2.2.0'],
    ['$0 meta-migrate my-release -s 2.1.4 -t 2.2.0 --operation rollback --image milvusdb/milvus:v2.1.4', 'Restore the backup and the old image'],
  ],
  builder: (y) =>
    procedureFlags(y)
      .positional('release', { type: 'string', describe: 'Helm release or Milvus resource name' })
      .option('source-version', { alias: 's', type: 'string', describe: 'Running Milvus version, 2.1.x (required)' })
      .option('target-version', { alias: 't', type: 'string', describe: 'Target version, 2.2.x (required)' })
      .option('operation', { type: 'string', default: 'migrate', choices: ['migrate', 'rollback'], describe: 'migrate, or rollback to the backup' })
      .option('root-path', { alias: 'r', type: 'string', describe: 'etcd root path (default: the release configuration, else by-dev)' })
      .option('image', { alias: 'w', type: 'string', describe: 'Milvus image to start with (default milvusdb/milvus:v<target>, or v<source> for rollback)' })
      .option('migration-image', { alias: 'm', type: 'string', default: 'milvusdb/meta-migration:v2.2.0-bugfix-20230112', describe: 'Image of the migration tool' })
      .option('storage-class', { alias: 'c', type: 'string', describe: 'Storage class of the backup volume (default: the default class)' })
      .option('etcd-endpoints', { alias: 'e', type: 'string', describe: 'Comma-separated host:port of an external etcd' })
      .option('delete-pod', { alias: 'd', type: 'boolean', default: false, describe: 'Delete the finished migration pods (the backup is always kept)' })
      .option('session-wait', { type: 'string', default: '75s', describe: 'Wait for Milvus sessions in etcd to expire after stopping' })
      .option('timeout', { type: 'string', default: '15m', describe: 'Timeout of each wait' }),
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    if (!args['source-version'] || !args['target-version']) throw usageError('--source-version and --target-version are required, e.g. -s 2.1.4 -t 2.2.0');
    const [{ discoverRelease }, { runProcedure }, proc] = await Promise.all([
      import('../release/discover.js'),
      import('../procedure/engine.js'),
      import('../meta-migrate/procedure.js'),
    ]);
    const opts = {
      operation: args.operation as 'migrate' | 'rollback',
      // The migration tool's semver parser rejects a leading v: write plain X.Y.Z into its config.
      sourceVersion: args['source-version'].replace(/^v/, ''),
      targetVersion: args['target-version'].replace(/^v/, ''),
      rootPath: args['root-path'],
      image: args.image,
      migrationImage: args['migration-image'],
      storageClass: args['storage-class'],
      etcdEndpoints: args['etcd-endpoints'] ? args['etcd-endpoints'].split(',').map((s) => s.trim()).filter(Boolean) : undefined,
      sessionWaitMs: parseDuration(args['session-wait'], '--session-wait'),
      timeoutMs: parseDuration(args.timeout, '--timeout'),
      deletePods: args['delete-pod'],
    };
    proc.validateVersions(opts);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const def = release.method === 'operator' ? proc.operatorMetaMigrate(ctx, release, opts) : proc.helmMetaMigrate(ctx, release, opts);
    const summary = await runProcedure(ctx, def, procedureRunOptions(args));
    const fmt = ctx.globals.output;
    if (fmt === 'json') return ctx.print(toJson(summary));
    if (fmt === 'yaml') return ctx.print(toYaml(summary));
    if (summary.dryRun) return;
    ctx.print(
      formatTable(['STEP', 'STATUS', 'DURATION'], summary.steps.map((s) => [s.title, s.status, s.durationMs !== undefined ? elapsed(s.durationMs) : ''])) +
        `\n${opts.operation === 'migrate' ? 'Migrated' : 'Rolled back'} "${name}" in ${elapsed(summary.elapsedMs)}; Milvus runs ${summary.state.targetImage}.` +
        (summary.state.backupPvc ? ` The metadata backup is kept in persistentvolumeclaim/${summary.state.backupPvc}.` : '') +
        '\n',
    );
  },
};
