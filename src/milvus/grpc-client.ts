/**
 * The Milvus gRPC calls beyond ListDatabases (grpc-databases.ts) that the serving check and the
 * 2.6+ flush need, over one connection to the proxy's 19530: ShowCollections, GetLoadState,
 * FlushAll and GetFlushAllState (milvus-io/milvus-proto proto/milvus.proto, branches 2.6 and 3.0).
 * Messages are encoded by hand (proto.ts); docs/dependencies.md says why not the official SDK.
 *
 *   ShowCollectionsRequest  { base = 1; db_name = 2 }  -> { status = 1; collection_names = 2 }
 *   GetLoadStateRequest     { base = 1; collection_name = 2; partition_names = 3; db_name = 4 }
 *                           -> { status = 1; state = 2 (common.LoadState) }
 *   FlushAllRequest         { base = 1 }  (3.0: the whole cluster; the per-target form is deprecated)
 *                           -> { status = 1; flush_all_msgs = 4 (pchannel -> ImmutableMessage) }
 *   GetFlushAllStateRequest { base = 1; flush_all_tss = 5 (pchannel -> ts) } -> { status = 1; flushed = 2 }
 * A pchannel's flush timestamp is its FlushAll message's property "_tt", a uint64 written in base
 * 36 (milvus-io/milvus pkg/streaming/util/message/encoder.go; milvus-backup reads it the same way).
 */
import { CliError, ExitCode } from '../errors.js';
import { authorizationValue, type MilvusCredentials } from './grpc-databases.js';
import { decodeStatus, mapEntry, ProtoReader, ProtoWriter, statusOk, type DecodedStatus } from './proto.js';

export type LoadState = 'NotExist' | 'NotLoad' | 'Loading' | 'Loaded';
const LOAD_STATES: Record<number, LoadState> = { 0: 'NotExist', 1: 'NotLoad', 2: 'Loading', 3: 'Loaded' };

const SERVICE = '/milvus.proto.milvus.MilvusService/';
const GRPC = { DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;
/** merr codes: collection not found (100), database not found (800). */
const COLLECTION_NOT_FOUND = 100;

export interface GrpcTarget {
  host: string;
  port: number;
  /** Where the call goes, for messages (e.g. "pod/x port 19530"). */
  describe: string;
}

/** Milvus answered the call with a failed status (HTTP/2 and gRPC were fine). */
export class MilvusGrpcStatusError extends CliError {
  constructor(
    readonly method: string,
    readonly status: DecodedStatus,
    where: string,
  ) {
    super(`Milvus refused ${method} (${where}): ${status.reason || `error_code ${status.errorCode}`}`, ExitCode.FAILED);
    this.name = 'MilvusGrpcStatusError';
  }
}

/** The server has no such method (an older Milvus). */
export class GrpcUnimplementedError extends CliError {
  constructor(readonly method: string, where: string) {
    super(`${method} is not implemented by this Milvus (${where})`, ExitCode.FAILED);
    this.name = 'GrpcUnimplementedError';
  }
}

type GrpcModule = typeof import('@grpc/grpc-js');

export class MilvusGrpc {
  private constructor(
    private readonly grpc: GrpcModule,
    private readonly client: InstanceType<GrpcModule['Client']>,
    private readonly target: GrpcTarget,
    private readonly opts: { credentials?: MilvusCredentials | undefined; timeoutMs?: number | undefined; signal?: AbortSignal | undefined },
  ) {}

  static async open(target: GrpcTarget, opts: { credentials?: MilvusCredentials | undefined; timeoutMs?: number | undefined; signal?: AbortSignal | undefined } = {}): Promise<MilvusGrpc> {
    const grpc = await import('@grpc/grpc-js');
    const client = new grpc.Client(`${target.host}:${target.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 << 20,
      'grpc.enable_retries': 0,
    });
    return new MilvusGrpc(grpc, client, target, opts);
  }

  close(): void {
    this.client.close();
  }

  /** One unary call; its answer bytes, or a CliError with a one-line message and the exit code of the cause. */
  private async call(method: string, request: Buffer): Promise<Buffer> {
    const metadata = new this.grpc.Metadata();
    if (this.opts.credentials) metadata.set('authorization', authorizationValue(this.opts.credentials));
    const deadline = Date.now() + (this.opts.timeoutMs ?? 15_000);
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const call = this.client.makeUnaryRequest<Buffer, Buffer>(
          SERVICE + method,
          (b) => b,
          (b) => b,
          request,
          metadata,
          { deadline },
          (err, value) => (err ? reject(err) : resolve(value ?? Buffer.alloc(0))),
        );
        this.opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
      });
    } catch (e) {
      if (this.opts.signal?.aborted) throw this.opts.signal.reason;
      const err = e as { code?: number; details?: string; message?: string };
      const detail = (err.details || err.message || String(e)).replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/, '').replace(/\.?\s*Resolution note:.*$/s, '').trim();
      const where = this.target.describe;
      switch (err.code) {
        case GRPC.UNIMPLEMENTED:
          throw new GrpcUnimplementedError(method, where);
        case GRPC.UNAUTHENTICATED:
          throw new CliError(`Milvus refused the credentials for ${method} (${where})`, ExitCode.CONFIG, 'give a Milvus user with --milvus-secret or MILVUS_USERNAME/MILVUS_PASSWORD');
        case GRPC.PERMISSION_DENIED:
          throw new CliError(`Milvus does not allow this user to call ${method} (${where})`, ExitCode.FORBIDDEN);
        case GRPC.UNAVAILABLE:
        case GRPC.DEADLINE_EXCEEDED:
          throw new CliError(`cannot reach Milvus over gRPC (${where}) for ${method}: ${detail}`, ExitCode.UNREACHABLE);
        default:
          if (/auth check failure|unauthenticated/i.test(detail)) throw new CliError(`Milvus refused the credentials for ${method} (${where})`, ExitCode.CONFIG);
          throw new CliError(`${method} over gRPC failed (${where}): ${detail}`, ExitCode.FAILED);
      }
    }
  }

  /** Status (field 1) checked; the other fields returned. */
  private async checked(method: string, request: Buffer): Promise<Array<[number, number, bigint | Buffer]>> {
    const answer = await this.call(method, request);
    const fields = [...new ProtoReader(answer).fields()];
    const s = fields.find(([f, w]) => f === 1 && w === 2);
    const status = s ? decodeStatus(s[2] as Buffer) : { errorCode: 0, reason: '', code: 0 };
    if (!statusOk(status)) throw new MilvusGrpcStatusError(method, status, this.target.describe);
    return fields;
  }

  /** ListDatabases; undefined when the server has none (before 2.2.9: the default database only). */
  async listDatabases(): Promise<string[] | undefined> {
    try {
      const fields = await this.checked('ListDatabases', Buffer.alloc(0));
      return fields.filter(([f, w]) => f === 2 && w === 2).map(([, , v]) => (v as Buffer).toString('utf8'));
    } catch (e) {
      if (e instanceof GrpcUnimplementedError) return undefined;
      throw e;
    }
  }

  /** The collection names of one database ("default" is sent as ""). */
  async showCollections(db: string): Promise<string[]> {
    const fields = await this.checked('ShowCollections', new ProtoWriter().string(2, db === 'default' ? '' : db).finish());
    return fields.filter(([f, w]) => f === 2 && w === 2).map(([, , v]) => (v as Buffer).toString('utf8'));
  }

  /** GetLoadState of one collection; a collection Milvus does not know is NotExist. */
  async getLoadState(db: string, collection: string): Promise<LoadState> {
    const req = new ProtoWriter().string(2, collection).string(4, db === 'default' ? '' : db).finish();
    try {
      const fields = await this.checked('GetLoadState', req);
      const state = fields.find(([f, w]) => f === 2 && w === 0);
      return LOAD_STATES[Number(state?.[2] ?? 0n)] ?? 'NotExist';
    } catch (e) {
      if (e instanceof MilvusGrpcStatusError && e.status.code === COLLECTION_NOT_FOUND) return 'NotExist';
      throw e;
    }
  }

  /** FlushAll (2.6+): the flush timestamp per pchannel to wait on. GrpcUnimplementedError on servers without it. */
  async flushAll(): Promise<Map<string, bigint>> {
    const fields = await this.checked('FlushAll', Buffer.alloc(0));
    const tss = new Map<string, bigint>();
    for (const [f, w, v] of fields) {
      if (f !== 4 || w !== 2) continue;
      const { key: pchannel, value } = mapEntry(v as Buffer);
      if (!Buffer.isBuffer(value)) continue;
      let tt: string | undefined;
      for (const [mf, mw, mv] of new ProtoReader(value).fields()) {
        if (mf !== 3 || mw !== 2) continue;
        const prop = mapEntry(mv as Buffer);
        if (prop.key === '_tt' && Buffer.isBuffer(prop.value)) tt = prop.value.toString('utf8');
      }
      const ts = tt !== undefined ? parseBase36(tt) : undefined;
      if (ts === undefined) throw new CliError(`Milvus answered FlushAll without a flush timestamp for pchannel "${pchannel}" (${this.target.describe})`, ExitCode.FAILED);
      tss.set(pchannel, ts);
    }
    return tss;
  }

  /** GetFlushAllState for the timestamps FlushAll answered: true once everything up to them is flushed. */
  async getFlushAllState(tss: Map<string, bigint>): Promise<boolean> {
    const w = new ProtoWriter();
    for (const [pch, ts] of tss) w.mapStringUint(5, pch, ts);
    const fields = await this.checked('GetFlushAllState', w.finish());
    return fields.some(([f, wt, v]) => f === 2 && wt === 0 && v === 1n);
  }
}

/** A uint64 written by Go's strconv.FormatUint(v, 36); undefined when it is not one. */
export function parseBase36(text: string): bigint | undefined {
  if (!/^[0-9a-z]+$/.test(text)) return undefined;
  let n = 0n;
  for (const ch of text) n = n * 36n + BigInt(parseInt(ch, 36));
  return n < 1n << 64n ? n : undefined;
}
