/** The checkpointed state of a rolling update, shared by the Helm and Operator procedures. */
import type { ComponentResult } from './progress.js';
import type { Mode } from './order.js';

export const PROCEDURE = 'rolling-update';

export interface PlannedComponent {
  component: string;
  deployment: string;
  container: string;
  /** The image before the update (from the first run, kept across resumes). */
  from: string;
}

export interface RollingUpdateState {
  image: string;
  version: string;
  mode: Mode;
  method: 'helm' | 'helm-upgrade' | 'operator';
  order: PlannedComponent[];
  results: ComponentResult[];
  /** Where the coordinators' active-standby switch goes (Helm path), found in preflight. */
  activeStandby?: { configMap: string; key: string; missing: string[] };
  /** secret/... holding the ConfigMap as it was before the switch. */
  configBackup?: string;
  /** Helm revision before --via-helm's upgrade (for the rollback command). */
  helmRevisionBefore?: number;
  /** spec.components.image before the patch (Operator path), for the way back. */
  previousImage?: string | undefined;
  /** When the Milvus resource was patched (Operator path). */
  patchedAt?: string;
}

/** Records a component's result, replacing an earlier one of the same Deployment. */
export function recordResult(state: RollingUpdateState, r: ComponentResult): void {
  const i = state.results.findIndex((x) => x.deployment === r.deployment);
  if (i >= 0) state.results[i] = r;
  else state.results.push(r);
}
