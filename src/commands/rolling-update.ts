import type { CommandSpec } from '../cli/command.js';
import { parseDuration, procedureFlags, procedureRunOptions, validateReleaseName } from '../cli/command.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { toJson, toYaml } from '../output/printer.js';

interface Args {
  release: string;
  image?: string;
  'target-version'?: string;
  mode: string;
  timeout: string;
  'dry-run': boolean;
  yes: boolean;
  resume: boolean;
  restart: boolean;
  'backup-dir'?: string;
  'via-helm': boolean;
  chart: string;
  'chart-version'?: string;
}

export const rollingUpdateCommand: CommandSpec<Args> = {
  command: 'rolling-update <release>',
  describe: 'Update Milvus components to a new image one at a time, in a safe order, watching each rollout',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 --dry-run', 'Show the order and every patch; change nothing'],
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 -y', 'Update, stopping at the first failed rollout'],
    ['$0 rolling-update my-release --image milvusdb/milvus:v2.4.6 --resume', 'Continue after fixing a failed rollout'],
  ],
  builder: (y) =>
    procedureFlags(y)
      .positional('release', { type: 'string', describe: 'Helm release or Milvus resource name' })
      .option('image', { alias: 'w', type: 'string', describe: 'Target image, e.g. milvusdb/milvus:v2.4.6 (required)' })
      .option('target-version', { alias: 't', type: 'string', describe: 'Version for the app.kubernetes.io/version label (default: from the image tag)' })
      .option('mode', { type: 'string', default: 'rolling', choices: ['rolling', 'all', 'downgrade'], describe: 'rolling: one component at a time; all: every component at once; downgrade: reverse order' })
      .option('timeout', { type: 'string', default: '10m', describe: 'Timeout of each component rollout' })
      .option('backup-dir', { type: 'string', describe: 'Local directory for backups of edited objects' })
      .option('via-helm', { type: 'boolean', default: false, describe: 'Helm releases: upgrade through "helm upgrade --reset-then-reuse-values" so the new image stays in the release values' })
      .option('chart', { type: 'string', default: 'zilliztech/milvus', describe: 'With --via-helm: the chart to upgrade with' })
      .option('chart-version', { type: 'string', describe: 'With --via-helm: chart version (default: the release\'s current one)' }),
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    if (!args.image) throw usageError('--image is required, e.g. --image milvusdb/milvus:v2.4.6');
    if (!/^[\w./:@-]+:[\w.-]+$|@sha256:[0-9a-f]{64}$/.test(args.image)) throw usageError(`invalid --image "${args.image}": use repository:tag`);
    const timeoutMs = parseDuration(args.timeout, '--timeout');
    const [{ discoverRelease }, { runProcedure }, proc, { defaultBackupDir }, { Helm }] = await Promise.all([
      import('../release/discover.js'),
      import('../procedure/engine.js'),
      import('../rolling-update/procedure.js'),
      import('../backup/backup.js'),
      import('../helm/helm.js'),
    ]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    if (args['via-helm'] && release.method !== 'helm') throw usageError('--via-helm applies to Helm releases only');
    if (args['via-helm'] && args.mode !== 'rolling') throw usageError('--via-helm updates every component at once through helm: use it with the default --mode rolling');
    const helm = new Helm({ kubeconfig: ctx.globals.kubeconfig ?? ctx.env.KUBECONFIG, context: kube.contextName, namespace: kube.namespace }, ctx.env, ctx.signal);
    const opts = {
      ...(args['via-helm'] ? { viaHelm: { helm, chart: args.chart, chartVersion: args['chart-version'] } } : {}),
      image: args.image,
      targetVersion: args['target-version'],
      mode: args.mode as 'rolling' | 'all' | 'downgrade',
      timeoutMs,
      backupDir: args['backup-dir'] ?? defaultBackupDir(kube.namespace, name, ctx.now()),
    };
    const def = release.method === 'operator' ? proc.operatorRollingUpdate(ctx, release, opts) : proc.helmRollingUpdate(ctx, release, opts);
    if (release.method === 'helm' && !args['dry-run'] && !args['via-helm']) {
      ctx.log.warn(`patched images are reverted by the next "helm upgrade" of ${name}: set image.all.tag in your values to keep them`);
    }
    const summary = await runProcedure(ctx, def, procedureRunOptions(args));
    const fmt = ctx.globals.output;
    if (fmt === 'json') return ctx.print(toJson(summary));
    if (fmt === 'yaml') return ctx.print(toYaml(summary));
    if (summary.dryRun) return;
    const st = summary.state;
    ctx.print(
      formatTable(
        ['COMPONENT', 'DEPLOYMENT', 'FROM', 'TO', 'DURATION'],
        st.updated.map((u) => [u.component, u.deployment, u.from, u.to, elapsed(u.durationMs)]),
      ) + `\nRelease "${name}" runs ${st.image} (${elapsed(summary.elapsedMs)}${summary.resumed ? ', resumed' : ''}).\n`,
    );
  },
};
