/**
 * The Milvus proxy simulator's contract, over raw HTTP: what it answers must match the upstream
 * handler (milvus-upstream.md §3), or the client tests built on it prove nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { httpSend } from '../../src/milvus/transport.js';
import { startMilvusSim, type RunningSim, type SimOptions } from '../../testbed/milvus-sim/sim.js';
import { request } from 'node:http';

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});
async function sim(opts: SimOptions = {}): Promise<RunningSim> {
  const s = await startMilvusSim(opts);
  sims.push(s);
  return s;
}
const call = (s: RunningSim, method: string, path: string, body?: string) => httpSend('127.0.0.1', s.port, method, path, body);

function healthzJson(s: RunningSim): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, path: '/healthz', headers: { 'content-type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Milvus management API simulator', () => {
  it('listens on 127.0.0.1 on an ephemeral port and serves health routes', async () => {
    const s = await sim();
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    expect(await call(s, 'GET', '/api/v1/health')).toEqual({ status: 200, body: '{"status":"ok"}' });
    expect(await call(s, 'GET', '/healthz')).toEqual({ status: 200, body: 'OK' });
    expect(await healthzJson(s)).toEqual({ status: 200, body: '{"state":"OK","detail":[{"name":"proxy","code":1}]}' });
    s.control.failOn({ on: 'healthz', kind: 'unhealthy', times: 1 });
    expect(await call(s, 'GET', '/healthz')).toEqual({ status: 500, body: 'Not all components are healthy, 3/4' });
    expect((await call(s, 'GET', '/healthz')).status).toBe(200);
    expect((await call(s, 'GET', '/api/v1/nope')).status).toBe(404);
  });

  it('lists collections per database with exact int64 IDs; an empty body means the default database', async () => {
    const s = await sim({ databases: { default: ['a'], db2: ['x', 'y'] } });
    const d = await call(s, 'GET', '/api/v1/collections');
    expect(d.body).toMatch(/^\{"status":\{\},"collection_names":\["a"\],"collection_ids":\[446000000000000001\],"created_timestamps":\[\d{18}\],"created_utc_timestamps":\[\d{13}\]\}$/);
    const x = await call(s, 'GET', '/api/v1/collections', '{"db_name":"db2"}');
    expect(x.body).toContain('"collection_names":["x","y"]');
    // As real 2.3.5 answers (the default version of the simulator is 2.4, shaped like 2.3) ...
    expect((await call(s, 'GET', '/api/v1/collections', '{"db_name":"zzz"}')).body).toBe(
      '{"status":{"error_code":1,"reason":"database not found[database=zzz]","code":800,"detail":"database not found[database=zzz]"}}',
    );
    // ... and real 2.2.16: no merr code.
    s.control.setVersion('2.2');
    expect((await call(s, 'GET', '/api/v1/collections', '{"db_name":"zzz"}')).body).toBe('{"status":{"error_code":1,"reason":"ShowCollections failed: database:zzz not found"}}');
  });

  it('binds like Go encoding/json: quoted IDs, wrong types and non-objects are HTTP 400 error_code 5; unknown keys ignored', async () => {
    const s = await sim({ version: '2.4', databases: { default: ['a'] } });
    const quoted = await call(s, 'GET', '/api/v1/persist/state', '{"segmentIDs":["454097953998180999"]}');
    expect(quoted.status).toBe(400);
    expect(JSON.parse(quoted.body)).toMatchObject({ error_code: 5 });
    expect((await call(s, 'GET', '/api/v1/collections', '{"db_name":1}')).status).toBe(400);
    expect((await call(s, 'POST', '/api/v1/persist', '{"collection_names":"a"}')).status).toBe(400);
    expect((await call(s, 'POST', '/api/v1/persist', '[1]')).status).toBe(400);
    expect((await call(s, 'POST', '/api/v1/persist', '{oops')).status).toBe(400);
    expect((await call(s, 'GET', '/api/v1/persist/state', '{"segmentIDs":[1.5]}')).status).toBe(400);
    expect((await call(s, 'GET', '/api/v1/persist/state', '{"segmentIDs":[9223372036854775808]}')).status).toBe(400); // > int64
    expect((await call(s, 'GET', '/api/v1/persist/state', '{"flush_ts":-1}')).status).toBe(400); // uint64
    expect((await call(s, 'GET', '/api/v1/collections', '{"db_name":"","type":0,"whatever":[1,2]}')).status).toBe(200);
  });

  it('persist: per-version fields, omitempty entries, and db_name', async () => {
    const s = await sim({ version: '2.1', databases: { default: ['a', 'b'] } });
    const id = s.control.insert('default', 'a');
    const v21 = await call(s, 'POST', '/api/v1/persist', '{"db_name":"","collection_names":["a","b"]}');
    expect(v21.body).toBe(`{"status":{},"coll_segIDs":{"a":{"data":[${id}]},"b":{}}}`);
    s.control.setVersion('2.2');
    const v22 = JSON.parse((await call(s, 'POST', '/api/v1/persist', '{"collection_names":["a"]}')).body);
    expect(Object.keys(v22)).toEqual(['status', 'coll_segIDs', 'flush_coll_segIDs', 'coll_seal_times']);
    s.control.setVersion('2.3');
    const v23 = JSON.parse((await call(s, 'POST', '/api/v1/persist', '{"collection_names":["a"]}')).body);
    expect(Object.keys(v23)).toEqual(['status', 'coll_segIDs', 'flush_coll_segIDs', 'coll_seal_times', 'coll_flush_ts']);
    const missing = await call(s, 'POST', '/api/v1/persist', '{"collection_names":["a","nope"]}');
    expect(missing).toEqual({
      status: 200,
      body: '{"status":{"error_code":4,"reason":"collection not found[database=default][collection=nope]","code":100,"detail":"collection not found[database=default][collection=nope]"}}',
    });
    s.control.setVersion('2.4');
    const v24 = JSON.parse((await call(s, 'POST', '/api/v1/persist', '{"collection_names":["a"]}')).body);
    expect(Object.keys(v24)).toEqual(['status', 'coll_segIDs', 'flush_coll_segIDs', 'coll_seal_times', 'coll_flush_ts', 'channel_cps']);
    s.control.setVersion('2.2');
    expect((await call(s, 'POST', '/api/v1/persist', '{"db_name":"nodb","collection_names":["a"]}')).body).toBe(
      '{"status":{"error_code":1,"reason":"code: UnexpectedError, reason: code: CollectionNotExists, reason: can\'t find collection nodb:a"}}',
    );
  });

  it('flush state: unknown IDs count as flushed, 2.1/2.2 ignore flush_ts, 2.3+ wait for the checkpoint', async () => {
    const s = await sim({ version: '2.2', databases: { default: ['a'] }, flushDelayMs: 60_000 });
    const id = s.control.insert('default', 'a');
    await call(s, 'POST', '/api/v1/persist', '{"collection_names":["a"]}');
    expect((await call(s, 'GET', '/api/v1/persist/state', `{"segmentIDs":[${id}]}`)).body).toBe('{"status":{}}');
    expect((await call(s, 'GET', '/api/v1/persist/state', `{"segmentIDs":[${id + 1000n}]}`)).body).toBe('{"status":{},"flushed":true}');
    // 2.2 does not know flush_ts: ignored, the answer depends on the segments only.
    expect((await call(s, 'GET', '/api/v1/persist/state', `{"segmentIDs":[],"flush_ts":18446744073709551615,"collection_name":"a"}`)).body).toBe(
      '{"status":{},"flushed":true}',
    );
    s.control.setVersion('2.4');
    // 2.3+: the channel checkpoint (held back by the sealed segment) must reach flush_ts.
    expect((await call(s, 'GET', '/api/v1/persist/state', `{"segmentIDs":[],"flush_ts":18446744073709551615,"collection_name":"a"}`)).body).toBe('{"status":{}}');
    // No such collection: no channels, flushed "for compatibility".
    expect((await call(s, 'GET', '/api/v1/persist/state', `{"segmentIDs":[],"flush_ts":18446744073709551615,"collection_name":"zz"}`)).body).toBe(
      '{"status":{},"flushed":true}',
    );
  });

  it('injects failures a given number of times and logs every request with its status', async () => {
    const s = await sim({ databases: { default: ['a'] } });
    s.control.failOn({ on: 'collections', kind: 'http500', times: 1 });
    s.control.failOn({ on: 'persist', kind: 'status', times: 1 });
    const r1 = await call(s, 'GET', '/api/v1/collections');
    expect(r1).toEqual({ status: 500, body: '{"error_code":1,"reason":"internal error: simulated failure"}' });
    expect((await call(s, 'GET', '/api/v1/collections')).status).toBe(200);
    expect((await call(s, 'POST', '/api/v1/persist', '{"collection_names":["a"]}')).body).toBe(
      '{"status":{"error_code":1,"reason":"simulated failure","code":65535}}',
    );
    s.control.failOn({ on: 'all', kind: 'drop', times: 1 });
    await expect(call(s, 'GET', '/api/v1/collections')).rejects.toMatchObject({ exitCode: 4 });
    expect(s.control.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'GET /api/v1/collections 500',
      'GET /api/v1/collections 200',
      'POST /api/v1/persist 200',
      'GET /api/v1/collections 0',
    ]);
  });
});
