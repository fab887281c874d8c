/**
 * The management API client (src/milvus) against the Milvus proxy simulator, per API generation
 * (2.1, 2.2, 2.3+), plus answer-mapping cases through a canned transport (a fixture).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { MilvusApiError, MilvusManagementApi } from '../../src/milvus/mgmt-api.js';
import { encodeJson } from '../../src/milvus/json.js';
import { describeFailure, reasonCause, statusFailure } from '../../src/milvus/status.js';
import { directTransport, httpSend, type HttpAnswer, type Transport } from '../../src/milvus/transport.js';
import { startMilvusSim, type RunningSim, type SimOptions } from '../../testbed/milvus-sim/sim.js';

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});
async function sim(opts: SimOptions): Promise<{ s: RunningSim; api: MilvusManagementApi }> {
  const s = await startMilvusSim(opts);
  sims.push(s);
  return { s, api: new MilvusManagementApi(directTransport({ 9091: s.port, 19530: s.port })) };
}

/** Fixture: a transport that answers every request with the given HTTP answer. */
function canned(answer: HttpAnswer): Transport {
  return { send: async () => answer, describe: () => 'canned', close: async () => {} };
}

describe('persist answers per Milvus version', () => {
  it('2.1: coll_segIDs only, no flush timestamp', async () => {
    const { s, api } = await sim({ version: '2.1', databases: { default: ['a', 'b'] } });
    const id = s.control.insert('default', 'a');
    const r = await api.persist('default', ['a', 'b']);
    expect(r.sealed).toEqual(new Map([['a', [id]], ['b', []]]));
    expect(r.alreadyFlushed.size).toBe(0);
    expect(r.flushTs).toBeUndefined();
    expect(r.sealTimes).toBeUndefined();
  });

  it('2.2: adds flush_coll_segIDs (flushed before, not what to wait on) and coll_seal_times', async () => {
    const { s, api } = await sim({ version: '2.2', databases: { default: ['a'] } });
    const before = s.control.addFlushedSegment('default', 'a');
    const sealed = s.control.insert('default', 'a');
    const r = await api.persist('default', ['a']);
    expect(r.sealed.get('a')).toEqual([sealed]);
    expect(r.alreadyFlushed.get('a')).toEqual([before]);
    expect(r.flushTs).toBeUndefined();
    expect(r.sealTimes?.get('a')).toBeGreaterThan(1.7e9);
  });

  it('2.3+: adds coll_flush_ts, a uint64 hybrid timestamp beyond 2^53 kept exact', async () => {
    const { s, api } = await sim({ version: '2.3', databases: { db1: ['a'] } });
    s.control.insert('db1', 'a');
    const r = await api.persist('db1', ['a']);
    const ts = r.flushTs?.get('a');
    expect(typeof ts).toBe('bigint');
    expect(ts! > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    // The exact digits Milvus wrote.
    const raw = await httpSend('127.0.0.1', s.port, 'POST', '/api/v1/persist', '{"db_name":"db1","collection_names":["a"]}');
    const written = /"coll_flush_ts":\{"a":(\d+)\}/.exec(raw.body)![1]!;
    expect(BigInt(written) >= ts!).toBe(true);
    expect(written).toHaveLength(String(ts).length);
  });

  it('sends db_name "" for the default database and the name otherwise', async () => {
    const { s, api } = await sim({ version: '2.4', databases: { default: ['a'], other: ['b'] } });
    expect(await api.listCollections('default')).toEqual(['a']);
    expect(await api.listCollections('other')).toEqual(['b']);
    expect(s.control.requestsTo('/api/v1/collections').map((r) => r.body)).toEqual(['{"db_name":""}', '{"db_name":"other"}']);
  });

  it('an empty database answers {"status":{}} (omitempty): no collections', async () => {
    const { api } = await sim({ version: '2.4', databases: { default: [] } });
    expect(await api.listCollections('default')).toEqual([]);
  });
});

describe('persist/state', () => {
  it('2.1/2.2 requests carry segmentIDs only; 2.3+ add flush_ts, db_name and collection_name', async () => {
    for (const version of ['2.1', '2.2', '2.3'] as const) {
      const { s, api } = await sim({ version, databases: { db1: ['a'] } });
      const id = s.control.insert('db1', 'a');
      const p = await api.persist('db1', ['a']);
      await api.flushState('db1', 'a', p.sealed.get('a')!, p.flushTs?.get('a'));
      const body = s.control.requestsTo('/api/v1/persist/state')[0]!.body;
      if (version === '2.3') expect(body).toBe(`{"segmentIDs":[${id}],"flush_ts":${p.flushTs!.get('a')},"db_name":"db1","collection_name":"a"}`);
      else expect(body).toBe(`{"segmentIDs":[${id}]}`);
    }
  });

  it('an absent "flushed" key means not flushed; slow flushes become flushed after N polls', async () => {
    const { s, api } = await sim({ version: '2.2', databases: { default: ['a'] }, flushAfterPolls: 3 });
    const id = s.control.insert('default', 'a');
    await api.persist('default', ['a']);
    const raw = await httpSend('127.0.0.1', s.port, 'GET', '/api/v1/persist/state', `{"segmentIDs":[${id}]}`);
    expect(raw).toEqual({ status: 200, body: '{"status":{}}' }); // poll 1: no flushed key
    expect(await api.flushState('default', 'a', [id], undefined)).toBe(false); // poll 2
    expect(await api.flushState('default', 'a', [id], undefined)).toBe(true); // poll 3
  });

  it('slow flushes by time: not flushed before the delay, flushed after it', async () => {
    const { s, api } = await sim({ version: '2.4', databases: { default: ['a'] }, flushDelayMs: 150 });
    const id = s.control.insert('default', 'a');
    const p = await api.persist('default', ['a']);
    expect(await api.flushState('default', 'a', [id], p.flushTs!.get('a'))).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(await api.flushState('default', 'a', [id], p.flushTs!.get('a'))).toBe(true);
  });

  it('keeps int64 IDs exact: the rounded neighbour of a pending segment is an already flushed one', async () => {
    const { s, api } = await sim({ version: '2.2', databases: { default: ['a'] }, flushAfterPolls: 1000 });
    // X is not a double; Number(X) rounds to Y, which is an existing, flushed segment.
    const y = 454097953998181376n;
    expect(BigInt(Number(y))).toBe(y);
    const x = y + 7n;
    expect(BigInt(Number(x))).toBe(y);
    s.control.addFlushedSegment('default', 'a', y);
    s.control.insert('default', 'a', x);
    const res = await httpSend('127.0.0.1', s.port, 'POST', '/api/v1/persist', '{"collection_names":["a"]}');
    // What a JSON.parse client (or jq) reads from the answer: the wrong, flushed segment.
    expect(BigInt(JSON.parse(res.body).coll_segIDs.a.data[0])).toBe(y);
    const p = await api.persist('default', ['a']);
    expect(p.sealed.get('a')).toEqual([x]);
    expect(await api.flushState('default', 'a', p.sealed.get('a')!, undefined)).toBe(false);
    // The trap a rounding client falls into: Milvus says "flushed" for Y.
    expect(await api.flushState('default', 'a', [BigInt(Number(x))], undefined)).toBe(true);
    // ...and for an unknown rounded ID (nothing at Number(x2)) as well.
    const x2 = 454097953998190001n;
    s.control.insert('default', 'a', x2);
    await api.persist('default', ['a']);
    expect(BigInt(Number(x2))).not.toBe(x2);
    expect(await api.flushState('default', 'a', [x2], undefined)).toBe(false);
    expect(await api.flushState('default', 'a', [BigInt(Number(x2))], undefined)).toBe(true);
  });

  it('encodes bigints as bare JSON numbers, nested ones too', () => {
    expect(encodeJson({ segmentIDs: [454097953998180999n], flush_ts: 18446744073709551615n, x: { y: [1n] }, s: 'a' })).toBe(
      '{"segmentIDs":[454097953998180999],"flush_ts":18446744073709551615,"x":{"y":[1]},"s":"a"}',
    );
  });
});

describe('errors', () => {
  it('HTTP 200 with a non-empty status is a Milvus error (exit 10)', async () => {
    const { s, api } = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.control.failOn({ on: 'collections', kind: 'unhealthy', times: 1 });
    const e = await api.listCollections('default').catch((x) => x);
    expect(e).toBeInstanceOf(MilvusApiError);
    expect(e.exitCode).toBe(ExitCode.FAILED);
    expect(e.httpStatus).toBe(200);
    expect(e.message).toBe('Milvus answered GET /api/v1/collections: proxy not healthy (error_code 1 UnexpectedError)');
    const e2 = await api.listCollections('nodb').catch((x) => x);
    expect(e2.databaseNotFound).toBe(true);
    expect(e2.message).toBe('Milvus answered GET /api/v1/collections: database not found[database=nodb] (error_code 1 UnexpectedError, code 800 database not found)');
  });

  it('HTTP 500 with error_code 1 is a Milvus error (exit 10)', async () => {
    const { s, api } = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.control.failOn({ on: 'persist', kind: 'http500', times: 1 });
    const e = await api.persist('default', ['a']).catch((x) => x);
    expect(e).toBeInstanceOf(MilvusApiError);
    expect(e.httpStatus).toBe(500);
    expect(e.message).toBe('Milvus answered POST /api/v1/persist with HTTP 500: internal error: simulated failure (error_code 1 UnexpectedError)');
  });

  it('a collection not found in persist is recognisable', async () => {
    const { api } = await sim({ version: '2.4', databases: { default: ['a'] } });
    const e = await api.persist('default', ['a', 'gone']).catch((x) => x);
    expect(e.collectionNotFound).toBe(true);
  });

  it('a dropped connection is UNREACHABLE (exit 4)', async () => {
    const { s, api } = await sim({ version: '2.4', databases: { default: ['a'] } });
    s.control.failOn({ on: 'state', kind: 'drop', times: 1 });
    const e = await api.flushState('default', 'a', [1n], undefined).catch((x) => x);
    expect(e).toBeInstanceOf(CliError);
    expect(e).not.toBeInstanceOf(MilvusApiError);
    expect(e.exitCode).toBe(ExitCode.UNREACHABLE);
  });

  it('a connection refused is UNREACHABLE', async () => {
    const { s } = await sim({});
    const port = s.port;
    await s.close();
    const api = new MilvusManagementApi(directTransport({ 9091: port }));
    const e = await api.listCollections('default').catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.UNREACHABLE);
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('an aborted signal stops a request', async () => {
    const { s } = await sim({});
    const ac = new AbortController();
    ac.abort(new Error('received SIGINT'));
    const api = new MilvusManagementApi(directTransport({ 9091: s.port }), ac.signal);
    await expect(api.listCollections('default')).rejects.toThrow();
    expect(s.control.requests).toHaveLength(0);
  });

  it('maps answers of other shapes (fixture transport)', async () => {
    const bind = await new MilvusManagementApi(canned({ status: 400, body: '{"error_code":5,"reason":"parse body failed: EOF"}' })).persist('default', ['a']).catch((x) => x);
    expect(bind.message).toBe('Milvus answered POST /api/v1/persist with HTTP 400: parse body failed: EOF (error_code 5 IllegalArgument)');
    expect(bind.exitCode).toBe(ExitCode.FAILED);

    const named = await new MilvusManagementApi(canned({ status: 200, body: '{"status":{"error_code":"UnexpectedError","reason":"boom"}}' })).listCollections('default').catch((x) => x);
    expect(named.message).toBe('Milvus answered GET /api/v1/collections: boom (error_code UnexpectedError)');

    const codeOnly = await new MilvusManagementApi(canned({ status: 200, body: '{"status":{"code":100,"detail":"collection not found"}}' })).flushState('default', 'a', [], undefined).catch((x) => x);
    expect(codeOnly.collectionNotFound).toBe(true);

    const notJson = await new MilvusManagementApi(canned({ status: 200, body: '<html>' })).listCollections('default').catch((x) => x);
    expect(notJson.message).toBe('Milvus answered GET /api/v1/collections: not a JSON object: <html>');

    const noRoute = await new MilvusManagementApi(canned({ status: 404, body: '404 page not found' })).listCollections('default').catch((x) => x);
    expect(noRoute.httpStatus).toBe(404);
    expect(noRoute.hint).toContain('proxy.http.enabled');

    // A success status with a reason is still success (upstream merr.Ok).
    expect(await new MilvusManagementApi(canned({ status: 200, body: '{"status":{"error_code":0,"reason":"ok"},"flushed":true}' })).flushState('default', 'a', [], undefined)).toBe(true);
    // flushed must be the JSON true, not a truthy string.
    expect(await new MilvusManagementApi(canned({ status: 200, body: '{"status":{},"flushed":"false"}' })).flushState('default', 'a', [], undefined)).toBe(false);
  });

  it('statusFailure follows merr.Ok', () => {
    expect(statusFailure(undefined)).toBeUndefined();
    expect(statusFailure({})).toBeUndefined();
    expect(statusFailure({ error_code: 'Success' })).toBeUndefined();
    expect(statusFailure({ error_code: 0, code: 0, reason: 'x' })).toBeUndefined();
    expect(statusFailure({ code: 5 })).toMatchObject({ code: 5, reason: 'no reason given' });
    expect(statusFailure({ error_code: 1 })).toMatchObject({ errorCode: 1 });
    expect(statusFailure('weird')).toBeDefined();
  });
});

describe('database listing (REST v2 on 19530)', () => {
  it('lists databases on 2.4+, is unavailable before, and refuses without authentication', async () => {
    const { api } = await sim({ version: '2.4', databases: { default: [], a: [], b: [] } });
    expect(await api.listDatabases()).toEqual({ databases: ['default', 'a', 'b'] });
    const old = await sim({ version: '2.3', databases: { default: [], a: [] } });
    expect(await old.api.listDatabases()).toMatchObject({ databases: undefined, reason: 'REST v2 databases/list answered HTTP 404 (Milvus < 2.4?)' });
    const auth = await sim({ version: '2.5', authEnabled: true });
    expect(await auth.api.listDatabases()).toMatchObject({ databases: undefined, reason: "REST v2 databases/list failed: user hasn't authenticated (authentication is enabled)" });
  });
});

describe('reasons as real Milvus 2.2.16 and 2.3.5 send them', () => {
  const err = (reason: string, code?: number, errorCode = 1, http = 200) =>
    new MilvusApiError('POST /api/v1/persist', http, { errorCode, code, reason }, 'x');
  it('recognises 2.2 shapes without a code: CollectionNotExists and database:x not found', () => {
    expect(err("code: UnexpectedError, reason: code: CollectionNotExists, reason: can't find collection default:nosuch").collectionNotFound).toBe(true);
    expect(err('ShowCollections failed: database:nosuch not found').databaseNotFound).toBe(true);
    expect(err('collection not found[database=default][collection=x]', 100, 4).collectionNotFound).toBe(true);
    expect(err('database not found[database=nosuch]', 800).databaseNotFound).toBe(true);
    expect(err('ShowCollections failed: database:nosuch not found').collectionNotFound).toBe(false);
  });
  it('takes "node not found" after a restart (code 65535) and HTTP 5xx for transient, a plain failure not', () => {
    expect(err('attempt #5: session not found->datanode-1: node not found[node=1]: unrecoverable error', 65535).transient).toBe(true);
    expect(err('internal error', undefined, 1, 503).transient).toBe(true);
    expect(err('simulated failure', 65535).transient).toBe(false);
    expect(err("code: UnexpectedError, reason: code: CollectionNotExists, reason: can't find collection default:x").transient).toBe(false);
  });
  it('cuts a Go stack trace and retry chain to the last cause; the whole text stays available', () => {
    const real =
      'attempt #0: stack trace: /__w/milvus-lite/milvus-lite/milvus_binary/milvus/pkg/tracer/stack_trace.go:51 github.com/milvus-io/milvus/pkg/tracer.StackTrace\n' +
      '/__w/milvus-lite/milvus-lite/milvus_binary/milvus/internal/util/grpcclient/client.go:550 github.com/milvus-io/milvus/internal/util/grpcclient.(*ClientBase[...]).Call\n' +
      '/__w/milvus-lite/milvus-lite/milvus_binary/milvus/internal/datacoord/services.go:116 github.com/milvus-io/milvus/internal/datacoord.(*Server).Flush: attempt #0: rpc error: code = Unknown desc = node not match[expectedNodeID=1][actualNodeID=2]: attempt #1: rpc error: code = Unknown desc = node not match[expectedNodeID=1][actualNodeID=2]: attempt #2: session not found->datanode-1: node not found[node=1]: unrecoverable error';
    expect(reasonCause(real)).toBe('session not found->datanode-1: node not found[node=1]: unrecoverable error (after 3 attempts)');
    expect(describeFailure({ errorCode: 1, code: 65535, reason: real })).toBe('session not found->datanode-1: node not found[node=1]: unrecoverable error (after 3 attempts) (error_code 1 UnexpectedError, code 65535)');
    expect(describeFailure({ errorCode: 1, code: 65535, reason: real }, true)).toContain('stack trace: /__w/');
    expect(reasonCause('collection not found[collection=1]')).toBe('collection not found[collection=1]');
  });
  it('logs the whole reason at -v=4 when the message shows only the cause', async () => {
    const stack = 'attempt #0: stack trace: /x/stack_trace.go:51 a.StackTrace\n/x/services.go:116 b.Flush: node not found[node=1]';
    const t: Transport = { send: async () => ({ status: 200, body: JSON.stringify({ status: { error_code: 1, code: 65535, reason: stack } }) }), describe: () => 'fixture', close: async () => {} };
    const logged: Array<[number, string]> = [];
    const e = await new MilvusManagementApi(t, undefined, (level, m) => logged.push([level, m])).persist('default', ['a']).catch((x) => x);
    expect(e.message).toBe('Milvus answered POST /api/v1/persist: node not found[node=1] (error_code 1 UnexpectedError, code 65535)');
    expect(logged).toEqual([[4, `Milvus answered POST /api/v1/persist: the whole reason: ${stack}`]]);
  });
});
