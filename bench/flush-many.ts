/**
 * flush_1000_collections_s: flush's own cost with many collections, against the Milvus simulator
 * (no bed): 1000 collections in the default database, each with rows in a growing segment, every
 * HTTP answer delayed 17 ms — one round trip through a port-forward as measured on the bed, where
 * one persist/state poll after another made 1000 collections take 17.7 s. The simulator flushes
 * at once, so the time is the plugin's: list, one persist, the persist/state polls, the final
 * listing. Milvus 2.4 (the per-collection path; 2.6+ flushes with one FlushAll). Target < 3 s.
 * Returns seconds (and, as a note, the time with one poll in flight at a time).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { flushRelease } from '../src/flush/flush.js';
import { directTransport } from '../src/milvus/transport.js';
import type { Release } from '../src/release/types.js';
import { testContext } from '../test/unit/test-context.js';

const COLLECTIONS = 1000;
const ROUND_TRIP_MS = 17;

/** The simulator in a process of its own, as across a port-forward (its CPU is not the plugin's). */
async function startSim(names: string[]): Promise<{ port: number; stop(): void }> {
  const root = join(import.meta.dirname, '..');
  const args = [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'testbed', 'milvus-sim', 'main.ts'), '--version', '2.4', '--latency', `${ROUND_TRIP_MS}ms`, '--db', `default=${names.join(',')}`];
  for (const n of names) args.push('--insert', `default.${n}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  for (;;) {
    const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => { throw new Error('the simulator exited'); })])) as [string];
    out += chunk;
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (m) return { port: Number(m[1]), stop: () => void child.kill('SIGTERM') };
  }
}

async function flushSeconds(pollConcurrency: number | undefined): Promise<number> {
  const names = Array.from({ length: COLLECTIONS }, (_, i) => `c${String(i).padStart(4, '0')}`);
  const sim = await startSim(names);
  try {
    const { ctx } = testContext();
    const release = { name: 'bench', namespace: 'bench', milvusVersion: '2.4.5' } as Release;
    const t0 = process.hrtime.bigint();
    const report = await flushRelease(ctx, release, {
      timeoutMs: 300_000,
      databases: ['default'],
      transport: directTransport({ 9091: sim.port, 19530: sim.port }),
      ...(pollConcurrency ? { pollConcurrency } : {}),
    });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (!report.verified || report.collections.length !== COLLECTIONS) throw new Error(`flush not verified over ${COLLECTIONS} collections: ${report.notVerifiedReason}`);
    return s;
  } finally {
    sim.stop();
  }
}

export async function measureFlushManyCollections(): Promise<{ seconds: number; sequentialS: number }> {
  const seconds = await flushSeconds(undefined);
  const sequentialS = await flushSeconds(1);
  return { seconds, sequentialS };
}
