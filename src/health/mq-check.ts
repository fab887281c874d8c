/**
 * The `mq` check of `health`: the message queue Milvus is configured for, graded from what runs.
 * An in-cluster Pulsar or Kafka is graded by its StatefulSets; the embedded queues of a standalone
 * (RocksMQ, NATS) live in the standalone pod the component checks grade. Anything this plugin does
 * not look at (an external queue, Woodpecker, an unknown one) is "not checked", a warning, never ok.
 */
import { kafkaRunsInCluster } from '../release/kafka.js';
import type { MessageQueue, Mode, Release } from '../release/types.js';
import type { DependencyStatus } from '../status/report.js';
import { readiness, type Check } from './checks.js';

export interface QueueFacts {
  mq: MessageQueue;
  mode: Mode;
  /** Kafka only: the release runs it (kafka.enabled, or the operator's in-cluster Kafka). */
  kafkaInCluster: boolean;
}

export function queueFacts(release: Release): QueueFacts {
  return { mq: release.mq, mode: release.mode, kafkaInCluster: kafkaRunsInCluster(release) };
}

const notChecked = (detail: string): Check => ({ check: 'mq', status: 'warning', detail: `not checked: ${detail}` });

export function mqCheck(q: QueueFacts, deps: DependencyStatus[]): Check {
  switch (q.mq) {
    case 'pulsar-v2':
    case 'pulsar-v3': {
      const label = q.mq === 'pulsar-v2' ? 'Pulsar v2' : 'Pulsar v3';
      const pulsar = deps.filter((d) => d.dependency.startsWith('pulsar'));
      return pulsar.length ? readiness('mq', pulsar, label) : { check: 'mq', status: 'critical', detail: `${label} configured, but no Pulsar StatefulSet of the release found` };
    }
    case 'kafka': {
      if (!q.kafkaInCluster) return notChecked('external Kafka, not run by the release; check it where it runs');
      const kafka = deps.filter((d) => d.dependency === 'kafka' || d.dependency === 'kafka zookeeper');
      if (!kafka.some((d) => d.dependency === 'kafka')) {
        return { check: 'mq', status: 'critical', detail: `Kafka configured in the release, but no Kafka broker StatefulSet of the release found${kafka.length ? ` (only ${kafka.map((d) => `statefulset/${d.name}`).join(', ')})` : ''}` };
      }
      return readiness('mq', kafka, 'Kafka');
    }
    case 'rocksmq':
    case 'natsmq': {
      const label = q.mq === 'rocksmq' ? 'RocksMQ' : 'NATS';
      if (q.mode === 'standalone') return { check: 'mq', status: 'ok', detail: `${label} runs inside the standalone pod (graded by the components and healthz checks)` };
      return notChecked(`${label} configured for a cluster-mode release, where no component runs it`);
    }
    case 'external-pulsar':
      return notChecked('external Pulsar, not run by the release; check it where it runs');
    case 'woodpecker':
      return notChecked('Woodpecker (this plugin does not inspect it)');
    default:
      return notChecked(`message queue ${q.mq}: not recognised`);
  }
}
