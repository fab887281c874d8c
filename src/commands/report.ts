import { resolve } from 'node:path';
import type { FlagSpec } from '../cli/flags.js';
import { defineCommand, parseDuration, RELEASE_ARG, validateReleaseName, type CommandArgs } from '../cli/command.js';
import { usageError } from '../errors.js';
import { printDocument } from '../output/printer.js';
import { SECRETS_MODES, type SecretsMode } from '../report/redact.js';

const REPORT_ARGS = [RELEASE_ARG] as const;

const REPORT_FLAGS = [
  { name: 'logs', type: 'boolean', default: false, describe: 'Include pod logs (current, and previous for restarted containers).' },
  { name: 'since', type: 'string', describe: 'With --logs: only logs newer than this duration (e.g. 1h, 30m).' },
  { name: 'secrets', type: 'string', default: 'hidden', describe: 'hidden: Secrets and password-like values redacted, keys kept; off: Secrets left out; all: nothing redacted.' },
  { name: 'file', short: 'f', type: 'string', describe: 'The archive to write (never overwritten; default ./kubectl-milvus-report-RELEASE-TIME.tar.gz).' },
  { name: 'health', type: 'boolean', default: true, describe: 'Include the health checks (--health=false skips probing the pods and etcd).' },
] as const satisfies readonly FlagSpec[];

type Args = CommandArgs<typeof REPORT_ARGS, typeof REPORT_FLAGS>;

export interface ReportCommandOptions {
  release: string;
  file: string | undefined;
  logs: boolean;
  sinceMs: number | undefined;
  secrets: SecretsMode;
  health: boolean;
}

/** Parses and checks the arguments, no I/O. */
export function toReportOptions(args: Args): ReportCommandOptions {
  const release = validateReleaseName(args.release);
  if (!(SECRETS_MODES as readonly string[]).includes(args.secrets)) throw usageError(`invalid argument "${args.secrets}" for "--secrets" flag: use hidden, off or all`);
  if (args.since !== undefined && !args.logs) throw usageError('--since applies to logs: add --logs');
  const sinceMs = args.since !== undefined ? parseDuration(args.since, '--since') : undefined;
  if (args.file !== undefined && args.file.trim() === '') throw usageError('--file is empty');
  return { release, file: args.file, logs: args.logs, sinceMs, secrets: args.secrets as SecretsMode, health: args.health };
}

export function defaultReportFile(release: string, now: Date): string {
  return resolve(`kubectl-milvus-report-${release}-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`);
}

export const reportCommand = defineCommand({
  name: 'report',
  args: REPORT_ARGS,
  describe: 'Write one redacted tar.gz for support: objects, events, Helm values or Milvus resource, status, health, optional logs',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 report my-release -n milvus', 'Objects, events, values (redacted), status and health in ./kubectl-milvus-report-my-release-TIME.tar.gz'],
    ['$0 report my-release --logs --since 1h -f /tmp/support.tar.gz', 'Also the logs of the last hour, current and previous containers'],
    ['$0 report my-release --secrets off', 'Leave Secrets out entirely (default hidden: keys kept, values redacted)'],
  ],
  flags: REPORT_FLAGS,
  run: async (ctx, args) => {
    const o = toReportOptions(args);
    const [{ discoverRelease }, { writeReport }] = await Promise.all([import('../release/discover.js'), import('../report/collect.js')]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, o.release, kube.namespace);
    const file = resolve(o.file ?? defaultReportFile(o.release, ctx.now()));
    const res = await writeReport(ctx, release, { file, logs: o.logs, sinceMs: o.sinceMs, secrets: o.secrets, health: o.health });
    for (const e of res.errors) ctx.log.warn(`not in the report: ${e}`);
    ctx.log.info(`Wrote ${res.file} (${res.files} files, mode 0600, secrets ${o.secrets}).`);
    if (printDocument(ctx, res)) return;
    ctx.print(`${res.file}\n`);
  },
});
