/**
 * Live progress of component rollouts on stderr: one line per change of a component's replica
 * counts — component, old -> new image, replicas updated/available, elapsed — and the summary
 * table printed at the end.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';

export interface ComponentResult {
  component: string;
  deployment: string;
  from: string;
  to: string;
  /** From the change (patch, or the first sight of the new image) to rolled out. */
  durationMs: number;
  status: 'updated' | 'failed' | 'rolling';
  replicas?: number;
}

/** `milvusdb/milvus:v2.4.5 -> v2.4.6` when only the tag changes, else both references. */
export function imageChange(from: string, to: string): string {
  const repo = (s: string) => (s.lastIndexOf(':') > s.lastIndexOf('/') ? s.slice(0, s.lastIndexOf(':')) : s);
  if (from && repo(from) === repo(to) && to.length > repo(to).length) return `${from} -> ${to.slice(repo(to).length + 1)}`;
  return `${from || '?'} -> ${to}`;
}

export function progressLine(component: string, from: string, to: string, d: V1Deployment, ms: number): string {
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  return `${component}: ${imageChange(from, to)}  updated ${st.updatedReplicas ?? 0}/${want}  available ${st.availableReplicas ?? 0}/${want}  ${elapsed(ms)}`;
}

/** Prints a component's progress line only when its counts change (not for every event). */
export class ProgressReporter {
  private last = new Map<string, string>();

  constructor(
    private readonly log: (line: string) => void,
    /** The run's clock (ctx.now), in milliseconds. */
    private readonly now: () => number,
  ) {}

  update(component: string, deployment: string, from: string, to: string, d: V1Deployment, startedAt: number): void {
    const st = d.status ?? {};
    const key = `${d.spec?.replicas}/${st.replicas}/${st.updatedReplicas}/${st.availableReplicas}/${st.observedGeneration}`;
    if (this.last.get(deployment) === key) return;
    this.last.set(deployment, key);
    this.log(progressLine(component, from, to, d, this.now() - startedAt));
  }
}

export function summaryTable(results: ComponentResult[]): string {
  return formatTable(
    ['COMPONENT', 'DEPLOYMENT', 'FROM', 'TO', 'STATUS', 'DURATION'],
    results.map((u) => [u.component, u.deployment, u.from, u.to, u.status, u.status === 'rolling' ? '' : elapsed(u.durationMs)]),
  );
}
