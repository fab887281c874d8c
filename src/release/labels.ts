/**
 * Label selectors of a release's objects, as the Milvus chart and Milvus Operator really set
 * them (research: chart _helpers.tpl, operator label_annotations.go). Objects are always selected
 * by these labels, never by name prefix, so `my-release` never matches `my-release-2`.
 */
import type { InstallMethod } from './types.js';

export function milvusWorkloadSelector(release: string): string {
  return `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus`;
}

/** The label holding the component name: bare `component` (chart) or the prefixed one (operator). */
export function componentLabelKey(method: InstallMethod): string {
  return method === 'helm' ? 'component' : 'app.kubernetes.io/component';
}

export function componentSelector(method: InstallMethod, release: string, component: string): string {
  return `${milvusWorkloadSelector(release)},${componentLabelKey(method)}=${component}`;
}

/** Pulsar's Helm release name: the Milvus release (chart sub-chart) or `<name>-pulsar` (operator). */
export function pulsarReleaseLabel(method: InstallMethod, release: string): string {
  return method === 'helm' ? release : `${release}-pulsar`;
}

export function pulsarSelector(method: InstallMethod, release: string, app: 'pulsar' | 'pulsarv3' | string): string {
  return `app=${app},release=${pulsarReleaseLabel(method, release)}`;
}

/**
 * Every Pulsar object of the release, v2 and v3 (one server-side selector). The operator installs
 * both chart versions as Helm release `<name>-pulsar`: Apache pulsar 2.7.8 (pulsar-v2) labels
 * them app=pulsarv2, pulsar 3.3.0 (pulsar-v3, values name forced to "pulsar") app=pulsar.
 */
export function anyPulsarSelector(method: InstallMethod, release: string): string {
  return method === 'helm'
    ? `app in (pulsar,pulsarv3),release=${release}`
    : `app in (pulsar,pulsarv2),release=${release}-pulsar`;
}

/** etcd of the release: Bitnami chart labels (helm) or the operator's `<name>-etcd` release. */
export function etcdSelector(method: InstallMethod, release: string): string {
  return `app.kubernetes.io/instance=${method === 'helm' ? release : `${release}-etcd`},app.kubernetes.io/name=etcd`;
}

/**
 * In-cluster Kafka of the release: the Bitnami kafka 15.5.1 sub-chart of the Milvus chart (Helm
 * release = the Milvus release) or the operator's `<name>-kafka` release. Its StatefulSets carry
 * app.kubernetes.io/name=kafka (brokers, `<release>-kafka`) and, from its ZooKeeper sub-chart,
 * app.kubernetes.io/name=zookeeper (`<release>-zookeeper`), both with app.kubernetes.io/instance.
 */
export function kafkaSelector(method: InstallMethod, release: string): string {
  return `app.kubernetes.io/instance=${method === 'helm' ? release : `${release}-kafka`},app.kubernetes.io/name in (kafka,zookeeper)`;
}

/** MinIO of the release (chart labels app=minio, release=<release>). */
export function minioSelector(method: InstallMethod, release: string): string {
  return `app=minio,release=${method === 'helm' ? release : `${release}-minio`}`;
}

export const MILVUS_COMPONENTS = [
  'standalone',
  'proxy',
  'mixcoord',
  'rootcoord',
  'datacoord',
  'querycoord',
  'indexcoord',
  'streamingnode',
  'querynode',
  'datanode',
  'indexnode',
] as const;
