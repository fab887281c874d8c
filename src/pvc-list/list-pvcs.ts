/**
 * The PVCs of a release and the PVs behind them. By default the message queue's: Pulsar's (v2, v3
 * or operator-managed) and the Woodpecker service's (Helm, service mode: StatefulSet
 * <fullname>-woodpecker, PVCs woodpecker-storage-…); with allComponents also etcd, MinIO and
 * Milvus' own. One paginated list per
 * label family and one list of PVs, selectors evaluated by the server.
 */
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';
import type { Kube } from '../kube/client.js';
import { anyPulsarSelector, etcdSelector, milvusWorkloadSelector, minioSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';

export interface ReleasePvc {
  pvc: V1PersistentVolumeClaim;
  pv: V1PersistentVolume | undefined;
  /** What the volume holds: "bookie journal", "bookie ledgers", "zookeeper", "etcd", "minio"... */
  component: string;
  /** Pulsar generation of the volume, for Pulsar volumes of a Helm release (v2/v3). */
  pulsar: 'v2' | 'v3' | undefined;
}

export interface PvcListResult {
  items: ReleasePvc[];
  /** PVs could not be listed (RBAC); reclaim policies are unknown. */
  pvsForbidden: boolean;
}

function componentOf(pvc: V1PersistentVolumeClaim): string {
  const labels = pvc.metadata?.labels ?? {};
  const name = pvc.metadata?.name ?? '';
  const comp = labels.component ?? labels['app.kubernetes.io/component'];
  if (labels.app === 'pulsar' || labels.app === 'pulsarv2' || labels.app === 'pulsarv3') {
    if (comp === 'bookie' || /-bookie-/.test(name)) {
      if (/-journal-/.test(name)) return 'bookie journal';
      if (/-ledgers-/.test(name)) return 'bookie ledgers';
      return 'bookie';
    }
    if (comp === 'zookeeper' || /-zookeeper-/.test(name)) return 'zookeeper';
    return comp ?? 'pulsar';
  }
  if (labels['app.kubernetes.io/name'] === 'etcd') return 'etcd';
  if (labels.app === 'minio') return 'minio';
  if (labels['app.kubernetes.io/name'] === 'milvus' && comp === 'woodpecker') return 'woodpecker';
  if (labels['app.kubernetes.io/name'] === 'milvus') return comp ? `milvus ${comp}` : 'milvus';
  return comp ?? 'other';
}

function pulsarGeneration(pvc: V1PersistentVolumeClaim, release: Release): 'v2' | 'v3' | undefined {
  const app = pvc.metadata?.labels?.app;
  if (release.method === 'helm') return app === 'pulsarv3' ? 'v3' : app === 'pulsar' ? 'v2' : undefined;
  // Operator: v2 and v3 PVCs share names; Apache pulsar 2.7.8 (pulsar-v2) labels them
  // app=pulsarv2, pulsar 3.3.0 (pulsar-v3, its name forced to "pulsar") app=pulsar.
  return app === 'pulsarv2' ? 'v2' : app === 'pulsar' ? 'v3' : undefined;
}

export async function listReleasePvcs(kube: Kube, release: Release, allComponents: boolean): Promise<PvcListResult> {
  const ns = release.namespace;
  const selectors = [anyPulsarSelector(release.method, release.name), `${milvusWorkloadSelector(release.name)},component=woodpecker`];
  if (allComponents) {
    selectors.push(
      etcdSelector(release.method, release.name),
      minioSelector(release.method, release.name),
      milvusWorkloadSelector(release.name),
    );
    if (release.method === 'operator') selectors.push(`release=${release.name}`);
  }
  const seen = new Map<string, V1PersistentVolumeClaim>();
  for (const labelSelector of selectors) {
    const pvcs = await kube.listAll(
      { verb: 'list', resource: 'persistentvolumeclaims', namespace: ns },
      (o) => kube.core.listNamespacedPersistentVolumeClaim({ namespace: ns, ...o }),
      { labelSelector },
    );
    for (const p of pvcs) if (p.metadata?.name && !seen.has(p.metadata.name)) seen.set(p.metadata.name, p);
  }
  const pvs = new Map<string, V1PersistentVolume>();
  let pvsForbidden = false;
  if (seen.size > 0) {
    try {
      const all = await kube.listAll(
        { verb: 'list', resource: 'persistentvolumes' },
        (o) => kube.core.listPersistentVolume(o),
      );
      for (const pv of all) if (pv.metadata?.name) pvs.set(pv.metadata.name, pv);
    } catch (e) {
      if (e instanceof CliError && e.exitCode === ExitCode.FORBIDDEN) pvsForbidden = true;
      else throw e;
    }
  }
  const items = [...seen.values()]
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    .map((pvc) => ({
      pvc,
      pv: pvc.spec?.volumeName ? pvs.get(pvc.spec.volumeName) : undefined,
      component: componentOf(pvc),
      pulsar: pulsarGeneration(pvc, release),
    }));
  return { items, pvsForbidden };
}

const ACCESS: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};

export function accessModes(pvc: V1PersistentVolumeClaim): string {
  const modes = pvc.status?.accessModes ?? pvc.spec?.accessModes ?? [];
  return modes.map((m) => ACCESS[m] ?? m).join(',');
}
