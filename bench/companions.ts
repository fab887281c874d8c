/**
 * Benchmarks of the on-call companions, on the test bed:
 * - report_s: `report` of a cluster-mode Helm release with 50 pods, without logs (health
 *   included: one /healthz per ready Milvus pod through its own port-forward, answered by the
 *   management-API simulator); median of 3 runs.
 * - backup_meta_s and backup_meta_peak_mb: `backup meta` of 100,000 keys (values of 200-800
 *   bytes, Milvus-like key paths) held by a real etcd behind the release's etcd pod; the peak RSS
 *   of the plugin process as /usr/bin/time reports it.
 * Prints nothing on stdout; returns the numbers.
 */
import { run } from '../test/e2e/harness.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMilvusSim } from '../testbed/milvus-sim/sim.js';
import { startPrivateEtcd } from '../test/e2e/backup-meta-etcd.js';
import { deleteNamespace, forwardNamespaceTo, installHelmRelease, kubectl, kubectlJson, newNamespace, PLUGIN, testbedEnv, waitReady } from '../test/e2e/harness.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function measureReport(pods = 50): Promise<number> {
  const ns = await newNamespace('bench-report');
  const sim = await startMilvusSim({ version: '2.4' });
  const dir = mkdtempSync(join(tmpdir(), 'km-bench-report-'));
  try {
    await forwardNamespaceTo(ns, sim.port, 9091);
    await installHelmRelease(ns, 'bench');
    const count = async () => (await kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', ns])).items.length;
    const extra = pods - (await count());
    if (extra > 0) {
      await kubectl(['scale', 'deployment/bench-milvus-querynode', '-n', ns, `--replicas=${1 + extra}`]);
      await waitReady(ns);
    }
    const have = await count();
    if (have !== pods) throw new Error(`the release has ${have} pods, not ${pods}`);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      // Asynchronously: the simulator answering /healthz runs in this process.
      const r = await run(PLUGIN, ['report', 'bench', '-n', ns, '-f', join(dir, `r${i}.tar.gz`)], { env: testbedEnv() });
      samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (r.code !== 0) throw new Error(`report failed (exit ${r.code}): ${r.stderr}`);
    }
    return median(samples);
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespace(ns);
  }
}

export async function measureBackupMeta(keys = 100_000): Promise<{ seconds: number; peakMb: number }> {
  const ns = await newNamespace('bench-meta');
  const etcd = await startPrivateEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'km-bench-meta-'));
  try {
    await forwardNamespaceTo(ns, etcd.port, 2379);
    await installHelmRelease(ns, 'bench', { 'cluster.enabled': false, 'pulsar.enabled': false });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    for (let i = 0; i < keys; i += 128) {
      const batch = [];
      for (let j = i; j < Math.min(keys, i + 128); j++) {
        const key = `by-dev/meta/root-coord/fields/${450000 + (j >> 4)}/${j}`;
        batch.push({ key: b64(key), value: b64(`{"fieldID":${j},"name":"field_${j}","data_type":101,"type_params":[{"key":"dim","value":"768"}],"description":"${'x'.repeat(150 + (j % 600))}"}`) });
      }
      await etcd.gw.putAll(batch);
    }
    const t0 = process.hrtime.bigint();
    const r = await run('/usr/bin/time', ['-f', 'maxrss_kb %M', PLUGIN, 'backup', 'meta', 'bench', '-n', ns, '--dir', dir, '-o', 'json'], { env: testbedEnv() });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.code !== 0) throw new Error(`backup meta failed (exit ${r.code}): ${r.stderr}`);
    const info = JSON.parse(r.stdout) as { keys: number };
    if (info.keys !== keys) throw new Error(`backup meta saved ${info.keys} keys, not ${keys}`);
    const kb = Number(/maxrss_kb (\d+)/.exec(r.stderr)?.[1]);
    if (!Number.isFinite(kb)) throw new Error(`no peak memory in: ${r.stderr.slice(-200)}`);
    return { seconds, peakMb: kb / 1024 };
  } finally {
    await etcd.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespace(ns);
  }
}
