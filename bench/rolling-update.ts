/**
 * rolling_update_overhead_s: on the test bed, a full rolling update of a cluster-mode Helm
 * release (five components), its wall time minus the sum of the component rollouts' own
 * durations, per component: what the plugin adds around Kubernetes' own work (start-up,
 * discovery, checkpoints, watch latency).
 */
import { spawnSync } from 'node:child_process';
import { deleteNamespace, installHelmRelease, newNamespace, PLUGIN, testbedEnv } from '../test/e2e/harness.js';

export async function measureRollingUpdateOverhead(): Promise<number> {
  const ns = await newNamespace('bench');
  try {
    await installHelmRelease(ns, 'bench', { 'mixCoordinator.activeStandby.enabled': true });
    const t0 = Date.now();
    const r = spawnSync(PLUGIN, ['rolling-update', 'bench', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y', '-o', 'json'], { env: testbedEnv(), encoding: 'utf8' });
    const wall = Date.now() - t0;
    if (r.status !== 0) throw new Error(`rolling-update failed: ${r.stderr}`);
    const summary = JSON.parse(r.stdout) as { state: { updated: Array<{ durationMs: number }> } };
    const own = summary.state.updated.reduce((n, u) => n + u.durationMs, 0);
    return (wall - own) / 1000 / summary.state.updated.length;
  } finally {
    await deleteNamespace(ns);
  }
}
