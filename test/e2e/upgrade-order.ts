/**
 * What the upgrade e2e files read back from the cluster: each component's image, and the order in
 * which Kubernetes saw the components start on an image (their ReplicaSets' creation times).
 * Helm charts label the component `component`, the operator `app.kubernetes.io/component`.
 */
import { expect } from 'vitest';
import { kubectlJson } from './harness.js';

export type ComponentLabel = 'component' | 'app.kubernetes.io/component';

interface Workload {
  metadata: { name: string; creationTimestamp: string; labels: Record<string, string> };
  spec: { replicas?: number; template: { spec: { containers: Array<{ image: string }> } } };
}

const list = async (kind: 'deploy' | 'replicasets', ns: string, release: string) =>
  (await kubectlJson<{ items: Workload[] }>(['get', kind, '-n', ns, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus`])).items;

/** Component -> image of the Milvus Deployments of a release; `servingOnly` leaves out the 0-replica ones (the operator's idle Deployments). */
export async function componentImages(ns: string, release: string, label: ComponentLabel, servingOnly = false): Promise<Record<string, string>> {
  const ds = (await list('deploy', ns, release)).filter((d) => !servingOnly || (d.spec.replicas ?? 1) > 0);
  return Object.fromEntries(ds.map((d) => [d.metadata.labels[label]!, d.spec.template.spec.containers[0]!.image]));
}

/** Every component of `order` started on `image` (its first ReplicaSet on it) no earlier than the one before it. */
export async function expectCreatedInOrder(ns: string, release: string, label: ComponentLabel, image: string, order: string[]): Promise<void> {
  const created = new Map<string, number>();
  for (const rs of (await list('replicasets', ns, release)).filter((x) => x.spec.template.spec.containers[0]!.image === image)) {
    const c = rs.metadata.labels[label]!;
    // The operator keeps an idle standalone Deployment (0 replicas) of a cluster release on the image too.
    if (!order.includes(c) && (rs.spec.replicas ?? 0) === 0) continue;
    // A component's first ReplicaSet on the image is when it started (the operator's querynode pair has two).
    created.set(c, Math.min(created.get(c) ?? Infinity, Date.parse(rs.metadata.creationTimestamp)));
  }
  expect([...created.keys()].sort()).toEqual([...order].sort());
  for (let i = 1; i < order.length; i++) expect(created.get(order[i]!)!, `${order[i]} before ${order[i - 1]}`).toBeGreaterThanOrEqual(created.get(order[i - 1]!)!);
}
