/**
 * The simulator follows the test bed during an upgrade to 2.6 or 3.0: no real Milvus runs here, so
 * what a real cluster does by itself is done for it — each streaming node pod that runs registers
 * with "mixcoord" (its pod IP on the streaming port 22222, as the WAL balancer lists it; a 2.6+
 * standalone pod likewise), and the
 * simulator speaks the newest Milvus line a pod of the release runs (2.6/3.0 routes appear once
 * the first such pod runs). Polls the pods every 500 ms until stopped.
 */
import type { RunningSim } from '../../testbed/milvus-sim/sim.js';
import { SIM_VERSIONS, type SimVersion } from '../../testbed/milvus-sim/sim.js';
import { kubectlJson } from './harness.js';

interface Pod {
  metadata: { labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: Array<{ image: string }> };
  status: { phase?: string; podIP?: string };
}

export interface Follower {
  /** Addresses registered so far. */
  registered: string[];
  stop(): Promise<void>;
}

export function followBed(sim: RunningSim, ns: string, release: string, label: 'component' | 'app.kubernetes.io/component' = 'component'): Follower {
  const registered: string[] = [];
  let stopped = false;
  const once = async () => {
    const pods = (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`])).items.filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp);
    for (const p of pods) {
      const ip = p.status.podIP;
      const comp = p.metadata.labels?.[label];
      // Standalone 2.6+ runs its streaming node inside the one pod.
      const streaming = comp === 'streamingnode' || (comp === 'standalone' && /:v?(?:2\.[6-9]|[3-9]\.)/.test(p.spec.containers[0]?.image ?? ''));
      if (streaming && ip && !registered.includes(`${ip}:22222`)) {
        sim.control.addStreamingNode(`${ip}:22222`);
        registered.push(`${ip}:22222`);
      }
    }
    const lines = pods
      .map((p) => /:v?(\d+\.\d+)\./.exec(p.spec.containers[0]?.image ?? '')?.[1])
      .filter((l): l is SimVersion => (SIM_VERSIONS as readonly string[]).includes(l ?? ''));
    const newest = lines.sort((a, b) => SIM_VERSIONS.indexOf(a) - SIM_VERSIONS.indexOf(b)).at(-1);
    if (newest && SIM_VERSIONS.indexOf(newest) > SIM_VERSIONS.indexOf(sim.control.version)) sim.control.setVersion(newest);
  };
  const loop = (async () => {
    while (!stopped) {
      await once().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    registered,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
