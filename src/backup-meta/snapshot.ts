/**
 * The metadata snapshot file: gzip-compressed JSON lines, written and read as streams so 100,000
 * keys need little memory.
 *
 *   line 1      {"format":"kubectl-milvus.io/meta-snapshot","version":1,"release",...,"revision"}
 *   lines 2..n  {"k":"<base64 key>","v":"<base64 value>"}        in etcd's key order
 *   last line   {"end":true,"keys":N,"sha256":"<hex>","skippedLeased":M}
 *
 * The hash covers every key and value (each as a 4-byte big-endian length and its bytes), so a
 * file is verified by reading it again; after a restore, etcd's keys are hashed the same way.
 * Keys with a lease (Milvus sessions, which expire with their process) are counted but not kept:
 * restored without their lease they would never expire and would block Milvus from starting.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createGunzip, createGzip } from 'node:zlib';
import { CliError, ExitCode } from '../errors.js';
import type { EtcdGateway, KeyValue } from './etcd.js';

export const SNAPSHOT_FORMAT = 'kubectl-milvus.io/meta-snapshot';

export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT;
  version: 1;
  release: string;
  namespace: string;
  method: string;
  rootPath: string;
  /** The key prefix that was read: rootPath + "/". */
  prefix: string;
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
  digest(): string {
    return this.h.digest('hex');
  }
}

export const leased = (kv: KeyValue) => kv.lease !== undefined && kv.lease !== '0';

/** The hash and count of what etcd holds under `prefix` now (keys with a lease left out). */
export async function hashEtcdPrefix(etcd: EtcdGateway, prefix: string): Promise<{ keys: number; sha256: string; revision: string; leased: number }> {
  const h = new PairHash();
  let revision = '0';
  let leasedKeys = 0;
  for await (const page of etcd.rangePrefix(Buffer.from(prefix, 'utf8'))) {
    revision = page.revision;
    for (const kv of page.kvs) {
      if (leased(kv)) {
        leasedKeys++;
        continue;
      }
      h.add(Buffer.from(kv.key, 'base64'), Buffer.from(kv.value ?? '', 'base64'));
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
  header: Omit<SnapshotHeader, 'format' | 'version' | 'revision'>,
  progress?: (keys: number) => void,
): Promise<SnapshotInfo> {
  const partial = `${file}.partial`;
  const gzip = createGzip({ level: 6 });
  const out = createWriteStream(partial, { mode: 0o600, flags: 'w' });
  gzip.pipe(out);
  const write = async (line: string) => {
    if (!gzip.write(line + '\n')) await once(gzip, 'drain');
  };
  const h = new PairHash();
  let skippedLeased = 0;
  let revision = '0';
  try {
    for await (const page of etcd.rangePrefix(Buffer.from(header.prefix, 'utf8'))) {
      if (revision === '0') {
        revision = page.revision;
        await write(JSON.stringify({ format: SNAPSHOT_FORMAT, version: 1, ...header, revision }));
      }
      for (const kv of page.kvs) {
        if (leased(kv)) {
          skippedLeased++;
          continue;
        }
        const value = kv.value ?? '';
        h.add(Buffer.from(kv.key, 'base64'), Buffer.from(value, 'base64'));
        await write(`{"k":"${kv.key}","v":"${value}"}`);
      }
      progress?.(h.count);
    }
    const trailer: SnapshotTrailer = { end: true, keys: h.count, sha256: h.digest(), skippedLeased };
    await write(JSON.stringify(trailer));
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
  const lines = createInterface({ input: input.pipe(gunzip), crlfDelay: Infinity });
  let header: SnapshotHeader | undefined;
  let trailer: SnapshotTrailer | undefined;
  const h = new PairHash();
  const notOne = (why: string) => badSnapshot(`${file} is not a metadata snapshot of kubectl-milvus: ${why}`);
  try {
    for await (const line of lines) {
      if (trailer) throw notOne('data after the end record');
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw notOne(header ? `line ${h.count + 2} is not JSON` : 'the first line is not a snapshot header');
      }
      if (!header) {
        if (rec.format !== SNAPSHOT_FORMAT || rec.version !== 1 || typeof rec.prefix !== 'string' || typeof rec.release !== 'string') {
          throw notOne('the first line is not a snapshot header');
        }
        header = rec as unknown as SnapshotHeader;
        continue;
      }
      if (rec.end === true) {
        trailer = rec as unknown as SnapshotTrailer;
        continue;
      }
      if (typeof rec.k !== 'string' || typeof rec.v !== 'string') throw notOne(`line ${h.count + 2} is not a key record`);
      const key = Buffer.from(rec.k, 'base64');
      if (!key.toString('utf8').startsWith(header.prefix)) throw notOne(`key ${key.toString('utf8')} is outside the prefix ${header.prefix}`);
      h.add(key, Buffer.from(rec.v, 'base64'));
      if (onRecord) await onRecord(rec.k, rec.v);
    }
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
  return { ...header, keys: h.count, sha256, skippedLeased: trailer.skippedLeased ?? 0, file, bytes };
}

/** Refuses a snapshot of another release, namespace or root path. */
export function checkSnapshotBelongs(info: SnapshotInfo, release: string, namespace: string, rootPath: string): void {
  if (info.release !== release || info.namespace !== namespace) {
    throw badSnapshot(
      `snapshot ${info.file} belongs to release "${info.release}" in namespace "${info.namespace}", not "${release}" in "${namespace}"`,
      'restore a snapshot of this release; list them with "backup list RELEASE"',
    );
  }
  if (info.rootPath !== rootPath) {
    throw badSnapshot(`snapshot ${info.file} holds root path "${info.rootPath}", the release now uses "${rootPath}"`);
  }
}
