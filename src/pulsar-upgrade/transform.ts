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

/** The saved Milvus resource as a creatable manifest with Pulsar v3 (chart pulsar-v3, values reset). */
export function toPulsarV3Manifest(saved: MilvusResource): MilvusResource {
  const m = structuredClone(saved);
  const annotations = { ...(m.metadata.annotations ?? {}) };
  for (const a of SERVER_ANNOTATIONS) delete annotations[a];
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
