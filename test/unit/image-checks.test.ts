import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { goneImage, goneImageRisks, imageRepository, imagesCheck } from '../../src/health/image-checks.js';

const pod = (name: string, image: string, waiting?: { reason: string; message?: string }): V1Pod => ({
  metadata: { name },
  spec: { containers: [{ name: 'c', image }] },
  status: {
    phase: waiting ? 'Pending' : 'Running',
    containerStatuses: [{ name: 'c', image, imageID: '', ready: !waiting, restartCount: 0, state: waiting ? { waiting } : { running: {} } }],
  },
});

describe('images', () => {
  it('spells repositories as a registry would', () => {
    expect(imageRepository('minio/minio:RELEASE.2023-03-20T20-16-18Z')).toEqual({ registry: 'docker.io', repository: 'minio/minio' });
    expect(imageRepository('docker.io/minio/minio@sha256:abc')).toEqual({ registry: 'docker.io', repository: 'minio/minio' });
    expect(imageRepository('index.docker.io/library/busybox:1')).toEqual({ registry: 'docker.io', repository: 'busybox' });
    expect(imageRepository('quay.io/minio/minio:RELEASE.2023-03-20T20-16-18Z')).toEqual({ registry: 'quay.io', repository: 'minio/minio' });
    expect(imageRepository('localhost:5000/minio/minio')).toEqual({ registry: 'localhost:5000', repository: 'minio/minio' });
  });

  it("Docker Hub's MinIO images are gone, with the fix for each install method; quay.io's are not", () => {
    expect(goneImage('minio/minio:RELEASE.2023-03-20T20-16-18Z', 'helm')).toMatch(/^minio\/minio:RELEASE\.2023-03-20T20-16-18Z: Docker Hub's minio\/minio is gone .*fix: helm upgrade to chart >= 5\.0\.28 .*minio\.image\.repository=quay\.io\/minio\/minio/);
    expect(goneImage('docker.io/minio/mc:RELEASE.2022', 'operator')).toContain('spec.dependencies.storage.inCluster.values.mcImage.repository: quay.io/minio/mc');
    expect(goneImage('quay.io/minio/minio:RELEASE.2023-03-20T20-16-18Z', 'helm')).toBeUndefined();
    expect(goneImage('milvusdb/milvus:v2.4.5', 'helm')).toBeUndefined();
    const risks = goneImageRisks('helm', [
      { kind: 'Deployment', name: 'r-minio', images: ['minio/minio:RELEASE.2023-03-20T20-16-18Z'] },
      { kind: 'StatefulSet', name: 'r-etcd', images: ['docker.io/milvusdb/etcd:3.5.16'] },
      { kind: 'StatefulSet', name: 'r-pulsar-bookie' },
    ]);
    expect(risks).toHaveLength(1);
    expect(risks[0]).toMatch(/^deployment\/r-minio runs minio\/minio:RELEASE\.2023-03-20T20-16-18Z: Docker Hub's minio\/minio is gone/);
  });

  it('a pod that cannot pull its image is critical, naming pod and image (and the fix when the repository is gone)', () => {
    expect(imagesCheck([pod('r-minio-0', 'quay.io/minio/minio:x'), pod('r-milvus-proxy-1', 'milvusdb/milvus:v2.4.5')], 'helm')).toMatchObject({ check: 'images', status: 'ok' });
    const c = imagesCheck(
      [
        pod('r-minio-6f', 'minio/minio:RELEASE.2023-03-20T20-16-18Z', { reason: 'ImagePullBackOff', message: 'Back-off pulling image "minio/minio:RELEASE.2023-03-20T20-16-18Z"' }),
        pod('r-milvus-proxy-1', 'milvusdb/milvus:v2.4.99', { reason: 'ErrImagePull' }),
        pod('r-etcd-0', 'docker.io/milvusdb/etcd:3.5.16', { reason: 'ContainerCreating' }),
      ],
      'helm',
    );
    expect(c.status).toBe('critical');
    expect(c.detail).toMatch(/^pod\/r-minio-6f cannot pull minio\/minio:RELEASE\.2023-03-20T20-16-18Z \(ImagePullBackOff: Back-off pulling image .*\); Docker Hub's minio\/minio is gone .*fix: helm upgrade/);
    expect(c.detail).toContain('pod/r-milvus-proxy-1 cannot pull milvusdb/milvus:v2.4.99 (ErrImagePull)');
    expect(c.detail).not.toContain('r-etcd-0');
  });
});
