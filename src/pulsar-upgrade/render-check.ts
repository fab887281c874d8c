/**
 * What the reinstall will bring back, read from manifests before anything is uninstalled: the
 * etcd and MinIO volume names (the reinstall must bind the same PVCs, or Milvus starts on empty
 * metadata and object storage) and the Milvus version of the images. Pure functions over
 * `helm get manifest` and `helm template` output.
 */
import yaml from 'js-yaml';
import semver from 'semver';
import { MIN_CHART_FOR_V3 } from './chart-version.js';
import { versionFromImage } from '../release/version.js';

interface K8sObject {
  kind?: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    volumeClaimTemplates?: Array<{ metadata?: { name?: string } }>;
    template?: { spec?: { containers?: Array<{ image?: string }>; initContainers?: Array<{ image?: string }> } };
  };
}

function objects(manifest: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of yaml.loadAll(manifest)) if (doc && typeof doc === 'object') out.push(doc as K8sObject);
  return out;
}

const isEtcd = (o: K8sObject) => o.metadata?.labels?.['app.kubernetes.io/name'] === 'etcd';
const isMinio = (o: K8sObject) => o.metadata?.labels?.app === 'minio' || o.metadata?.labels?.['app.kubernetes.io/name'] === 'minio';

/** The PVC names etcd and MinIO use: standalone PVC objects and each StatefulSet ordinal's claims. */
export function dataVolumeNames(manifest: string): { etcd: string[]; minio: string[] } {
  const etcd: string[] = [];
  const minio: string[] = [];
  for (const o of objects(manifest)) {
    const into = isEtcd(o) ? etcd : isMinio(o) ? minio : undefined;
    if (!into) continue;
    if (o.kind === 'PersistentVolumeClaim' && o.metadata?.name) into.push(o.metadata.name);
    if (o.kind === 'StatefulSet' && o.metadata?.name) {
      const replicas = o.spec?.replicas ?? 1;
      for (const t of o.spec?.volumeClaimTemplates ?? []) for (let i = 0; i < replicas; i++) into.push(`${t.metadata?.name}-${o.metadata.name}-${i}`);
    }
  }
  return { etcd: etcd.sort(), minio: minio.sort() };
}

/** The Milvus versions of the milvusdb/milvus images the manifest runs. */
export function milvusVersions(manifest: string): string[] {
  const found = new Set<string>();
  for (const o of objects(manifest)) {
    if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet') continue;
    const pod = o.spec?.template?.spec;
    for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      const repo = c.image?.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
      if (!repo || !/(^|\/)milvus$/.test(repo)) continue;
      const v = versionFromImage(c.image);
      if (v) found.add(v);
    }
  }
  return [...found].sort(semver.compare);
}

/** Differences that make the reinstall unsafe, one line each; empty when it brings back the same data. */
export function volumeDifferences(saved: string, rendered: string): string[] {
  const a = dataVolumeNames(saved);
  const b = dataVolumeNames(rendered);
  const out: string[] = [];
  for (const k of ['etcd', 'minio'] as const) {
    if (a[k].join(',') !== b[k].join(',')) out.push(`${k} volumes: now ${a[k].join(', ') || 'none'}, after the reinstall ${b[k].join(', ') || 'none'}`);
  }
  return out;
}

export { MIN_CHART_FOR_V3 };
