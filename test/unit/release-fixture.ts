/**
 * Releases for unit tests, built the way discovery builds them: Kubernetes objects (Deployment,
 * its ReplicaSets, its pods with owner references) that the cluster can hold, read by discovery's
 * own functions. A component's pods may run another image than its template (a rollout in
 * progress or paused), as they do in a cluster.
 */
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { podsByDeployment, releaseRunning, servingVersion, toComponent, withRunning } from '../../src/release/discover.js';
import type { ComponentName, MilvusComponent, Release } from '../../src/release/types.js';

export interface ComponentSpec {
  component: ComponentName;
  /** The template's version (2.4.6) or image. */
  template: string;
  /** The versions or images of its pods, one entry a pod; default: `replicas` pods on the template. */
  pods?: string[];
  replicas?: number;
  paused?: boolean;
  name?: string;
  /** Ready pods (default: all). */
  ready?: number;
  strategy?: string;
}

const imageOf = (v: string) => (v.includes(':') ? v : `milvusdb/milvus:v${v}`);

/** The Deployment, its ReplicaSets (one per image) and its pods, linked by owner references as the controller links them. */
export function clusterObjects(spec: ComponentSpec, release = 'r'): { deployment: V1Deployment; replicaSets: V1ReplicaSet[]; pods: V1Pod[] } {
  const name = spec.name ?? `${release}-milvus-${spec.component}`;
  const replicas = spec.replicas ?? 1;
  const template = imageOf(spec.template);
  const podImages = (spec.pods ?? Array.from({ length: replicas }, () => spec.template)).map(imageOf);
  const labels = { 'app.kubernetes.io/instance': release, 'app.kubernetes.io/name': 'milvus', component: spec.component };
  const updated = podImages.filter((i) => i === template).length;
  const ready = spec.ready ?? podImages.length;
  const deployment: V1Deployment = {
    metadata: { name, namespace: 'ns', generation: 2, labels },
    spec: {
      replicas,
      paused: spec.paused ?? false,
      selector: { matchLabels: labels },
      strategy: { type: spec.strategy ?? 'RollingUpdate' },
      template: { metadata: { labels }, spec: { containers: [{ name: spec.component, image: template }] } },
    },
    status: {
      observedGeneration: 2,
      replicas: podImages.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      conditions: spec.paused ? [{ type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused' }] : [],
    },
  };
  const images = [...new Set(podImages)];
  // The Deployment controller's naming: ReplicaSet `<deployment>-<hash>`, its pods labelled with the hash.
  const hash = (i: string) => `${images.indexOf(i)}abc`;
  const rsName = (i: string) => `${name}-${hash(i)}`;
  const replicaSets: V1ReplicaSet[] = images.map((i) => ({
    metadata: { name: rsName(i), labels: { ...labels, 'pod-template-hash': hash(i) }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `uid-${name}`, controller: true }] },
    spec: { selector: { matchLabels: labels }, template: { spec: { containers: [{ name: spec.component, image: i }] } } },
  }));
  const pods: V1Pod[] = podImages.map((i, n) => ({
    metadata: { name: `${rsName(i)}-${n}`, labels: { ...labels, 'pod-template-hash': hash(i) }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName(i), uid: `uid-${rsName(i)}`, controller: true }] },
    spec: { containers: [{ name: spec.component, image: i }] },
    status: { phase: 'Running' },
  }));
  return { deployment, replicaSets, pods };
}

/** One component as discovery reads it from its objects. */
export function fixtureComponent(spec: ComponentSpec, release = 'r'): MilvusComponent {
  const o = clusterObjects(spec, release);
  const c = toComponent(o.deployment, 'helm')!;
  return withRunning(c, podsByDeployment([o.deployment], o.replicaSets, o.pods).get(c.name));
}

/** A Helm cluster release on Pulsar v2 with these components; versions as discovery computes them. */
export function fixtureRelease(specs: ComponentSpec[], over: Partial<Release> = {}): Release {
  const components = specs.map((s) => fixtureComponent(s));
  const proxy = components.find((c) => c.component === 'proxy' || c.component === 'standalone');
  return {
    name: 'r',
    namespace: 'ns',
    method: 'helm',
    mode: components.some((c) => c.component === 'standalone') ? 'standalone' : 'cluster',
    helm: {
      revision: 2,
      status: 'deployed',
      chartName: 'milvus',
      chartVersion: '4.2.30',
      appVersion: '2.4.5',
      userValues: { pulsar: { enabled: true } },
      computedValues: { pulsar: { enabled: true }, pulsarv3: { enabled: false } },
      secretName: 'sh.helm.release.v1.r.v2',
      fullname: 'r-milvus',
    },
    workloadSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus',
    components,
    idleComponents: [],
    milvusVersion: servingVersion(components),
    running: releaseRunning(components),
    mq: 'pulsar-v2',
    pulsar: { version: 'v2', selector: 'app=pulsar,release=r', evidence: 'values pulsar.enabled=true', statefulSets: [] },
    proxyDeployment: proxy?.name,
    proxyPodSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus,component=proxy',
    ...over,
  };
}
