import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { deploymentRolloutStatus } from '../../src/kube/rollout.js';
import { deploymentPatch, topologyOf, updateOrder } from '../../src/rolling-update/order.js';
import type { ComponentName, MilvusComponent } from '../../src/release/types.js';

const comp = (component: ComponentName, name = `r-milvus-${component}`): MilvusComponent => ({
  component,
  name,
  deployment: { spec: { template: { spec: { containers: [{ name: component, image: 'milvusdb/milvus:v2.4.5' }] } } } } as V1Deployment,
  image: 'milvusdb/milvus:v2.4.5',
  version: '2.4.5',
  replicas: 1,
  readyReplicas: 1,
  updatedReplicas: 1,
  availableReplicas: 1,
  strategy: 'RollingUpdate',
});

describe('update order per topology (never skipping mixcoord or streamingnode)', () => {
  it('separate coordinators', () => {
    const cs = ['proxy', 'querynode', 'rootcoord', 'datanode', 'indexnode', 'querycoord', 'datacoord', 'indexcoord'].map((c) => comp(c as ComponentName));
    expect(topologyOf(cs)).toBe('separate-coordinators');
    expect(updateOrder(cs, false).map((c) => c.component)).toEqual(['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'querynode', 'datanode', 'proxy']);
  });
  it('mixcoord, and reversed for a downgrade', () => {
    const cs = ['proxy', 'mixcoord', 'datanode', 'querynode', 'indexnode'].map((c) => comp(c as ComponentName));
    expect(updateOrder(cs, false).map((c) => c.component)).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(updateOrder(cs, true).map((c) => c.component)).toEqual(['proxy', 'datanode', 'querynode', 'mixcoord', 'indexnode']);
  });
  it('streaming (2.6) keeps several querynode groups together', () => {
    const cs = [comp('proxy'), comp('querynode', 'r-milvus-querynode-b'), comp('streamingnode'), comp('mixcoord'), comp('querynode', 'r-milvus-querynode-a'), comp('datanode')];
    expect(topologyOf(cs)).toBe('streaming');
    expect(updateOrder(cs, false).map((c) => c.name)).toEqual([
      'r-milvus-mixcoord', 'r-milvus-streamingnode', 'r-milvus-querynode-a', 'r-milvus-querynode-b', 'r-milvus-datanode', 'r-milvus-proxy',
    ]);
  });
});

describe('deployment patch', () => {
  it('sets the component container image, the version label and a rolling strategy; standalone keeps its strategy', () => {
    expect(deploymentPatch(comp('mixcoord'), 'milvusdb/milvus:v2.4.6', '2.4.6')).toEqual({
      metadata: { labels: { 'app.kubernetes.io/version': '2.4.6' } },
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: { spec: { containers: [{ name: 'mixcoord', image: 'milvusdb/milvus:v2.4.6' }] } },
      },
    });
    expect(deploymentPatch(comp('standalone'), 'x:1', undefined).spec).not.toHaveProperty('strategy');
  });
});

describe("kubectl's rollout status rules", () => {
  const d = (gen: number, status: Record<string, unknown>, replicas = 2): V1Deployment => ({ metadata: { name: 'x', generation: gen }, spec: { replicas } as never, status });
  it('waits for the spec to be observed, then for updated, old and available replicas', () => {
    expect(deploymentRolloutStatus(d(2, { observedGeneration: 1 })).message).toBe('Waiting for deployment spec update to be observed...');
    expect(deploymentRolloutStatus(d(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 2 })).message).toContain('1 out of 2 new replicas have been updated');
    expect(deploymentRolloutStatus(d(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 3 })).message).toContain('1 old replicas are pending termination');
    expect(deploymentRolloutStatus(d(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 })).message).toContain('1 of 2 updated replicas are available');
    expect(deploymentRolloutStatus(d(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })).done).toBe(true);
  });
  it('fails on ProgressDeadlineExceeded', () => {
    const s = deploymentRolloutStatus(d(2, { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }));
    expect(s.failed).toBe('deployment "x" exceeded its progress deadline');
  });
});
