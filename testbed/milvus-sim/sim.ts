/**
 * SIMULATOR of the Milvus proxy's management HTTP API (port 9091, prefix /api/v1) and of the one
 * REST v2 route the plugin uses (POST /v2/vectordb/databases/list on 19530). Milvus itself cannot
 * run on the test bed; this server answers exactly as the upstream source specifies:
 * - routes and request binding: milvus-io/milvus internal/distributed/proxy/httpserver/handler.go
 *   (RegisterRoutesTo) and wrapper.go (JSON body, also on GET; bind error -> HTTP 400 with
 *   error_code 5; proxy error -> HTTP 500 with error_code 1; logical failures -> HTTP 200 with a
 *   non-empty status);
 * - JSON shapes: milvus-io/milvus-proto proto/milvus.proto (ShowCollections, Flush,
 *   GetFlushState), field names are the proto names, every field omitempty: a success status is
 *   `{}` and `flushed` is absent when false;
 * - per version: 2.1 answers persist with coll_segIDs only; 2.2 adds flush_coll_segIDs and
 *   coll_seal_times; 2.3+ adds coll_flush_ts and channel_cps, and persist/state accepts flush_ts,
 *   db_name and collection_name;
 * - flush state (internal/datacoord/services.go GetFlushState): an unknown segment ID counts as
 *   flushed; with flush_ts, every channel checkpoint of the collection must reach it;
 * - IDs and hybrid timestamps are int64/uint64 written as exact JSON numbers (beyond 2^53).
 * Tests control it through `control`: databases, collections, inserts, flush speed, failures.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isLosslessNumber, parse, stringify, LosslessNumber } from 'lossless-json';

export type SimVersion = '2.1' | '2.2' | '2.3' | '2.4' | '2.5';

interface Segment {
  id: bigint;
  state: 'Growing' | 'Sealed' | 'Flushed';
  sealedAt?: number;
  /** Number of persist/state polls that have seen this segment sealed. */
  polls: number;
}

interface Collection {
  id: bigint;
  name: string;
  createdTs: bigint;
  segments: Segment[];
  /** Checkpoint of the collection's channel (a hybrid timestamp). */
  checkpoint: bigint;
}

export type Failure =
  | { on: 'collections' | 'persist' | 'state' | 'databases'; kind: 'http500' | 'status' | 'drop' | 'unhealthy'; times?: number }
  | { on: 'all'; kind: 'drop' | 'unhealthy'; times?: number };

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
}

export interface SimRequest {
  method: string;
  path: string;
  /** The raw request body as sent. */
  body: string;
}

/** First segment ID: about 4.5e17, as real Milvus allocates them, and beyond 2^53. */
const FIRST_SEGMENT_ID = 454097953998180999n;
const PHYSICAL_SHIFT = 18n;

function hybridTs(ms: number): bigint {
  return BigInt(ms) << PHYSICAL_SHIFT;
}

/** Converts bigint values into exact JSON numbers for lossless-json's stringify. */
function jsonBody(v: unknown): string {
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

function toBigInt(v: unknown): bigint | undefined {
  if (isLosslessNumber(v)) {
    try {
      return BigInt(v.toString());
    } catch {
      return undefined;
    }
  }
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return undefined;
}

export class MilvusSim {
  version: SimVersion;
  flushDelayMs: number;
  flushAfterPolls: number;
  restV2: boolean;
  readonly databases = new Map<string, Map<string, Collection>>();
  readonly requests: SimRequest[] = [];
  private failures: Failure[] = [];
  private nextSegment = FIRST_SEGMENT_ID;
  private nextCollection = 446000000000000001n;

  constructor(opts: SimOptions = {}) {
    this.version = opts.version ?? '2.4';
    this.flushDelayMs = opts.flushDelayMs ?? 0;
    this.flushAfterPolls = opts.flushAfterPolls ?? 0;
    this.restV2 = opts.restV2 ?? (this.version === '2.4' || this.version === '2.5');
    for (const [db, colls] of Object.entries(opts.databases ?? { default: [] })) {
      this.addDatabase(db);
      for (const c of colls) this.addCollection(db, c);
    }
    if (!this.databases.has('default')) this.addDatabase('default');
  }

  addDatabase(db: string): void {
    if (!this.databases.has(db)) this.databases.set(db, new Map());
  }

  addCollection(db: string, name: string): Collection {
    this.addDatabase(db);
    const c: Collection = { id: this.nextCollection++, name, createdTs: hybridTs(Date.now()), segments: [], checkpoint: hybridTs(Date.now()) };
    this.databases.get(db)!.set(name, c);
    return c;
  }

  /** Simulates inserted rows still in the message queue: one growing segment. */
  insert(db: string, name: string): bigint {
    const c = this.collection(db, name);
    if (!c) throw new Error(`no collection ${db}.${name}`);
    const seg: Segment = { id: this.nextSegment++, state: 'Growing', polls: 0 };
    c.segments.push(seg);
    return seg.id;
  }

  /** Adds an already flushed segment (data persisted by an earlier flush). */
  addFlushedSegment(db: string, name: string): bigint {
    const c = this.collection(db, name)!;
    const seg: Segment = { id: this.nextSegment++, state: 'Flushed', polls: 0 };
    c.segments.push(seg);
    return seg.id;
  }

  /** Next segment IDs the simulator will allocate (for tests that need a "neighbour" ID). */
  peekNextSegmentId(): bigint {
    return this.nextSegment;
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
    const order: SimVersion[] = ['2.1', '2.2', '2.3', '2.4', '2.5'];
    return order.indexOf(this.version) >= order.indexOf(v);
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

  handle(method: string, path: string, rawBody: string, contentType: string): { status: number; body: string; contentType: string; drop?: boolean } {
    this.requests.push({ method, path, body: rawBody });
    const ok = (v: unknown) => ({ status: 200, body: jsonBody(v), contentType: 'application/json; charset=utf-8' });
    const failureFor = (on: string) => {
      const f = this.takeFailure(on);
      if (!f) return undefined;
      if (f.kind === 'drop') return { status: 0, body: '', contentType: '', drop: true };
      if (f.kind === 'http500') return { status: 500, body: jsonBody({ error_code: 1, reason: 'internal error: simulated failure' }), contentType: 'application/json' };
      if (f.kind === 'unhealthy') return ok({ status: { error_code: 1, reason: 'proxy not healthy' } });
      return ok({ status: { error_code: 1, reason: 'simulated failure', code: 65535 } });
    };

    if (path === '/healthz') {
      const f = this.takeFailure('all');
      if (f?.kind === 'unhealthy') return { status: 500, body: 'Not all components are healthy, 3/4', contentType: 'text/plain' };
      if (contentType.includes('application/json')) return ok({ state: 'OK', detail: [{ name: 'proxy', code: 1 }] });
      return { status: 200, body: 'OK', contentType: 'text/plain; charset=utf-8' };
    }

    let body: Record<string, unknown> = {};
    if (rawBody.trim() !== '') {
      try {
        const parsed = parse(rawBody);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
        else throw new Error('not an object');
      } catch (e) {
        return { status: 400, body: jsonBody({ error_code: 5, reason: `parse body failed: ${(e as Error).message}` }), contentType: 'application/json' };
      }
    }
    const dbName = typeof body.db_name === 'string' && body.db_name ? body.db_name : 'default';

    if (path === '/v2/vectordb/databases/list' && method === 'POST') {
      if (!this.restV2) return { status: 404, body: '404 page not found', contentType: 'text/plain' };
      const f = failureFor('databases');
      if (f) return f;
      return ok({ code: 0, data: [...this.databases.keys()] });
    }
    if (path === '/api/v1/health' && method === 'GET') return ok({ status: 'ok' });

    if (path === '/api/v1/collections' && method === 'GET') {
      const f = failureFor('collections');
      if (f) return f;
      const db = this.databases.get(dbName);
      if (!db) return ok({ status: { error_code: 1, reason: `database not found[database=${dbName}]`, code: 800 } });
      const colls = [...db.values()];
      if (colls.length === 0) return ok({ status: {} });
      return ok({
        status: {},
        collection_names: colls.map((c) => c.name),
        collection_ids: colls.map((c) => c.id),
        created_timestamps: colls.map((c) => c.createdTs),
        created_utc_timestamps: colls.map((c) => BigInt(Number(c.createdTs >> PHYSICAL_SHIFT))),
      });
    }

    if (path === '/api/v1/persist' && method === 'POST') {
      const f = failureFor('persist');
      if (f) return f;
      const names = Array.isArray(body.collection_names) ? (body.collection_names as unknown[]).map(String) : [];
      const db = this.databases.get(dbName);
      if (!db) return ok({ status: { error_code: 1, reason: `database not found[database=${dbName}]`, code: 800 } });
      const collSegIDs: Record<string, { data: bigint[] }> = {};
      const flushCollSegIDs: Record<string, { data: bigint[] }> = {};
      const sealTimes: Record<string, number> = {};
      const flushTs: Record<string, bigint> = {};
      const channelCps: Record<string, unknown> = {};
      const now = Date.now();
      for (const name of names) {
        const c = db.get(name);
        if (!c) return ok({ status: { error_code: 4, reason: `collection not found[collection=${name}]`, code: 100 } });
        const sealed: bigint[] = [];
        const already: bigint[] = [];
        for (const s of c.segments) {
          if (s.state === 'Growing') {
            s.state = 'Sealed';
            s.sealedAt = now;
            sealed.push(s.id);
          } else if (s.state === 'Flushed') {
            already.push(s.id);
          }
        }
        collSegIDs[name] = { data: sealed };
        flushCollSegIDs[name] = { data: already };
        sealTimes[name] = Math.floor(now / 1000);
        flushTs[name] = hybridTs(now);
        channelCps[`by-dev-rootcoord-dml_0_${c.id}v0`] = { channel_name: `by-dev-rootcoord-dml_0`, timestamp: c.checkpoint };
        this.progress(c, new Set());
      }
      const res: Record<string, unknown> = { status: {}, db_name: dbName === 'default' ? '' : dbName, coll_segIDs: collSegIDs };
      if (this.atLeast('2.2')) {
        res.flush_coll_segIDs = flushCollSegIDs;
        res.coll_seal_times = sealTimes;
      }
      if (this.atLeast('2.3')) {
        res.coll_flush_ts = flushTs;
        res.channel_cps = channelCps;
      }
      return ok(res);
    }

    if (path === '/api/v1/persist/state' && method === 'GET') {
      const f = failureFor('state');
      if (f) return f;
      const ids = Array.isArray(body.segmentIDs) ? (body.segmentIDs as unknown[]).map(toBigInt) : [];
      if (ids.some((x) => x === undefined)) {
        return { status: 400, body: jsonBody({ error_code: 5, reason: 'parse body failed: segmentIDs must be integers' }), contentType: 'application/json' };
      }
      const wanted = new Set(ids as bigint[]);
      const all = [...this.databases.values()].flatMap((d) => [...d.values()]);
      for (const c of all) this.progress(c, wanted);
      // Unknown IDs (compacted, dropped, or wrong) count as flushed.
      let flushed = [...wanted].every((id) => {
        const seg = all.flatMap((c) => c.segments).find((s) => s.id === id);
        return !seg || seg.state === 'Flushed';
      });
      if (this.atLeast('2.3')) {
        const ts = toBigInt(body.flush_ts);
        const collName = typeof body.collection_name === 'string' ? body.collection_name : '';
        if (ts !== undefined && ts > 0n && collName) {
          const c = this.databases.get(dbName)?.get(collName);
          // No collection: no channels; datacoord answers flushed for compatibility.
          if (c && c.checkpoint < ts) flushed = false;
        }
      }
      return ok(flushed ? { status: {}, flushed: true } : { status: {} });
    }

    return { status: 404, body: '404 page not found', contentType: 'text/plain' };
  }
}

export interface RunningSim {
  port: number;
  url: string;
  sim: MilvusSim;
  close(): Promise<void>;
}

export async function startMilvusSim(opts: SimOptions = {}): Promise<RunningSim> {
  const sim = new MilvusSim(opts);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://sim');
      const r = sim.handle(req.method ?? 'GET', url.pathname, Buffer.concat(chunks).toString('utf8'), String(req.headers['content-type'] ?? ''));
      if (r.drop) {
        req.socket.destroy();
        return;
      }
      res.writeHead(r.status, { 'content-type': r.contentType });
      res.end(r.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    sim,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
