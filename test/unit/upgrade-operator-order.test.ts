/** How the Operator hop judges the operator's rollout order (src/upgrade/operator-hop.ts). */
import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { orderViolation, progressOf } from '../../src/upgrade/operator-hop.js';

const NEW = 'milvusdb/milvus:v2.6.5';
const OLD = 'milvusdb/milvus:v2.5.16';
const ORDER = ['streamingnode', 'mixcoord', 'querynode', 'datanode', 'proxy'] as const;

function dep(component: string, image: string, done: boolean, replicas = 1): V1Deployment {
  return {
    metadata: { name: `r-milvus-${component}`, generation: 2, labels: { 'app.kubernetes.io/component': component } },
    spec: { replicas, selector: {}, template: { spec: { containers: [{ name: component, image }] } } },
    status: { observedGeneration: 2, replicas, updatedReplicas: done ? replicas : 0, availableReplicas: replicas, readyReplicas: replicas },
  } as V1Deployment;
}

describe('the operator follows the order', () => {
  it('reports old, rolling and done per component', () => {
    const p = progressOf([dep('streamingnode', NEW, true), dep('mixcoord', NEW, false), dep('querynode', OLD, true)], [...ORDER], NEW);
    expect(p.map((x) => x.state)).toEqual(['done', 'rolling', 'old', 'old', 'old']);
    expect(orderViolation(p)).toBeUndefined();
  });
  it('names a component that started before the one ahead of it finished', () => {
    const p = progressOf([dep('streamingnode', NEW, false), dep('mixcoord', OLD, true), dep('querynode', NEW, false), dep('proxy', OLD, true)], [...ORDER], NEW);
    expect(orderViolation(p)).toEqual({ early: 'querynode', waitingFor: 'streamingnode' });
  });
  it('does not wait on an idle Deployment (the 0-replica querynode of a pair)', () => {
    const p = progressOf([dep('streamingnode', NEW, true), dep('mixcoord', NEW, true), dep('querynode', NEW, true), dep('querynode', 'dummy', false, 0)], [...ORDER], NEW);
    expect(p[2]!.state).toBe('done');
  });
  it('everything done: no violation', () => {
    const p = progressOf(ORDER.map((c) => dep(c, NEW, true)), [...ORDER], NEW);
    expect(p.every((x) => x.state === 'done')).toBe(true);
    expect(orderViolation(p)).toBeUndefined();
  });
});
