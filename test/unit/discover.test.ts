import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  QUERYNODE_CURRENT_GROUP_ANNOTATION,
  QUERYNODE_GROUP_LABEL,
  helmFullname,
  helmMessageQueue,
  helmQueue,
  operatorIdleDeployments,
  operatorMode,
  componentsRunning,
  decidingVersions,
  podsByDeployment,
  releaseRunning,
  servingVersion,
  withRunning,
} from '../../src/release/discover.js';
import { clusterObjects, fixtureComponent } from './release-fixture.js';
import { decodeHelmRelease } from '../../src/release/helm-secret.js';
import { anyPulsarSelector, pulsarSelector } from '../../src/release/labels.js';
import type { MilvusComponent } from '../../src/release/types.js';
import { lowestVersion, versionFromImage } from '../../src/release/version.js';
import { hasPath, mergeValues, type Values } from '../../src/util/values.js';

describe('chart naming', () => {
  it('follows milvus.fullname', () => {
    expect(helmFullname('my-release', {})).toBe('my-release-milvus');
    expect(helmFullname('milvus-prod', {})).toBe('milvus-prod');
    expect(helmFullname('my-release', { fullnameOverride: 'custom-' })).toBe('custom');
    expect(helmFullname('my-release', { nameOverride: 'vdb' })).toBe('my-release-vdb');
  });
});

describe('message queue from values, in the chart precedence order', () => {
  it('prefers Pulsar v2 when both Pulsar generations are enabled', () => {
    expect(helmMessageQueue({ pulsar: { enabled: true }, pulsarv3: { enabled: true } }, 'cluster')).toBe('pulsar-v2');
  });
  it('recognises v3, kafka, external pulsar and standalone rocksmq', () => {
    expect(helmMessageQueue({ pulsar: { enabled: false }, pulsarv3: { enabled: true } }, 'cluster')).toBe('pulsar-v3');
    expect(helmMessageQueue({ kafka: { enabled: true } }, 'cluster')).toBe('kafka');
    expect(helmMessageQueue({ externalPulsar: { enabled: true }, pulsar: { enabled: true } }, 'cluster')).toBe('external-pulsar');
    expect(helmMessageQueue({}, 'standalone')).toBe('rocksmq');
    expect(helmMessageQueue({}, 'cluster')).toBe('unknown');
  });
});

describe('message queue as the chart renders mq.type (A, then B, then C: the last one written wins)', () => {
  // The defaults of the charts the rules are read from (milvus-helm): 4.2.21, 4.2.43, 5.0.19.
  const chart4_2_21 = { cluster: { enabled: true }, standalone: { messageQueue: 'rocksmq' }, pulsar: { enabled: true }, pulsarv3: { enabled: false }, kafka: { enabled: false }, externalPulsar: { enabled: false }, externalKafka: { enabled: false } };
  const chart4_2_43 = { ...chart4_2_21, pulsar: { enabled: false }, pulsarv3: { enabled: true }, woodpecker: { enabled: false } };
  const chart5 = { ...chart4_2_43, standalone: { messageQueue: 'woodpecker' } };
  const standalone = (defaults: Values, over: Values = {}) => mergeValues(defaults, mergeValues({ cluster: { enabled: false } }, over));
  const dep = (annotation?: string) => ({ name: 'r-milvus-standalone', annotation });

  it('a default chart-5 standalone runs Woodpecker (not the pulsarv3 default)', () => {
    expect(helmQueue(standalone(chart5), 'standalone', { chartVersion: '5.0.19', revision: 1, standaloneDeployment: null })).toEqual({
      mq: 'woodpecker',
      evidence: 'values standalone.messageQueue=woodpecker (cluster.enabled=false, overrides pulsarv3.enabled=true)',
    });
  });
  it('a chart-4 standalone with pulsarv3 left at its default runs RocksMQ', () => {
    expect(helmQueue(standalone(chart4_2_43), 'standalone', { chartVersion: '4.2.43', revision: 3, standaloneDeployment: dep() }).mq).toBe('rocksmq');
    expect(helmQueue(standalone(chart4_2_21, { pulsar: { enabled: false } }), 'standalone', { chartVersion: '4.2.21', revision: 1, standaloneDeployment: null }).mq).toBe('rocksmq');
  });
  it('standalone.messageQueue overrides kafka for a standalone', () => {
    expect(helmQueue(standalone(chart4_2_43, { kafka: { enabled: true } }), 'standalone', { chartVersion: '4.2.43', revision: 1, standaloneDeployment: null })).toEqual({
      mq: 'rocksmq',
      evidence: 'values standalone.messageQueue=rocksmq (cluster.enabled=false, overrides pulsarv3.enabled=true, kafka.enabled=true)',
    });
  });
  it('kafka overrides pulsar in a cluster; standalone.messageQueue is not read', () => {
    expect(helmQueue(mergeValues(chart4_2_21, { kafka: { enabled: true } }), 'cluster', { chartVersion: '4.2.21', revision: 2 })).toEqual({ mq: 'kafka', evidence: 'values kafka.enabled=true (overrides pulsar.enabled=true)' });
    expect(helmQueue(mergeValues(chart5, { externalKafka: { enabled: true } }), 'cluster', { chartVersion: '5.0.19', revision: 2 }).mq).toBe('kafka');
    expect(helmQueue(chart5, 'cluster', { chartVersion: '5.0.19', revision: 1 }).mq).toBe('pulsar-v3');
  });
  it('chart 5 after revision 1: the standalone Deployment annotation names what the chart rendered', () => {
    const upgraded = standalone(chart5);
    expect(helmQueue(upgraded, 'standalone', { chartVersion: '5.0.19', revision: 2, standaloneDeployment: dep('rocksmq') })).toEqual({
      mq: 'rocksmq',
      evidence: 'Deployment r-milvus-standalone annotation milvus.io/message-queue=rocksmq (what the chart renders for values standalone.messageQueue=woodpecker after revision 1, overrides pulsarv3.enabled=true)',
    });
    expect(helmQueue(upgraded, 'standalone', { chartVersion: '5.0.19', revision: 4, standaloneDeployment: dep('woodpecker') }).mq).toBe('woodpecker');
    // A standalone that ran on Pulsar v3 (standalone.messageQueue=pulsar rendered "pulsar" into the annotation).
    expect(helmQueue(upgraded, 'standalone', { chartVersion: '5.0.19', revision: 3, standaloneDeployment: dep('pulsar') }).mq).toBe('pulsar-v3');
  });
  it('chart 5 after revision 1: a Deployment without the annotation keeps RocksMQ; no Deployment: Woodpecker', () => {
    const upgraded = standalone(chart5);
    const kept = helmQueue(upgraded, 'standalone', { chartVersion: '5.0.19', revision: 2, standaloneDeployment: dep() });
    expect(kept.mq).toBe('rocksmq');
    expect(kept.evidence).toMatch(/^values standalone\.messageQueue=woodpecker, but Deployment r-milvus-standalone has no milvus\.io\/message-queue annotation: the chart keeps rocksmq after revision 1/);
    expect(helmQueue(upgraded, 'standalone', { chartVersion: '5.0.19', revision: 2, standaloneDeployment: null }).mq).toBe('woodpecker');
  });
  it('the annotation is read only where the chart reads it: values other than woodpecker, revision 1, charts before 5', () => {
    expect(helmQueue(standalone(chart5, { standalone: { messageQueue: 'rocksmq' } }), 'standalone', { chartVersion: '5.0.19', revision: 3, standaloneDeployment: dep('woodpecker') }).mq).toBe('rocksmq');
    expect(helmQueue(standalone(chart5), 'standalone', { chartVersion: '5.0.19', revision: 1, standaloneDeployment: dep('rocksmq') }).mq).toBe('woodpecker');
    expect(helmQueue(standalone(chart5), 'standalone', { chartVersion: '4.2.41', revision: 3, standaloneDeployment: dep('rocksmq') }).mq).toBe('woodpecker');
  });
  it('standalone.messageQueue=woodpecker renders only in charts 4.2.41-4.2.42 and 5.0.0 on', () => {
    const wp = (v: string) => helmQueue(standalone(chart4_2_43, { standalone: { messageQueue: 'woodpecker' } }), 'standalone', { chartVersion: v, revision: 1, standaloneDeployment: null }).mq;
    expect([wp('4.2.40'), wp('4.2.41'), wp('4.2.43'), wp('4.2.60'), wp('5.0.0')]).toEqual(['pulsar-v3', 'woodpecker', 'pulsar-v3', 'pulsar-v3', 'woodpecker']);
    expect(helmQueue(mergeValues(chart4_2_43, { woodpecker: { enabled: true } }), 'cluster', { chartVersion: '4.2.43' }).mq).toBe('woodpecker');
  });
  it('status evidence names a flag the chart passes over', () => {
    expect(helmQueue({ pulsar: { enabled: true }, woodpecker: { enabled: true } }, 'cluster').evidence).toBe('values pulsar.enabled=true (chart precedence over woodpecker.enabled=true)');
  });
});

describe('label selectors never match by name prefix', () => {
  it('selects one release exactly', () => {
    expect(pulsarSelector('helm', 'my-release', 'pulsar')).toBe('app=pulsar,release=my-release');
    expect(pulsarSelector('operator', 'my-release', 'pulsar')).toBe('app=pulsar,release=my-release-pulsar');
    expect(anyPulsarSelector('helm', 'r')).toBe('app in (pulsar,pulsarv3),release=r');
  });
});

describe('helm release records', () => {
  it('decodes base64(gzip(json)) as Helm stores it', () => {
    const rec = { name: 'r', namespace: 'n', version: 3, config: { pulsar: { enabled: true } }, chart: { metadata: { version: '4.2.8' } } };
    const payload = gzipSync(Buffer.from(JSON.stringify(rec))).toString('base64');
    expect(decodeHelmRelease(payload)).toEqual(rec);
  });
});

describe('values', () => {
  it('merges user values over chart defaults like helm, null deleting a key', () => {
    const merged = mergeValues({ a: { b: 1, c: 2 }, d: [1], e: 'x' }, { a: { c: 3 }, d: [2], e: null });
    expect(merged).toEqual({ a: { b: 1, c: 3 }, d: [2] });
    expect(hasPath({ pulsar: { enabled: false } }, 'pulsar.enabled')).toBe(true);
    expect(hasPath({ pulsar: {} }, 'pulsar.enabled')).toBe(false);
  });
});

describe('versions', () => {
  it('reads versions from image tags', () => {
    expect(versionFromImage('milvusdb/milvus:v2.4.5')).toBe('2.4.5');
    expect(versionFromImage('registry:5000/milvusdb/milvus:v2.2.0-20230101-abc')).toBe('2.2.0');
    expect(versionFromImage('registry:5000/milvusdb/milvus')).toBeUndefined();
    expect(versionFromImage('milvusdb/milvus:latest')).toBeUndefined();
    expect(lowestVersion(['2.4.5', undefined, '2.2.10', '2.10.0'])).toBe('2.2.10');
  });
});

describe('Milvus Operator: serving and idle Deployments', () => {
  const dep = (name: string, component: string, replicas: number, image: string, group?: string): MilvusComponent => ({
    component: component as never,
    name,
    image,
    version: versionFromImage(image),
    replicas,
    readyReplicas: replicas,
    updatedReplicas: replicas,
    availableReplicas: replicas,
    strategy: 'RollingUpdate',
    deployment: { metadata: { name, labels: group === undefined ? {} : ({ [QUERYNODE_GROUP_LABEL]: group } as Record<string, string>) } },
  });
  const cr = (mode: string, annotations: Record<string, string> = {}) => ({ metadata: { name: 'r', annotations }, spec: { mode } });

  it('a cluster release never serves from its 0-replica standalone Deployment nor from the dummy querynode group', () => {
    const comps = [
      dep('r-milvus-standalone', 'standalone', 0, 'milvusdb/milvus:v2.5.4'),
      dep('r-milvus-proxy', 'proxy', 1, 'milvusdb/milvus:v2.5.4'),
      dep('r-milvus-querynode-0', 'querynode', 1, 'milvusdb/milvus:v2.5.4', '0'),
      dep('r-milvus-querynode-1', 'querynode', 0, 'dummy', '1'),
    ];
    expect([...operatorIdleDeployments(cr('cluster'), comps)].sort()).toEqual(['r-milvus-querynode-1', 'r-milvus-standalone']);
    expect(operatorMode(cr('cluster'))).toBe('cluster');
    expect(operatorMode({ metadata: { name: 'r' }, spec: {} })).toBe('standalone');
  });

  it('after a rolling update the current group named by the resource serves, the old one is idle', () => {
    const comps = [
      dep('r-milvus-querynode-0', 'querynode', 0, 'milvusdb/milvus:v2.5.4', '0'),
      dep('r-milvus-querynode-1', 'querynode', 1, 'milvusdb/milvus:v2.5.5', '1'),
      dep('r-milvus-proxy', 'proxy', 1, 'milvusdb/milvus:v2.5.5'),
    ];
    expect([...operatorIdleDeployments(cr('cluster', { [QUERYNODE_CURRENT_GROUP_ANNOTATION]: '1' }), comps)]).toEqual(['r-milvus-querynode-0']);
    expect(servingVersion(comps.filter((c) => c.name !== 'r-milvus-querynode-0') )).toBe('2.5.5');
  });

  it('a stopped release keeps its version from the stopped Deployments', () => {
    expect(servingVersion([dep('r-milvus-proxy', 'proxy', 0, 'milvusdb/milvus:v2.1.4')] )).toBe('2.1.4');
  });

  it('selects both Pulsar labels of the operator', () => {
    expect(anyPulsarSelector('operator', 'r')).toBe('app in (pulsar,pulsarv2),release=r-pulsar');
  });
});

describe('what runs: versions from the pods, not the templates', () => {
  it('maps pods to their Deployment through the ReplicaSet owner, a pod without a listed ReplicaSet by selector; finished pods run nothing', () => {
    const proxy = clusterObjects({ component: 'proxy', template: '2.4.6', pods: ['2.4.5', '2.4.6'], replicas: 2 });
    const node = clusterObjects({ component: 'querynode', template: '2.4.5' });
    const orphan = { ...node.pods[0]!, metadata: { ...node.pods[0]!.metadata, name: 'orphan', ownerReferences: [] } };
    const done = { ...node.pods[0]!, metadata: { ...node.pods[0]!.metadata, name: 'finished' }, spec: { containers: [{ name: 'querynode', image: 'milvusdb/milvus:v2.3.0' }] }, status: { phase: 'Succeeded' } };
    const map = podsByDeployment([proxy.deployment, node.deployment], [...proxy.replicaSets, ...node.replicaSets], [...proxy.pods, ...node.pods, orphan, done]);
    expect(map.get('r-milvus-proxy')!.map((p) => p.spec!.containers[0]!.image)).toEqual(['milvusdb/milvus:v2.4.5', 'milvusdb/milvus:v2.4.6']);
    expect(map.get('r-milvus-querynode')!.map((p) => p.metadata!.name)).toEqual([node.pods[0]!.metadata!.name, 'orphan']);
    // ReplicaSets not read (a fleet read, or RBAC): the controller's naming links them.
    const byName = podsByDeployment([proxy.deployment, node.deployment], [], [...proxy.pods, ...node.pods]);
    expect(byName.get('r-milvus-proxy')!.length).toBe(2);
    expect(byName.get('r-milvus-querynode')!.length).toBe(1);
  });

  it('without the ReplicaSets a pod goes to the Deployment its ReplicaSet is named after (`<deployment>-<pod-template-hash>`), not to every Deployment whose selector matches', () => {
    // Two querynode Deployments whose selectors both match the first one's pod (the second,
    // newer, has no pod yet): the pod runs 2.4.5 for the first only.
    const node = clusterObjects({ component: 'querynode', template: '2.4.5' });
    const other = { ...node.deployment, metadata: { ...node.deployment.metadata, name: 'r-milvus-querynode-1' } };
    const map = podsByDeployment([node.deployment, other], [], node.pods);
    expect(map.get('r-milvus-querynode')!.map((p) => p.metadata!.name)).toEqual([node.pods[0]!.metadata!.name]);
    expect(map.get('r-milvus-querynode-1')).toEqual([]);
    // A hash label that is not its ReplicaSet's suffix links nothing: the selectors decide.
    const relabelled = { ...node.pods[0]!, metadata: { ...node.pods[0]!.metadata, labels: { ...node.pods[0]!.metadata!.labels, 'pod-template-hash': 'zzz' } } };
    const bySelector = podsByDeployment([node.deployment, other], [], [relabelled]);
    expect(bySelector.get('r-milvus-querynode')!.length).toBe(1);
    expect(bySelector.get('r-milvus-querynode-1')!.length).toBe(1);
  });

  it('a half-rolled component runs both versions; the release is mixed and its version the lowest that runs', () => {
    const proxy = fixtureComponent({ component: 'proxy', template: '2.4.6', pods: ['2.4.5', '2.4.6'], replicas: 2 });
    const mix = fixtureComponent({ component: 'mixcoord', template: '2.4.6' });
    expect(proxy.version).toBe('2.4.6');
    expect(proxy.running).toEqual(['2.4.5', '2.4.6']);
    expect(proxy.rollout).toBe('progressing');
    expect(releaseRunning([proxy, mix])).toBe('mixed');
    expect(servingVersion([proxy, mix])).toBe('2.4.5');
  });

  it('a paused rollout: every template says 2.4.6, every pod runs 2.4.5: the release runs 2.4.5', () => {
    const cs = (['mixcoord', 'proxy'] as const).map((c) => fixtureComponent({ component: c, template: '2.4.6', pods: ['2.4.5'], paused: true }));
    expect(cs.map((c) => [c.paused, c.rollout])).toEqual([[true, 'paused'], [true, 'paused']]);
    expect(releaseRunning(cs)).toBe('2.4.5');
    expect(servingVersion(cs)).toBe('2.4.5');
  });

  it('a component with no pod counts with its template; pods not read leave the running version unknown', () => {
    const stopped = fixtureComponent({ component: 'proxy', template: '2.4.5', replicas: 0 });
    expect(stopped.running).toEqual([]);
    expect(releaseRunning([stopped])).toBe('2.4.5');
    expect(decidingVersions(withRunning(stopped, undefined))).toBeUndefined();
    expect(releaseRunning([withRunning(stopped, undefined)])).toBeUndefined();
  });

  it('an image without a version tag makes the running version unknown, not the others\' version', () => {
    const latest = fixtureComponent({ component: 'proxy', template: 'milvusdb/milvus:latest' });
    const tagged = fixtureComponent({ component: 'mixcoord', template: '2.4.5' });
    expect(releaseRunning([latest, tagged])).toBeUndefined();
  });
});

describe('componentsRunning: what a hop checks its source against', () => {
  it('distinct running versions, an untagged image as undefined, pods not read as undefined; pods being deleted do not count', () => {
    const a = fixtureComponent({ component: 'proxy', template: '2.4.6', pods: ['2.4.5', '2.4.6'], replicas: 2 });
    expect(componentsRunning([a])).toEqual(['2.4.5', '2.4.6']);
    expect(componentsRunning([a, fixtureComponent({ component: 'mixcoord', template: 'milvusdb/milvus:latest' })])).toEqual(['2.4.5', '2.4.6', undefined]);
    expect(componentsRunning([withRunning(a, undefined)])).toBeUndefined();
    const o = clusterObjects({ component: 'proxy', template: '2.4.6', pods: ['2.4.5', '2.4.6'], replicas: 2 });
    o.pods[0]!.metadata!.deletionTimestamp = new Date();
    expect(podsByDeployment([o.deployment], o.replicaSets, o.pods).get('r-milvus-proxy')!.length).toBe(1);
  });
});
