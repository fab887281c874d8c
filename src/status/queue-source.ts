/**
 * Where the message queue of a release is named, for `status`: the Helm values (in the chart's own
 * precedence), the Operator's spec.dependencies.msgStreamType, and, from Milvus 3.0 on (when the WAL
 * can be switched), etcd's `<rootPath>/config/mqtype`, which outranks the configuration files: after
 * `mq-switch` it is what Milvus runs. An etcd that cannot be read is said so, never taken as
 * "not switched".
 */
import type { RunContext } from '../cli/context.js';
import { connectReleaseEtcd } from '../backup-meta/connect.js';
import { mqTypeKey, readMqType } from '../mq-switch/mq-type.js';
import type { Release } from '../release/types.js';
import { versionAtLeast } from '../release/version.js';
import { helmQueue } from '../release/discover.js';
import { getPath } from '../util/values.js';

export type EtcdQueueRead = { key: string; value: string | undefined } | { key?: string | undefined; error: string };

/** mq.type in the release's etcd, for releases that can have one (3.0 and later); undefined otherwise. */
export async function readEtcdQueue(ctx: RunContext, r: Release): Promise<EtcdQueueRead | undefined> {
  if (!versionAtLeast(r.milvusVersion, '3.0.0')) return undefined;
  try {
    const e = await connectReleaseEtcd(ctx, r);
    try {
      return { key: mqTypeKey(e.rootPath), value: await readMqType(e.etcd, e.rootPath) };
    } finally {
      await e.close();
    }
  } catch (x) {
    if (ctx.signal.aborted) throw x;
    return { error: (x as Error).message };
  }
}

/** What the installation says, as "values kafka.enabled=true (overrides pulsarv3.enabled=true)" or "resource spec.dependencies.msgStreamType=kafka". */
export function installSource(r: Release): string {
  if (r.method === 'operator') {
    const t = getPath(r.operator?.resource.spec ?? {}, 'dependencies.msgStreamType');
    return typeof t === 'string' && t ? `resource spec.dependencies.msgStreamType=${t}` : `resource without spec.dependencies.msgStreamType (operator default for ${r.mode})`;
  }
  return r.helm?.mqEvidence ?? helmQueue(r.helm?.computedValues ?? {}, r.mode, { chartVersion: r.helm?.chartVersion }).evidence;
}

/** The queue's source line and, when etcd names another WAL than the installation, what runs. */
export function queueSource(r: Release, etcd: EtcdQueueRead | undefined): { source: string; etcd?: string | undefined; runs?: string | undefined } {
  let etcdText: string | undefined;
  let runs: string | undefined;
  if (etcd && 'error' in etcd) etcdText = `etcd not read: ${etcd.error}`;
  else if (etcd) {
    etcdText = etcd.value === undefined ? `etcd ${etcd.key} not set (never switched)` : `etcd ${etcd.key}=${etcd.value}`;
    if (etcd.value === 'woodpecker' && r.mq !== 'woodpecker') runs = 'woodpecker';
  }
  return { source: [installSource(r), ...(etcdText ? [etcdText] : [])].join('; '), etcd: etcdText, runs };
}
