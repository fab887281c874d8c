import { defineCommand, parseDuration, positiveDuration, PROCEDURE_FLAGS, procedureRunOptions, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { printDocument } from '../output/printer.js';
import { ROOT_PATH_FLAG, SKIP_META_BACKUP_FLAG, validateRootPath } from './backup.js';

export const rollingUpdateCommand = defineCommand({
  name: 'rolling-update',
  args: [RELEASE_ARG],
  describe: 'Update Milvus components to a new image one at a time, in a safe order, watching each rollout',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 --dry-run', 'Show the order and every patch; change nothing'],
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 -y', 'Update, stopping at the first failed rollout'],
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 -y --resume', 'Continue after fixing the cause of a failed rollout'],
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 --via-helm --chart zilliztech/milvus', 'Through helm upgrade, so the image stays in the release values'],
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.5 --mode downgrade', 'Go back, in reverse order'],
  ],
  flags: [
    ...PROCEDURE_FLAGS,
    SKIP_META_BACKUP_FLAG,
    ROOT_PATH_FLAG,
    { name: 'image', short: 'w', type: 'string', describe: 'Target image with its tag, e.g. milvusdb/milvus:v2.4.6 (required).' },
    { name: 'target-version', short: 't', type: 'string', describe: 'Target Milvus version X.Y.Z for app.kubernetes.io/version (default: from the image tag).' },
    { name: 'source-version', type: 'string', describe: 'Running Milvus version, only needed when the image tags do not carry it.' },
    { name: 'mode', type: 'string', default: 'rolling', describe: 'rolling: one component at a time; all: every component at once; downgrade: one at a time in reverse order.' },
    { name: 'timeout', type: 'string', default: '10m', describe: 'Timeout of each component rollout.' },
    { name: 'coordinator-min-ready', type: 'string', default: '30s', describe: 'Helm: minReadySeconds set on coordinators, so the standby is up before the active one goes (as upstream).' },
    { name: 'backup-dir', type: 'string', describe: 'Local directory for backups of edited objects (default ./kubectl-milvus-backup/<ns>/<release>/<time>).' },
    { name: 'via-helm', type: 'boolean', default: false, describe: 'Helm: upgrade through "helm upgrade --reset-then-reuse-values" so the new image is kept in the release values.' },
    { name: 'chart', type: 'string', default: 'zilliztech/milvus', describe: 'With --via-helm: the chart reference to upgrade with.' },
    { name: 'chart-version', type: 'string', describe: "With --via-helm: chart version (default: the release's current one)." },
  ],
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    const [{ validateFlags }] = await Promise.all([import('../rolling-update/preflight.js')]);
    const flags = validateFlags({ image: args.image, targetVersion: args['target-version'], sourceVersion: args['source-version'], mode: args.mode });
    const timeoutMs = positiveDuration(args.timeout, '--timeout');
    const coordinatorMinReadySeconds = Math.round(parseDuration(args['coordinator-min-ready'], '--coordinator-min-ready') / 1000);
    const runOptions = procedureRunOptions(args);
    const rootPath = validateRootPath(args['root-path']);
    if (args['via-helm'] && flags.image.includes('@')) throw usageError('--via-helm sets image.all.tag: use an image reference with a tag, not a digest');
    const [{ discoverRelease }, { runProcedure }, helmProc, operatorProc, { defaultBackupDir }, { Helm, helmTargetFrom }, { summaryTable }] = await Promise.all([
      import('../release/discover.js'),
      import('../procedure/engine.js'),
      import('../rolling-update/helm-procedure.js'),
      import('../rolling-update/operator-procedure.js'),
      import('../backup/backup.js'),
      import('../helm/helm.js'),
      import('../rolling-update/progress.js'),
    ]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    if (args['via-helm'] && release.method !== 'helm') throw usageError('--via-helm applies to Helm releases only; Milvus Operator releases are updated through the Milvus resource');
    let def;
    if (release.method === 'operator') {
      def = operatorProc.operatorRollingUpdate(ctx, release, { flags, timeoutMs });
    } else {
      const helm = new Helm(helmTargetFrom(ctx.globals, kube.contextName, kube.namespace), ctx.env, ctx.signal);
      def = helmProc.helmRollingUpdate(ctx, release, {
        flags,
        timeoutMs,
        coordinatorMinReadySeconds,
        backupDir: args['backup-dir'] ?? defaultBackupDir(kube.namespace, name, ctx.now()),
        ...(args['via-helm'] ? { viaHelm: { helm, chart: args.chart, chartVersion: args['chart-version'] } } : {}),
      });
      if (!args['via-helm']) {
        ctx.log.warn(`patched images are reverted by the next "helm upgrade" of ${name}: set image.all.tag=${flags.image.slice(flags.image.lastIndexOf(':') + 1)} in its values, or use --via-helm`);
      }
    }
    const { withMetaBackup } = await import('../backup-meta/step.js');
    const summary = await runProcedure(ctx, withMetaBackup(ctx, def, { skip: args['skip-meta-backup'], dir: args['backup-dir'], rootPath }), runOptions);
    if (printDocument(ctx, summary)) return;
    if (summary.dryRun) return;
    const st = summary.state;
    ctx.print(`${summaryTable(st.results)}\n`);
    ctx.log.info(`Release "${name}" runs ${st.image} (${elapsed(summary.elapsedMs)}${summary.resumed ? ', resumed' : ''}).`);
  },
});
