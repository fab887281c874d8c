/**
 * The two edits pulsar-upgrade makes to what it saved: Helm values switched from Pulsar v2 to v3
 * (everything else kept), and a Milvus manifest cleaned of server fields and pointed at the
 * operator's Pulsar v3 chart.
 */
import { isPlainObject, type Values } from '../util/values.js';
import type { MilvusResource } from '../release/types.js';

export function toPulsarV3Values(user: Values): Values {
  const out = structuredClone(user);
  out.pulsar = { ...(isPlainObject(out.pulsar) ? out.pulsar : {}), enabled: false };
  out.pulsarv3 = { ...(isPlainObject(out.pulsarv3) ? out.pulsarv3 : {}), enabled: true };
  return out;
}

const SERVER_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];
/**
 * The operator's own bookkeeping (milvus.io/dependency-values-merged, milvus.io/pod-service-label-added,
 * ...): kept, the operator would take the merged Pulsar v2 values as done and install Pulsar v3
 * from bare chart defaults. The runbook nulls them; so do we.
 */
const OPERATOR_ANNOTATION_PREFIX = 'milvus.io/';

/** Dotted keys of the Pulsar v2 chart values the recreate drops (they do not apply to the v3 chart). */
export function droppedPulsarValues(saved: MilvusResource): string[] {
  const values = saved.spec?.dependencies?.pulsar?.inCluster?.values;
  const out: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (isPlainObject(v) && Object.keys(v).length) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    else if (path) out.push(path);
  };
  walk(values, '');
  return out.sort();
}

type Policy = { deletionPolicy?: string | null; pvcDeletion?: boolean | null };

/** Merge patch that puts the deletion policies of etcd, storage and Pulsar back as they were saved. */
export function revertPolicyPatch(saved: MilvusResource): { spec: { dependencies: Record<string, { inCluster: Policy }> } } {
  const deps = (saved.spec?.dependencies ?? {}) as Record<string, { inCluster?: Policy } | undefined>;
  const one = (k: string): { inCluster: Policy } => ({
    inCluster: { deletionPolicy: deps[k]?.inCluster?.deletionPolicy ?? null, pvcDeletion: deps[k]?.inCluster?.pvcDeletion ?? null },
  });
  return { spec: { dependencies: { etcd: one('etcd'), storage: one('storage'), pulsar: one('pulsar') } } };
}

/** The resource carries our "drop Pulsar with its volumes" policy. */
export function hasPulsarDeletePolicy(m: MilvusResource): boolean {
  const p = m.spec?.dependencies?.pulsar?.inCluster as Policy | undefined;
  return p?.deletionPolicy === 'Delete' && p?.pvcDeletion === true;
}

/** The saved Milvus resource as a creatable manifest with Pulsar v3 (chart pulsar-v3, values reset). */
export function toPulsarV3Manifest(saved: MilvusResource): MilvusResource {
  const m = structuredClone(saved);
  const annotations = { ...(m.metadata.annotations ?? {}) };
  for (const a of SERVER_ANNOTATIONS) delete annotations[a];
  for (const a of Object.keys(annotations)) if (a.startsWith(OPERATOR_ANNOTATION_PREFIX)) delete annotations[a];
  const labels = m.metadata.labels;
  m.metadata = {
    name: m.metadata.name,
    ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}),
    ...(labels && Object.keys(labels).length ? { labels } : {}),
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  delete m.status;
  const spec = (m.spec ??= {});
  const deps = (spec.dependencies ??= {});
  const pulsar = (deps.pulsar ??= {});
  const inCluster = (pulsar.inCluster ??= {});
  inCluster.chartVersion = 'pulsar-v3';
  // v2 chart values do not apply to the v3 chart: start from the operator's defaults.
  delete inCluster.values;
  return m;
}

/** Merge patch that keeps etcd and object storage and lets the operator remove Pulsar with its volumes. */
export const DELETION_POLICY_PATCH = {
  spec: {
    dependencies: {
      etcd: { inCluster: { deletionPolicy: 'Retain', pvcDeletion: false } },
      storage: { inCluster: { deletionPolicy: 'Retain', pvcDeletion: false } },
      pulsar: { inCluster: { deletionPolicy: 'Delete', pvcDeletion: true } },
    },
  },
};
