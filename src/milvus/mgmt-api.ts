/**
 * Client of the Milvus proxy's management API (port 9091, prefix /api/v1) as the upstream handler
 * (milvus-io/milvus internal/distributed/proxy/httpserver/handler.go, wrapper.go) and milvus-proto
 * (proto/milvus.proto) define it.
 *
 * - Every answer is checked twice: the HTTP code (400 bind error, 500 proxy error) and, in 200
 *   answers, the `status` object (logical failures come with HTTP 200).
 * - Segment IDs (int64) and hybrid timestamps (uint64) are parsed losslessly and sent back as
 *   exact JSON numbers: a rounded ID is "unknown" to Milvus and unknown IDs count as flushed.
 * - Request shapes follow the proxy's version, read from its own answers: a persist answer with
 *   `coll_flush_ts` comes from 2.3+, whose persist/state takes flush_ts, db_name and
 *   collection_name; 2.1/2.2 answers have no flush timestamp and their persist/state takes
 *   segmentIDs only.
 * - Requests are GETs with a JSON body where upstream binds one (curl -X GET -d), hence the
 *   node:http transport.
 */
import { CliError, ExitCode } from '../errors.js';
import { encodeJson, parseJson, toBigInt, toSmallNumber } from './json.js';
import { describeFailure, MilvusApiError, reasonCause, statusFailure, type StatusFailure } from './status.js';
import type { Transport } from './transport.js';

export { MilvusApiError } from './status.js';

/** The default database: "" on the wire, "default" in names shown to users. */
export const DEFAULT_DATABASE = 'default';
const wireDb = (db: string) => (db === DEFAULT_DATABASE ? '' : db);

export interface PersistResult {
  /** Segments THIS flush sealed, per collection (coll_segIDs): what the wait must cover. */
  sealed: Map<string, bigint[]>;
  /** Segments already Flushed/Flushing before this call (2.2+, flush_coll_segIDs): informative only. */
  alreadyFlushed: Map<string, bigint[]>;
  /** Flush timestamp per collection (2.3+, coll_flush_ts); undefined on 2.1/2.2. */
  flushTs: Map<string, bigint> | undefined;
  /** Seal time per collection in unix seconds (2.2+, coll_seal_times). */
  sealTimes: Map<string, number> | undefined;
}

export type DatabaseListing =
  | { databases: string[] }
  | { databases: undefined; reason: string };

type Json = Record<string, unknown>;

function segmentIds(v: unknown, what: string): bigint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new CliError(`the Milvus proxy sent a malformed segment list in ${what}`, ExitCode.FAILED);
  return v.map((x) => {
    const b = toBigInt(x);
    if (b === undefined) throw new CliError(`the Milvus proxy sent a malformed segment ID in ${what}: ${String(x)}`, ExitCode.FAILED);
    return b;
  });
}

function segmentMap(v: unknown, what: string): Map<string, bigint[]> {
  const m = new Map<string, bigint[]>();
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, entry] of Object.entries(v as Record<string, { data?: unknown } | null>)) {
      m.set(k, segmentIds(entry?.data, `${what}.${k}`));
    }
  }
  return m;
}

export class MilvusManagementApi {
  constructor(
    readonly transport: Transport,
    readonly signal?: AbortSignal,
    /** Where the whole text of a failure goes when its message shows only the cause (-v=4). */
    private readonly debug?: (level: number, message: string) => void,
  ) {}

  private fail(what: string, status: number, failure: StatusFailure | undefined, detail: string, hint?: string): MilvusApiError {
    if (failure && this.debug && reasonCause(failure.reason) !== failure.reason) {
      this.debug(4, `Milvus answered ${what}: the whole reason: ${failure.reason}`);
    }
    return new MilvusApiError(what, status, failure, detail, hint);
  }

  /** One request to 9091; throws MilvusApiError for any failure Milvus reports. */
  private async call(method: 'GET' | 'POST', path: string, body: Json | undefined): Promise<Json> {
    const what = `${method} ${path}`;
    const res = await this.transport.send(method, 9091, path, body ? encodeJson(body) : undefined, this.signal);
    const parsed = parseJson(res.body);
    const json = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Json) : undefined;
    if (res.status === 404 && !json) {
      throw new MilvusApiError(
        what,
        404,
        undefined,
        'route not served',
        'the proxy does not serve the management API under /api/v1: is proxy.http.enabled false, or is this Milvus older than 2.1?',
      );
    }
    if (res.status !== 200) {
      // wrapper.go: the error body is a bare Status ({"error_code":5,"reason":...}).
      const failure = json ? (statusFailure(json.status ?? json) ?? statusFailure({ error_code: 1, reason: res.body.trim().slice(0, 200) })) : undefined;
      const detail = failure ? describeFailure(failure) : res.body.trim().slice(0, 200) || 'empty answer';
      throw this.fail(what, res.status, failure, detail, res.status === 400 ? 'the proxy could not bind the request body; this is a bug of this command, please report it' : undefined);
    }
    if (!json) throw new MilvusApiError(what, 200, undefined, `not a JSON object: ${res.body.trim().slice(0, 120)}`);
    const failure = statusFailure(json.status);
    if (failure) throw this.fail(what, 200, failure, describeFailure(failure));
    return json;
  }

  /** GET /api/v1/health → {"status":"ok"}. */
  async health(): Promise<boolean> {
    const res = await this.transport.send('GET', 9091, '/api/v1/health', undefined, this.signal);
    const j = parseJson(res.body) as Json | undefined;
    return res.status === 200 && j?.status === 'ok';
  }

  /**
   * Every database of the instance. /api/v1 has no database listing, so this asks REST v2
   * (`POST /v2/vectordb/databases/list` on 19530, Milvus 2.4+), which answers with HTTP 200 and
   * `{"code":0,"data":[...]}` or a non-zero `code` (e.g. 1800 when authentication is on).
   * undefined databases (with the reason) when it cannot be asked; the caller decides what that
   * means for completeness.
   */
  async listDatabases(): Promise<DatabaseListing> {
    let res;
    try {
      res = await this.transport.send('POST', 19530, '/v2/vectordb/databases/list', '{}', this.signal);
    } catch (e) {
      if (this.signal?.aborted) throw e;
      return { databases: undefined, reason: `REST v2 on port 19530 is not reachable (${e instanceof Error ? e.message : String(e)})` };
    }
    if (res.status !== 200) return { databases: undefined, reason: `REST v2 databases/list answered HTTP ${res.status} (Milvus < 2.4?)` };
    const j = parseJson(res.body) as Json | undefined;
    const code = j ? toSmallNumber(j.code ?? 0) : Number.NaN;
    if (!j || code !== 0) {
      const msg = typeof j?.message === 'string' ? j.message : res.body.trim().slice(0, 120);
      return { databases: undefined, reason: `REST v2 databases/list failed: ${msg}${code === 1800 ? ' (authentication is enabled)' : ''}` };
    }
    if (!Array.isArray(j.data) || !j.data.every((d) => typeof d === 'string')) {
      return { databases: undefined, reason: 'REST v2 databases/list sent no list of names' };
    }
    return { databases: j.data as string[] };
  }

  /** GET /api/v1/collections {"db_name"}: the collection names of one database. */
  async listCollections(db: string): Promise<string[]> {
    const j = await this.call('GET', '/api/v1/collections', { db_name: wireDb(db) });
    const names = j.collection_names;
    if (names === undefined) return [];
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw new CliError('the Milvus proxy sent malformed collection_names', ExitCode.FAILED);
    }
    return names as string[];
  }

  /** POST /api/v1/persist {"db_name","collection_names"}: seals and flushes the growing segments. */
  async persist(db: string, collections: string[]): Promise<PersistResult> {
    const j = await this.call('POST', '/api/v1/persist', { db_name: wireDb(db), collection_names: collections });
    const sealed = segmentMap(j.coll_segIDs, 'coll_segIDs');
    const alreadyFlushed = segmentMap(j.flush_coll_segIDs, 'flush_coll_segIDs');
    let flushTs: Map<string, bigint> | undefined;
    if (j.coll_flush_ts && typeof j.coll_flush_ts === 'object') {
      flushTs = new Map();
      for (const [k, v] of Object.entries(j.coll_flush_ts as Json)) {
        const ts = toBigInt(v);
        if (ts === undefined) throw new CliError(`the Milvus proxy sent a malformed flush timestamp for "${k}": ${String(v)}`, ExitCode.FAILED);
        flushTs.set(k, ts);
      }
    }
    let sealTimes: Map<string, number> | undefined;
    if (j.coll_seal_times && typeof j.coll_seal_times === 'object') {
      sealTimes = new Map(Object.entries(j.coll_seal_times as Json).map(([k, v]) => [k, toSmallNumber(v)]));
    }
    return { sealed, alreadyFlushed, flushTs, sealTimes };
  }

  /**
   * GET /api/v1/persist/state. `flushed` is omitempty upstream: an absent key means NOT flushed.
   * With a flush timestamp (2.3+) the request also names the database and collection, so Milvus
   * checks the channel checkpoints too; without one (2.1/2.2) it carries segmentIDs only, the
   * only field those versions bind.
   */
  async flushState(db: string, collection: string, segmentIds: bigint[], flushTs: bigint | undefined): Promise<boolean> {
    const body: Json = { segmentIDs: segmentIds };
    if (flushTs !== undefined) {
      body.flush_ts = flushTs;
      body.db_name = wireDb(db);
      body.collection_name = collection;
    }
    const j = await this.call('GET', '/api/v1/persist/state', body);
    return j.flushed === true;
  }
}
