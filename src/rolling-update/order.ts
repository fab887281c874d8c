/**
 * The order Milvus components are updated in, per topology: Milvus Operator's dependency graph
 * (pkg/controllers/dependency_graph.go) applied to Helm releases too. Unlike upstream
 * rollingUpdate.sh, every Milvus component is updated (mixcoord and streamingnode included) and
 * nothing else (attu, cdc) is touched. A downgrade runs in reverse.
 */
import type { ComponentName, MilvusComponent } from '../release/types.js';

export type Topology = 'separate-coordinators' | 'mixcoord' | 'streaming' | 'standalone';

const ORDERS: Record<Topology, ComponentName[]> = {
  'separate-coordinators': ['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'querynode', 'datanode', 'proxy'],
  mixcoord: ['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy'],
  streaming: ['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy'],
  standalone: ['standalone'],
};

export function topologyOf(components: MilvusComponent[]): Topology {
  const names = new Set(components.map((c) => c.component));
  if (names.has('standalone')) return 'standalone';
  if (names.has('streamingnode')) return 'streaming';
  if (names.has('mixcoord')) return 'mixcoord';
  return 'separate-coordinators';
}

/** Components in update order; several Deployments of one component (e.g. querynode groups) stay together. */
export function updateOrder(components: MilvusComponent[], downgrade: boolean): MilvusComponent[] {
  const order = ORDERS[topologyOf(components)];
  const rank = (c: MilvusComponent) => {
    const i = order.indexOf(c.component);
    return i < 0 ? order.length : i;
  };
  const sorted = [...components].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  return downgrade ? sorted.reverse() : sorted;
}

export const COORDINATORS = new Set<ComponentName>(['mixcoord', 'rootcoord', 'datacoord', 'querycoord', 'indexcoord']);

/** Strategic-merge patch of one Deployment: image of the component's container, version label, rolling strategy. */
export function deploymentPatch(c: MilvusComponent, image: string, version: string | undefined) {
  const containers = c.deployment.spec?.template?.spec?.containers ?? [];
  const container = containers.find((x) => x.name === c.component) ?? containers[0];
  const rolling = c.component !== 'standalone';
  return {
    metadata: version ? { labels: { 'app.kubernetes.io/version': version } } : {},
    spec: {
      ...(rolling ? { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } : {}),
      template: { spec: { containers: [{ name: container?.name ?? c.component, image }] } },
    },
  };
}

/** The text added to the chart's user.yaml so that coordinators run active-standby. */
export const ACTIVE_STANDBY_YAML = [
  'rootCoord:',
  '  enableActiveStandby: true',
  'queryCoord:',
  '  enableActiveStandby: true',
  'dataCoord:',
  '  enableActiveStandby: true',
  'indexCoord:',
  '  enableActiveStandby: true',
].join('\n');
