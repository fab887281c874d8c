/**
 * What every command procedure receives: its streams, a logger that writes only to stderr, the
 * lazily connected cluster, a confirmation prompt, the clock, and a signal that fires on Ctrl-C.
 * Procedures take a RunContext instead of touching process.*, so tests run them without a terminal.
 */
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { Kube } from '../kube/client.js';
import type { OutputFormat } from '../output/printer.js';

export type Host = 'kubectl' | 'helm' | 'standalone';

export interface GlobalOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  output: OutputFormat;
  requestTimeoutMs: number;
  verbose: number;
  color: boolean;
  as?: string | undefined;
  /** kubectl --as-group (repeatable). */
  asGroups?: string[] | undefined;
}

export interface Logger {
  /** A progress or status line on stderr. */
  info(message: string): void;
  /** `Warning: ...` on stderr. */
  warn(message: string): void;
  /** Shown with -v N when N >= level. */
  debug(level: number, message: string): void;
}

export interface RunContext {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  /** stderr is a terminal: progress may redraw lines. */
  interactive: boolean;
  globals: GlobalOptions;
  log: Logger;
  /** How the user invokes us, for hints: "kubectl milvus" or "helm milvus". */
  commandPrefix: string;
  host: Host;
  env: NodeJS.ProcessEnv;
  /** Connects on first use: commands such as `version` and `completion` work without a cluster. */
  kube(): Kube;
  now(): Date;
  /** Aborted on SIGINT/SIGTERM; long waits must stop and leave a resumable state. */
  signal: AbortSignal;
  /** Asks a yes/no question on stderr, reads stdin; anything but y/yes is no; EOF is no. */
  confirm(question: string): Promise<boolean>;
  /** Writes data (not messages) to stdout. */
  print(text: string): void;
}

export function makeLogger(stderr: Writable, verbose: number, color: boolean): Logger {
  const yellow = (s: string) => (color ? `\u001b[33m${s}\u001b[0m` : s);
  return {
    info: (m) => void stderr.write(m.endsWith('\n') ? m : m + '\n'),
    warn: (m) => void stderr.write(`${yellow('Warning:')} ${m}\n`),
    debug: (level, m) => {
      if (verbose >= level) stderr.write(`I ${m}\n`);
    },
  };
}

/** Reads one answer line from `stdin`; resolves false on EOF. */
export function promptYesNo(stdin: Readable, stderr: Writable, question: string): Promise<boolean> {
  return new Promise((resolve) => {
    stderr.write(`${question} (y/N): `);
    const rl = createInterface({ input: stdin, terminal: false });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(/^(y|yes)$/i.test(line.trim()));
    });
    rl.once('close', () => {
      if (!answered) {
        stderr.write('\n');
        resolve(false);
      }
    });
  });
}
