/**
 * The message queues of a release that the switch leaves behind: what deploys each one (Helm
 * values of the Milvus chart, or the Helm release the Operator installed it as), and the label
 * selector of its workloads and volumes (never names: `my-release` never matches `my-release-2`).
 */
import semver from 'semver';
import { getPath, truthy } from '../util/values.js';
import { STANDALONE_MQ_ANNOTATION } from '../release/discover.js';
import { kafkaSelector, pulsarSelector, anyPulsarSelector } from '../release/labels.js';
import type { MessageQueue, Release } from '../release/types.js';
import { SWITCH_TARGET } from './rules.js';

export interface OldQueue {
  kind: 'pulsar-v2' | 'pulsar-v3' | 'pulsar' | 'kafka';
  label: string;
  /** Helm: the values that deploy it; the cleanup sets them to false (the chart removes its workloads). */
  helmFlags: string[];
  /** Operator: the Helm release it was installed as (`<name>-pulsar`, `<name>-kafka`). */
  dependencyRelease?: string | undefined;
  /** Its workloads and volumes. */
  selector: string;
}

/** Every in-cluster queue the release's installer can deploy, in-use or not. */
export function queueCandidates(r: Release): OldQueue[] {
  if (r.method === 'helm') {
    const values = r.helm?.computedValues ?? {};
    const v3name = String(getPath(values, 'pulsarv3.name') ?? 'pulsarv3');
    return [
      { kind: 'pulsar-v2', label: 'Pulsar v2', helmFlags: ['pulsar.enabled'], selector: pulsarSelector('helm', r.name, 'pulsar') },
      { kind: 'pulsar-v3', label: 'Pulsar v3', helmFlags: ['pulsarv3.enabled'], selector: pulsarSelector('helm', r.name, v3name) },
      { kind: 'kafka', label: 'Kafka', helmFlags: ['kafka.enabled'], selector: kafkaSelector('helm', r.name) },
    ];
  }
  return [
    { kind: 'pulsar', label: 'Pulsar', helmFlags: [], dependencyRelease: `${r.name}-pulsar`, selector: anyPulsarSelector('operator', r.name) },
    { kind: 'kafka', label: 'Kafka', helmFlags: [], dependencyRelease: `${r.name}-kafka`, selector: kafkaSelector('operator', r.name) },
  ];
}

/** Helm values that still deploy a queue (true in the computed values). */
export function enabledFlags(r: Release, q: OldQueue): string[] {
  const values = r.helm?.computedValues ?? {};
  return q.helmFlags.filter((f) => truthy(getPath(values, f)));
}

/** What the cleanup cannot delete from the cluster, per source queue (said in the plan). */
export function outsideCleanup(mq: MessageQueue): string | undefined {
  if (mq === 'external-pulsar') return 'the external Pulsar keeps the Milvus topics (<cluster prefix>-dml_<n>_<collection>v<n>): clean them in that Pulsar (switch-pulsar-woodpecker.md)';
  if (mq === 'rocksmq') return 'RocksMQ keeps its files on the Milvus volume (rdb_data, rdb_data_meta_kv): they are not deleted';
  return undefined;
}

/** External Kafka: the chart's externalKafka, or the Operator's dependencies.kafka.external. */
export function externalKafka(r: Release): boolean {
  if (r.mq !== 'kafka') return false;
  if (r.method === 'helm') return truthy(getPath(r.helm?.computedValues ?? {}, 'externalKafka.enabled'));
  return truthy(getPath(r.operator?.resource.spec ?? {}, 'dependencies.kafka.external'));
}

/**
 * Whether the installation names Woodpecker: the Operator's spec.dependencies.msgStreamType; for
 * Helm, the queue the chart renders (discovery's rule: a standalone's standalone.messageQueue, on
 * chart 5 through the standalone Deployment's annotation), or, in a cluster, woodpecker.enabled
 * while Pulsar v2 or Kafka values still ahead of it in the chart's order are left for --cleanup.
 */
export function installationNamesWoodpecker(r: Release): boolean {
  if (r.method === 'operator') return getPath(r.operator?.resource.spec ?? {}, 'dependencies.msgStreamType') === SWITCH_TARGET;
  if (r.mq === SWITCH_TARGET) return true;
  return r.mode !== 'standalone' && truthy(getPath(r.helm?.computedValues ?? {}, 'woodpecker.enabled'));
}

/**
 * Chart 5 renders a standalone's standalone.messageQueue=woodpecker after revision 1 as the
 * queue its Deployment's milvus.io/message-queue annotation names (no annotation: rocksmq): the
 * Deployment to annotate before the upgrade that names Woodpecker, and what it says now.
 */
export function standaloneAnnotationToSet(r: Release): { deployment: string; now: string | undefined } | undefined {
  const chart = r.helm?.chartVersion;
  if (r.method !== 'helm' || r.mode !== 'standalone' || !chart || (semver.valid(chart) && semver.lt(chart, '5.0.0'))) return undefined;
  const d = r.components.find((c) => c.component === 'standalone');
  if (!d) return undefined;
  const now = d.deployment.metadata?.annotations?.[STANDALONE_MQ_ANNOTATION];
  return now === SWITCH_TARGET ? undefined : { deployment: d.name, now };
}

/**
 * The Helm values that make the chart name Woodpecker while the old queue's workloads stay
 * (set explicitly, so that --reset-then-reuse-values keeps them): for a standalone
 * standalone.messageQueue=woodpecker, then woodpecker.enabled=true, the
 * Woodpecker mode as it is, the in-cluster queue kept, an external queue turned off (it has no
 * workloads here; left on, the chart would keep configuring Milvus for it).
 */
export function switchValues(r: Release, embedded: boolean): Array<[string, string]> {
  const values = r.helm?.computedValues ?? {};
  // A standalone's queue is standalone.messageQueue: the chart writes it last, over every switch.
  const sets: Array<[string, string]> = [...(r.mode === 'standalone' ? [['standalone.messageQueue', SWITCH_TARGET] as [string, string]] : []), ['woodpecker.enabled', 'true'], ['streaming.woodpecker.embedded', String(embedded)]];
  if (truthy(getPath(values, 'externalPulsar.enabled'))) sets.push(['externalPulsar.enabled', 'false']);
  if (truthy(getPath(values, 'externalKafka.enabled'))) sets.push(['externalKafka.enabled', 'false']);
  for (const f of ['pulsar.enabled', 'pulsarv3.enabled', 'kafka.enabled']) {
    if (truthy(getPath(values, f)) && !sets.some(([k]) => k === f)) sets.push([f, 'true']);
  }
  return sets;
}
