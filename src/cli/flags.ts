/**
 * Flags with kubectl's (cobra/pflag) manners, parsed by node:util's parseArgs: `--flag value`,
 * `--flag=value`, `-n value`, `-nvalue`, `-n=value`, booleans as `--yes` or `--yes=false`, flags
 * before or after the arguments, `--` ends the flags. parseArgs alone reads `-n=value` as "=value"
 * and refuses `--yes=false`; `normalize` rewrites those two forms first.
 */
import { parseArgs } from 'node:util';
import { usageError } from '../errors.js';

export interface FlagSpec {
  /** Long name without dashes, e.g. 'dry-run'. */
  name: string;
  /** One-letter shorthand, e.g. 'n'. */
  short?: string;
  /** 'strings' is a repeatable string flag. */
  type: 'string' | 'boolean' | 'strings';
  default?: string | boolean;
  describe: string;
  /** Allowed values of a string flag. */
  choices?: readonly string[];
  /** Flags that may not be given together with this one (a usage error names both). */
  exclusive?: readonly string[];
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

type ValueOf<F extends FlagSpec> = F['type'] extends 'boolean'
  ? boolean
  : F['type'] extends 'strings'
    ? string[] | undefined
    : (F extends { choices: readonly (infer C extends string)[] } ? C : string) | (F extends { default: string } ? never : undefined);

/**
 * The values parseFlags gives for a flag table, typed from the table itself (declared with
 * literal names, e.g. `as const`): a boolean is a boolean, a string flag with a default a string,
 * one without it string | undefined, a flag with choices one of them.
 */
export type FlagArgs<Fs extends readonly FlagSpec[]> = {
  [F in Fs[number] as undefined extends ValueOf<F> ? never : F['name']]: ValueOf<F>;
} & {
  [F in Fs[number] as undefined extends ValueOf<F> ? F['name'] : never]?: ValueOf<F>;
};

export interface ParsedLine {
  values: FlagValues;
  positionals: string[];
  /** --help or -h was given. */
  help: boolean;
}

const HELP: FlagSpec = { name: 'help', short: 'h', type: 'boolean', describe: 'Help for the command.' };

/** Rewrites `-x=value` to `-xvalue` and boolean `--flag=true|false` to `--flag` or nothing. */
function normalize(args: string[], flags: readonly FlagSpec[]): { args: string[]; falsified: string[] } {
  const byLong = new Map(flags.map((f) => [f.name, f]));
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const out: string[] = [];
  const falsified: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const m = /^(--?)([^=]+)=(.*)$/s.exec(a);
    if (!m) {
      out.push(a);
      continue;
    }
    const [, dashes, name, value] = m as unknown as [string, string, string, string];
    const flag = dashes === '--' ? byLong.get(name) : name.length === 1 ? byShort.get(name) : undefined;
    if (!flag) {
      out.push(a);
      continue;
    }
    if (flag.type === 'boolean') {
      // The spellings Go's strconv.ParseBool (and so kubectl) accepts.
      if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(value)) {
        throw usageError(`invalid argument "${value}" for "${flagLabel(flag)}" flag: use true or false`);
      }
      if (/^(true|1|t)$/i.test(value)) out.push(`--${flag.name}`);
      else falsified.push(flag.name);
      continue;
    }
    // parseArgs reads --name=value itself, and -xvalue as -x with value: both keep a value that
    // starts with '-' attached to its flag.
    out.push(dashes === '--' ? a : `-${name}${value}`);
  }
  return { args: out, falsified };
}

export function flagLabel(f: FlagSpec): string {
  return f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
}

/** parseArgs' messages, worded as kubectl words them. */
function usageFromParseError(e: unknown, flags: readonly FlagSpec[]): Error {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(msg);
    return usageError(`unknown flag: ${m?.[1] ?? msg}`);
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '(?:-(\w), )?--([\w-]+)/.exec(msg);
    const flag = m ? flags.find((f) => f.name === m[2]) : undefined;
    if (flag && flag.type === 'boolean') return usageError(`flag ${flagLabel(flag)} takes no value`);
    if (flag) return usageError(`flag needs an argument: --${flag.name}`);
  }
  return usageError(msg.split('\n')[0]!);
}

/**
 * Parses `args` (the words after the command name) against `flags`. Unknown flags, missing
 * values and values outside `choices` are usage errors.
 */
export function parseFlags(args: string[], flags: readonly FlagSpec[]): ParsedLine {
  const all = [...flags, HELP];
  const { args: normalized, falsified } = normalize(args, all);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const f of all) {
    options[f.name] = {
      type: f.type === 'boolean' ? 'boolean' : 'string',
      ...(f.short ? { short: f.short } : {}),
      ...(f.type === 'strings' ? { multiple: true } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: normalized, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageFromParseError(e, all);
  }
  const given = (f: FlagSpec) => parsed.values[f.name] !== undefined && !falsified.includes(f.name) && parsed.values[f.name] !== false;
  for (const f of flags) {
    if (!given(f)) continue;
    const clash = flags.find((o) => f.exclusive?.includes(o.name) && given(o));
    if (clash) throw usageError(`--${f.name} and --${clash.name} exclude each other`);
  }
  const values: FlagValues = {};
  for (const f of flags) {
    const v = falsified.includes(f.name) ? false : (parsed.values[f.name] as string | boolean | string[] | undefined);
    values[f.name] = v ?? f.default ?? (f.type === 'boolean' ? false : undefined);
    const given = values[f.name];
    if (f.choices && typeof given === 'string' && !f.choices.includes(given)) {
      throw usageError(`invalid argument "${given}" for "${flagLabel(f)}" flag: use ${f.choices.join(' or ')}`);
    }
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

/**
 * The first word that is not a flag or a global flag's value: the command name. Flags of the
 * command itself are only known once the command is, so this looks at global value flags only.
 */
export function findCommand(args: string[], globals: readonly FlagSpec[]): { index: number; name: string } | undefined {
  const valueFlags = new Set<string>();
  for (const f of globals) {
    if (f.type === 'boolean') continue;
    valueFlags.add(`--${f.name}`);
    if (f.short) valueFlags.add(`-${f.short}`);
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1] === undefined ? undefined : { index: i + 1, name: args[i + 1]! };
    if (a.startsWith('-') && a !== '-') {
      if (valueFlags.has(a)) i++;
      continue;
    }
    return { index: i, name: a };
  }
  return undefined;
}

/** Edit distance, for "did you mean" suggestions of mistyped commands. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
