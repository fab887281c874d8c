/**
 * What release discovery knows about one Milvus installation. Every command starts from a
 * Release: how it was installed, its topology, versions, message queue and proxy endpoint.
 */
import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';

export type InstallMethod = 'helm' | 'operator';
export type Mode = 'cluster' | 'standalone';
export type MessageQueue =
  | 'pulsar-v2'
  | 'pulsar-v3'
  | 'external-pulsar'
  | 'kafka'
  | 'rocksmq'
  | 'woodpecker'
  | 'natsmq'
  | 'unknown';

/** Milvus component names as the chart's `component` label and the operator's app.kubernetes.io/component. */
export type ComponentName =
  | 'standalone'
  | 'proxy'
  | 'mixcoord'
  | 'rootcoord'
  | 'datacoord'
  | 'querycoord'
  | 'indexcoord'
  | 'streamingnode'
  | 'querynode'
  | 'datanode'
  | 'indexnode';

export interface MilvusComponent {
  component: ComponentName;
  deployment: V1Deployment;
  name: string;
  image: string | undefined;
  /** Version parsed from the image tag (2.4.5 for milvusdb/milvus:v2.4.5), if it is one. */
  version: string | undefined;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  strategy: string | undefined;
  /**
   * What runs, from the component's pods (every pod not Succeeded/Failed nor being deleted):
   * the distinct images of its Milvus container. [] when it has no pod; undefined when the pods
   * were not read (decisions that need it then treat the running version as unknown).
   */
  runningImages?: string[] | undefined;
  /** Distinct Milvus versions of runningImages (lowest first); an image without a version tag adds none. */
  running?: string[] | undefined;
  /** The Deployment's spec.paused. */
  paused?: boolean | undefined;
  /**
   * The rollout by kubectl's rules: complete, progressing (not finished yet), paused (paused with
   * a change not rolled out) or failed (progress deadline exceeded).
   */
  rollout?: RolloutState | undefined;
}

export type RolloutState = 'complete' | 'progressing' | 'paused' | 'failed';

export interface HelmInfo {
  /** The latest revision (the N of sh.helm.release.v1.NAME.vN), whatever its status: what `helm status` shows. */
  revision: number;
  /** The latest revision's status (deployed, failed, pending-upgrade...). */
  status: string;
  /** The highest deployed revision when it is not the latest one (after a failed or pending operation). */
  lastDeployedRevision?: number | undefined;
  chartName: string;
  chartVersion: string;
  appVersion: string | undefined;
  /** User-supplied values (helm get values). */
  userValues: Record<string, unknown>;
  /** Chart defaults merged with user values (helm get values --all). */
  computedValues: Record<string, unknown>;
  secretName: string;
  /** Milvus object names: `<release>-milvus`, or the release name when it contains "milvus". */
  fullname: string;
  /** Which values (or the standalone Deployment's annotation) name the queue, in the chart's precedence. */
  mqEvidence?: string | undefined;
}

export interface OperatorInfo {
  /** The Milvus custom resource as the server returned it. */
  resource: MilvusResource;
  status: string | undefined;
}

export interface MilvusResource {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec?: Record<string, any>;
  status?: {
    status?: string;
    observedGeneration?: number;
    currentImage?: string;
    currentVersion?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }>;
    [k: string]: unknown;
  };
}

export interface PulsarInfo {
  version: 'v2' | 'v3';
  /** Label selector of this release's Pulsar objects and PVCs (app=pulsar,release=my-release). */
  selector: string;
  /** How the version was established, for status output. */
  evidence: string;
  statefulSets: V1StatefulSet[];
}

export interface Release {
  name: string;
  namespace: string;
  method: InstallMethod;
  mode: Mode;
  helm?: HelmInfo;
  operator?: OperatorInfo;
  /** Label selector matching exactly this release's Milvus workloads. */
  workloadSelector: string;
  /** The serving Milvus Deployments (for the operator: without the idle ones, see idleComponents). */
  components: MilvusComponent[];
  /**
   * Deployments the operator keeps but does not serve from: the 0-replica standalone of a cluster
   * release and the querynode group not in use (image "dummy" or the previous image).
   */
  idleComponents: MilvusComponent[];
  /**
   * Lowest Milvus version the serving components run (from their pods; for a component with no
   * pod, its template's): what procedures must assume.
   */
  milvusVersion: string | undefined;
  /**
   * The version every serving component's pods run, or "mixed" when they differ (an update is in
   * progress or was left half done). Undefined when it cannot be told (pods not read, or an image
   * without a version tag).
   */
  running?: string | 'mixed' | undefined;
  mq: MessageQueue;
  pulsar: PulsarInfo | undefined;
  /** The Deployment that serves the management API on 9091 (proxy, or standalone). */
  proxyDeployment: string | undefined;
  /** Label selector of the pods serving the management API. */
  proxyPodSelector: string;
}
