/**
 * SIMULATOR — not Milvus. What Milvus 2.6 and 3.0 add that the plugin reads, registered on the
 * simulator's one route table (MilvusSim.route / MilvusSim.grpcMethod). No real Milvus >= 2.4
 * runs here (no wheels, no packages; ../../../shared/research/milvus-3.0.md), so this is modelled
 * from upstream's source, each behaviour from the file and commit named beside it:
 *
 * Management API on mixcoord's 9091 (milvus-io/milvus internal/http/router.go @08cba1df "StreamingNodesPath",
 * "StreamingNodeStatusPath", registered by internal/coordinator/restful_mgr_routes.go @fa363a2c
 * RegisterMgrRoute, M#43968):
 * - `GET /management/streaming/nodes` (HandleStreamingNodes): `{"msg":"OK","nodeInfos":[{"ID":n,
 *   "address":"ip:port","state":"active"|"suspended"}]}`; the nodes the WAL balancer lists
 *   (registered streaming nodes), "suspended" for the frozen ones (GetFrozenNodeIDs). Query nodes
 *   that hold channels are merged in upstream; the simulator has none.
 * - `GET /management/streaming/nodes/status?node_id=N` (handleGetStreamingNodeStatus):
 *   `{"node_id":N,"status":"active"|"suspended"}`; no node_id -> 400 `{"msg": "node_id query
 *   parameter is required"}`; not a number -> 400 `{"msg": "Invalid node_id parameter"}`.
 * - `PUT /management/streaming/nodes/status {"node_id":N,"status":"suspended"|"active"}`
 *   (handlePutStreamingNodeStatus): freezes/defreezes; `{"msg": "OK"}`; node_id 0 -> 400
 *   `{"msg": "node_id is required"}`; another status -> 400.
 * - Other methods -> 405 `{"msg": "Method not allowed"}`. Before 2.6 (no mixcoord routes) -> 404.
 * - Go's json.Encoder ends its bodies with a newline; the http.Error bodies too.
 *
 * gRPC MilvusService on 19530 (milvus-io/milvus-proto proto/milvus.proto and proto/common.proto,
 * branch 2.6 @a76db651, branch 3.0 @cef495bd):
 * - ShowCollections { db_name = 2 } -> { status = 1, collection_names = 2, collection_ids = 3 }.
 * - GetLoadState { collection_name = 2, db_name = 4 } -> { status = 1, state = 2 } with common.LoadState
 *   NotExist 0, NotLoad 1, Loading 2, Loaded 3; an unknown collection answers status code 100
 *   "collection not found".
 * - FlushAll {} (the per-target form is deprecated: 3.0 flushes the whole cluster) -> { status = 1,
 *   flush_all_msgs = 4 (map pchannel -> ImmutableMessage { id = 1, payload = 2, properties = 3 }),
 *   cluster_info = 5 { cluster_id = 1, cchannel = 2, pchannels = 3 } }. The flush timestamp of a
 *   pchannel is the message property "_tt", a uint64 in base 36 (milvus-io/milvus
 *   pkg/streaming/util/message/encoder.go @26fc5112 EncodeUint64; read so by milvus-backup's
 *   GetTT). Before 2.6 the simulator answers UNIMPLEMENTED (2.5's older shape is not modelled).
 * - GetFlushAllState { flush_all_tss = 5 (map pchannel -> ts) } -> { status = 1, flushed = 2 }:
 *   flushed once every segment FlushAll sealed is flushed.
 *
 * Failures after a 2.5 -> 2.6 hop, injected through `control` (the MilvusSim):
 * - a streaming node not registered (M#42838 currentStreamingNode=0): absent from the node list;
 * - a read-only streaming node (M#47806: mixcoord logs "node becomes ro node"): proxies refuse
 *   writes — FlushAll and persist answer a status with "producer can only be created for RW
 *   channel" until the node is writable again; `refuseWrites` makes proxies refuse on their own;
 * - a collection stuck loading (M#44675, M#43455): setLoadState(db, c, 'Loading') with no end.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { MilvusSim, SimAnswer, SimGrpcAnswer } from './sim.js';
import { hybridTs, jsonBody } from './sim.js';

export interface SimStreamingNode {
  id: number;
  /** "ip:port" as the WAL balancer lists it (the streaming node's gRPC port is 22222). */
  address: string;
  /** Listed by the balancer (false: the node runs but never registered, M#42838). */
  registered: boolean;
  /** Frozen through PUT /management/streaming/nodes/status. */
  suspended: boolean;
  /** Became a read-only node (M#47806): proxies cannot create producers for its channels. */
  readOnly: boolean;
}

/** The reason text proxies log and answer when the channel is read-only (M#47806). */
export const RW_CHANNEL_REFUSAL = 'producer can only be created for RW channel';

const JSON_TYPE = 'application/json';

/** The 2.6/3.0 state the simulator keeps besides databases and collections. */
export class StreamingModel {
  readonly nodes: SimStreamingNode[] = [];
  /** Physical channels (mq topics) of the cluster. */
  pchannels = ['by-dev-rootcoord-dml_0', 'by-dev-rootcoord-dml_1'];
  /** Set by refuseWrites: proxies refuse writes whatever the nodes say. */
  writesRefused: string | undefined;
  /** Timestamps FlushAll answered, newest last. */
  readonly flushAllTs: bigint[] = [];
  private nextId = 1;

  addNode(address: string): SimStreamingNode {
    const n: SimStreamingNode = { id: this.nextId++, address, registered: true, suspended: false, readOnly: false };
    this.nodes.push(n);
    return n;
  }

  /** Why a write through the proxies fails now, or undefined when writes go through. */
  writeRefusal(): string | undefined {
    if (this.writesRefused) return this.writesRefused;
    if (this.nodes.some((n) => n.readOnly)) return RW_CHANNEL_REFUSAL;
    return undefined;
  }
}

/** Minimal protobuf writer/reader for the simulator (independent of the plugin's encoder). */
function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
const tag = (field: number, wire: number) => varint(BigInt((field << 3) | wire));
const lenField = (field: number, b: Buffer) => Buffer.concat([tag(field, 2), varint(BigInt(b.length)), b]);
const strField = (field: number, s: string) => lenField(field, Buffer.from(s, 'utf8'));
const intField = (field: number, n: bigint | number) => Buffer.concat([tag(field, 0), varint(BigInt(n))]);

function readFields(buf: Buffer): Array<[number, bigint | Buffer]> {
  const out: Array<[number, bigint | Buffer]> = [];
  let at = 0;
  const rv = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[at++];
      if (b === undefined) throw new Error('truncated');
      r |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return r;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(rv());
    const wire = key & 7;
    if (wire === 0) out.push([key >>> 3, rv()]);
    else if (wire === 2) {
      const n = Number(rv());
      out.push([key >>> 3, buf.subarray(at, at + n)]);
      at += n;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const strOf = (fields: Array<[number, bigint | Buffer]>, field: number) => {
  const f = fields.find(([n, v]) => n === field && Buffer.isBuffer(v));
  return f ? (f[1] as Buffer).toString('utf8') : '';
};

/** common.Status: empty on success; else error_code 1 (deprecated), reason, code. */
function status(reason: string, code: number): Buffer {
  return Buffer.concat([intField(1, 1), strField(2, reason), intField(3, code)]);
}
const failed = (reason: string, code: number): SimGrpcAnswer => ({ grpcStatus: 0, body: lenField(1, status(reason, code)) });

const LOAD_STATE = { NotExist: 0, NotLoad: 1, Loading: 2, Loaded: 3 } as const;

/** Registers the 2.6/3.0 routes and gRPC methods on the simulator; `control.streaming` drives them. */
export function installStreaming(sim: MilvusSim, addresses: string[]): void {
  const model = new StreamingModel();
  for (const a of addresses) model.addNode(a);
  sim.streaming = model;
  const has26 = () => sim.atLeastVersion('2.6');
  const json = (status: number, v: unknown): SimAnswer => ({ status, body: `${jsonBody(v)}\n`, contentType: JSON_TYPE });
  const msg = (status: number, text: string): SimAnswer => ({ status, body: `{"msg": "${text}"}\n`, contentType: 'text/plain; charset=utf-8' });
  const notFound: SimAnswer = { status: 404, body: '404 page not found\n', contentType: 'text/plain; charset=utf-8' };
  const injected = (): SimAnswer | undefined => {
    const f = sim.takeInjected('streaming');
    if (!f) return undefined;
    if (f.kind === 'drop') return { status: 0, body: '', contentType: '', drop: true };
    return msg(500, `failed to list streaming nodes, ${f.reason ?? 'simulated failure'}`);
  };

  sim.route('*', '/management/streaming/nodes', () => {
    if (!has26()) return notFound;
    const f = injected();
    if (f) return f;
    const nodeInfos = model.nodes.filter((n) => n.registered).map((n) => ({ ID: n.id, address: n.address, state: n.suspended ? 'suspended' : 'active' }));
    return json(200, { msg: 'OK', nodeInfos });
  });

  sim.route('*', '/management/streaming/nodes/status', (req) => {
    if (!has26()) return notFound;
    const f = injected();
    if (f) return f;
    if (req.method === 'GET') {
      const raw = req.query.get('node_id') ?? '';
      if (raw === '') return msg(400, 'node_id query parameter is required');
      if (!/^-?\d+$/.test(raw)) return msg(400, 'Invalid node_id parameter');
      const id = Number(raw);
      const node = model.nodes.find((n) => n.id === id && n.registered);
      return json(200, { node_id: id, status: node?.suspended ? 'suspended' : 'active' });
    }
    if (req.method === 'PUT') {
      let body: { node_id?: unknown; status?: unknown };
      try {
        body = JSON.parse(req.body || 'null') ?? {};
      } catch {
        return msg(400, 'Invalid request body');
      }
      const id = typeof body.node_id === 'number' ? body.node_id : 0;
      if (id === 0) return msg(400, 'node_id is required');
      if (body.status !== 'suspended' && body.status !== 'active') return msg(400, "Invalid status value. Use 'suspended' or 'active'.");
      const node = model.nodes.find((n) => n.id === id && n.registered);
      if (!node) return msg(500, `failed to ${body.status === 'suspended' ? 'suspend' : 'activate'} streaming node, node not found[node=${id}]`);
      node.suspended = body.status === 'suspended';
      return { status: 200, body: '{"msg": "OK"}', contentType: JSON_TYPE };
    }
    return msg(405, 'Method not allowed');
  });

  const grpcFailure = (): SimGrpcAnswer | undefined => {
    const f = sim.takeInjected('grpc');
    if (!f) return undefined;
    if (f.kind === 'drop') return { grpcStatus: 0, drop: true };
    if (f.kind === 'status') return failed(f.reason ?? 'simulated failure', 65535);
    return { grpcStatus: 14, message: f.reason ?? 'simulated failure' };
  };
  const guard = (headers: IncomingHttpHeaders): SimGrpcAnswer | undefined => {
    const f = grpcFailure();
    if (f) return f;
    if (!sim.grpcAuthorized(headers)) return { grpcStatus: 16, message: 'auth check failure, please check username and password are correct' };
    return undefined;
  };

  sim.grpcMethod('ShowCollections', (body, headers) => {
    const g = guard(headers);
    if (g) return g;
    const db = strOf(readFields(body), 2) || 'default';
    const m = sim.databases.get(db);
    if (!m) return failed(`database not found[database=${db}]`, 800);
    const colls = [...m.values()];
    return { grpcStatus: 0, body: Buffer.concat([...colls.map((c) => strField(2, c.name)), ...colls.map((c) => intField(3, c.id))]) };
  });

  sim.grpcMethod('GetLoadState', (body, headers) => {
    const g = guard(headers);
    if (g) return g;
    const fields = readFields(body);
    const name = strOf(fields, 2);
    const db = strOf(fields, 4) || 'default';
    const c = sim.findCollection(db, name);
    if (!c) return failed(`collection not found[database=${db}][collection=${name}]`, 100);
    if (c.load === 'Loading' && c.loadedAfterPolls !== undefined) {
      if (c.loadedAfterPolls <= 0) c.load = 'Loaded';
      else c.loadedAfterPolls--;
    }
    return { grpcStatus: 0, body: intField(2, LOAD_STATE[c.load]) };
  });

  sim.grpcMethod('FlushAll', (_body, headers) => {
    if (!has26()) return { grpcStatus: 12, message: 'unknown method FlushAll for service milvus.proto.milvus.MilvusService' };
    const g = guard(headers);
    if (g) return g;
    const refusal = model.writeRefusal();
    if (refusal) return failed(refusal, 65535);
    const now = Date.now();
    const ts = hybridTs(now);
    model.flushAllTs.push(ts);
    for (const { collection } of sim.allCollections()) {
      for (const s of collection.segments) {
        if (s.state === 'Growing') {
          s.state = 'Sealed';
          s.sealedAt = now;
        }
      }
    }
    const msgs = model.pchannels.map((pch, i) => {
      const props = Buffer.concat([lenField(3, Buffer.concat([strField(1, '_tt'), strField(2, ts.toString(36))])), lenField(3, Buffer.concat([strField(1, '_v'), strField(2, '2')]))]);
      const immutable = Buffer.concat([lenField(1, Buffer.concat([strField(1, `${i}/${now}`), intField(2, 1)])), props]);
      return lenField(4, Buffer.concat([strField(1, pch), lenField(2, immutable)]));
    });
    const clusterInfo = lenField(5, Buffer.concat([strField(1, 'by-dev'), strField(2, 'by-dev-rootcoord-dml_0'), ...model.pchannels.map((p) => strField(3, p))]));
    return { grpcStatus: 0, body: Buffer.concat([...msgs, clusterInfo]) };
  });

  sim.grpcMethod('GetFlushAllState', (body, headers) => {
    if (!has26()) return { grpcStatus: 12, message: 'unknown method GetFlushAllState for service milvus.proto.milvus.MilvusService' };
    const g = guard(headers);
    if (g) return g;
    const tss: bigint[] = [];
    for (const [field, v] of readFields(body)) {
      if (field !== 5 || !Buffer.isBuffer(v)) continue;
      for (const [f2, v2] of readFields(v)) if (f2 === 2 && typeof v2 === 'bigint') tss.push(v2);
    }
    if (tss.length === 0) return failed('flush_all_tss is required', 1100);
    const upTo = tss.reduce((a, b) => (a > b ? a : b));
    sim.progressAll();
    const pending = sim.allCollections().some(({ collection }) => collection.segments.some((s) => s.state === 'Sealed' && hybridTs(s.sealedAt ?? 0) <= upTo));
    return { grpcStatus: 0, body: pending ? Buffer.alloc(0) : intField(2, 1) };
  });
}
