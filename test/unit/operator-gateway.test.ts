import { describe, expect, it } from 'vitest';
import { minioAnswer, serviceNames } from '../../testbed/operator-deps/gateway.js';

describe('test bed dependency gateway', () => {
  it('names a Service as in-cluster DNS does, with the etcd pods behind a headless Service', () => {
    const names = serviceNames({ metadata: { name: 'r-etcd-headless', namespace: 'ns', annotations: { 'testbed.kubectl-milvus.io/pods': 'r-etcd' } } });
    expect(names.slice(0, 3)).toEqual(['r-etcd-headless.ns', 'r-etcd-headless.ns.svc', 'r-etcd-headless.ns.svc.cluster.local']);
    expect(names).toContain('r-etcd-0.r-etcd-headless.ns');
    expect(names).toContain('r-etcd-2.r-etcd-headless.ns.svc.cluster.local');
    expect(serviceNames({ metadata: { name: 'r-minio', namespace: 'ns' } })).toHaveLength(3);
  });

  it('answers madmin ServerInfo with one online server and S3 GetBucketLocation', () => {
    const info = minioAnswer('GET', '/minio/admin/v3/info');
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body).servers[0].state).toBe('online');
    const loc = minioAnswer('GET', '/a-bucket?location=');
    expect(loc.body).toContain('<LocationConstraint');
  });
});
