/**
 * The command-line application: global flags with kubectl's meaning, the subcommands, and the
 * one place where errors become `error: ...` lines and exit codes. `runCli` takes its streams and
 * environment as arguments so tests drive it without a terminal.
 */
import type { Readable, Writable } from 'node:stream';
import yargs, { type Argv } from 'yargs';
import { CliError, ExitCode, isCliError, usageError } from '../errors.js';
import type { Kube } from '../kube/client.js';
import { OUTPUT_FORMATS, parseOutputFormat, type OutputFormat } from '../output/printer.js';
import { COMMANDS } from '../commands/index.js';
import { parseDuration, type CommandSpec } from './command.js';
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
  };
}

export function globalFlags(y: Argv): Argv {
  return y
    .option('kubeconfig', { type: 'string', describe: 'Path to the kubeconfig file to use for CLI requests.', global: true })
    .option('context', { type: 'string', describe: 'The name of the kubeconfig context to use.', global: true })
    .option('namespace', { alias: 'n', type: 'string', describe: 'If present, the namespace scope for this CLI request.', global: true })
    .option('output', {
      alias: 'o',
      type: 'string',
      describe: `Output format. One of: (${OUTPUT_FORMATS.join(', ')}).`,
      global: true,
    })
    .option('request-timeout', {
      type: 'string',
      default: '0',
      describe: 'The length of time to wait before giving up on a single server request (e.g. 1s, 2m). 0 waits forever.',
      global: true,
    })
    .option('as', { type: 'string', describe: 'Username to impersonate for the operation.', global: true })
    .option('v', { alias: 'verbose', type: 'number', describe: 'Number for the log level verbosity (0-9).', global: true })
    .option('no-color', { type: 'boolean', default: false, describe: 'Do not colour output.', global: true })
    .group(['kubeconfig', 'context', 'namespace', 'output', 'request-timeout', 'as', 'v', 'no-color', 'help'], 'Global Flags:');
}

/** yargs' own wording, rewritten the way kubectl words usage errors. */
function usageMessage(msg: string, prefix: string): string {
  if (/^Not enough non-option arguments/.test(msg)) return `a release name is required: see "${prefix} <command> --help"`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(msg);
  if (unknown) return `unknown command or flag "${unknown[1]}": see "${prefix} --help"`;
  return msg.split('\n')[0]!;
}

function globalsFrom(argv: Record<string, unknown>, io: CliIo, spec: CommandSpec | undefined): GlobalOptions {
  const helm = helmDefaults(io);
  const allowed = spec?.outputs ?? ['table'];
  const output: OutputFormat = parseOutputFormat(argv.output as string | undefined, allowed as OutputFormat[]);
  const v = argv.v;
  const verbose = typeof v === 'number' && Number.isFinite(v) ? v : Array.isArray(v) ? v.length : v === undefined ? 0 : 1;
  return {
    kubeconfig: (argv.kubeconfig as string | undefined) || undefined,
    context: (argv.context as string | undefined) || helm.context,
    namespace: (argv.namespace as string | undefined) || helm.namespace,
    as: (argv.as as string | undefined) || helm.as,
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

function optionNames(y: Argv): string[] {
  const opts = (y as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } }).getOptions();
  const names = new Set<string>();
  for (const k of Object.keys(opts.key)) {
    if (k === '$0' || k === 'help' || k === 'version') continue;
    names.add(k.length === 1 ? `-${k}` : `--${k}`);
    for (const a of opts.alias[k] ?? []) names.add(a.length === 1 ? `-${a}` : `--${a}`);
  }
  return [...names];
}

export function completionSource(): CompletionSource {
  const globals = optionNames(globalFlags(yargs([])));
  return {
    globalFlags: [...globals, '--help'],
    commands: (COMMANDS as CommandSpec<any>[]).map((spec) => {
      const name = spec.command.split(' ')[0]!;
      const own = optionNames(spec.builder(yargs([]))).filter((f) => !globals.includes(f));
      return { name, describe: spec.describe, flags: own, takesRelease: spec.command.includes('<release>') };
    }),
  };
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

/** Parses argv, runs the command, returns the exit code. Never throws. */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  if (args[0] === '__complete' || args[0] === '__completeNoDesc') return runCompletion(args.slice(1), io);
  const prefix = commandPrefix(io.host);
  let verbose = 0;
  let exitCode: number = ExitCode.OK;
  let handled = false;
  let helpOrVersionShown = false;
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : s + '\n');

  const y = globalFlags(yargs(args))
    .scriptName(prefix)
    .usage(`${prefix} manages Milvus on Kubernetes: flush, Pulsar and metadata upgrades, rolling updates.\n\nUsage: ${prefix} <command> [flags]`)
    .strict()
    .recommendCommands()
    .help('help')
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue(`Use "${prefix} <command> --help" for more information about a command.\nExit codes: see README.md (2 usage, 3 config, 4 unreachable, 5 forbidden, 6 not found, 7 precondition, 8 aborted, 9 timeout, 10 failed, 130 interrupted).`)
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((msg, err) => {
      throw err ?? usageError(usageMessage(msg, prefix));
    });

  for (const spec of COMMANDS as CommandSpec<any>[]) {
    y.command({
      command: spec.command,
      describe: spec.describe,
      builder: (b: Argv) => {
        let r = spec.builder(b);
        for (const [cmd, what] of spec.examples ?? []) r = r.example(cmd, what);
        return r;
      },
      handler: async (argv: Record<string, unknown>) => {
        handled = true;
        const globals = globalsFrom(argv, io, spec);
        verbose = globals.verbose;
        const ctx = makeContext(io, globals, spec.offline ? undefined : await loadKubeModules());
        await spec.run(ctx, argv);
      },
    });
  }
  y.demandCommand(1, `a command is required: run "${prefix} --help" for the list`);

  try {
    const parsed = await y.parseAsync(args, {}, (err, _argv, output) => {
      if (output && !err) {
        helpOrVersionShown = true;
        out(output);
      }
    });
    void parsed;
    if (!handled && !helpOrVersionShown && exitCode === ExitCode.OK) {
      // yargs printed help itself (--help on the root) or nothing matched.
    }
  } catch (e) {
    if (io.signal?.aborted && !isCliError(e)) {
      io.stderr.write(`error: interrupted\nhint: rerun the same command (with --resume where it has one) to continue\n`);
      return ExitCode.INTERRUPTED;
    }
    const { text, code } = errorText(e, verbose);
    io.stderr.write(text);
    exitCode = code;
  }
  return exitCode;
}

export { CliError };
