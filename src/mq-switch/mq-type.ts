/**
 * Where Milvus records the WAL it runs after a switch: the configuration key `mq.type` in its etcd
 * config source, `<rootPath>/config/mqtype` (paramtable's etcd source has KeyPrefix = etcd.rootPath;
 * Manager.UpdateConfigInEtcd writes `<prefix>/config/<key lower-cased without "/", "_", ".">`;
 * milvus-io/milvus tests/integration/walswitch TestWALSwitch reads exactly this key). The etcd source
 * outranks the configuration files, so this key, once written, is what Milvus runs.
 */
import type { EtcdGateway } from '../backup-meta/etcd.js';

/** Milvus's formatKey: lower case, without "/", "_" and ".". */
export function etcdConfigKey(rootPath: string, key: string): string {
  return `${rootPath}/config/${key.toLowerCase().replace(/[/_.]/g, '')}`;
}

export const mqTypeKey = (rootPath: string) => etcdConfigKey(rootPath, 'mq.type');

/** The value of mq.type in etcd, or undefined when the key is absent (never switched). A failed read throws. */
export async function readMqType(etcd: EtcdGateway, rootPath: string): Promise<string | undefined> {
  const r = await etcd.call<{ kvs?: Array<{ value?: string }> }>('/v3/kv/range', { key: Buffer.from(mqTypeKey(rootPath)).toString('base64') });
  const kv = r.kvs?.[0];
  return kv ? Buffer.from(kv.value ?? '', 'base64').toString('utf8') : undefined;
}
