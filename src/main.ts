/**
 * Entry point of the kubectl-milvus executable. Decides how it was invoked — as a kubectl plugin
 * (kubectl-milvus), as kubectl's completion helper (kubectl_complete-milvus) or as a helm plugin
 * (HELM_PLUGIN_NAME set) — and runs the CLI. Ctrl-C aborts the running command's signal once;
 * a second Ctrl-C exits at once.
 */
import { basename } from 'node:path';
import { runCli } from './cli/app.js';
import type { Host } from './cli/context.js';

function hostOf(argv1: string | undefined, env: NodeJS.ProcessEnv): Host {
  if (env.HELM_PLUGIN_NAME) return 'helm';
  if (argv1 && basename(argv1).startsWith('kubectl-')) return 'kubectl';
  return 'standalone';
}

async function main(): Promise<void> {
  const invoked = process.argv[1];
  let args = process.argv.slice(2);
  if (invoked && /^kubectl_complete-milvus(\.exe)?$/.test(basename(invoked))) {
    args = ['__complete', ...args];
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(`\nReceived ${sig}: stopping at a safe point (press Ctrl-C again to exit now)...\n`);
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Output piped into a reader that stops early (`| head`): end quietly with the shell's code for
  // SIGPIPE, as kubectl does, never an unhandled 'error' event with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(141);
      throw e;
    });
  }
  const code = await runCli(args, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    interactive: Boolean(process.stderr.isTTY),
    host: hostOf(invoked, process.env),
    signal: controller.signal,
  });
  process.exitCode = code;
  // Open watches or sockets must not keep a finished command alive.
  setTimeout(() => process.exit(code), 200).unref();
}

void main();
