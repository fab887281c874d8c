/**
 * gunzip off the main thread in as few pieces as the data allows: gzip's trailer holds the
 * input's size (modulo 2^32), and each output chunk of zlib's default 16 KiB is a round trip
 * between the thread pool and the main thread (hundreds for a fleet's list).
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** The output chunk for `gz`: its whole uncompressed size, within 64 KiB .. 64 MiB. */
export function gunzipChunk(gz: Buffer): number {
  const size = gz.length >= 18 ? gz.readUInt32LE(gz.length - 4) : 0;
  return Math.min(Math.max(size, 64 << 10), 64 << 20);
}

export function gunzipWhole(gz: Buffer): Promise<Buffer> {
  return gunzipAsync(gz, { chunkSize: gunzipChunk(gz) });
}

/** gzip's magic bytes. */
export function isGzip(b: Buffer): boolean {
  return b[0] === 0x1f && b[1] === 0x8b;
}
