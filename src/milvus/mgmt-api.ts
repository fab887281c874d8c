/**
 * Client of the Milvus proxy's management API (port 9091, /api/v1) as the upstream handler and
 * milvus-proto define it. Every answer is checked twice: the HTTP code and, in 200 answers, the
 * `status` object (Milvus reports logical failures with HTTP 200). Segment IDs and hybrid
 * timestamps are 64-bit: they are parsed with lossless-json and sent back as exact numbers,
 * because a rounded ID is "unknown" to Milvus and unknown IDs count as flushed.
 */
import { isLosslessNumber, LosslessNumber, parse, stringify } from 'lossless-json';
import { CliError, ExitCode } from '../errors.js';
import type { Transport } from './transport.js';

export interface MilvusStatus {
  error_code?: unknown;
  code?: unknown;
  reason?: string;
  detail?: string;
}

export interface PersistResult {
  /** Segments this flush sealed, per collection (coll_segIDs). */
  sealed: Map<string, bigint[]>;
  /** Segments already flushed before this call (2.2+, flush_coll_segIDs). */
  alreadyFlushed: Map<string, bigint[]>;
  /** Flush timestamp per collection (2.3+, coll_flush_ts). */
  flushTs: Map<string, bigint> | undefined;
}

function toBig(v: unknown): bigint {
  if (isLosslessNumber(v)) return BigInt(v.toString());
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw new CliError(`the Milvus proxy sent a malformed 64-bit value: ${String(v)}`, ExitCode.FAILED);
}

function numberOf(v: unknown): number {
  if (isLosslessNumber(v)) return Number(v.toString());
  if (typeof v === 'number') return v;
  return 0;
}

/** JSON with bigints as exact numbers. */
export function encode(body: Record<string, unknown>): string {
  const conv = (x: unknown): unknown =>
    typeof x === 'bigint' ? new LosslessNumber(x.toString()) : Array.isArray(x) ? x.map(conv) : x;
  return stringify(Object.fromEntries(Object.entries(body).map(([k, v]) => [k, conv(v)]))) ?? '{}';
}

export function decode(text: string, what: string): Record<string, unknown> {
  try {
    const v = parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new CliError(`the Milvus proxy answered ${what} with something that is not a JSON object: ${text.slice(0, 120)}`, ExitCode.FAILED);
}

export function statusFailure(status: MilvusStatus | undefined): string | undefined {
  if (!status || typeof status !== 'object') return undefined;
  const ec = numberOf(status.error_code);
  const code = numberOf(status.code);
  if (ec === 0 && code === 0 && !status.reason) return undefined;
  return `${status.reason || 'unknown error'}${ec ? ` (error_code ${ec})` : code ? ` (code ${code})` : ''}`;
}

export class MilvusManagementApi {
  constructor(
    readonly transport: Transport,
    readonly signal?: AbortSignal,
  ) {}

  private async call(method: 'GET' | 'POST', path: string, body: Record<string, unknown> | undefined, port: 9091 | 19530 = 9091) {
    const what = `${method} ${path}`;
    const res = await this.transport.send(method, port, path, body ? encode(body) : undefined, this.signal);
    if (res.status === 404) return { notFound: true as const, json: {} as Record<string, unknown> };
    if (res.status !== 200) {
      let reason = res.body.trim().slice(0, 200);
      try {
        const j = decode(res.body, what) as MilvusStatus & { status?: MilvusStatus };
        reason = statusFailure(j.status ?? j) ?? reason;
      } catch {
        /* keep the raw text */
      }
      throw new CliError(`Milvus answered ${what} with HTTP ${res.status}: ${reason}`, res.status >= 500 ? ExitCode.FAILED : ExitCode.FAILED);
    }
    const json = decode(res.body, what);
    const failure = statusFailure(json.status as MilvusStatus | undefined);
    if (failure) throw new CliError(`Milvus answered ${what}: ${failure}`, ExitCode.FAILED);
    return { notFound: false as const, json };
  }

  /** GET /api/v1/health → true when the proxy says ok. */
  async health(): Promise<boolean> {
    const r = await this.call('GET', '/api/v1/health', undefined);
    return !r.notFound && r.json.status === 'ok';
  }

  /**
   * Database names, from REST v2 (Milvus >= 2.4, port 19530). /api/v1 has no database listing;
   * undefined means the proxy cannot tell (older Milvus, REST disabled or authentication on).
   */
  async listDatabases(): Promise<string[] | undefined> {
    try {
      const r = await this.call('POST', '/v2/vectordb/databases/list', {}, 19530);
      if (r.notFound) return undefined;
      if (numberOf(r.json.code) !== 0 || !Array.isArray(r.json.data)) return undefined;
      return (r.json.data as unknown[]).map(String);
    } catch (e) {
      if (e instanceof CliError && (e.exitCode === ExitCode.UNREACHABLE || e.exitCode === ExitCode.FAILED)) return undefined;
      throw e;
    }
  }

  /** GET /api/v1/collections for one database ("" or "default" = the default database). */
  async listCollections(db: string): Promise<string[]> {
    const r = await this.call('GET', '/api/v1/collections', { db_name: db === 'default' ? '' : db });
    if (r.notFound) throw new CliError('the Milvus proxy does not serve /api/v1/collections: is proxy.http.enabled off?', ExitCode.PRECONDITION);
    const names = r.json.collection_names;
    return Array.isArray(names) ? names.map(String) : [];
  }

  /** POST /api/v1/persist: seals and flushes the collections' growing segments. */
  async persist(db: string, collections: string[]): Promise<PersistResult> {
    const r = await this.call('POST', '/api/v1/persist', { db_name: db === 'default' ? '' : db, collection_names: collections });
    if (r.notFound) throw new CliError('the Milvus proxy does not serve /api/v1/persist', ExitCode.PRECONDITION);
    const segMap = (v: unknown) => {
      const m = new Map<string, bigint[]>();
      if (v && typeof v === 'object') {
        for (const [k, entry] of Object.entries(v as Record<string, { data?: unknown[] }>)) {
          m.set(k, (entry?.data ?? []).map(toBig));
        }
      }
      return m;
    };
    const sealed = segMap(r.json.coll_segIDs);
    const alreadyFlushed = segMap(r.json.flush_coll_segIDs);
    let flushTs: Map<string, bigint> | undefined;
    if (r.json.coll_flush_ts && typeof r.json.coll_flush_ts === 'object') {
      flushTs = new Map(Object.entries(r.json.coll_flush_ts as Record<string, unknown>).map(([k, v]) => [k, toBig(v)]));
    }
    return { sealed, alreadyFlushed, flushTs };
  }

  /**
   * GET /api/v1/persist/state. `flushed` is omitempty upstream: an absent key means not flushed.
   * flush_ts, db_name and collection_name are sent only where the persist answer had a flush
   * timestamp (2.3+); older proxies take segment IDs only.
   */
  async flushState(db: string, collection: string, segmentIds: bigint[], flushTs: bigint | undefined): Promise<boolean> {
    const body: Record<string, unknown> = { segmentIDs: segmentIds };
    if (flushTs !== undefined) {
      body.flush_ts = flushTs;
      body.db_name = db === 'default' ? '' : db;
      body.collection_name = collection;
    }
    const r = await this.call('GET', '/api/v1/persist/state', body);
    if (r.notFound) throw new CliError('the Milvus proxy does not serve /api/v1/persist/state', ExitCode.PRECONDITION);
    return r.json.flushed === true;
  }
}
