/**
 * A small client of etcd's v3 JSON gateway (the grpc-gateway every etcd >= 3.4 serves on its
 * client port: POST /v3/kv/range, /v3/kv/deleterange, /v3/kv/txn, /v3/kv/compaction,
 * /v3/maintenance/status, /v3/maintenance/alarm, /v3/maintenance/defragment). Keys
 * and values travel base64-encoded, 64-bit numbers as decimal strings. No gRPC stack is loaded.
 */
import { Agent, request } from 'node:http';
import { CliError, ExitCode } from '../errors.js';

export interface KeyValue {
  /** base64 */
  key: string;
  /** base64; absent for an empty value */
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  /** Lease ID; absent or "0" when the key has no lease (session keys have one). */
  lease?: string;
}

export interface MemberStatus {
  version: string;
  /** This member's ID (decimal string, as the gateway gives 64-bit numbers). */
  memberId: string;
  revision: string;
  /** Bytes of the backend file (what the quota is compared with). */
  dbSize: number;
  /** Bytes in use inside it; absent before etcd 3.4. */
  dbSizeInUse: number | undefined;
  /** The member ID this member takes for the leader ("0": none). */
  leader: string;
  raftIndex: string;
  errors: string[];
}

interface RawMemberStatus {
  header?: { member_id?: string; revision?: string };
  version?: string;
  dbSize?: string;
  dbSizeInUse?: string;
  leader?: string;
  raftIndex?: string;
  errors?: string[];
}

export interface EtcdAlarm {
  memberId: string;
  /** NOSPACE, CORRUPT */
  alarm: string;
}

export interface RangePage {
  revision: string;
  kvs: KeyValue[];
  more: boolean;
}

const b64 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');

/** The range end that selects every key starting with `prefix` (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** The next key after `key` in byte order (key + "\0"). */
const after = (key: Buffer) => Buffer.concat([key, Buffer.from([0])]);

/** One POST with node:http (leaner than fetch for large pages: no extra copies of the body). */
function post(baseUrl: string, path: string, body: string, agent: Agent, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, ...(signal ? { signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export class EtcdGateway {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  constructor(
    readonly baseUrl: string,
    /** Where the gateway is, for messages ("pod/my-release-etcd-0:2379"). */
    readonly where: string,
    private readonly signal?: AbortSignal,
    private readonly timeoutMs = 30_000,
  ) {}

  async call<T>(path: string, body: unknown): Promise<T> {
    let res: { status: number; text: string };
    try {
      res = await post(this.baseUrl, path, JSON.stringify(body), this.agent, this.timeoutMs, this.signal);
    } catch (e) {
      if (this.signal?.aborted) throw this.signal.reason;
      throw new CliError(`cannot reach etcd at ${this.where}: ${(e as Error).message}`, ExitCode.UNREACHABLE, undefined, { cause: e });
    }
    const text = res.text;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CliError(`etcd at ${this.where} answered ${path} with HTTP ${res.status} and no JSON: ${text.slice(0, 120)}`, ExitCode.UNREACHABLE);
    }
    if (res.status !== 200 || typeof doc.error === 'string') {
      const msg = String(doc.message ?? doc.error ?? `HTTP ${res.status}`);
      throw new CliError(`etcd at ${this.where} refused ${path}: ${msg}`, ExitCode.FAILED);
    }
    return doc as T;
  }

  /** Ends the kept-alive connections (the port-forward behind them closes separately). */
  close(): void {
    this.agent.destroy();
  }

  async status(): Promise<{ version: string; revision: string }> {
    const s = await this.call<{ version?: string; header?: { revision?: string } }>('/v3/maintenance/status', {});
    return { version: s.version ?? 'unknown', revision: s.header?.revision ?? '0' };
  }

  /** The member's own view: sizes, leader and raft index (etcd >= 3.4 reports dbSizeInUse). */
  async memberStatus(): Promise<MemberStatus> {
    const s = await this.call<RawMemberStatus>('/v3/maintenance/status', {});
    const n = (v: string | undefined) => (v === undefined ? 0 : Number(v));
    return {
      version: s.version ?? 'unknown',
      memberId: s.header?.member_id ?? '0',
      revision: s.header?.revision ?? '0',
      dbSize: n(s.dbSize),
      dbSizeInUse: s.dbSizeInUse === undefined ? undefined : n(s.dbSizeInUse),
      leader: s.leader ?? '0',
      raftIndex: s.raftIndex ?? '0',
      errors: s.errors ?? [],
    };
  }

  /** The alarms raised in the cluster (every member sees the same list). */
  async alarms(): Promise<EtcdAlarm[]> {
    const r = await this.call<{ alarms?: Array<{ memberID?: string; alarm?: string }> }>('/v3/maintenance/alarm', { action: 'GET' });
    return (r.alarms ?? []).map((a) => ({ memberId: a.memberID ?? '0', alarm: a.alarm ?? 'NONE' }));
  }

  /** Disarms one alarm of one member. */
  async disarm(a: EtcdAlarm): Promise<void> {
    await this.call('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: a.memberId, alarm: a.alarm });
  }

  /** Compacts the key history up to `revision` (physically: the space is free for reuse when it returns). */
  async compact(revision: string): Promise<void> {
    await this.call('/v3/kv/compaction', { revision, physical: true });
  }

  /** Defragments the member that serves this gateway (it blocks reads and writes while it runs). */
  async defragment(): Promise<void> {
    await this.call('/v3/maintenance/defragment', {});
  }

  async put(key: string, value: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value) });
  }

  async delete(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  /** One page of keys in [from, end), at `revision` (0: the current one). */
  async rangePage(from: Buffer, end: Buffer, limit: number, revision = '0', keysOnly = false): Promise<RangePage> {
    const r = await this.call<{ header?: { revision?: string }; kvs?: KeyValue[]; more?: boolean }>('/v3/kv/range', {
      key: b64(from),
      range_end: b64(end),
      limit: String(limit),
      ...(revision !== '0' ? { revision } : {}),
      ...(keysOnly ? { keys_only: true } : {}),
    });
    return { revision: r.header?.revision ?? '0', kvs: r.kvs ?? [], more: r.more === true };
  }

  /**
   * Every key under `prefix`, page by page, all pages read at the revision of the first one (one
   * consistent view, as a snapshot needs). Pages arrive in key (byte) order.
   */
  async *rangePrefix(prefix: Buffer, opts: { pageSize?: number; keysOnly?: boolean; revision?: string } = {}): AsyncGenerator<RangePage> {
    const end = prefixEnd(prefix);
    let from = prefix;
    let revision = opts.revision ?? '0';
    for (;;) {
      const page = await this.rangePage(from, end, opts.pageSize ?? 2000, revision, opts.keysOnly);
      if (revision === '0') revision = page.revision;
      yield { ...page, revision };
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || !last) return;
      from = after(Buffer.from(last.key, 'base64'));
    }
  }

  /**
   * The first path segment of etcd's keys ("by-dev/", "other/"; a key without "/" as it is), up to
   * `limit` of them, by skipping from one segment to the next (one small read per segment).
   */
  async topLevelPrefixes(limit = 20): Promise<{ prefixes: string[]; more: boolean }> {
    const prefixes: string[] = [];
    let from: Buffer = Buffer.from([0]);
    for (;;) {
      const page = await this.rangePage(from, Buffer.from([0]), 1, '0', true);
      const kv = page.kvs[0];
      if (!kv) return { prefixes, more: false };
      if (prefixes.length >= limit) return { prefixes, more: true };
      const key = Buffer.from(kv.key, 'base64');
      const slash = key.indexOf(0x2f);
      const top = slash >= 0 ? key.subarray(0, slash + 1) : key;
      prefixes.push(top.toString('utf8'));
      from = slash >= 0 ? prefixEnd(top) : after(key);
    }
  }

  async deletePrefix(prefix: Buffer): Promise<number> {
    const r = await this.call<{ deleted?: string }>('/v3/kv/deleterange', { key: b64(prefix), range_end: b64(prefixEnd(prefix)) });
    return Number(r.deleted ?? 0);
  }

  /** Puts in one transaction (all or nothing). Keys and values are base64 already. */
  async putAll(kvs: Array<{ key: string; value: string }>): Promise<void> {
    if (kvs.length === 0) return;
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      success: kvs.map((kv) => ({ request_put: { key: kv.key, value: kv.value } })),
    });
    if (r.succeeded !== true) throw new CliError(`etcd at ${this.where} did not apply a transaction of ${kvs.length} put(s)`, ExitCode.FAILED);
  }
}
