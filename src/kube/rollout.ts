/**
 * Deployment rollout status by kubectl's own rules (kubectl rollout status:
 * pkg/polymorphichelpers/rollout_status.go), and a wait that follows the Deployment with a watch
 * (re-listing when the watch ends) instead of sleeping in a loop.
 */
import { Watch, type V1Deployment } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';
import type { Kube } from './client.js';

export interface RolloutStatus {
  done: boolean;
  /** Set when the rollout can no longer succeed (progress deadline exceeded). */
  failed?: string;
  message: string;
}

export function deploymentRolloutStatus(d: V1Deployment): RolloutStatus {
  const name = d.metadata?.name ?? '';
  const gen = d.metadata?.generation ?? 0;
  const st = d.status ?? {};
  if (gen > (st.observedGeneration ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, failed: `deployment "${name}" exceeded its progress deadline`, message: progressing.message ?? '' };
  }
  const want = d.spec?.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  const replicas = st.replicas ?? 0;
  const available = st.availableReplicas ?? 0;
  if (updated < want) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
  if (replicas > updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...` };
  if (available < updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/**
 * Resolves when the Deployment has rolled out; rejects with FAILED on ProgressDeadlineExceeded,
 * TIMEOUT after timeoutMs, or the abort reason.
 */
export async function waitForRollout(
  kube: Kube,
  namespace: string,
  name: string,
  opts: { timeoutMs: number; signal: AbortSignal; onUpdate?: (d: V1Deployment, s: RolloutStatus) => void },
): Promise<V1Deployment> {
  const deadline = Date.now() + opts.timeoutMs;
  const read = () => kube.call({ verb: 'get', resource: 'deployments.apps', namespace, name }, () => kube.apps.readNamespacedDeployment({ name, namespace }));
  for (;;) {
    const current = await read();
    const s = deploymentRolloutStatus(current);
    opts.onUpdate?.(current, s);
    if (s.done) return current;
    if (s.failed) throw new CliError(s.failed, ExitCode.FAILED);
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new CliError(`timed out waiting for deployment "${name}" to roll out: ${s.message}`, ExitCode.TIMEOUT);
    // Follow changes until the rollout settles, the watch ends (then re-read) or time runs out.
    const result = await new Promise<'changed' | 'ended'>((resolve, reject) => {
      let abort: AbortController | undefined;
      const finish = (r: 'changed' | 'ended') => {
        clearTimeout(timer);
        opts.signal.removeEventListener('abort', onAbort);
        abort?.abort();
        resolve(r);
      };
      const onAbort = () => {
        clearTimeout(timer);
        abort?.abort();
        reject(opts.signal.reason);
      };
      const timer = setTimeout(() => finish('ended'), Math.min(remaining, 30_000));
      opts.signal.addEventListener('abort', onAbort, { once: true });
      new Watch(kube.kc)
        .watch(
          `/apis/apps/v1/namespaces/${namespace}/deployments`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion: current.metadata?.resourceVersion, allowWatchBookmarks: true },
          (type, obj: V1Deployment) => {
            if (type !== 'MODIFIED' && type !== 'ADDED') return;
            const st = deploymentRolloutStatus(obj);
            opts.onUpdate?.(obj, st);
            if (st.done || st.failed) finish('changed');
          },
          () => finish('ended'),
        )
        .then((a) => (abort = a))
        .catch(() => finish('ended'));
    });
    void result;
  }
}
