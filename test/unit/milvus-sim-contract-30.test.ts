/**
 * The simulator's Milvus 2.6/3.0 behaviour held to upstream's recorded shapes. No real Milvus
 * >= 2.4 runs here, so the contract is upstream's source itself:
 * - gRPC: field numbers and types read from the recorded milvus-proto excerpts
 *   (fixtures/milvus-proto-30.proto, branch 3.0 @cef495bd, equal to branch 2.6 @a76db651 for
 *   these messages); the simulator's answers decoded by those numbers only;
 * - management API on mixcoord's 9091: milvus-io/milvus internal/http/router.go @08cba1df (paths)
 *   and internal/coordinator/restful_mgr_routes.go @fa363a2c (handlers: JSON tags, status codes,
 *   error bodies), recorded below;
 * - the FlushAll timestamp: property "_tt" of the FlushAll message, a uint64 in base 36
 *   (pkg/streaming/util/message/encoder.go @26fc5112).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpSend } from '../../src/milvus/transport.js';
import { ProtoReader, ProtoWriter } from '../../src/milvus/proto.js';
import { startMilvusSim, type RunningSim, type SimOptions } from '../../testbed/milvus-sim/sim.js';

const PROTO = readFileSync(join(import.meta.dirname, 'fixtures', 'milvus-proto-30.proto'), 'utf8');

/** Field name -> { number, type, repeated } of one recorded message. */
function recorded(message: string): Map<string, { n: number; type: string; repeated: boolean }> {
  const body = new RegExp(`^message ${message} \\{([\\s\\S]*?)^\\}`, 'm').exec(PROTO)?.[1];
  if (!body) throw new Error(`message ${message} not recorded`);
  const fields = new Map<string, { n: number; type: string; repeated: boolean }>();
  for (const m of body.matchAll(/^\s*(repeated\s+)?([\w.<>, ]+?)\s+(\w+)\s*=\s*(\d+)/gm)) fields.set(m[3]!, { n: Number(m[4]), type: m[2]!.trim(), repeated: !!m[1] });
  return fields;
}
const field = (message: string, name: string) => {
  const f = recorded(message).get(name);
  if (!f) throw new Error(`${message}.${name} not recorded`);
  return f;
};
function recordedEnum(name: string): Record<string, number> {
  const body = new RegExp(`^enum ${name} \\{([\\s\\S]*?)^\\}`, 'm').exec(PROTO)?.[1] ?? '';
  return Object.fromEntries([...body.matchAll(/(\w+)\s*=\s*(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});
async function sim(opts: SimOptions): Promise<RunningSim> {
  const s = await startMilvusSim(opts);
  sims.push(s);
  return s;
}

/** One unary gRPC call to the simulator over HTTP/2 (no plugin code on the way). */
async function grpcCall(s: RunningSim, method: string, request: Buffer): Promise<{ status: string; fields: Array<[number, number, bigint | Buffer]> }> {
  const { connect } = await import('node:http2');
  const session = connect(`http://127.0.0.1:${s.port}`);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': `/milvus.proto.milvus.MilvusService/${method}`, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let grpcStatus = '';
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('trailers', (t) => (grpcStatus = String(t['grpc-status'])));
      req.on('error', reject);
      req.on('end', () => {
        const framed = Buffer.concat(chunks);
        const msg = framed.length >= 5 ? framed.subarray(5, 5 + framed.readUInt32BE(1)) : Buffer.alloc(0);
        resolve({ status: grpcStatus, fields: [...new ProtoReader(msg).fields()] });
      });
      const frame = Buffer.alloc(5 + request.length);
      frame.writeUInt32BE(request.length, 1);
      request.copy(frame, 5);
      req.end(frame);
    });
  } finally {
    session.close();
  }
}
const strings = (fields: Array<[number, number, bigint | Buffer]>, n: number) => fields.filter(([f, w]) => f === n && w === 2).map(([, , v]) => (v as Buffer).toString('utf8'));
const varints = (fields: Array<[number, number, bigint | Buffer]>, n: number) => fields.filter(([f, w]) => f === n && w === 0).map(([, , v]) => v as bigint);
const sub = (fields: Array<[number, number, bigint | Buffer]>, n: number) => fields.filter(([f, w]) => f === n && w === 2).map(([, , v]) => [...new ProtoReader(v as Buffer).fields()]);

describe('simulator contract: gRPC of Milvus 2.6/3.0 (milvus-proto field numbers as recorded)', () => {
  it('the recorded messages are what the simulator and the plugin rely on', () => {
    expect(field('ShowCollectionsRequest', 'db_name')).toEqual({ n: 2, type: 'string', repeated: false });
    expect(field('ShowCollectionsResponse', 'collection_names')).toEqual({ n: 2, type: 'string', repeated: true });
    expect(field('GetLoadStateRequest', 'collection_name').n).toBe(2);
    expect(field('GetLoadStateRequest', 'db_name').n).toBe(4);
    expect(field('GetLoadStateResponse', 'state')).toEqual({ n: 2, type: 'common.LoadState', repeated: false });
    expect(recordedEnum('LoadState')).toEqual({ LoadStateNotExist: 0, LoadStateNotLoad: 1, LoadStateLoading: 2, LoadStateLoaded: 3 });
    expect(field('FlushAllResponse', 'flush_all_msgs')).toEqual({ n: 4, type: 'map<string, common.ImmutableMessage>', repeated: false });
    expect(field('ImmutableMessage', 'properties')).toEqual({ n: 3, type: 'map<string, string>', repeated: false });
    expect(field('GetFlushAllStateRequest', 'flush_all_tss')).toEqual({ n: 5, type: 'map<string, uint64>', repeated: false });
    expect(field('GetFlushAllStateResponse', 'flushed')).toEqual({ n: 2, type: 'bool', repeated: false });
  });

  it('ShowCollections and GetLoadState answer in the recorded fields; an unknown collection is a status with code 100', async () => {
    const s = await sim({ version: '3.0', databases: { default: ['a'], db2: ['x', 'y'] }, loaded: ['db2.y'] });
    s.control.setLoadState('db2', 'x', 'Loading');
    const show = await grpcCall(s, 'ShowCollections', new ProtoWriter().string(field('ShowCollectionsRequest', 'db_name').n, 'db2').finish());
    expect(show.status).toBe('0');
    expect(strings(show.fields, field('ShowCollectionsResponse', 'collection_names').n)).toEqual(['x', 'y']);
    expect(varints(show.fields, field('ShowCollectionsResponse', 'collection_ids').n)).toHaveLength(2);
    const states = recordedEnum('LoadState');
    const load = async (db: string, c: string) => {
      const req = new ProtoWriter().string(field('GetLoadStateRequest', 'collection_name').n, c).string(field('GetLoadStateRequest', 'db_name').n, db).finish();
      return grpcCall(s, 'GetLoadState', req);
    };
    expect(varints((await load('db2', 'y')).fields, field('GetLoadStateResponse', 'state').n)).toEqual([BigInt(states.LoadStateLoaded!)]);
    expect(varints((await load('db2', 'x')).fields, 2)).toEqual([BigInt(states.LoadStateLoading!)]);
    expect(varints((await load('', 'a')).fields, 2)).toEqual([BigInt(states.LoadStateNotLoad!)]);
    const missing = await load('default', 'nope');
    const status = sub(missing.fields, field('GetLoadStateResponse', 'status').n)[0]!;
    expect(varints(status, field('Status', 'code').n)).toEqual([100n]);
    expect(strings(status, field('Status', 'reason').n)[0]).toBe('collection not found[database=default][collection=nope]');
  });

  it('FlushAll answers flush_all_msgs (pchannel -> message whose "_tt" is a base-36 hybrid timestamp) and cluster_info; GetFlushAllState takes flush_all_tss', async () => {
    const s = await sim({ version: '2.6', databases: { default: ['a'] }, flushAfterPolls: 2 });
    s.control.insert('default', 'a');
    const before = BigInt(Date.now()) << 18n;
    const flush = await grpcCall(s, 'FlushAll', Buffer.alloc(0));
    expect(flush.status).toBe('0');
    const tss = new Map<string, bigint>();
    for (const entry of sub(flush.fields, field('FlushAllResponse', 'flush_all_msgs').n)) {
      const pchannel = strings(entry, 1)[0]!;
      const message = sub(entry, 2)[0]!;
      const props = new Map(sub(message, field('ImmutableMessage', 'properties').n).map((p) => [strings(p, 1)[0]!, strings(p, 2)[0]!]));
      expect(props.get('_tt')).toMatch(/^[0-9a-z]+$/);
      const tt = [...props.get('_tt')!].reduce((n, ch) => n * 36n + BigInt(parseInt(ch, 36)), 0n);
      expect(tt >= before && tt <= BigInt(Date.now()) << 18n).toBe(true);
      tss.set(pchannel, tt);
    }
    const cluster = sub(flush.fields, field('FlushAllResponse', 'cluster_info').n)[0]!;
    expect(strings(cluster, field('ClusterInfo', 'pchannels').n)).toEqual([...tss.keys()]);
    const stateReq = () => {
      const w = new ProtoWriter();
      for (const [p, t] of tss) w.mapStringUint(field('GetFlushAllStateRequest', 'flush_all_tss').n, p, t);
      return w.finish();
    };
    // Not flushed at the first poll (flushAfterPolls 2: at the second): `flushed` absent (proto3 default false).
    expect(varints((await grpcCall(s, 'GetFlushAllState', stateReq())).fields, field('GetFlushAllStateResponse', 'flushed').n)).toEqual([]);
    expect(varints((await grpcCall(s, 'GetFlushAllState', stateReq())).fields, 2)).toEqual([1n]);
    // Before 2.6 the simulator has no FlushAll (UNIMPLEMENTED, 12).
    s.control.setVersion('2.5');
    expect((await grpcCall(s, 'FlushAll', Buffer.alloc(0))).status).toBe('12');
  });
});

describe('simulator contract: mixcoord management routes (restful_mgr_routes.go @fa363a2c)', () => {
  const get = (s: RunningSim, path: string) => httpSend('127.0.0.1', s.port, 'GET', path, undefined);

  it('GET /management/streaming/nodes: {"msg":"OK","nodeInfos":[{"ID","address","state"}]}, suspended nodes marked, unregistered ones absent', async () => {
    const s = await sim({ version: '3.0', streamingNodes: ['10.0.0.11:22222', '10.0.0.12:22222', '10.0.0.13:22222'] });
    s.control.setStreamingNode(2, { suspended: true });
    s.control.setStreamingNode(3, { registered: false });
    const r = await get(s, '/management/streaming/nodes');
    expect(r.status).toBe(200);
    // json.NewEncoder: one line and a newline; the struct's field order and tags.
    expect(r.body).toBe('{"msg":"OK","nodeInfos":[{"ID":1,"address":"10.0.0.11:22222","state":"active"},{"ID":2,"address":"10.0.0.12:22222","state":"suspended"}]}\n');
  });

  it('GET/PUT /management/streaming/nodes/status as the handlers answer, errors included', async () => {
    const s = await sim({ version: '2.6', streamingNodes: ['10.0.0.11:22222'] });
    expect(await get(s, '/management/streaming/nodes/status?node_id=1')).toEqual({ status: 200, body: '{"node_id":1,"status":"active"}\n' });
    expect(await get(s, '/management/streaming/nodes/status')).toEqual({ status: 400, body: '{"msg": "node_id query parameter is required"}\n' });
    expect(await get(s, '/management/streaming/nodes/status?node_id=x')).toEqual({ status: 400, body: '{"msg": "Invalid node_id parameter"}\n' });
    const put = (body: string) => httpSend('127.0.0.1', s.port, 'PUT' as 'POST', '/management/streaming/nodes/status', body);
    expect(await put('{"node_id":1,"status":"suspended"}')).toEqual({ status: 200, body: '{"msg": "OK"}' });
    expect((await get(s, '/management/streaming/nodes/status?node_id=1')).body).toBe('{"node_id":1,"status":"suspended"}\n');
    expect(await put('{"status":"active"}')).toEqual({ status: 400, body: '{"msg": "node_id is required"}\n' });
    expect(await put('{"node_id":1,"status":"resumed"}')).toEqual({ status: 400, body: `{"msg": "Invalid status value. Use 'suspended' or 'active'."}\n` });
    expect((await httpSend('127.0.0.1', s.port, 'POST', '/management/streaming/nodes/status', '{}')).status).toBe(405);
  });

  it('before 2.6 there is no mixcoord and no such route (404)', async () => {
    const s = await sim({ version: '2.5', streamingNodes: ['10.0.0.11:22222'] });
    expect((await get(s, '/management/streaming/nodes')).status).toBe(404);
  });
});
