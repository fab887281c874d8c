/**
 * The Milvus Operator's version, read from its Deployment (label
 * app.kubernetes.io/name=milvus-operator, the image tag of its `manager` container, else of its
 * first container). Where the user may not list Deployments cluster-wide, the chart's default
 * place (milvus-operator/milvus-operator) is read instead. Undefined when it cannot be read:
 * never a guess, and the caller decides whether to go on without it.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { versionFromImage } from './version.js';

export async function readOperatorVersion(ctx: RunContext): Promise<string | undefined> {
  const kube = ctx.kube();
  let items: V1Deployment[] = [];
  try {
    items = (await kube.apps.listDeploymentForAllNamespaces({ labelSelector: 'app.kubernetes.io/name=milvus-operator' })).items;
  } catch {
    try {
      items = [await kube.apps.readNamespacedDeployment({ name: 'milvus-operator', namespace: 'milvus-operator' })];
    } catch {
      return undefined;
    }
  }
  for (const d of items) {
    const cs = d.spec?.template?.spec?.containers ?? [];
    const v = versionFromImage((cs.find((c) => c.name === 'manager') ?? cs[0])?.image);
    if (v) return v;
  }
  return undefined;
}
