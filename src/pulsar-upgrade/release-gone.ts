/**
 * "Helm says the release is gone" is believed only with the cluster's agreement: no Milvus
 * Deployment and no Pulsar pod of the release is left. Objects still there after "release: not
 * found" are an uninstall still in progress (a timed-out `helm uninstall --wait`): wait for them,
 * and refuse to go on if they stay.
 */
import type { RunContext } from '../cli/context.js';
import { pollUntil } from '../procedure/wait.js';
import { anyPulsarSelector, milvusWorkloadSelector } from '../release/labels.js';

/** The release's Milvus Deployments and Pulsar pods still in the namespace, as kind/name. */
export async function releaseLeftovers(ctx: RunContext, namespace: string, release: string): Promise<string[]> {
  const kube = ctx.kube();
  const [deps, pods] = await Promise.all([
    kube.listAll({ verb: 'list', resource: 'deployments.apps', namespace }, (o) => kube.apps.listNamespacedDeployment({ namespace, ...o }), {
      labelSelector: milvusWorkloadSelector(release),
    }),
    kube.listAll({ verb: 'list', resource: 'pods', namespace }, (o) => kube.core.listNamespacedPod({ namespace, ...o }), {
      labelSelector: anyPulsarSelector('helm', release),
    }),
  ]);
  return [...deps.map((d) => `deployment/${d.metadata?.name}`), ...pods.map((p) => `pod/${p.metadata?.name}`)].sort();
}

/** Waits until the release's Deployments and Pulsar pods are gone (helm already reported "release: not found"). */
export async function confirmReleaseGone(ctx: RunContext, namespace: string, release: string, timeoutMs: number, log: (m: string) => void): Promise<void> {
  let left = await releaseLeftovers(ctx, namespace, release);
  if (left.length === 0) return;
  log(`helm has no record of "${release}" but ${left.length} of its objects remain (${left.slice(0, 3).join(', ')}${left.length > 3 ? ', ...' : ''}): waiting for them to go`);
  await pollUntil(ctx, {
    what: `the objects of release "${release}" to be deleted`,
    timeoutMs,
    check: async () => {
      left = await releaseLeftovers(ctx, namespace, release);
      return left.length === 0 ? true : undefined;
    },
    pending: () => `still there: ${left.join(', ')}`,
    hint: `helm reports no release "${release}" while its objects remain: check "kubectl get deploy,pod -n ${namespace} -l app.kubernetes.io/instance=${release}" before resuming`,
  });
}
