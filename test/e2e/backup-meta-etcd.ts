/**
 * A private etcd for the e2e tests of health, report and backup: Debian's etcd from the test bed
 * (.testbed/bin/etcd), on free 127.0.0.1 ports with its own data directory. Tests route the
 * release's etcd pod port 2379 to it with forwardNamespaceTo(ns, etcd.port, 2379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdGateway } from '../../src/backup-meta/etcd.js';
import { BIN } from './harness.js';

export interface PrivateEtcd {
  port: number;
  /** Stops the server at once, synchronously (for process exit handlers). */
  kill(): void;
  url: string;
  gw: EtcdGateway;
  put(key: string, value: string | Buffer, opts?: { leaseTtl?: number }): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** key -> value (utf8) of every key under the prefix. */
  dump(prefix: string): Promise<Map<string, string>>;
  del(key: string): Promise<void>;
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Runs argv[1..] and kills it when stdin ends or on SIGTERM/SIGINT. */
export const WATCHDOG = `
const { spawn } = require('node:child_process');
const c = spawn(process.argv[1], process.argv.slice(2), { stdio: 'ignore' });
const stop = () => { c.kill('SIGTERM'); setTimeout(() => c.kill('SIGKILL'), 3000).unref(); };
c.on('exit', (code) => process.exit(code ?? 1));
process.stdin.on('end', stop); process.stdin.on('close', stop); process.stdin.resume();
process.on('SIGTERM', stop); process.on('SIGINT', stop);
`;

const b64 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s).toString('base64');

/** `args`: more etcd flags, e.g. a small --quota-backend-bytes. */
export async function startPrivateEtcd(opts: { args?: string[] } = {}): Promise<PrivateEtcd> {
  const [port, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'km-etcd-'));
  const url = `http://127.0.0.1:${port}`;
  // Through a watchdog that stops etcd when its stdin closes: when this process ends in any way
  // (a test worker is killed, not exited), the etcd goes with it.
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      WATCHDOG,
      join(BIN, 'etcd'),
      '--name', 'private', '--data-dir', dir,
      '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `private=http://127.0.0.1:${peer}`,
      ...(opts.args ?? []),
    ],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  const gw = new EtcdGateway(url, 'private etcd');
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await gw.status();
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill('SIGTERM');
        throw e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    port,
    url,
    gw,
    kill() {
      gw.close();
      // The watchdog stops etcd (SIGKILL would leave etcd behind).
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    async put(key, value, opts = {}) {
      let lease: string | undefined;
      if (opts.leaseTtl) lease = (await gw.call<{ ID: string }>('/v3/lease/grant', { TTL: opts.leaseTtl })).ID;
      await gw.call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    },
    async get(key) {
      const r = await gw.call<{ kvs?: Array<{ value?: string }> }>('/v3/kv/range', { key: b64(key) });
      const kv = r.kvs?.[0];
      return kv ? Buffer.from(kv.value ?? '', 'base64').toString('utf8') : undefined;
    },
    async dump(prefix) {
      const out = new Map<string, string>();
      for await (const page of gw.rangePrefix(Buffer.from(prefix))) {
        for (const kv of page.kvs) out.set(Buffer.from(kv.key, 'base64').toString('utf8'), Buffer.from(kv.value ?? '', 'base64').toString('utf8'));
      }
      return out;
    },
    async del(key) {
      await gw.call('/v3/kv/deleterange', { key: b64(key) });
    },
    async close() {
      gw.close();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.stdin?.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
