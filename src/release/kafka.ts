/**
 * Whether the release runs its Kafka itself. The chart configures Milvus for `externalKafka` when
 * it is enabled, whatever `kafka.enabled` says (config.tpl); the operator installs Kafka unless
 * `spec.dependencies.kafka.external` is set.
 */
import { getPath, truthy } from '../util/values.js';
import type { Release } from './types.js';

export function kafkaRunsInCluster(release: Release): boolean {
  if (release.mq !== 'kafka') return false;
  if (release.method === 'helm') {
    const values = release.helm?.computedValues ?? {};
    return !truthy(getPath(values, 'externalKafka.enabled')) && truthy(getPath(values, 'kafka.enabled'));
  }
  return !truthy(getPath(release.operator?.resource.spec ?? {}, 'dependencies.kafka.external'));
}
