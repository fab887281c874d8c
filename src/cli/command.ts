/**
 * The shape of one subcommand: a declaration of its arguments and flags, and `run`, which follows
 * kubectl's order — complete (fill defaults from the cluster), validate (one-line usage errors,
 * before anything changes), run (call the procedure module that does the work). Procedure
 * modules are imported lazily inside `run`, so help and usage errors never load them.
 */
import { usageError } from '../errors.js';
import type { RunContext } from './context.js';
import type { FlagArgs, FlagSpec } from './flags.js';

export interface PositionalSpec {
  readonly name: string;
  readonly describe: string;
  /** May be left out (only the last positional arguments). */
  readonly optional?: boolean;
}

export interface CommandSpec<A = Record<string, unknown>> {
  /** The subcommand, e.g. 'flush'. */
  name: string;
  /** Required positional arguments, in order; each becomes a property of the parsed arguments. */
  args?: readonly PositionalSpec[];
  /** One line, shown in the command list. */
  describe: string;
  /** [command line with $0 for the plugin, what it does], shown in --help. */
  examples?: Array<[string, string]>;
  /** Output formats this command accepts with -o (default: table only). */
  outputs?: ReadonlyArray<'table' | 'wide' | 'json' | 'yaml' | 'name'>;
  /** The command needs no cluster connection (completion, options, version --client). */
  offline?: boolean | ((args: A) => boolean);
  flags?: readonly FlagSpec[];
  run: (ctx: RunContext, args: A) => Promise<void>;
}

/** What `run` receives: each positional argument by name, and the flags typed from their table. */
export type CommandArgs<P extends readonly PositionalSpec[], F extends readonly FlagSpec[]> = { [A in P[number] as A['name']]: A extends { optional: true } ? string | undefined : string } & FlagArgs<F>;

/**
 * Declares a command whose `run` argument type is derived from its `args` and `flags` (no
 * hand-kept copy of the flag table to drift from it).
 */
export function defineCommand<const P extends readonly PositionalSpec[] = readonly [], const F extends readonly FlagSpec[] = readonly []>(
  spec: Omit<CommandSpec<CommandArgs<P, F>>, 'args' | 'flags'> & { args?: P; flags?: F },
): CommandSpec<CommandArgs<P, F>> {
  return spec;
}

export const RELEASE_ARG = { name: 'release', describe: 'Helm release or Milvus resource name' } as const;

const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates a release name as Helm and Kubernetes do (DNS-1123 label, at most 53 characters). */
export function validateReleaseName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw usageError('a release name is required');
  if (name.length > 53 || !RELEASE_NAME.test(name)) {
    throw usageError(
      `invalid release name "${name}": use at most 53 lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
  return name;
}

/** Parses kubectl-style durations: 30s, 10m, 1h30m, 500ms, or a bare number of seconds. */
export function parseDuration(value: unknown, flag: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string' || value.trim() === '') throw usageError(`invalid ${flag} "${String(value)}"`);
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(v)) !== null) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed = re.lastIndex;
  }
  if (consumed !== v.length || consumed === 0) {
    throw usageError(`invalid ${flag} "${value}": use a duration such as 30s, 10m or 1h30m`);
  }
  return total;
}

/** A duration flag that must be more than zero (a wait bound): parseDuration, then that check. */
export function positiveDuration(value: unknown, flag: string): number {
  const ms = parseDuration(value, flag);
  if (ms <= 0) throw usageError(`${flag} must be greater than 0`);
  return ms;
}

/** The databases of repeated --database flags, each of which may hold a comma-separated list. */
export function databaseList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((d) => d.split(',')).map((d) => d.trim()).filter(Boolean);
}

/** The flags every procedure command shares: --dry-run, --yes, --resume, --restart. */
export const PROCEDURE_FLAGS = [
  { name: 'dry-run', type: 'boolean', default: false, describe: 'Print the plan and change nothing.' },
  { name: 'yes', short: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation.' },
  { name: 'resume', type: 'boolean', default: false, exclusive: ['restart'], describe: 'Continue an interrupted or failed run from its checkpoint.' },
  { name: 'restart', type: 'boolean', default: false, exclusive: ['resume'], describe: 'Discard an unfinished checkpoint and plan again.' },
] as const satisfies readonly FlagSpec[];

export function procedureRunOptions(args: FlagArgs<typeof PROCEDURE_FLAGS>) {
  // The parser refuses the pair already (PROCEDURE_FLAGS' exclusive); this keeps callers that build args by hand honest.
  if (args.resume && args.restart) throw usageError('--resume and --restart exclude each other');
  return { dryRun: args['dry-run'], yes: args.yes, resume: args.resume, restart: args.restart };
}
