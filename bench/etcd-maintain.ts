/**
 * etcd_maintain_s: on the test bed, `etcd-maintain -y` of a release whose etcd (a real Debian etcd
 * behind the etcd pod's port-forward) holds 100 MB: 1,000 keys of 100 KB under the root path, of
 * which 200 were written twice (history the compaction frees). Wall time of the whole run
 * (snapshot of the 100 MB through the port-forward, compact, defragment, disarm, verify), and how
 * long the member was blocked by its defragment (the target: the defragment alone).
 * Prints nothing on stdout; returns the figures.
 *
 * Register it in bench/run.ts with the test bed up:
 *   const { measureEtcdMaintain } = await import('./etcd-maintain.js');
 *   const e = await measureEtcdMaintain();
 *   process.stdout.write(`etcd_maintain_s ${e.seconds.toFixed(2)}\netcd_maintain_blocked_s ${e.blockedS.toFixed(2)}\n`);
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrivateEtcd } from '../test/e2e/backup-meta-etcd.js';
import { deleteNamespace, forwardNamespaceTo, installHelmRelease, newNamespace, PLUGIN, testbedEnv } from '../test/e2e/harness.js';

const VALUE = 'v'.repeat(100_000);
const b64 = (s: string) => Buffer.from(s).toString('base64');

export interface EtcdMaintainMeasure {
  seconds: number;
  /** Longest time one member was blocked by its defragment. */
  blockedS: number;
  dbBeforeMb: number;
  dbAfterMb: number;
}

export async function measureEtcdMaintain(): Promise<EtcdMaintainMeasure> {
  const ns = await newNamespace('bench-etcd');
  const etcd = await startPrivateEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'km-bench-etcd-'));
  try {
    await forwardNamespaceTo(ns, etcd.port, 2379);
    await installHelmRelease(ns, 'bench', { 'cluster.enabled': false, 'pulsar.enabled': false });
    const put = (keys: string[]) => etcd.gw.putAll(keys.map((k) => ({ key: b64(k), value: b64(VALUE) })));
    for (let i = 0; i < 1000; i += 10) await put(Array.from({ length: 10 }, (_, j) => `by-dev/meta/bench/${i + j}`));
    for (let i = 0; i < 200; i += 10) await put(Array.from({ length: 10 }, (_, j) => `by-dev/meta/bench/${i + j}`));
    const t0 = process.hrtime.bigint();
    const r = spawnSync(PLUGIN, ['etcd-maintain', 'bench', '-n', ns, '-y', '--backup-dir', dir, '-o', 'json'], { env: testbedEnv(), encoding: 'utf8', maxBuffer: 64 << 20 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`etcd-maintain failed (exit ${r.status}): ${r.stderr}`);
    const state = (JSON.parse(r.stdout) as { state: { before: Record<string, number>; after: Record<string, number>; blockedMs: Record<string, number> } }).state;
    const mb = (x: Record<string, number>) => Object.values(x).reduce((a, b) => a + b, 0) / 1e6;
    return { seconds, blockedS: Math.max(...Object.values(state.blockedMs)) / 1000, dbBeforeMb: mb(state.before), dbAfterMb: mb(state.after) };
  } finally {
    await etcd.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespace(ns);
  }
}

if (process.argv[1]?.endsWith('etcd-maintain.ts')) {
  const m = await measureEtcdMaintain();
  process.stderr.write(`etcd ${m.dbBeforeMb.toFixed(0)} MB -> ${m.dbAfterMb.toFixed(0)} MB\n`);
  process.stdout.write(`etcd_maintain_s ${m.seconds.toFixed(2)}\netcd_maintain_blocked_s ${m.blockedS.toFixed(2)}\n`);
}
