/**
 * The metadata snapshot file: gzip-compressed JSON lines, written and read as streams so 100,000
 * keys need little memory.
 *
 *   line 1      {"format":"kubectl-milvus.io/meta-snapshot","version":2,"release",...,"prefix","trees","revision"}
 *   lines 2..n  {"k":"<base64 key>","v":"<base64 value>"}        in etcd's key order
 *   last line   {"end":true,"keys":N,"sha256":"<hex>","skippedLeased":M}
 *
 * Only Milvus's own sub-trees of the root path are kept (`<root>/kv/` and `<root>/meta/`): a
 * nested root path of another Milvus in a shared etcd (`<root>/other/...`) is never read, and so
 * never replaced by a restore. The hash covers the root prefix first, then every key and value
 * (each as a 4-byte big-endian length and its bytes), so a file is verified by reading it again
 * and an edited prefix is caught; after a restore, etcd's keys are hashed the same way. Format 1
 * (every key under the root, prefix not hashed) is refused with its own exit code.
 * Keys with a lease (Milvus sessions, which expire with their process) are counted but not kept:
 * restored without their lease they would never expire and would block Milvus from starting.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip } from 'node:zlib';
import { CliError, ExitCode } from '../errors.js';
import type { EtcdGateway, KeyValue, RangePage } from './etcd.js';

export const SNAPSHOT_FORMAT = 'kubectl-milvus.io/meta-snapshot';
export const SNAPSHOT_VERSION = 2;
/** Milvus's sub-trees of its root path (etcd.kvSubPath and etcd.metaSubPath), in etcd's byte order. */
export const MILVUS_TREES = ['kv/', 'meta/'] as const;
export const milvusTrees = (prefix: string) => MILVUS_TREES.map((t) => `${prefix}${t}`);
export const underTrees = (key: string, prefix: string) => milvusTrees(prefix).some((t) => key.startsWith(t));
/** Keys per range request: etcd counts the whole rest of the range on each page, so pages are large. */
const PAGE_SIZE = 2000;

export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  release: string;
  namespace: string;
  method: string;
  rootPath: string;
  /** The root path's prefix, rootPath + "/" (covered by the hash). */
  prefix: string;
  /** The sub-trees of the prefix that were read: `<prefix>kv/`, `<prefix>meta/`. */
  trees: string[];
  /** etcd revision the snapshot was read at. */
  revision: string;
  etcdVersion: string;
  milvusVersion: string | undefined;
  createdAt: string;
  source: string;
}

export interface SnapshotTrailer {
  end: true;
  keys: number;
  sha256: string;
  skippedLeased: number;
}

export interface SnapshotInfo extends SnapshotHeader {
  keys: number;
  sha256: string;
  skippedLeased: number;
  file: string;
  bytes: number;
}

export const badSnapshot = (message: string, hint?: string) => new CliError(message, ExitCode.BAD_SNAPSHOT, hint);

/** Hash of key/value pairs in order: sha256 over (len key)(key)(len value)(value). */
export class PairHash {
  private readonly h: Hash = createHash('sha256');
  count = 0;
  /** With a prefix: the prefix is hashed first (as a pair "prefix" -> prefix, not counted). */
  constructor(prefix?: string) {
    if (prefix !== undefined) {
      this.add(Buffer.from('prefix'), Buffer.from(prefix, 'utf8'));
      this.count = 0;
    }
  }
  add(key: Buffer, value: Buffer): void {
    const len = Buffer.alloc(8);
    len.writeUInt32BE(key.length, 0);
    len.writeUInt32BE(value.length, 4);
    this.h.update(len.subarray(0, 4));
    this.h.update(key);
    this.h.update(len.subarray(4));
    this.h.update(value);
    this.count++;
  }
  /** The same from base64 text, without decoding into buffers (no garbage per key). */
  addBase64(key: string, value: string): void {
    const len = Buffer.alloc(8);
    len.writeUInt32BE(base64Length(key), 0);
    len.writeUInt32BE(base64Length(value), 4);
    this.h.update(len.subarray(0, 4));
    this.h.update(key, 'base64');
    this.h.update(len.subarray(4));
    this.h.update(value, 'base64');
    this.count++;
  }
  digest(): string {
    return this.h.digest('hex');
  }
}

/** Bytes encoded by a (padded) base64 string. */
export function base64Length(s: string): number {
  if (s.length === 0) return 0;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

export const leased = (kv: KeyValue) => kv.lease !== undefined && kv.lease !== '0';

/**
 * Milvus's sub-trees of `prefix` at one revision, page by page (the revision of the first page).
 */
export async function* rangeMilvusTrees(etcd: EtcdGateway, prefix: string, pageSize = PAGE_SIZE): AsyncGenerator<RangePage> {
  let revision: string | undefined;
  for (const tree of milvusTrees(prefix)) {
    for await (const page of etcd.rangePrefix(Buffer.from(tree, 'utf8'), { pageSize, ...(revision ? { revision } : {}) })) {
      revision ??= page.revision;
      yield page;
    }
  }
}

/** The hash and count of what etcd holds in Milvus's sub-trees of `prefix` now (keys with a lease left out). */
export async function hashEtcdTrees(etcd: EtcdGateway, prefix: string): Promise<{ keys: number; sha256: string; revision: string; leased: number }> {
  const h = new PairHash(prefix);
  let revision = '0';
  let leasedKeys = 0;
  for await (const page of rangeMilvusTrees(etcd, prefix)) {
    revision = page.revision;
    for (const kv of page.kvs) {
      if (leased(kv)) {
        leasedKeys++;
        continue;
      }
      h.addBase64(kv.key, kv.value ?? '');
    }
  }
  return { keys: h.count, sha256: h.digest(), revision, leased: leasedKeys };
}

/**
 * Reads every key under the header's prefix at one revision and writes the snapshot to `file`
 * (mode 0600), through a temporary file renamed only after the written file verified.
 */
export async function writeSnapshot(
  etcd: EtcdGateway,
  file: string,
  header: Omit<SnapshotHeader, 'format' | 'version' | 'revision' | 'prefix' | 'trees'>,
  progress?: (keys: number) => void,
): Promise<SnapshotInfo> {
  const partial = `${file}.partial`;
  const gzip = createGzip({ level: 1 });
  const out = createWriteStream(partial, { mode: 0o600, flags: 'w' });
  gzip.pipe(out);
  const write = async (text: string) => {
    if (text && !gzip.write(text)) await once(gzip, 'drain');
  };
  const prefix = `${header.rootPath}/`;
  const h = new PairHash(prefix);
  let skippedLeased = 0;
  let revision = '0';
  try {
    for await (const page of rangeMilvusTrees(etcd, prefix)) {
      let chunk = '';
      if (revision === '0') {
        revision = page.revision;
        chunk += JSON.stringify({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, ...header, prefix, trees: milvusTrees(prefix), revision }) + '\n';
      }
      for (const kv of page.kvs) {
        if (leased(kv)) {
          skippedLeased++;
          continue;
        }
        const value = kv.value ?? '';
        h.addBase64(kv.key, value);
        chunk += `{"k":"${kv.key}","v":"${value}"}\n`;
      }
      // One write per page: fewer, larger chunks for gzip.
      await write(chunk);
      progress?.(h.count);
    }
    const trailer: SnapshotTrailer = { end: true, keys: h.count, sha256: h.digest(), skippedLeased };
    await write(JSON.stringify(trailer) + '\n');
    gzip.end();
    await once(out, 'close');
    const read = await readSnapshot(partial);
    if (read.keys !== trailer.keys || read.sha256 !== trailer.sha256 || read.revision !== revision) {
      throw new CliError(`the snapshot written to ${partial} did not verify (read back ${read.keys} keys, ${read.sha256})`, ExitCode.FAILED);
    }
    renameSync(partial, file);
    return { ...read, file };
  } catch (e) {
    gzip.destroy();
    out.destroy();
    rmSync(partial, { force: true });
    throw e;
  }
}

/**
 * Reads and verifies a snapshot file: the header, every record, the trailer's count and hash.
 * `onRecord` sees each key/value (base64) in order. Anything else is a BAD_SNAPSHOT error.
 */
export async function readSnapshot(file: string, onRecord?: (key: string, value: string) => Promise<void> | void): Promise<SnapshotInfo> {
  let bytes: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw badSnapshot(`${file} is not a file`);
    bytes = st.size;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw badSnapshot(`cannot read snapshot ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const input = createReadStream(file);
  const gunzip = createGunzip();
  let header: SnapshotHeader | undefined;
  let trailer: SnapshotTrailer | undefined;
  let h = new PairHash();
  const notOne = (why: string) => badSnapshot(`${file} is not a metadata snapshot of kubectl-milvus: ${why}`);
  const line = async (text: string) => {
    if (trailer) throw notOne('data after the end record');
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw notOne(header ? `line ${h.count + 2} is not JSON` : 'the first line is not a snapshot header');
    }
    if (!header) {
      if (rec.format !== SNAPSHOT_FORMAT || typeof rec.prefix !== 'string' || typeof rec.release !== 'string' || typeof rec.rootPath !== 'string') {
        throw notOne('the first line is not a snapshot header');
      }
      if (typeof rec.version === 'number' && rec.version < SNAPSHOT_VERSION) {
        throw new CliError(
          `${file} is a snapshot of format ${rec.version}, which restore-meta no longer takes: its checksum does not cover its root path and it holds keys outside Milvus's sub-trees`,
          ExitCode.OLD_SNAPSHOT,
          'take a new snapshot with "backup meta" (its content can still be read with zcat)',
        );
      }
      if (rec.version !== SNAPSHOT_VERSION) throw notOne(`snapshot format ${String(rec.version)} is not known to this version of kubectl-milvus`);
      if (rec.prefix !== `${rec.rootPath}/`) throw notOne(`its prefix "${rec.prefix}" is not its root path "${rec.rootPath}" + "/"`);
      header = rec as unknown as SnapshotHeader;
      h = new PairHash(header.prefix);
      return;
    }
    if (rec.end === true) {
      trailer = rec as unknown as SnapshotTrailer;
      return;
    }
    if (typeof rec.k !== 'string' || typeof rec.v !== 'string') throw notOne(`line ${h.count + 2} is not a key record`);
    const key = Buffer.from(rec.k, 'base64').toString('utf8');
    if (!underTrees(key, header.prefix)) throw notOne(`key ${key} is outside Milvus's sub-trees ${milvusTrees(header.prefix).join(', ')}`);
    h.addBase64(rec.k, rec.v);
    if (onRecord) await onRecord(rec.k, rec.v);
  };
  try {
    // Chunk by chunk, split into lines here (readline's iterator would queue lines ahead).
    const decoder = new StringDecoder('utf8');
    let rest = '';
    for await (const chunk of input.pipe(gunzip)) {
      const lines = (rest + decoder.write(chunk as Buffer)).split('\n');
      rest = lines.pop()!;
      for (const l of lines) if (l) await line(l);
    }
    rest += decoder.end();
    if (rest) await line(rest);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /incorrect header check|unexpected end/i.test((e as Error).message)) {
      throw notOne(header ? 'the file is truncated or corrupt' : 'not a gzip file');
    }
    throw badSnapshot(`cannot read snapshot ${file}: ${(e as Error).message}`);
  } finally {
    input.destroy();
  }
  if (!header) throw notOne('the file is empty');
  if (!trailer) throw notOne('the end record is missing (the file is truncated)');
  const sha256 = h.digest();
  if (trailer.keys !== h.count || trailer.sha256 !== sha256) {
    throw badSnapshot(`snapshot ${file} is damaged: it records ${trailer.keys} keys with sha256 ${trailer.sha256.slice(0, 12)}…, its content has ${h.count} with ${sha256.slice(0, 12)}…`);
  }
  return { ...header, trees: milvusTrees(header.prefix), keys: h.count, sha256, skippedLeased: trailer.skippedLeased ?? 0, file, bytes };
}

/** Refuses a snapshot of another release, namespace or root path. */
export function checkSnapshotBelongs(info: SnapshotInfo, release: string, namespace: string, rootPath: string): void {
  if (info.release !== release || info.namespace !== namespace) {
    throw badSnapshot(
      `snapshot ${info.file} belongs to release "${info.release}" in namespace "${info.namespace}", not "${release}" in "${namespace}"`,
      'restore a snapshot of this release; list them with "backup list RELEASE"',
    );
  }
  if (info.rootPath !== rootPath || info.prefix !== `${rootPath}/`) {
    throw badSnapshot(`snapshot ${info.file} holds root path "${info.rootPath}" (prefix "${info.prefix}"), the release now uses "${rootPath}"`);
  }
}
