/**
 * Contract: the management-API simulator (testbed/milvus-sim) answers as REAL Milvus 2.2.16 and
 * 2.3.5 do, on every field the plugin reads. The same requests go to a real server and to the
 * simulator of that version, set up with the same databases and collections; answers are
 * normalized (IDs and timestamps become their kind, name lists are sorted) and must be equal.
 * For 2.4+ the simulator remains the stand-in (no real server runs here), calibrated by this test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLosslessNumber, parse } from 'lossless-json';
import { listDatabasesGrpc } from '../../src/milvus/grpc-databases.js';
import { httpSend } from '../../src/milvus/transport.js';
import { startMilvusSim, type RunningSim, type SimVersion } from '../../testbed/milvus-sim/sim.js';
import { dropCollection, realMilvusVersions, startRealMilvus, writeData, type RealMilvus } from './real-milvus.js';

const LARGE = 2n ** 53n;
/** Keys whose values are IDs or hybrid timestamps: compared by kind, not value. */
const INT64_KEYS = new Set(['collection_ids', 'created_timestamps', 'coll_flush_ts', 'data']);

function normalize(v: unknown, key = ''): unknown {
  if (isLosslessNumber(v)) {
    const n = BigInt(v.toString());
    if (INT64_KEYS.has(key)) return n > LARGE ? 'int64>2^53' : `int64<2^53`;
    if (key === 'created_utc_timestamps') return 'unix-ms';
    if (key === 'coll_seal_times') return Math.abs(Number(n) - Date.now() / 1000) < 86_400 ? 'unix-s' : `not unix-s: ${n}`;
    return Number(n);
  }
  if (Array.isArray(v)) {
    const items = v.map((x) => normalize(x, key));
    return key === 'collection_names' ? [...(items as string[])].sort() : items;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = normalize((v as Record<string, unknown>)[k], key === 'coll_seal_times' || key === 'coll_flush_ts' ? key : k);
    return out;
  }
  // Reasons name IDs: those differ between two servers.
  if (typeof v === 'string') return v.replace(/\d{10,}/g, '<id>');
  return v;
}

async function ask(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> {
  try {
    const r = await httpSend('127.0.0.1', port, method, path, body, undefined, 10_000);
    const json = (() => {
      try {
        return parse(r.body);
      } catch {
        return undefined;
      }
    })();
    return { http: r.status, body: json === undefined ? r.body.trim() : normalize(json) };
  } catch (e) {
    return { error: 'no HTTP answer' };
  }
}

const SIM_VERSION: Record<string, SimVersion> = { '2.2.16': '2.2', '2.3.5': '2.3' };

describe.each(realMilvusVersions())('the simulator agrees with real Milvus %s', (version) => {
  let real: RealMilvus;
  let sim: RunningSim;
  const both = async (f: (mgmt: number, grpc: number) => Promise<unknown>) => ({ real: await f(real.mgmtPort, real.grpcPort), sim: await f(sim.port, sim.port) });

  beforeAll(async () => {
    real = await startRealMilvus({ version });
    await writeData(real, { default: { a: 1500, b: 10, gone: 10 }, db2: { c: 50 }, emptydb: {} });
    sim = await startMilvusSim({ version: SIM_VERSION[version], databases: { default: ['a', 'b', 'gone'], db2: ['c'], emptydb: [] } });
    for (const [db, c] of [['default', 'a'], ['default', 'b'], ['default', 'gone'], ['db2', 'c']] as const) sim.control.insert(db, c);
  }, 120_000);
  afterAll(async () => {
    await sim?.close();
    await real?.stop({ remove: true });
  });

  const requests: Array<[string, 'GET' | 'POST', string, string | undefined]> = [
    ['healthz', 'GET', '/healthz', undefined],
    ['health', 'GET', '/api/v1/health', undefined],
    ['collections of the default database', 'GET', '/api/v1/collections', '{}'],
    ['collections of db2', 'GET', '/api/v1/collections', '{"db_name":"db2"}'],
    ['collections of an empty database', 'GET', '/api/v1/collections', '{"db_name":"emptydb"}'],
    ['collections of an unknown database', 'GET', '/api/v1/collections', '{"db_name":"nosuch"}'],
    ['persist of an unknown collection', 'POST', '/api/v1/persist', '{"collection_names":["nosuch"]}'],
    ['persist in an unknown database', 'POST', '/api/v1/persist', '{"db_name":"nosuch","collection_names":["a"]}'],
    ['persist as GET', 'GET', '/api/v1/persist', '{"collection_names":["a"]}'],
    ['persist of a growing collection', 'POST', '/api/v1/persist', '{"collection_names":["a","b"]}'],
    ['persist in db2', 'POST', '/api/v1/persist', '{"db_name":"db2","collection_names":["c"]}'],
    ['persist/state of an unknown segment', 'GET', '/api/v1/persist/state', '{"segmentIDs":[1]}'],
    ['persist/state with a quoted ID', 'GET', '/api/v1/persist/state', '{"segmentIDs":["1"]}'],
  ];
  for (const [what, method, path, body] of requests) {
    it(what, async () => {
      const r = await both((mgmt) => ask(mgmt, method, path, body));
      expect(r.sim).toEqual(r.real);
    });
  }

  it('persist/state of the sealed segments: not flushed (no key), then flushed:true', async () => {
    const seen = { real: new Set<string>(), sim: new Set<string>() };
    for (const [side, port] of [['real', real.mgmtPort], ['sim', sim.port]] as const) {
      const p = (await httpSend('127.0.0.1', port, 'POST', '/api/v1/persist', '{"collection_names":["a"]}')).body;
      const ids = /"a":\{"data":\[([\d,]+)\]/.exec(p)?.[1] ?? '';
      const ts = /"coll_flush_ts":\{"a":(\d+)/.exec(p)?.[1];
      const stateBody = ts ? `{"segmentIDs":[${ids}],"flush_ts":${ts},"db_name":"","collection_name":"a"}` : `{"segmentIDs":[${ids}]}`;
      for (let i = 0; i < 60; i++) {
        const a = (await ask(port, 'GET', '/api/v1/persist/state', stateBody)) as { body: unknown };
        seen[side].add(JSON.stringify(a));
        if (JSON.stringify(a).includes('"flushed":true')) break;
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    // The last answer is flushed:true on both; any answer before it is {"status":{}}.
    const allowed = new Set([JSON.stringify({ http: 200, body: { status: {} } }), JSON.stringify({ http: 200, body: { flushed: true, status: {} } })]);
    for (const side of ['real', 'sim'] as const) {
      expect([...seen[side]].every((s) => allowed.has(s)), `${side}: ${[...seen[side]].join(' ')}`).toBe(true);
      expect(seen[side].has(JSON.stringify({ http: 200, body: { flushed: true, status: {} } })), side).toBe(true);
    }
  });

  it('persist/state of a collection dropped after its persist', async () => {
    const bodies: Record<string, string> = {};
    for (const [side, port] of [['real', real.mgmtPort], ['sim', sim.port]] as const) {
      const p = (await httpSend('127.0.0.1', port, 'POST', '/api/v1/persist', '{"collection_names":["gone"]}')).body;
      const ids = /"gone":\{"data":\[([\d,]+)\]/.exec(p)?.[1] ?? '';
      const ts = /"coll_flush_ts":\{"gone":(\d+)/.exec(p)?.[1];
      bodies[side] = ts ? `{"segmentIDs":[${ids}],"flush_ts":${ts},"db_name":"","collection_name":"gone"}` : `{"segmentIDs":[${ids}]}`;
    }
    await dropCollection(real, 'default', 'gone');
    sim.control.dropCollection('default', 'gone');
    // Real Milvus needs a moment to forget the dropped collection's segments.
    await new Promise((res) => setTimeout(res, 2000));
    const r = { real: await ask(real.mgmtPort, 'GET', '/api/v1/persist/state', bodies.real), sim: await ask(sim.port, 'GET', '/api/v1/persist/state', bodies.sim) };
    expect(r.sim).toEqual(r.real);
  });

  it('REST v2 databases/list on 19530 is not served (the plugin then asks gRPC)', async () => {
    const served = async (port: number) => {
      const a = (await ask(port, 'POST', '/v2/vectordb/databases/list', '{}')) as { http?: number; body?: { code?: number } };
      return a.http === 200 && a.body?.code === 0;
    };
    expect({ real: await served(real.grpcPort), sim: await served(sim.port) }).toEqual({ real: false, sim: false });
  });

  it('gRPC ListDatabases lists the same databases', async () => {
    const r = await both(async (_mgmt, grpc) => {
      const l = await listDatabasesGrpc({ host: '127.0.0.1', port: grpc, describe: 'contract' });
      return l.databases ? [...l.databases].sort() : l;
    });
    expect(r.sim).toEqual(r.real);
    expect(r.real).toEqual(['db2', 'default', 'emptydb']);
  });
});
