/**
 * The simulator's wal/alter (testbed/milvus-sim/wal.ts) answers as mixcoord's HandleAlterWAL does
 * and writes mq.type where Milvus writes it, to an etcd JSON gateway (here a recorder of puts).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { installWalSwitch } from '../../testbed/milvus-sim/wal.js';

describe('milvus-sim: POST /management/wal/alter', () => {
  let etcd: Server;
  let url: string;
  const puts: Array<{ key: string; value: string }> = [];
  let sim: RunningSim;

  beforeAll(async () => {
    etcd = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        const j = JSON.parse(body) as { key: string; value: string };
        puts.push({ key: Buffer.from(j.key, 'base64').toString(), value: Buffer.from(j.value, 'base64').toString() });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"header":{}}');
      });
    });
    await new Promise<void>((r) => etcd.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(etcd.address() as { port: number }).port}`;
    sim = await startMilvusSim({ version: '3.0' });
  });
  afterAll(async () => {
    await sim.close();
    await new Promise((r) => etcd.close(r));
  });

  const post = (body: string, method = 'POST') => fetch(`${sim.url}/management/wal/alter`, { method, body: method === 'GET' ? undefined : body, headers: { 'content-type': 'application/json' } }).then(async (r) => [r.status, (await r.text()).trim()] as const);

  it('refuses what mixcoord refuses, accepts, then writes <root>/config/mqtype once the broadcast is acknowledged', async () => {
    const wal = installWalSwitch(sim.control, { etcd: { url, rootPath: 'by-dev' }, current: 'pulsar', confirmAfterMs: 10 });
    expect(await post('', 'GET')).toEqual([405, '{"msg": "Method not allowed, use POST"}']);
    expect(await post('{bad')).toEqual([400, '{"msg": "Invalid request body"}']);
    expect(await post('{}')).toEqual([400, '{"msg": "target_wal_name is required"}']);
    expect(await post('{"target_wal_name":"nats"}')).toEqual([400, '{"msg": "unknown target_wal_name"}']);
    sim.control.failOn({ on: 'wal', kind: 'http500', times: 1, reason: 'current cluster is not primary' });
    expect(await post('{"target_wal_name":"woodpecker"}')).toEqual([500, '{"msg": "failed to broadcast AlterWALMessage, current cluster is not primary"}']);
    expect(puts).toEqual([]);
    expect(await post('{"target_wal_name":"Woodpecker"}')).toEqual([200, '{"msg": "OK"}']);
    await wal.settled();
    expect(puts).toEqual([{ key: 'by-dev/config/mqtype', value: 'woodpecker' }]);
    expect(await post('{"target_wal_name":"woodpecker"}')).toEqual([200, `{"msg": "target WAL type 'woodpecker' is already configured, no change needed"}`]);
    expect(wal.accepted).toHaveLength(1);
  });

  it('a broadcast that is never acknowledged writes nothing', async () => {
    puts.length = 0;
    const wal = installWalSwitch(sim.control, { etcd: { url, rootPath: 'r' }, current: 'kafka', confirmAfterMs: 'never' });
    expect(await post('{"target_wal_name":"woodpecker"}')).toEqual([200, '{"msg": "OK"}']);
    await wal.settled();
    expect(puts).toEqual([]);
  });
});
