/**
 * Start-up benchmark: `kubectl-milvus --help` against `kubectl version --client` on the same
 * machine, median of several runs each after a warm-up. Prints `startup_ratio <ours/kubectl>`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function time(cmd: string, args: string[], runs: number): number {
  spawnSync(cmd, args, { stdio: 'ignore' });
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(samples);
}

export function measureStartup(runs = 15): { oursMs: number; kubectlMs: number; ratio: number } {
  const ours = time(join(import.meta.dirname, '..', 'dist', 'kubectl-milvus'), ['--help'], runs);
  const kubectl = time('kubectl', ['version', '--client'], runs);
  return { oursMs: ours, kubectlMs: kubectl, ratio: ours / kubectl };
}
