/**
 * rolling_update_overhead_s: on the test bed, a full rolling update of a cluster-mode Helm release
 * (five components: indexnode, mixcoord, querynode, datanode, proxy), its wall time minus the sum
 * of the component rollouts' own durations (patch to rolled out, as the command reports them),
 * divided by the number of components: what the plugin adds per component around Kubernetes' own
 * work (start-up, discovery, preflight, checkpoints, the ConfigMap switch, watch latency).
 * Prints nothing on stdout; returns seconds.
 */
import { spawnSync } from 'node:child_process';
import { deleteNamespace, installHelmRelease, newNamespace, PLUGIN, testbedEnv } from '../test/e2e/harness.js';

interface Summary {
  completed: boolean;
  state: { results: Array<{ component: string; durationMs: number; status: string }> };
}

export async function measureRollingUpdateOverhead(): Promise<number> {
  const ns = await newNamespace('bench');
  try {
    await installHelmRelease(ns, 'bench');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      PLUGIN,
      ['rolling-update', 'bench', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '--coordinator-min-ready', '0s', '-y', '-o', 'json'],
      { env: testbedEnv(), encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`rolling-update failed (exit ${r.status}): ${r.stderr}`);
    const summary = JSON.parse(r.stdout) as Summary;
    const results = summary.state.results.filter((x) => x.status === 'updated');
    if (!summary.completed || results.length === 0) throw new Error('rolling-update did not report its component rollouts');
    const ownMs = results.reduce((n, x) => n + x.durationMs, 0);
    return (wallMs - ownMs) / 1000 / results.length;
  } finally {
    await deleteNamespace(ns);
  }
}
