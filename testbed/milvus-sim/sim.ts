/**
 * SIMULATOR — not Milvus. A stand-in for the Milvus proxy's management HTTP API (port 9091, prefix
 * /api/v1), the one REST v2 route the plugin uses (POST /v2/vectordb/databases/list on 19530) and
 * gRPC MilvusService/ListDatabases (19530, same port). Real Milvus 2.2.16 and 2.3.5 run on the
 * test bed (test/e2e/real-milvus.ts) and the e2e tests prove the plugin against them; for 2.2 and
 * 2.3 this simulator is CALIBRATED against those real servers by
 * test/e2e/milvus-sim-contract-real.test.ts (same requests to both, every field the plugin reads
 * must agree). For 2.1 and 2.4+ no real server can run here (no wheels): the simulator remains
 * the stand-in, answering as the upstream source specifies and as the calibrated 2.3 shapes
 * suggest (see ../../../shared/research/milvus-upstream.md §3):
 * - routes: milvus-io/milvus internal/distributed/proxy/httpserver/handler.go (RegisterRoutesTo)
 *   under the "/api/v1" prefix of internal/distributed/proxy/service.go; /healthz from
 *   internal/http/healthz/healthz_handler.go (text "OK", or JSON with Content-Type
 *   application/json; 500 "Not all components are healthy, x/y");
 * - request binding (httpserver/wrapper.go): a JSON body, also on GET; an empty body is an empty
 *   request; Go encoding/json rules: unknown keys ignored, int64/uint64 fields only from JSON
 *   numbers (a quoted ID is a bind error); bind error -> HTTP 400 `{"error_code":5,...}`; proxy
 *   error -> HTTP 500 `{"error_code":1,...}`; logical failures -> HTTP 200 with a non-empty status;
 * - JSON shapes: milvus-io/milvus-proto proto/milvus.proto and proto/common.proto
 *   (ShowCollections, Flush, GetFlushState, Status); field names are the proto names and every
 *   field is omitempty: a success status is `{}` and `flushed` is ABSENT when false;
 * - per version (milvus-proto branches): 2.1 answers persist with coll_segIDs only; 2.2 adds
 *   flush_coll_segIDs and coll_seal_times; 2.3+ adds coll_flush_ts and channel_cps, and
 *   persist/state binds flush_ts, db_name and collection_name (2.1/2.2 ignore those keys);
 * - persist (internal/datacoord/services.go Flush): coll_segIDs = the segments this flush sealed
 *   (all sealed-not-yet-flushed ones), flush_coll_segIDs = those already Flushed;
 * - flush state (internal/datacoord/services.go GetFlushState): an UNKNOWN segment ID counts as
 *   flushed (so a rounded ID gets a false "flushed"); with flush_ts, the collection's channel
 *   checkpoint must reach it; no collection means no channels and "flushed";
 * - IDs (~4.5e17) and hybrid timestamps (physical ms << 18, beyond 2^53) are written as exact JSON
 *   numbers.
 * Tests drive it through `control` (the MilvusSim): databases, collections, inserts, version,
 * flush speed, failures, and the request log. CLI: main.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { isLosslessNumber, parse, stringify, LosslessNumber } from 'lossless-json';
import { installStreaming, RW_CHANNEL_REFUSAL, type SimStreamingNode, type StreamingModel } from './streaming.js';

export type SimVersion = '2.1' | '2.2' | '2.3' | '2.4' | '2.5' | '2.6' | '3.0';
export const SIM_VERSIONS: readonly SimVersion[] = ['2.1', '2.2', '2.3', '2.4', '2.5', '2.6', '3.0'];

export interface Segment {
  id: bigint;
  state: 'Growing' | 'Sealed' | 'Flushed';
  sealedAt?: number;
  /** Number of persist/state polls that have seen this segment sealed. */
  polls: number;
}

export interface Collection {
  id: bigint;
  name: string;
  createdTs: bigint;
  segments: Segment[];
  /** Checkpoint of the collection's channel (a hybrid timestamp). */
  checkpoint: bigint;
  /** common.LoadState as GetLoadState answers it (serving.ts compares it before and after a hop). */
  load: LoadStateName;
  /** With load Loading: GetLoadState answers Loaded after this many more calls (undefined: stuck, M#44675). */
  loadedAfterPolls?: number | undefined;
}

/** common.proto LoadState (milvus-proto 3.0 branch, proto/common.proto): NotExist 0, NotLoad 1, Loading 2, Loaded 3. */
export type LoadStateName = 'NotLoad' | 'Loading' | 'Loaded';

/**
 * An injected failure, used `times` times (default: forever):
 * - http500: HTTP 500 with a Status {"error_code":1,...} (a Go error in the proxy);
 * - status: HTTP 200 with a non-empty status (a logical failure, code 65535);
 * - unhealthy: HTTP 200 with status {"error_code":1,"reason":"proxy not healthy"}; on 'healthz'
 *   (or 'all') /healthz answers 500 "Not all components are healthy";
 * - drop: the connection is closed without an answer.
 */
export type Failure =
  | { on: 'collections' | 'persist' | 'state' | 'databases' | 'healthz' | 'streaming' | 'grpc'; kind: 'http500' | 'status' | 'drop' | 'unhealthy'; times?: number; reason?: string }
  | { on: 'all'; kind: 'drop' | 'unhealthy' | 'http500' | 'status'; times?: number; reason?: string };

export interface SimOptions {
  port?: number;
  version?: SimVersion;
  /** Database name -> collection names. Default: { default: [] }. */
  databases?: Record<string, string[]>;
  /** A sealed segment becomes Flushed after this many ms ... */
  flushDelayMs?: number;
  /** ... and after being polled this many times (both must hold). */
  flushAfterPolls?: number;
  /** Serve REST v2 databases/list (Milvus >= 2.4). Default: version >= 2.4. */
  restV2?: boolean;
  /**
   * Authentication on: REST v2 answers code 1800 without a token; gRPC ListDatabases answers
   * UNAUTHENTICATED unless the `authorization` metadata is base64("root:Milvus").
   */
  authEnabled?: boolean;
  /** Every HTTP answer waits this long (a port-forward's round trip, for the flush bench and concurrency tests). */
  latencyMs?: number;
  /** 2.6/3.0: streaming node addresses registered with mixcoord (see streaming.ts). */
  streamingNodes?: string[];
  /** "db.collection" names that are loaded (GetLoadState answers Loaded). */
  loaded?: string[];
}

/** One HTTP request as a route sees it. */
export interface SimHttpRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
  contentType: string;
}
export type SimHttpRoute = (req: SimHttpRequest) => SimAnswer;

/** A gRPC answer: grpc-status, its message, the response message bytes (unframed), or a dropped connection. */
export interface SimGrpcAnswer {
  grpcStatus: number;
  message?: string;
  body?: Buffer;
  drop?: boolean;
}
export type SimGrpcRoute = (body: Buffer, headers: IncomingHttpHeaders) => SimGrpcAnswer;

/** The credentials the simulator accepts with authEnabled (Milvus's default root user). */
export const SIM_ROOT_CREDENTIALS = { username: 'root', password: 'Milvus' } as const;

export interface SimRequest {
  method: string;
  path: string;
  /** The raw request body as sent. */
  body: string;
  /** HTTP status answered (0 for a dropped connection). */
  status?: number;
  at: number;
}

/** First segment ID: about 4.5e17, as real Milvus allocates them, and beyond 2^53. */
const FIRST_SEGMENT_ID = 454097953998180999n;
const PHYSICAL_SHIFT = 18n;

export function hybridTs(ms: number): bigint {
  return BigInt(ms) << PHYSICAL_SHIFT;
}

/** Converts bigint values into exact JSON numbers for lossless-json's stringify. */
export function jsonBody(v: unknown): string {
  const conv = (x: unknown): unknown => {
    if (typeof x === 'bigint') return new LosslessNumber(x.toString());
    if (Array.isArray(x)) return x.map(conv);
    if (x && typeof x === 'object' && !(x instanceof LosslessNumber)) {
      return Object.fromEntries(Object.entries(x).map(([k, val]) => [k, conv(val)]));
    }
    return x;
  };
  return stringify(conv(v)) ?? 'null';
}

/** Go encoding/json into an int64/uint64 field: only an integral JSON number binds. */
function bindInt(v: unknown, unsigned: boolean): bigint | undefined {
  if (!isLosslessNumber(v)) return undefined;
  const text = v.toString();
  if (!/^-?\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  if (unsigned ? n < 0n || n > 0xffffffffffffffffn : n < -(1n << 63n) || n >= 1n << 63n) return undefined;
  return n;
}

class BindError extends Error {}

export class MilvusSim {
  version: SimVersion;
  flushDelayMs: number;
  flushAfterPolls: number;
  restV2: boolean;
  authEnabled: boolean;
  readonly databases = new Map<string, Map<string, Collection>>();
  readonly requests: SimRequest[] = [];
  /** Delay of every HTTP answer, ms. */
  latencyMs: number;
  /** Requests being answered now, per path, and the most seen at once (for concurrency checks). */
  readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();
  private failures: Failure[] = [];
  /**
   * THE registration point of routes beyond the /api/v1 proxy API: "METHOD /path" ("*" for any
   * method) -> handler, for HTTP; the gRPC method name (e.g. "ListDatabases") -> handler, for gRPC.
   * streaming.ts registers the 2.6/3.0 routes here; register more with `route` and `grpcMethod`.
   */
  private readonly httpRoutes = new Map<string, SimHttpRoute>();
  private readonly grpcRoutes = new Map<string, SimGrpcRoute>();
  /** The 2.6/3.0 state (streaming nodes, FlushAll), set by installStreaming. */
  streaming!: StreamingModel;
  private nextSegment = FIRST_SEGMENT_ID;
  private nextCollection = 446000000000000001n;

  constructor(opts: SimOptions = {}) {
    this.version = opts.version ?? '2.4';
    this.flushDelayMs = opts.flushDelayMs ?? 0;
    this.flushAfterPolls = opts.flushAfterPolls ?? 0;
    this.restV2 = opts.restV2 ?? this.atLeast('2.4');
    this.authEnabled = opts.authEnabled ?? false;
    this.latencyMs = opts.latencyMs ?? 0;
    for (const [db, colls] of Object.entries(opts.databases ?? { default: [] })) {
      this.addDatabase(db);
      for (const c of colls) this.addCollection(db, c);
    }
    if (!this.databases.has('default')) this.addDatabase('default');
    for (const full of opts.loaded ?? []) {
      const dot = full.indexOf('.');
      this.setLoadState(full.slice(0, dot), full.slice(dot + 1), 'Loaded');
    }
    this.grpcMethod('ListDatabases', (_body, headers) => this.listDatabasesGrpc(headers));
    installStreaming(this, opts.streamingNodes ?? []);
  }

  /** Registers (or replaces) an HTTP route: `method` "GET", "PUT", ... or "*" for any. */
  route(method: string, path: string, handler: SimHttpRoute): void {
    this.httpRoutes.set(`${method} ${path}`, handler);
  }

  /** Registers (or replaces) a gRPC method of milvus.proto.milvus.MilvusService by its name. */
  grpcMethod(name: string, handler: SimGrpcRoute): void {
    this.grpcRoutes.set(name, handler);
  }

  /** Registers a streaming node with mixcoord (2.6/3.0); its ID comes back with it. */
  addStreamingNode(address: string): SimStreamingNode {
    return this.streaming.addNode(address);
  }

  /**
   * Changes a streaming node: `registered: false` drops it from mixcoord's list (M#42838),
   * `readOnly: true` makes proxies refuse writes (M#47806), `suspended` freezes it.
   */
  setStreamingNode(id: number, patch: Partial<Pick<SimStreamingNode, 'registered' | 'readOnly' | 'suspended'>>): void {
    const n = this.streaming.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no streaming node ${id}`);
    Object.assign(n, patch);
  }

  /** Proxies refuse writes with this reason (default: M#47806's), or accept them again (undefined). */
  refuseWrites(reason: string | undefined = RW_CHANNEL_REFUSAL): void {
    this.streaming.writesRefused = reason;
  }

  /** Loads (or unloads) a collection as GetLoadState will report it; Loading with `loadedAfterPolls` finishes after that many calls, without it stays stuck. */
  setLoadState(db: string, name: string, state: LoadStateName, loadedAfterPolls?: number): void {
    const c = this.collection(db, name);
    if (!c) throw new Error(`no collection ${db}.${name}`);
    c.load = state;
    c.loadedAfterPolls = state === 'Loading' ? loadedAfterPolls : undefined;
  }

  /** Every collection of every database (for the 2.6/3.0 routes). */
  allCollections(): Array<{ db: string; collection: Collection }> {
    return [...this.databases.entries()].flatMap(([db, m]) => [...m.values()].map((collection) => ({ db, collection })));
  }

  /** Advances sealed segments of every collection (FlushAll's state polls count as polls of each). */
  progressAll(): void {
    for (const { collection } of this.allCollections()) this.progress(collection, new Set(collection.segments.map((s) => s.id)));
  }

  atLeastVersion(v: SimVersion): boolean {
    return this.atLeast(v);
  }

  /** The collection (db "" is the default one). */
  findCollection(db: string, name: string): Collection | undefined {
    return this.collection(db, name);
  }

  addDatabase(db: string): void {
    if (!this.databases.has(db)) this.databases.set(db, new Map());
  }

  addCollection(db: string, name: string): Collection {
    this.addDatabase(db);
    const c: Collection = { id: this.nextCollection++, name, createdTs: hybridTs(Date.now()), segments: [], checkpoint: hybridTs(Date.now()), load: 'NotLoad' };
    this.databases.get(db)!.set(name, c);
    return c;
  }

  /** Simulates inserted rows still in the message queue: one growing segment. */
  insert(db: string, name: string, id?: bigint): bigint {
    return this.addSegment(db, name, 'Growing', id);
  }

  /** Adds an already flushed segment (data persisted by an earlier flush). */
  addFlushedSegment(db: string, name: string, id?: bigint): bigint {
    return this.addSegment(db, name, 'Flushed', id);
  }

  private addSegment(db: string, name: string, state: Segment['state'], id?: bigint): bigint {
    const c = this.collection(db, name);
    if (!c) throw new Error(`no collection ${db}.${name}`);
    const seg: Segment = { id: this.segmentId(id), state, polls: 0 };
    c.segments.push(seg);
    return seg.id;
  }

  /** A given ID (tests that need IDs next to each other), or the next allocated one. */
  private segmentId(id: bigint | undefined): bigint {
    if (id === undefined) return this.nextSegment++;
    const taken = [...this.databases.values()].some((d) => [...d.values()].some((c) => c.segments.some((s) => s.id === id)));
    if (taken) throw new Error(`segment ID ${id} exists`);
    return id;
  }

  /** Next segment IDs the simulator will allocate (for tests that need a "neighbour" ID). */
  peekNextSegmentId(): bigint {
    return this.nextSegment;
  }

  /** Switches the answered API generation (shapes of persist and persist/state). */
  setVersion(v: SimVersion, restV2 = SIM_VERSIONS.indexOf(v) >= SIM_VERSIONS.indexOf('2.4')): void {
    this.version = v;
    this.restV2 = restV2;
  }

  /** Slow flushes: a sealed segment is Flushed once `ms` have passed AND it was polled `polls` times. */
  setFlushDelay(ms: number, polls = 0): void {
    this.flushDelayMs = ms;
    this.flushAfterPolls = polls;
  }

  dropDatabase(db: string): void {
    this.databases.delete(db);
  }

  dropCollection(db: string, name: string): void {
    const c = this.databases.get(db)?.get(name);
    if (c) this.dropped.set(`${db}.${name}`, c.id);
    this.databases.get(db)?.delete(name);
  }

  /** Dropped collections ("db.name" -> id): 2.3+ persist/state names them in its error. */
  private readonly dropped = new Map<string, bigint>();

  /** Requests to one path (the request log). */
  requestsTo(path: string): SimRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** A failure injected for `on`, used once (for routes registered outside this file). */
  takeInjected(on: string): Failure | undefined {
    return this.takeFailure(on);
  }

  failOn(f: Failure): void {
    this.failures.push({ ...f, times: f.times ?? Number.POSITIVE_INFINITY });
  }

  clearFailures(): void {
    this.failures = [];
  }

  segmentsOf(db: string, name: string): Segment[] {
    return this.collection(db, name)?.segments ?? [];
  }

  private collection(db: string, name: string): Collection | undefined {
    return this.databases.get(db || 'default')?.get(name);
  }

  private takeFailure(on: string): Failure | undefined {
    const f = this.failures.find((x) => (x.on === on || x.on === 'all') && (x.times ?? 0) > 0);
    if (f) f.times = (f.times ?? 1) - 1;
    return f;
  }

  private atLeast(v: SimVersion): boolean {
    return SIM_VERSIONS.indexOf(this.version) >= SIM_VERSIONS.indexOf(v);
  }

  /** Advances sealed segments to Flushed once their delay and poll count are reached. */
  private progress(c: Collection, polled: Set<bigint>): void {
    const now = Date.now();
    for (const s of c.segments) {
      if (s.state !== 'Sealed') continue;
      if (polled.has(s.id)) s.polls++;
      if (now - (s.sealedAt ?? now) >= this.flushDelayMs && s.polls >= this.flushAfterPolls) s.state = 'Flushed';
    }
    if (c.segments.every((s) => s.state !== 'Sealed')) c.checkpoint = hybridTs(now);
  }

  /**
   * gRPC on the proxy's port (19530). Methods come from the gRPC route table: ListDatabases as
   * real 2.2.9+ serves it (2.1, without databases, answers UNIMPLEMENTED as real Milvus before
   * 2.2.9 does; a hand-encoded ListDatabasesResponse { status = 1 (empty: success); db_names = 2 }),
   * and the 2.6/3.0 methods of streaming.ts. An unknown method answers UNIMPLEMENTED.
   */
  handleGrpc(path: string, headers: IncomingHttpHeaders, body: Buffer = Buffer.alloc(0)): SimGrpcAnswer {
    this.requests.push({ method: 'GRPC', path, body: body.toString('base64'), at: Date.now() });
    const prefix = '/milvus.proto.milvus.MilvusService/';
    const route = path.startsWith(prefix) ? this.grpcRoutes.get(path.slice(prefix.length)) : undefined;
    if (!route) return { grpcStatus: 12, message: `unknown method ${path.split('/').pop()} for service milvus.proto.milvus.MilvusService` };
    return route(body, headers);
  }

  /** gRPC authentication as Milvus checks it: the `authorization` metadata, base64("user:password"). */
  grpcAuthorized(headers: IncomingHttpHeaders): boolean {
    if (!this.authEnabled) return true;
    const expected = Buffer.from(`${SIM_ROOT_CREDENTIALS.username}:${SIM_ROOT_CREDENTIALS.password}`).toString('base64');
    return headers.authorization === expected;
  }

  private listDatabasesGrpc(headers: IncomingHttpHeaders): SimGrpcAnswer {
    if (this.version === '2.1') return { grpcStatus: 12, message: 'unknown method ListDatabases for service milvus.proto.milvus.MilvusService' };
    const f = this.takeFailure('databases');
    if (f?.kind === 'drop') return { grpcStatus: 0, drop: true };
    if (f) return { grpcStatus: 14, message: 'simulated failure' };
    if (!this.grpcAuthorized(headers)) return { grpcStatus: 16, message: 'auth check failure, please check username and password are correct' };
    const parts: Buffer[] = [];
    for (const name of this.databases.keys()) {
      const b = Buffer.from(name, 'utf8');
      parts.push(Buffer.from([0x12, b.length]), b);
    }
    return { grpcStatus: 0, body: Buffer.concat(parts) };
  }

  handle(method: string, path: string, rawBody: string, contentType: string, query = ''): SimAnswer {
    const entry: SimRequest = { method, path, body: rawBody, at: Date.now() };
    this.requests.push(entry);
    const route = this.httpRoutes.get(`${method} ${path}`) ?? this.httpRoutes.get(`* ${path}`);
    const answer = route ? route({ method, path, query: new URLSearchParams(query), body: rawBody, contentType }) : this.answer(method, path, rawBody, contentType);
    entry.status = answer.drop ? 0 : answer.status;
    return answer;
  }

  private answer(method: string, path: string, rawBody: string, contentType: string): SimAnswer {
    const ok = (v: unknown): SimAnswer => ({ status: 200, body: jsonBody(v), contentType: 'application/json; charset=utf-8' });
    const bindError = (msg: string): SimAnswer => ({
      status: 400,
      body: jsonBody({ error_code: 5, reason: `bad request: parse body failed: ${msg}` }),
      contentType: 'application/json; charset=utf-8',
    });
    const failureFor = (on: string): SimAnswer | undefined => {
      const f = this.takeFailure(on);
      if (!f) return undefined;
      if (f.kind === 'drop') return { status: 0, body: '', contentType: '', drop: true };
      if (f.kind === 'http500') return { status: 500, body: jsonBody({ error_code: 1, reason: 'internal error: simulated failure' }), contentType: 'application/json; charset=utf-8' };
      if (f.kind === 'unhealthy') return ok({ status: { error_code: 1, reason: 'proxy not healthy' } });
      return ok({ status: { error_code: 1, reason: f.reason ?? 'simulated failure', code: 65535 } });
    };

    if (path === '/healthz' && method === 'GET') {
      const f = this.takeFailure('healthz');
      if (f?.kind === 'drop') return { status: 0, body: '', contentType: '', drop: true };
      if (f) {
        const text = 'Not all components are healthy, 3/4';
        if (contentType.includes('application/json')) {
          return { status: 500, body: jsonBody({ state: text, detail: [{ name: 'proxy', code: 2 }] }), contentType: 'application/json; charset=utf-8' };
        }
        return { status: 500, body: text, contentType: 'text/plain; charset=utf-8' };
      }
      if (contentType.includes('application/json')) return ok({ state: 'OK', detail: [{ name: 'proxy', code: 1 }] });
      return { status: 200, body: 'OK', contentType: 'text/plain; charset=utf-8' };
    }

    let body: Record<string, unknown> = {};
    if (rawBody.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = parse(rawBody);
      } catch (e) {
        return bindError((e as Error).message);
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return bindError('json: cannot unmarshal into Go value of type request');
      body = parsed as Record<string, unknown>;
    }
    const str = (k: string): string => {
      const v = body[k];
      if (v === undefined || v === null) return '';
      if (typeof v !== 'string') throw new BindError(`json: cannot unmarshal ${typeof v} into Go struct field ${struct}.${k} of type string`);
      return v;
    };
    // Go's encoding/json names the request struct in its errors (milvus.proto request types).
    const struct = path.endsWith('/persist/state') ? 'GetFlushStateRequest' : path.endsWith('/persist') ? 'FlushRequest' : 'ShowCollectionsRequest';
    const strs = (k: string): string[] => {
      const v = body[k];
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new BindError(`json: cannot unmarshal into Go struct field ${struct}.${k} of type []string`);
      return v as string[];
    };
    const int64s = (k: string): bigint[] => {
      const v = body[k];
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v)) throw new BindError(`json: cannot unmarshal into Go struct field ${struct}.${k} of type []int64`);
      return v.map((x) => {
        const n = bindInt(x, false);
        if (n === undefined) throw new BindError(`json: cannot unmarshal ${isLosslessNumber(x) ? `number ${x.toString()}` : typeof x} into Go struct field ${struct}.${k} of type int64`);
        return n;
      });
    };
    const uint64 = (k: string): bigint => {
      const v = body[k];
      if (v === undefined || v === null) return 0n;
      const n = bindInt(v, true);
      if (n === undefined) throw new BindError(`json: cannot unmarshal ${typeof v} into Go struct field ${struct}.${k} of type uint64`);
      return n;
    };

    try {
      if (path === '/v2/vectordb/databases/list' && method === 'POST') {
        if (!this.restV2) return { status: 404, body: '404 page not found', contentType: 'text/plain' };
        const f = failureFor('databases');
        if (f) return f;
        if (this.authEnabled) return ok({ code: 1800, message: "user hasn't authenticated" });
        return ok({ code: 0, data: [...this.databases.keys()] });
      }
      if (path === '/api/v1/health' && method === 'GET') {
        const f = this.takeFailure('all');
        if (f?.kind === 'drop') return { status: 0, body: '', contentType: '', drop: true };
        return ok({ status: 'ok' });
      }

      if (path === '/api/v1/collections' && method === 'GET') {
        const dbName = str('db_name') || 'default';
        const f = failureFor('collections');
        if (f) return f;
        const db = this.databases.get(dbName);
        if (!db) {
          // Real 2.2.16: no merr code, the reason of rootcoord's ShowCollections; 2.3.5: merr 800.
          if (!this.atLeast('2.3')) return ok({ status: { error_code: 1, reason: `ShowCollections failed: database:${dbName} not found` } });
          const reason = `database not found[database=${dbName}]`;
          return ok({ status: { error_code: 1, reason, code: 800, detail: reason } });
        }
        const colls = [...db.values()];
        if (colls.length === 0) return ok({ status: {} });
        return ok({
          status: {},
          collection_names: colls.map((c) => c.name),
          collection_ids: colls.map((c) => c.id),
          created_timestamps: colls.map((c) => c.createdTs),
          created_utc_timestamps: colls.map((c) => c.createdTs >> PHYSICAL_SHIFT),
        });
      }

      if (path === '/api/v1/persist' && method === 'POST') {
        const dbName = str('db_name') || 'default';
        const names = strs('collection_names');
        const f = failureFor('persist');
        if (f) return f;
        // 2.6+: the flush goes through the streaming WAL; a read-only channel refuses it (M#47806).
        const refusal = this.atLeast('2.6') ? this.streaming.writeRefusal() : undefined;
        if (refusal && names.length) return ok({ status: { error_code: 1, reason: refusal, code: 65535 } });
        const db = this.databases.get(dbName);
        const collSegIDs: Record<string, { data?: bigint[] }> = {};
        const flushCollSegIDs: Record<string, { data?: bigint[] }> = {};
        const sealTimes: Record<string, number> = {};
        const flushTs: Record<string, bigint> = {};
        const channelCps: Record<string, unknown> = {};
        const now = Date.now();
        // An unknown database or collection: the proxy cannot resolve the collection (real 2.2.16
        // and 2.3.5 answer both the same way; 2.2 has no merr code).
        for (const name of names) {
          if (db?.get(name)) continue;
          if (!this.atLeast('2.3')) return ok({ status: { error_code: 1, reason: `code: UnexpectedError, reason: code: CollectionNotExists, reason: can't find collection ${dbName}:${name}` } });
          const reason = `collection not found[database=${dbName}][collection=${name}]`;
          return ok({ status: { error_code: 4, reason, code: 100, detail: reason } });
        }
        for (const name of names) {
          const c = db!.get(name)!;
          const sealed: bigint[] = [];
          const already: bigint[] = [];
          for (const seg of c.segments) {
            if (seg.state === 'Growing') {
              seg.state = 'Sealed';
              seg.sealedAt = now;
            }
            if (seg.state === 'Sealed') sealed.push(seg.id);
            else already.push(seg.id);
          }
          // omitempty: an empty list is `{}`.
          collSegIDs[name] = sealed.length ? { data: sealed } : {};
          flushCollSegIDs[name] = already.length ? { data: already } : {};
          sealTimes[name] = Math.floor(now / 1000);
          flushTs[name] = hybridTs(now);
          this.progress(c, new Set());
          channelCps[`by-dev-rootcoord-dml_0_${c.id}v0`] = { channel_name: 'by-dev-rootcoord-dml_0', timestamp: c.checkpoint };
        }
        const res: Record<string, unknown> = { status: {}, coll_segIDs: collSegIDs };
        if (dbName !== 'default') res.db_name = dbName;
        if (this.atLeast('2.2')) {
          res.flush_coll_segIDs = flushCollSegIDs;
          res.coll_seal_times = sealTimes;
        }
        if (this.atLeast('2.3')) {
          res.coll_flush_ts = flushTs;
          // Upstream adds channel_cps in 2.4 (real 2.3.5 sends none).
          if (this.atLeast('2.4')) res.channel_cps = channelCps;
        }
        return ok(res);
      }

      if (path === '/api/v1/persist/state' && method === 'GET') {
        const ids = int64s('segmentIDs');
        // 2.1/2.2 GetFlushStateRequest has segmentIDs only: other keys are unknown and ignored.
        const newer = this.atLeast('2.3');
        const ts = newer ? uint64('flush_ts') : 0n;
        const dbName = (newer ? str('db_name') : '') || 'default';
        const collName = newer ? str('collection_name') : '';
        const f = failureFor('state');
        if (f) return f;
        const wanted = new Set(ids);
        const all = [...this.databases.values()].flatMap((d) => [...d.values()]);
        for (const c of all) this.progress(c, wanted);
        // Unknown IDs (compacted, dropped, or wrong) count as flushed.
        let flushed = ids.every((id) => {
          const seg = all.flatMap((c) => c.segments).find((x) => x.id === id);
          return !seg || seg.state === 'Flushed';
        });
        const droppedId = collName ? this.dropped.get(`${dbName}.${collName}`) : undefined;
        if (ts > 0n && droppedId !== undefined && !this.databases.get(dbName)?.get(collName)) {
          // Real 2.3.5: persist/state of a collection dropped after its persist.
          const reason = `collection not found[collection=${droppedId}]`;
          return ok({ status: { error_code: 4, reason, code: 100, detail: reason } });
        }
        if (flushed && ts > 0n && collName) {
          const c = this.databases.get(dbName)?.get(collName);
          // No collection: no channels; datacoord answers flushed "for compatibility".
          if (c && c.checkpoint < ts) flushed = false;
        }
        return ok(flushed ? { status: {}, flushed: true } : { status: {} });
      }
    } catch (e) {
      if (e instanceof BindError) return bindError(e.message);
      throw e;
    }
    return { status: 404, body: '404 page not found', contentType: 'text/plain' };
  }
}

export interface SimAnswer {
  status: number;
  body: string;
  contentType: string;
  drop?: boolean;
}

export interface RunningSim {
  port: number;
  url: string;
  /** Drives the simulator: databases, collections, inserts, version, delays, failures, request log. */
  control: MilvusSim;
  /** The same object as `control` (older name). */
  sim: MilvusSim;
  close(): Promise<void>;
}

/** Starts the simulator on 127.0.0.1 (port 0: an ephemeral port). */
export async function startMilvusSim(opts: SimOptions = {}): Promise<RunningSim> {
  const sim = new MilvusSim(opts);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://sim');
      const path = url.pathname;
      const now = (sim.inFlight.get(path) ?? 0) + 1;
      sim.inFlight.set(path, now);
      sim.maxInFlight.set(path, Math.max(now, sim.maxInFlight.get(path) ?? 0));
      const answer = () => {
        sim.inFlight.set(path, (sim.inFlight.get(path) ?? 1) - 1);
        let r: SimAnswer;
        try {
          r = sim.handle(req.method ?? 'GET', path, Buffer.concat(chunks).toString('utf8'), String(req.headers['content-type'] ?? ''), url.search);
        } catch (e) {
          r = { status: 500, body: jsonBody({ error_code: 1, reason: `simulator error: ${(e as Error).message}` }), contentType: 'application/json' };
        }
        if (r.drop) {
          req.socket.destroy();
          return;
        }
        res.writeHead(r.status, { 'content-type': r.contentType });
        res.end(r.body);
      };
      if (sim.latencyMs > 0) setTimeout(answer, sim.latencyMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 1000;
  // gRPC (HTTP/2 with prior knowledge) and HTTP/1.1 on one port, as Milvus serves 19530: a
  // connection opening with the HTTP/2 preface goes to the gRPC server.
  const h2 = createH2Server();
  h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      // One length-prefixed gRPC message: flag byte, 4-byte length, the message.
      const framed = Buffer.concat(chunks);
      const message = framed.length >= 5 ? framed.subarray(5, 5 + framed.readUInt32BE(1)) : Buffer.alloc(0);
      let r: SimGrpcAnswer;
      try {
        r = sim.handleGrpc(String(headers[':path'] ?? ''), headers, message);
      } catch (e) {
        r = { grpcStatus: 13, message: `simulator error: ${(e as Error).message}` };
      }
      if (r.drop) return void stream.session?.destroy();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(r.grpcStatus), ...(r.message ? { 'grpc-message': encodeURIComponent(r.message) } : {}) }));
      if (r.body) {
        const frame = Buffer.alloc(5 + r.body.length);
        frame.writeUInt32BE(r.body.length, 1);
        r.body.copy(frame, 5);
        stream.end(frame);
      } else stream.end();
    });
  });
  const sockets = new Set<Socket>();
  const front = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('readable', () => {
      const head = socket.read(3) as Buffer | null;
      if (head) socket.unshift(head);
      (head?.toString('latin1') === 'PRI' ? h2 : server).emit('connection', socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (front.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    control: sim,
    sim,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        for (const sock of sockets) sock.destroy();
        h2.close();
        front.close(() => resolve());
      }),
  };
}
