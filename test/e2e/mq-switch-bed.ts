/** What the mq-switch e2e tests share: streaming node pods registering with the simulator's mixcoord. */
import { execFileSync } from 'node:child_process';
import type { RunningSim } from '../../testbed/milvus-sim/sim.js';
import { testbedEnv } from './harness.js';

/** Streaming node pods register with mixcoord (the simulator) under their pod IP, as they start. */
export function registrar(ns: string, sim: RunningSim, selector = 'component=streamingnode'): () => void {
  const seen = new Set<string>();
  const t = setInterval(() => {
    try {
      const out = execFileSync('kubectl', ['get', 'pods', '-n', ns, '-l', selector, '-o', 'jsonpath={range .items[*]}{.status.podIP}{"\\n"}{end}'], { env: testbedEnv(), encoding: 'utf8' });
      for (const ip of out.split('\n').filter(Boolean)) {
        if (seen.has(ip)) continue;
        seen.add(ip);
        sim.control.addStreamingNode(`${ip}:22222`);
      }
    } catch {
      // the next round tries again
    }
  }, 1000);
  return () => clearInterval(t);
}

