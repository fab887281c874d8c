/**
 * Where Woodpecker will keep the WAL, and whether it is there: embedded mode writes to the
 * release's object storage (the chart's `streaming.woodpecker.storage.type: minio`; the Operator's
 * embedded Woodpecker over its storage); service mode (chart >= 5.0.16,
 * `streaming.woodpecker.embedded=false`) talks to the release's Woodpecker StatefulSet
 * (`<fullname>-woodpecker`, labels of the Milvus chart with component=woodpecker) or, on the
 * Operator, to the quorum buffer pools of `spec.dependencies.woodpecker`.
 *
 * "Reachable" is judged from what the cluster shows: the in-cluster MinIO or Woodpecker pods are
 * ready. An external object storage or Woodpecker service cannot be reached from here (the plugin
 * runs outside the cluster's network): it must be configured, and the plan says it was not probed.
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { milvusWorkloadSelector, minioSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { getPath, truthy } from '../util/values.js';
import type { WoodpeckerMode } from './rules.js';

export interface WoodpeckerStorage {
  mode: WoodpeckerMode;
  /** Why the switch cannot go there; undefined when it can. */
  refusal?: string | undefined;
  /** What was found, for the plan. */
  detail: string;
  /** Service mode: the Woodpecker image tag. */
  tag?: string | undefined;
  /** Service mode (Helm): the Woodpecker volumes' selector, for pvc-list and the plan. */
  selector?: string | undefined;
}

export const woodpeckerSelector = (release: string) => `${milvusWorkloadSelector(release)},component=woodpecker`;

/** The Woodpecker mode the release is configured for. */
export function woodpeckerMode(r: Release): WoodpeckerMode {
  if (r.method === 'helm') {
    const embedded = getPath(r.helm?.computedValues ?? {}, 'streaming.woodpecker.embedded');
    return embedded === false || embedded === 'false' ? 'service' : 'embedded';
  }
  return truthy(getPath(r.operator?.resource.spec ?? {}, 'dependencies.woodpecker.external')) ? 'service' : 'embedded';
}

const readyOf = (s: { status?: { readyReplicas?: number }; spec?: { replicas?: number } }) => ({ ready: s.status?.readyReplicas ?? 0, want: s.spec?.replicas ?? 1 });

export async function checkWoodpeckerStorage(ctx: RunContext, r: Release): Promise<WoodpeckerStorage> {
  const kube = ctx.kube();
  const ns = r.namespace;
  const mode = woodpeckerMode(r);
  const spec = (r.operator?.resource.spec ?? {}) as Record<string, unknown>;
  const values = r.helm?.computedValues ?? {};
  if (mode === 'service') {
    if (r.method === 'operator') {
      const pools = getPath(spec, 'dependencies.woodpecker.quorumBufferPools');
      const seeds = Array.isArray(pools) ? pools.flatMap((p) => (Array.isArray((p as { seeds?: unknown }).seeds) ? ((p as { seeds: unknown[] }).seeds as unknown[]) : [])) : [];
      if (!seeds.length) return { mode, refusal: 'spec.dependencies.woodpecker.external is true but no quorumBufferPools seeds are configured', detail: 'external Woodpecker without seeds' };
      return { mode, detail: `external Woodpecker service, seeds ${seeds.join(', ')} (configured; not probed from here)` };
    }
    const selector = woodpeckerSelector(r.name);
    const sets: V1StatefulSet[] = await kube.listAll({ verb: 'list', resource: 'statefulsets.apps', namespace: ns }, (o) => kube.apps.listNamespacedStatefulSet({ namespace: ns, ...o }), { labelSelector: selector });
    const tag = String(getPath(values, 'woodpecker.image.tag') ?? '') || undefined;
    if (!sets.length) {
      return { mode, tag, selector, refusal: `streaming.woodpecker.embedded is false but the release runs no Woodpecker service (no StatefulSet with ${selector}): deploy it first, or switch in embedded mode`, detail: 'no Woodpecker service' };
    }
    const notReady = sets.filter((s) => readyOf(s).ready < readyOf(s).want).map((s) => `statefulset/${s.metadata?.name} ${readyOf(s).ready}/${readyOf(s).want}`);
    if (notReady.length) return { mode, tag, selector, refusal: `the Woodpecker service is not ready: ${notReady.join(', ')}`, detail: 'Woodpecker service not ready' };
    return { mode, tag, selector, detail: `Woodpecker service ${sets.map((s) => `statefulset/${s.metadata?.name} ${readyOf(s).ready}/${readyOf(s).want}`).join(', ')}` };
  }
  // Embedded: the WAL goes to the release's object storage.
  const storageType = r.method === 'helm' ? String(getPath(values, 'streaming.woodpecker.storage.type') ?? 'minio') : 'minio';
  if (storageType === 'local' && r.mode === 'cluster') {
    return { mode, refusal: 'streaming.woodpecker.storage.type is "local": in a cluster every pod would need one shared file system (the docs: supported but not recommended with Helm, not supported on the Operator); use minio', detail: 'local storage' };
  }
  const external = r.method === 'helm' ? truthy(getPath(values, 'externalS3.enabled')) : truthy(getPath(spec, 'dependencies.storage.external'));
  if (external) {
    const host = r.method === 'helm' ? getPath(values, 'externalS3.host') : getPath(spec, 'dependencies.storage.endpoint');
    const bucket = r.method === 'helm' ? getPath(values, 'externalS3.bucketName') : undefined;
    if (typeof host !== 'string' || !host) return { mode, refusal: 'the release uses an external object storage without an address', detail: 'external object storage, no address' };
    return { mode, detail: `external object storage ${host}${bucket ? `, bucket ${String(bucket)}` : ''} (configured; not probed from here)` };
  }
  if (storageType === 'local') return { mode, detail: 'local storage on the standalone volume' };
  const selector = minioSelector(r.method, r.name);
  const [sets, deps] = await Promise.all([
    kube.listAll({ verb: 'list', resource: 'statefulsets.apps', namespace: ns }, (o) => kube.apps.listNamespacedStatefulSet({ namespace: ns, ...o }), { labelSelector: selector }),
    kube.listAll({ verb: 'list', resource: 'deployments.apps', namespace: ns }, (o) => kube.apps.listNamespacedDeployment({ namespace: ns, ...o }), { labelSelector: selector }),
  ]);
  const all = [...sets.map((s) => ({ kind: 'statefulset', s })), ...deps.map((s) => ({ kind: 'deployment', s }))];
  if (!all.length) return { mode, refusal: `no object storage of the release found (no MinIO with ${selector}, no external S3 configured)`, detail: 'no object storage' };
  const shown = all.map(({ kind, s }) => `${kind}/${s.metadata?.name} ${readyOf(s).ready}/${readyOf(s).want}`);
  if (all.some(({ s }) => readyOf(s).ready < readyOf(s).want || readyOf(s).want === 0)) return { mode, refusal: `the release's MinIO is not ready: ${shown.join(', ')}`, detail: 'MinIO not ready' };
  return { mode, detail: `the release's MinIO ${shown.join(', ')}` };
}
