/**
 * The order Milvus components are updated in, per topology: Milvus Operator's dependency graph
 * (pkg/controllers/dependency_graph.go) applied to Helm releases too. Unlike upstream
 * rollingUpdate.sh, every Milvus component is updated (mixcoord and streamingnode included) and
 * nothing else (attu, cdc) is touched. A downgrade runs in reverse.
 */
import type { ComponentName, MilvusComponent } from '../release/types.js';
import { versionAtLeast, versionBelow } from '../release/version.js';

export type Topology = 'separate-coordinators' | 'mixcoord' | 'streaming' | 'standalone';

/**
 * Every component has a place in every order, so that an unusual layout (an indexnode left in a
 * streaming release) is still updated at a sensible point, never skipped or appended blindly.
 */
const ORDERS: Record<Topology | 'to-2.6', ComponentName[]> = {
  'separate-coordinators': ['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy', 'standalone'],
  mixcoord: ['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy', 'standalone'],
  streaming: ['rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'mixcoord', 'streamingnode', 'indexnode', 'querynode', 'datanode', 'proxy', 'standalone'],
  // Operator GetDependenciesFor2_6Upgrade: streaming nodes first when a release crosses into 2.6.
  'to-2.6': ['streamingnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'mixcoord', 'indexnode', 'querynode', 'datanode', 'proxy', 'standalone'],
  standalone: ['standalone', 'indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy'],
};

export function topologyOf(components: Array<Pick<MilvusComponent, 'component'>>): Topology {
  const names = new Set(components.map((c) => c.component));
  if (names.has('standalone')) return 'standalone';
  if (names.has('streamingnode')) return 'streaming';
  if (names.has('mixcoord')) return 'mixcoord';
  return 'separate-coordinators';
}

export interface OrderOptions {
  downgrade: boolean;
  /** Running version, to detect an upgrade into 2.6 (streaming nodes go first then). */
  fromVersion?: string | undefined;
  toVersion?: string | undefined;
}

/** The order used for the given components and versions, by component name. */
export function componentOrder(components: Array<Pick<MilvusComponent, 'component'>>, o: Pick<OrderOptions, 'fromVersion' | 'toVersion'> = {}): ComponentName[] {
  const topology = topologyOf(components);
  const into26 = topology === 'streaming' && versionBelow(o.fromVersion, '2.6.0') && versionAtLeast(o.toVersion, '2.6.0');
  return ORDERS[into26 ? 'to-2.6' : topology];
}

/** Components in update order; several Deployments of one component (querynode groups) stay together, by name. */
export function updateOrder<C extends Pick<MilvusComponent, 'component' | 'name'>>(components: C[], o: OrderOptions | boolean): C[] {
  const opts: OrderOptions = typeof o === 'boolean' ? { downgrade: o } : o;
  const order = componentOrder(components, opts);
  const rank = (c: C) => order.indexOf(c.component);
  const sorted = [...components].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  return opts.downgrade ? sorted.reverse() : sorted;
}

export const COORDINATORS: ReadonlySet<ComponentName> = new Set<ComponentName>(['mixcoord', 'rootcoord', 'datacoord', 'querycoord', 'indexcoord']);

export interface PatchOptions {
  /** minReadySeconds for coordinators (upstream uses 30): the standby must be up a while before the active one goes. */
  coordinatorMinReadySeconds: number;
}

/** The name of the container running the component: the one named after it, else the first (as upstream). */
export function componentContainer(c: Pick<MilvusComponent, 'component' | 'deployment'>): string {
  const containers = c.deployment.spec?.template?.spec?.containers ?? [];
  return (containers.find((x) => x.name === c.component) ?? containers[0])?.name ?? c.component;
}

/**
 * Strategic-merge patch of one Deployment: the image of the component's container, the
 * `app.kubernetes.io/version` label, and for coordinators on Recreate a rolling strategy that
 * keeps the old pod until the new one is ready (maxUnavailable 0). A Deployment already on
 * RollingUpdate keeps its own settings; standalone keeps its strategy (Recreate: its volume is
 * ReadWriteOnce).
 */
export function deploymentPatch(
  c: Pick<MilvusComponent, 'component' | 'deployment'>,
  image: string,
  version: string | undefined,
  o: PatchOptions = { coordinatorMinReadySeconds: 0 },
) {
  const spec: Record<string, unknown> = {};
  const strategy = c.deployment.spec?.strategy?.type;
  if (c.component !== 'standalone' && strategy !== 'RollingUpdate') {
    spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
  }
  if (COORDINATORS.has(c.component) && o.coordinatorMinReadySeconds > (c.deployment.spec?.minReadySeconds ?? 0)) {
    spec.minReadySeconds = o.coordinatorMinReadySeconds;
  }
  spec.template = { spec: { containers: [{ name: componentContainer(c), image }] } };
  return {
    ...(version ? { metadata: { labels: { 'app.kubernetes.io/version': version } } } : {}),
    spec,
  };
}

export type Mode = 'rolling' | 'all' | 'downgrade';

/** --mode to the operator's spec.components.imageUpdateMode. */
export const IMAGE_UPDATE_MODE: Record<Mode, 'rollingUpgrade' | 'rollingDowngrade' | 'all'> = {
  rolling: 'rollingUpgrade',
  downgrade: 'rollingDowngrade',
  all: 'all',
};

/**
 * The merge patch of a Milvus resource: only the fields that change (never a partial manifest,
 * which would replace the spec). `version` is set only when the resource already pins one.
 */
export function milvusPatch(image: string, mode: Mode, opts: { version?: string | undefined; pinsVersion: boolean }) {
  return {
    spec: {
      components: {
        image,
        enableRollingUpdate: true,
        imageUpdateMode: IMAGE_UPDATE_MODE[mode],
        ...(opts.pinsVersion && opts.version ? { version: opts.version } : {}),
      },
    },
  };
}
