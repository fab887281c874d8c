import { describe, expect, it } from 'vitest';
import { looksLikeFlag, pinnedChartVersion } from '../../src/pulsar-upgrade/chart-version.js';
import { dataVolumeNames, milvusVersions, volumeDifferences } from '../../src/pulsar-upgrade/render-check.js';

const manifest = (etcdClaim: string, tag: string, etcdReplicas = 1) => `
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: rel-etcd, labels: {app.kubernetes.io/name: etcd, app.kubernetes.io/instance: rel}}
spec:
  replicas: ${etcdReplicas}
  template: {spec: {containers: [{name: etcd, image: docker.io/milvusdb/etcd:3.5.16}]}}
  volumeClaimTemplates: [{metadata: {name: ${etcdClaim}}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: rel-minio, labels: {app: minio, release: rel}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rel-milvus-proxy}
spec:
  template: {spec: {containers: [{name: proxy, image: "milvusdb/milvus:${tag}"}], initContainers: [{name: config, image: "milvusdb/milvus-config-tool:v0.1.2"}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rel-attu}
spec:
  template: {spec: {containers: [{name: attu, image: zilliz/attu:v2.4.0}]}}
`;

describe('what the reinstall brings back', () => {
  it('reads etcd and MinIO claim names, per StatefulSet ordinal', () => {
    expect(dataVolumeNames(manifest('data', 'v2.4.5', 3))).toEqual({ etcd: ['data-rel-etcd-0', 'data-rel-etcd-1', 'data-rel-etcd-2'], minio: ['rel-minio'] });
  });
  it('reads the Milvus version of milvusdb/milvus images only', () => {
    expect(milvusVersions(manifest('data', 'v2.4.5'))).toEqual(['2.4.5']);
  });
  it('names the volume differences', () => {
    expect(volumeDifferences(manifest('data', 'v2.4.5'), manifest('data', 'v2.5.4'))).toEqual([]);
    expect(volumeDifferences(manifest('data', 'v2.4.5'), manifest('etcd-data', 'v2.4.5'))).toEqual(['etcd volumes: now data-rel-etcd-0, after the reinstall etcd-data-rel-etcd-0']);
  });
  it('pins the chart version: given, else the source when it can run Pulsar v3, else the lowest that can', () => {
    expect(pinnedChartVersion('4.2.50', '4.2.30')).toBe('4.2.50');
    expect(pinnedChartVersion(undefined, '4.2.30')).toBe('4.2.30');
    expect(pinnedChartVersion(undefined, '4.2.20')).toBe('4.2.29');
    expect(pinnedChartVersion(undefined, undefined)).toBe('4.2.29');
    expect(looksLikeFlag('--post-renderer=x')).toBe(true);
    expect(looksLikeFlag('zilliztech/milvus')).toBe(false);
  });
});

describe('the Operator recreate manifest', async () => {
  const { droppedPulsarValues, revertPolicyPatch, toPulsarV3Manifest } = await import('../../src/pulsar-upgrade/transform.js');
  const saved = {
    apiVersion: 'milvus.io/v1beta1',
    kind: 'Milvus',
    metadata: { name: 'm', annotations: { 'milvus.io/dependency-values-merged': 'true', 'milvus.io/pod-service-label-added': 'true', team: 'a' }, resourceVersion: '5' },
    spec: { dependencies: { etcd: { inCluster: { deletionPolicy: 'Retain' } }, pulsar: { inCluster: { chartVersion: 'pulsar-v2', values: { bookkeeper: { replicaCount: 3 }, broker: {} } } } } },
  } as never;
  it('drops the operator annotations and lists the dropped Pulsar values', () => {
    const m = toPulsarV3Manifest(saved) as { metadata: { annotations?: Record<string, string> } };
    expect(m.metadata.annotations).toEqual({ team: 'a' });
    expect(droppedPulsarValues(saved)).toEqual(['bookkeeper.replicaCount', 'broker']);
  });
  it('reverts the deletion policies to the saved ones (null where none was set)', () => {
    expect(revertPolicyPatch(saved)).toEqual({
      spec: {
        dependencies: {
          etcd: { inCluster: { deletionPolicy: 'Retain', pvcDeletion: null } },
          storage: { inCluster: { deletionPolicy: null, pvcDeletion: null } },
          pulsar: { inCluster: { deletionPolicy: null, pvcDeletion: null } },
        },
      },
    });
  });
});
