import { defineCommand, parseDuration, PROCEDURE_FLAGS, procedureRunOptions, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import { SKIP_META_BACKUP_FLAG } from './backup.js';

export const metaMigrateCommand = defineCommand({
  name: 'meta-migrate',
  args: [RELEASE_ARG],
  describe: 'Migrate Milvus 2.1.x metadata to 2.2 with a backup, or roll back to the backup',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 meta-migrate my-release --source-version 2.1.4 --target-version 2.2.0 --dry-run', 'Show every step and object; change nothing'],
    ['$0 meta-migrate my-release -s 2.1.4 -t 2.2.0 -y', 'Stop, back up, migrate, start on milvusdb/milvus:v2.2.0'],
    ['$0 meta-migrate my-release -s 2.1.4 -t 2.2.0 --operation rollback', 'Restore the backup and start the recorded 2.1.4 images'],
  ],
  flags: [
    ...PROCEDURE_FLAGS,
    SKIP_META_BACKUP_FLAG,
    { name: 'source-version', short: 's', type: 'string', describe: 'Version Milvus runs now, 2.1.x (required).' },
    { name: 'target-version', short: 't', type: 'string', describe: 'Version to migrate the metadata to, 2.2.x (required).' },
    { name: 'operation', type: 'string', default: 'migrate', describe: 'migrate, or rollback (restore the backup and the old image).' },
    { name: 'root-path', short: 'r', type: 'string', describe: 'etcd root path (Helm default: etcd.rootPath of the release configuration, else by-dev; Operator: the resource name).' },
    { name: 'image', short: 'w', type: 'string', describe: 'Milvus image to start with (default: the same repository at v<target>; for rollback the recorded old images).' },
    { name: 'migration-image', short: 'm', type: 'string', default: 'milvusdb/meta-migration:v2.2.0-bugfix-20230112', describe: 'Image of the migration tool.' },
    { name: 'storage-class', short: 'c', type: 'string', describe: 'Storage class of the backup volume (default: the default class).' },
    { name: 'etcd-endpoints', short: 'e', type: 'string', describe: 'Comma-separated host:port of an external etcd (Helm; default: the release etcd service).' },
    { name: 'delete-pod', short: 'd', type: 'boolean', default: false, describe: 'After success, delete the migration pods (Helm) or the MilvusUpgrade resource (Operator); the backup volume is always kept.' },
    { name: 'session-wait', type: 'string', default: '75s', describe: 'Helm: wait after stopping for the Milvus sessions in etcd to expire.' },
    { name: 'timeout', type: 'string', default: '30m', describe: 'Timeout of each wait (pods gone, each migration pod, readiness).' },
  ],
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    if (!args['source-version'] || !args['target-version']) throw usageError('--source-version and --target-version are required, e.g. --source-version 2.1.4 --target-version 2.2.0');
    if (args.operation !== 'migrate' && args.operation !== 'rollback') throw usageError(`invalid --operation "${args.operation}": use migrate or rollback`);
    const pre = await import('../meta-migrate/preflight.js');
    const opts = {
      operation: args.operation as 'migrate' | 'rollback',
      // The migration tool's semver parser rejects a leading v: written as plain X.Y.Z.
      sourceVersion: pre.plainVersion(args['source-version'], '--source-version'),
      targetVersion: pre.plainVersion(args['target-version'], '--target-version'),
      rootPath: args['root-path'],
      image: args.image,
      migrationImage: args['migration-image'],
      storageClass: args['storage-class'],
      etcdEndpoints: pre.parseEndpoints(args['etcd-endpoints']),
      sessionWaitMs: parseDuration(args['session-wait'], '--session-wait'),
      timeoutMs: parseDuration(args.timeout, '--timeout'),
      deletePods: args['delete-pod'],
    };
    if (opts.timeoutMs <= 0) throw usageError('--timeout must be greater than 0');
    pre.validateVersions(opts);
    const runOptions = procedureRunOptions(args);
    const [{ discoverRelease }, { runProcedure }, helmProc, operatorProc] = await Promise.all([
      import('../release/discover.js'),
      import('../procedure/engine.js'),
      import('../meta-migrate/helm-procedure.js'),
      import('../meta-migrate/operator-procedure.js'),
    ]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const { withMetaBackup } = await import('../backup-meta/step.js');
    const meta = { skip: args['skip-meta-backup'], rootPath: args['root-path'] };
    const steps = (s: { steps: Array<{ title: string; status: string; durationMs?: number }> }) =>
      formatTable(['STEP', 'STATUS', 'DURATION'], s.steps.map((x) => [x.title, x.status, x.durationMs !== undefined ? elapsed(x.durationMs) : '']));
    const done = opts.operation === 'migrate' ? 'Migrated' : 'Rolled back';
    if (release.method === 'operator') {
      const summary = await runProcedure(ctx, withMetaBackup(ctx, operatorProc.operatorMetaMigrate(ctx, release, opts), meta), runOptions);
      if (printDocument(ctx, summary)) return;
      if (summary.dryRun) return;
      ctx.print(`${steps(summary)}\n`);
      ctx.log.info(`${done} "${name}" through milvusupgrade/${summary.state.upgrade} (${summary.state.finalState}) in ${elapsed(summary.elapsedMs)}. The metadata backup is kept in persistentvolumeclaim/${summary.state.backupPvc} (namespace ${release.namespace}).`);
      return;
    }
    const summary = await runProcedure(ctx, withMetaBackup(ctx, helmProc.helmMetaMigrate(ctx, release, opts), meta), runOptions);
    if (printDocument(ctx, summary)) return;
    if (summary.dryRun) return;
    const st = summary.state;
    ctx.print(`${steps(summary)}\n`);
    ctx.log.info(
      `${done} "${name}" in ${elapsed(summary.elapsedMs)}; Milvus runs ${[...new Set(Object.values(st.targetImages))].join(', ')}. ` +
        `The metadata backup is kept in persistentvolumeclaim/${st.backupPvc} (namespace ${release.namespace}, file /milvus/data/migration.bak).`,
    );
    if (opts.operation === 'migrate') {
      ctx.log.warn(`a later "helm upgrade" of ${name} reverts the image: set image.all.tag=v${opts.targetVersion} in its values`);
    }
  },
});
