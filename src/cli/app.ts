/**
 * The command-line application: global flags with kubectl's meaning, the subcommands, help, and
 * the one place where errors become `error: ...` lines and exit codes. `runCli` takes its streams
 * and environment as arguments so tests drive it without a terminal. Flags are parsed with
 * node:util's parseArgs (flags.ts) and help is laid out like kubectl's (help.ts): no CLI framework
 * is loaded, so `--help` and usage errors start as fast as the runtime does.
 */
import type { Readable, Writable } from 'node:stream';
import { CliError, ExitCode, isCliError, usageError } from '../errors.js';
import type { Kube } from '../kube/client.js';
import { OUTPUT_FORMATS, parseOutputFormat, printDocument, type OutputFormat } from '../output/printer.js';
import { COMMANDS } from '../commands/index.js';
import { parseDuration, type CommandSpec } from './command.js';
import { editDistance, findCommand, parseFlags, type FlagSpec } from './flags.js';
import { commandHelp, optionsHelp, rootHelp } from './help.js';
import type { CompletionSource } from '../completion/complete.js';
import { makeLogger, promptYesNo, type GlobalOptions, type Host, type RunContext } from './context.js';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /** stderr is a terminal. */
  interactive: boolean;
  host: Host;
  signal?: AbortSignal;
  now?: () => Date;
}

export function commandPrefix(host: Host): string {
  return host === 'helm' ? 'helm milvus' : 'kubectl milvus';
}

/** In helm mode, helm strips -n/--kube-context/--kubeconfig and passes them as environment. */
function helmDefaults(io: CliIo): Partial<GlobalOptions> {
  if (io.host !== 'helm') return {};
  return {
    namespace: io.env.HELM_NAMESPACE || undefined,
    context: io.env.HELM_KUBECONTEXT || undefined,
    as: io.env.HELM_KUBEASUSER || undefined,
    asGroups: (io.env.HELM_KUBEASGROUPS ?? '').split(',').map((g) => g.trim()).filter(Boolean),
  };
}

/** kubectl's global flags, accepted before or after the command. */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', describe: 'Path to the kubeconfig file to use for CLI requests.' },
  { name: 'context', type: 'string', describe: 'The name of the kubeconfig context to use.' },
  { name: 'namespace', short: 'n', type: 'string', describe: 'If present, the namespace scope for this CLI request.' },
  { name: 'output', short: 'o', type: 'string', describe: `Output format. One of: (${OUTPUT_FORMATS.join(', ')}); each command accepts those its help lists.` },
  { name: 'request-timeout', type: 'string', default: '0', describe: 'The length of time to wait before giving up on a single server request (e.g. 1s, 2m). 0 waits forever.' },
  { name: 'as', type: 'string', describe: 'Username to impersonate for the operation.' },
  { name: 'as-group', type: 'strings', describe: 'Group to impersonate for the operation; repeat for several groups.' },
  { name: 'v', short: 'v', type: 'string', default: '0', describe: 'Number for the log level verbosity (0-9).' },
  { name: 'verbose', type: 'string', describe: 'The same as -v.' },
  { name: 'no-color', type: 'boolean', default: false, describe: 'Do not colour output.' },
];

function globalsFrom(argv: Record<string, unknown>, io: CliIo, spec: CommandSpec<any>): GlobalOptions {
  const helm = helmDefaults(io);
  const allowed = spec.outputs ?? ['table'];
  const output: OutputFormat = parseOutputFormat(argv.output as string | undefined, allowed as OutputFormat[]);
  const level = String(argv.verbose ?? argv.v);
  if (!/^\d+$/.test(level)) throw usageError(`invalid argument "${level}" for "-v, --v" flag: use a number from 0 to 9`);
  const verbose = Number(level);
  return {
    kubeconfig: (argv.kubeconfig as string | undefined) || undefined,
    context: (argv.context as string | undefined) || helm.context,
    namespace: (argv.namespace as string | undefined) || helm.namespace,
    as: (argv.as as string | undefined) || helm.as,
    asGroups: (argv['as-group'] as string[] | undefined)?.length ? (argv['as-group'] as string[]) : (helm.asGroups ?? []),
    output,
    requestTimeoutMs: parseDuration(argv['request-timeout'] ?? '0', '--request-timeout'),
    verbose,
    color: !argv['no-color'] && !io.env.NO_COLOR && io.interactive,
  };
}

/**
 * The Kubernetes client is the heaviest part of the executable: it is loaded only when a command
 * needs the cluster, so --help, version --client and usage errors start fast.
 */
type KubeModules = {
  Kube: typeof import('../kube/client.js').Kube;
  loadKubeConfig: typeof import('../kube/kubeconfig.js').loadKubeConfig;
};
let kubeModules: KubeModules | undefined;
export async function loadKubeModules(): Promise<KubeModules> {
  if (!kubeModules) {
    const [client, config] = await Promise.all([import('../kube/client.js'), import('../kube/kubeconfig.js')]);
    kubeModules = { Kube: client.Kube, loadKubeConfig: config.loadKubeConfig };
  }
  return kubeModules;
}

export function makeContext(io: CliIo, globals: GlobalOptions, modules?: KubeModules): RunContext {
  let kube: Kube | undefined;
  const signal = io.signal ?? new AbortController().signal;
  const log = makeLogger(io.stderr, globals.verbose, globals.color);
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    stdin: io.stdin,
    interactive: io.interactive,
    globals,
    log,
    host: io.host,
    env: io.env,
    commandPrefix: commandPrefix(io.host),
    kube() {
      if (!kube) {
        const m = modules ?? kubeModules;
        if (!m) throw new CliError('internal: the Kubernetes client was not loaded before use', ExitCode.INTERNAL);
        const loaded = m.loadKubeConfig(globals, io.env);
        log.debug(1, `using context "${loaded.contextName}" from ${loaded.source}, namespace "${loaded.namespace}"`);
        kube = new m.Kube(loaded, globals.requestTimeoutMs);
      }
      return kube;
    },
    now: io.now ?? (() => new Date()),
    signal,
    confirm: (q) => promptYesNo(io.stdin, io.stderr, q),
    print: (t) => void io.stdout.write(t),
  };
}

function errorText(e: unknown, verbose: number): { text: string; code: number } {
  if (isCliError(e)) {
    let text = `error: ${e.message}\n`;
    if (e.hint) text += `hint: ${e.hint}\n`;
    if (verbose >= 4 && e.cause instanceof Error && e.cause.stack) text += e.cause.stack + '\n';
    return { text, code: e.exitCode };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  let text = `error: ${err.message.split('\n')[0]}\n`;
  if (verbose >= 1) text += (err.stack ?? '') + '\n';
  else text += 'hint: rerun with -v=4 for details\n';
  return { text, code: ExitCode.INTERNAL };
}

async function runCompletion(words: string[], io: CliIo): Promise<number> {
  const helm = helmDefaults(io);
  const [{ complete }, m] = await Promise.all([import('../completion/complete.js'), loadKubeModules()]);
  const lines = await complete(words, completionSource(), io.env, (flags) =>
    new m.Kube(
      m.loadKubeConfig(
        { kubeconfig: flags.kubeconfig, context: flags.context ?? helm.context, namespace: flags.namespace ?? helm.namespace },
        io.env,
      ),
      5000,
    ),
  );
  io.stdout.write(lines.join('\n') + '\n');
  return ExitCode.OK;
}

const flagWords = (flags: readonly FlagSpec[]) => flags.flatMap((f) => (f.short ? [`-${f.short}`, `--${f.name}`] : [`--${f.name}`]));

export function completionSource(): CompletionSource {
  const globals = flagWords(GLOBAL_FLAGS);
  return {
    globalFlags: [...globals, '--help'],
    commands: ALL_COMMANDS.map((spec) => ({
      name: spec.name,
      describe: spec.describe,
      flags: flagWords(spec.flags ?? []).filter((f) => !globals.includes(f)),
      takesRelease: spec.args?.[0]?.name === 'release',
    })),
  };
}

/** `options`: kubectl's page of global flags. */
const optionsCommand: CommandSpec = {
  name: 'options',
  describe: 'Print the list of flags inherited by all commands',
  offline: true,
  run: async (ctx) => ctx.print(optionsHelp(GLOBAL_FLAGS)),
};

const ALL_COMMANDS: readonly CommandSpec<any>[] = [...(COMMANDS as CommandSpec<any>[]), optionsCommand];

function unknownCommand(name: string, prefix: string): CliError {
  const near = ALL_COMMANDS
    .map((c) => c.name)
    .filter((c) => editDistance(name, c) <= 2 || (name.length >= 3 && c.startsWith(name)));
  const hint = near.length ? `did you mean ${near.map((c) => `"${c}"`).join(' or ')}?` : `run "${prefix} --help" for the list`;
  return new CliError(`unknown command "${name}" for "${prefix}"`, ExitCode.USAGE, hint);
}

/** Finds the command, parses its flags and arguments; returns help text instead when asked for. */
function parseLine(args: string[], prefix: string): { help: string } | { spec: CommandSpec<any>; argv: Record<string, unknown> } {
  const found = findCommand(args, GLOBAL_FLAGS);
  if (!found) {
    if (parseFlags(args, GLOBAL_FLAGS).help) return { help: rootHelp(prefix, ALL_COMMANDS) };
    throw new CliError('a command is required', ExitCode.USAGE, `run "${prefix} --help" for the list`);
  }
  const spec = ALL_COMMANDS.find((c) => c.name === found.name);
  if (!spec) {
    if (found.name !== 'help') throw unknownCommand(found.name, prefix);
    const topic = args[found.index + 1];
    if (!topic) return { help: rootHelp(prefix, ALL_COMMANDS) };
    const target = ALL_COMMANDS.find((c) => c.name === topic);
    if (!target) throw unknownCommand(topic, prefix);
    return { help: commandHelp(prefix, target) };
  }
  const see = `see "${prefix} ${spec.name} --help"`;
  let line: ReturnType<typeof parseFlags>;
  try {
    line = parseFlags([...args.slice(0, found.index), ...args.slice(found.index + 1)], [...GLOBAL_FLAGS, ...(spec.flags ?? [])]);
  } catch (e) {
    throw isCliError(e) && !e.hint ? new CliError(e.message, e.exitCode, see) : e;
  }
  if (line.help) return { help: commandHelp(prefix, spec) };
  const wanted = spec.args ?? [];
  const required = wanted.filter((a) => !a.optional).length;
  if (line.positionals.length < required) {
    const missing = wanted[line.positionals.length]!.name;
    throw new CliError(missing === 'release' ? 'a release name is required' : `the ${missing.toUpperCase()} argument is required`, ExitCode.USAGE, see);
  }
  if (line.positionals.length > wanted.length) {
    throw new CliError(`unexpected argument "${line.positionals[wanted.length]}"`, ExitCode.USAGE, see);
  }
  const argv: Record<string, unknown> = { ...line.values };
  wanted.forEach((a, i) => (argv[a.name] = line.positionals[i]));
  return { spec, argv };
}

/** Parses argv, runs the command, returns the exit code. Never throws. */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  if (args[0] === '__complete' || args[0] === '__completeNoDesc') return runCompletion(args.slice(1), io);
  const prefix = commandPrefix(io.host);
  let verbose = 0;
  let output: GlobalOptions['output'] = 'table';
  try {
    const parsed = parseLine(args, prefix);
    if ('help' in parsed) {
      io.stdout.write(parsed.help);
      return ExitCode.OK;
    }
    const globals = globalsFrom(parsed.argv, io, parsed.spec);
    verbose = globals.verbose;
    output = globals.output;
    const { offline } = parsed.spec;
    const needsCluster = typeof offline === 'function' ? !offline(parsed.argv) : !offline;
    const ctx = makeContext(io, globals, needsCluster ? await loadKubeModules() : undefined);
    await parsed.spec.run(ctx, parsed.argv);
    return ExitCode.OK;
  } catch (e) {
    if (io.signal?.aborted && !isCliError(e)) {
      io.stderr.write(`error: interrupted\nhint: rerun the same command (with --resume where it has one) to continue\n`);
      return ExitCode.INTERRUPTED;
    }
    const { text, code } = errorText(e, verbose);
    io.stderr.write(text);
    // A procedure that stopped still gives a machine reader its summary: steps done, the failed one, state.
    if (isCliError(e) && e.result !== undefined) {
      printDocument({ globals: { output }, print: (t) => void io.stdout.write(t) }, { ...(e.result as object), error: { message: e.message, exitCode: e.exitCode, ...(e.hint ? { hint: e.hint } : {}) } });
    }
    return code;
  }
}

export { CliError };
