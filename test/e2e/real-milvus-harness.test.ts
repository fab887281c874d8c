/**
 * The real-Milvus harness itself: two servers of one version side by side (each with its own
 * ports and embedded etcd), data written through the real client, a server on an external etcd.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './harness.js';
import { freePort, listDatabases, realMilvusVersions, startRealMilvus, writeData, type RealMilvus } from './real-milvus.js';

const started: RealMilvus[] = [];
afterAll(async () => {
  await Promise.all(started.map((m) => m.stop({ remove: true })));
});

describe('real Milvus harness', () => {
  it('pins 2.2.16 and 2.3.5', () => {
    expect(realMilvusVersions()).toEqual(['2.2.16', '2.3.5']);
  });

  it('runs two servers of one version at once, on ports of its choosing, each with its own data', async () => {
    const [a, b] = await Promise.all([startRealMilvus({ version: '2.3.5' }), startRealMilvus({ version: '2.3.5' })]);
    started.push(a!, b!);
    const ports = [a!.grpcPort, a!.mgmtPort, a!.etcdPort, b!.grpcPort, b!.mgmtPort, b!.etcdPort];
    expect(new Set(ports).size).toBe(6);
    for (const fixed of [19530, 9091, 2379]) expect(ports).not.toContain(fixed);
    await writeData(a!, { default: { only_a: 10 }, db_a: { x: 5 } });
    await writeData(b!, { default: { only_b: 10 } });
    expect((await listDatabases(a!)).sort()).toEqual(['db_a', 'default']);
    expect(await listDatabases(b!)).toEqual(['default']);
    // The config the server runs with names the chosen etcd port, not the default one.
    const config = readFileSync(join(a!.dataDir, 'configs', 'embed-etcd.yaml'), 'utf8');
    expect(config).toContain(`listen-client-urls: http://127.0.0.1:${a!.etcdPort}`);
  });

  it('gives servers ports below the ephemeral range, and a restart whose gRPC port is taken is not taken for started', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const m = await startRealMilvus({ version: '2.2.16', attempts: 1, startTimeoutMs: 30_000 });
    started.push(m);
    for (const port of [m.grpcPort, m.mgmtPort, m.etcdPort!]) expect(port).toBeLessThan(low);
    await m.stop();
    // An outgoing connection from the gRPC port, as one from the ephemeral range would hold it:
    // bound without SO_REUSEADDR, so the server cannot listen there. Milvus 2.2 then serves gRPC
    // on a port of its own choosing and /healthz still says OK.
    const peer = createServer();
    peer.listen(0, '127.0.0.1');
    await once(peer, 'listening');
    const port = (peer.address() as { port: number }).port;
    const holder = spawn('python3', ['-c', [
      'import socket, time',
      's = socket.socket()',
      // A TIME_WAIT left by the stop may hold the port for up to a minute.
      'for i in range(90):',
      '    try:',
      `        s.bind(("127.0.0.1", ${m.grpcPort}))`,
      '        break',
      '    except OSError:',
      '        time.sleep(1)',
      `s.connect(("127.0.0.1", ${port}))`,
      'print("held", flush=True)',
      'time.sleep(120)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(holder.stdout!, 'data');
      await expect(m.start({ waitPersist: false })).rejects.toThrow(`healthz OK but nothing accepts on the gRPC port ${m.grpcPort}`);
    } finally {
      holder.kill();
      peer.close();
    }
  });

  it('keeps its metadata in an external etcd when asked (etcdExternal)', async () => {
    const client = await freePort();
    const peer = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'real-milvus-etcd-'));
    const etcd = spawn(join(BIN, 'etcd'), [
      '--data-dir', dir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `default=http://127.0.0.1:${peer}`,
    ], { stdio: 'ignore' });
    try {
      const m = await startRealMilvus({ version: '2.2.16', etcdExternal: `127.0.0.1:${client}`, etcdRootPath: 'harness-ext' });
      started.push(m);
      expect(m.etcdPort).toBeUndefined();
      await writeData(m, { default: { c1: 3 }, db_ext: { c2: 3 } });
      // etcd's JSON gateway: every key under the root path.
      const key = (s: string) => Buffer.from(s).toString('base64');
      const res = await fetch(`http://127.0.0.1:${client}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: key('harness-ext/'), range_end: key('harness-ext0'), keys_only: true }) });
      const keys = ((await res.json()) as { kvs?: Array<{ key: string }> }).kvs?.map((k) => Buffer.from(k.key, 'base64').toString()) ?? [];
      expect(keys.some((k) => k.startsWith('harness-ext/meta/'))).toBe(true);
      await m.stop();
    } finally {
      etcd.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
