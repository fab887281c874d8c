/**
 * A minimal tar (POSIX ustar) writer over node:zlib's gzip: regular files only, names up to 255
 * bytes (ustar prefix + name), content given whole. Enough for a support bundle, readable by
 * `tar xzf` and every archive tool; no dependency.
 */
import { createWriteStream, openSync } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function splitName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100) return { prefix, base };
  }
  throw new Error(`tar: name too long: ${name}`);
}

export function tarHeader(name: string, size: number, mtime: Date, mode = 0o644): Buffer {
  const h = Buffer.alloc(512, 0);
  const { prefix, base } = splitName(name);
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

export class TarGzWriter {
  private readonly gzip = createGzip({ level: 6 });
  private readonly out;
  private readonly closed: Promise<unknown[]>;

  constructor(file: string, private readonly mtime: Date) {
    // 0600 from the first byte: the bundle describes the cluster even when redacted.
    // Opened here, synchronously, so an existing file is refused before anything is collected.
    this.out = createWriteStream('', { fd: openSync(file, 'wx', 0o600) });
    this.gzip.pipe(this.out);
    this.closed = once(this.out, 'close');
    this.out.on('error', () => undefined);
  }

  private async write(b: Buffer): Promise<void> {
    if (!this.gzip.write(b)) await once(this.gzip, 'drain');
  }

  async add(name: string, content: string | Buffer): Promise<void> {
    const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    await this.write(tarHeader(name, body.length, this.mtime));
    await this.write(body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) await this.write(Buffer.alloc(pad));
  }

  async finish(): Promise<void> {
    await this.write(Buffer.alloc(1024));
    this.gzip.end();
    await this.closed;
  }

  abort(): void {
    this.gzip.destroy();
    this.out.destroy();
  }
}
