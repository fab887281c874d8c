/**
 * `npm run bench`: one `name value` line per measurement on stdout; progress and notes on stderr.
 * Every measurement is a step with a deadline (bench/steps.ts) run in a process group of its own
 * (bench/runner.ts): one that fails or times out is named, killed with all it started, and the
 * others still run. Exit 1 when a step gave no result.
 *
 *   npm run bench                       every step
 *   npm run bench -- report backup_meta only these steps
 * BENCH_DEADLINE_SCALE=2 doubles every deadline (a slower machine).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNamespace, KUBECONFIG, kubectlJson } from '../test/e2e/harness.js';
import { runSteps } from './runner.js';
import { MEASUREMENTS } from './steps.js';

const tsx = join(import.meta.dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
const bedUp = existsSync(KUBECONFIG);
const scale = Number(process.env.BENCH_DEADLINE_SCALE ?? '1');
if (!(scale > 0)) {
  process.stderr.write(`error: BENCH_DEADLINE_SCALE="${process.env.BENCH_DEADLINE_SCALE}" is not a positive number\n`);
  process.exit(2);
}

/** The namespaces a step of the bench made (bench-*, created since it started) that it left behind. */
async function removeLeftNamespaces(since: Date): Promise<void> {
  if (!bedUp) return;
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string; creationTimestamp: string } }> }>(['get', 'namespaces']);
  // creationTimestamp has whole seconds.
  const left = list.items.filter((n) => /^bench(-[a-z]+)*-[0-9a-f]{6}$/.test(n.metadata.name) && Date.parse(n.metadata.creationTimestamp) >= since.getTime() - 1000);
  for (const n of left) {
    process.stderr.write(`[bench] removing namespace ${n.metadata.name}, left by the step\n`);
    await deleteNamespace(n.metadata.name);
  }
}

const only = process.argv.slice(2);
const unknown = only.filter((n) => !MEASUREMENTS.some((m) => m.name === n));
if (unknown.length > 0) {
  process.stderr.write(`error: no bench step ${unknown.join(', ')} (steps: ${MEASUREMENTS.map((m) => m.name).join(', ')})\n`);
  process.exit(2);
}

const outcomes = await runSteps(
  MEASUREMENTS.filter((m) => only.length === 0 || only.includes(m.name)).map((m) => ({
    name: m.name,
    deadlineMs: Math.round(m.deadlineMs * scale),
    command: [process.execPath, tsx, join(import.meta.dirname, 'step.ts'), m.name],
    skip: m.needsBed && !bedUp ? 'the test bed is not up (npm run testbed -- ensure)' : undefined,
  })),
  {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    afterFailure: (_step, startedAt) => removeLeftNamespaces(startedAt),
  },
);
process.exitCode = outcomes.some((o) => o.status === 'failed' || o.status === 'timed-out') ? 1 : 0;
