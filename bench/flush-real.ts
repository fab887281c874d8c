/**
 * flush_overhead_real_s: on the test bed with a REAL Milvus 2.3.5 (test/e2e/real-milvus.ts),
 * 3 collections in 2 databases with fresh rows in growing segments; the packaged plugin's
 * `flush` wall time minus Milvus's own flush time. Milvus's own time is measured on the same
 * server with the same amount of data, by persisting directly on its management port and polling
 * persist/state every 20 ms (no Kubernetes, no port-forward, no process start). Median of 3
 * rounds of each, interleaved. Target: <= 0.5 s. Prints nothing on stdout; returns seconds.
 */
import { spawnSync } from 'node:child_process';
import { deleteNamespace, installHelmRelease, newNamespace, PLUGIN, testbedEnv } from '../test/e2e/harness.js';
import { routeNamespaceTo, startRealMilvus, writeData, type RealMilvus } from '../test/e2e/real-milvus.js';
import { MilvusManagementApi } from '../src/milvus/mgmt-api.js';
import { directTransport } from '../src/milvus/transport.js';

const SPEC = { default: { c1: 2000, c2: 1000 }, db2: { c3: 1000 } };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Milvus's own flush: persist each database, then poll until every sealed segment is flushed. */
async function directFlushMs(m: RealMilvus): Promise<number> {
  const api = new MilvusManagementApi(directTransport({ 9091: m.mgmtPort }));
  const t0 = process.hrtime.bigint();
  const waits: Array<{ db: string; c: string; ids: bigint[]; ts: bigint | undefined }> = [];
  for (const [db, colls] of Object.entries(SPEC)) {
    const names = Object.keys(colls);
    const p = await api.persist(db, names);
    for (const c of names) waits.push({ db, c, ids: p.sealed.get(c) ?? [], ts: p.flushTs?.get(c) });
  }
  for (const w of waits) {
    while (!(await api.flushState(w.db, w.c, w.ids, w.ts))) await new Promise((r) => setTimeout(r, 20));
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function pluginFlushMs(ns: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(PLUGIN, ['flush', 'bench', '-n', ns, '-o', 'json'], { env: testbedEnv(), encoding: 'utf8', maxBuffer: 16 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`flush failed (exit ${r.status}): ${r.stderr}`);
  const report = JSON.parse(r.stdout) as { verified: boolean; collections: unknown[] };
  if (!report.verified || report.collections.length !== 3) throw new Error(`flush not verified over 3 collections: ${r.stdout}`);
  return ms;
}

export async function measureFlushOverheadReal(rounds = 3): Promise<{ overheadS: number; pluginS: number; milvusS: number }> {
  const [m, ns] = await Promise.all([startRealMilvus({ version: '2.3.5' }), newNamespace('bench-flush')]);
  try {
    await routeNamespaceTo(ns, m);
    await installHelmRelease(ns, 'bench', { 'image.all.tag': 'v2.3.5' });
    const own: number[] = [];
    const plugin: number[] = [];
    let id = 0;
    for (let i = 0; i < rounds; i++) {
      await writeData(m, SPEC, (id += 10_000));
      own.push(await directFlushMs(m));
      await writeData(m, SPEC, (id += 10_000));
      plugin.push(pluginFlushMs(ns));
    }
    const milvusS = median(own) / 1000;
    const pluginS = median(plugin) / 1000;
    return { overheadS: pluginS - milvusS, pluginS, milvusS };
  } finally {
    await m.stop({ remove: true });
    await deleteNamespace(ns);
  }
}
