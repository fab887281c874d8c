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

function time(cmd: string, args: string[], runs: number, okStatus = 0): number {
  spawnSync(cmd, args, { stdio: 'ignore' });
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== okStatus) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(samples);
}

export function measureStartup(runs = 15): { oursMs: number; kubectlMs: number; ratio: number; clusterCommandMs: number } {
  const exe = join(import.meta.dirname, '..', 'dist', 'kubectl-milvus');
  const ours = time(exe, ['--help'], runs);
  const kubectl = time('kubectl', ['version', '--client'], runs);
  // A cluster command loads the embedded client bundle, then stops at the missing kubeconfig (exit 3).
  const clusterCommandMs = time(exe, ['status', 'r1', '--kubeconfig', join(import.meta.dirname, 'no-such-kubeconfig')], runs, 3);
  return { oursMs: ours, kubectlMs: kubectl, ratio: ours / kubectl, clusterCommandMs };
}
