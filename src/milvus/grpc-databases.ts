/**
 * The databases of a Milvus instance over gRPC: MilvusService.ListDatabases (milvus-proto
 * milvus.proto, Milvus 2.2.9+) on the proxy's port 19530. Neither the management API (9091) nor
 * Milvus 2.2/2.3's HTTP servers list databases; REST v2 does from 2.4 on (mgmt-api.ts).
 *
 * @grpc/grpc-js carries the call (HTTP/2, deadlines, status trailers); the two messages are
 * encoded here by hand, so no proto files or code generator ship with the plugin:
 *   ListDatabasesRequest  { common.MsgBase base = 1; }            -> sent empty
 *   ListDatabasesResponse { common.Status status = 1; repeated string db_names = 2; ... }
 *   common.Status         { ErrorCode error_code = 1; string reason = 2; int32 code = 3; ...; string detail = 5; }
 * Unknown fields are skipped, as protobuf requires.
 *
 * Authentication (authorizationEnabled): Milvus reads the `authorization` metadata, the base64
 * of "user:password" (or of an API token). Credentials are never logged or put into messages.
 */
import { CliError, ExitCode } from '../errors.js';
import { decodeStatus, ProtoReader, type DecodedStatus } from './proto.js';

export type MilvusCredentials = { username: string; password: string } | { token: string };

export type GrpcDatabaseListing =
  | { databases: string[] }
  /** This Milvus has no ListDatabases (before 2.2.9). */
  | { databases: undefined; unimplemented: true; reason: string };

const LIST_DATABASES = '/milvus.proto.milvus.MilvusService/ListDatabases';

export { decodeStatus, type DecodedStatus } from './proto.js';

export function decodeListDatabasesResponse(buf: Buffer): { status: DecodedStatus; dbNames: string[] } {
  let status: DecodedStatus = { errorCode: 0, reason: '', code: 0 };
  const dbNames: string[] = [];
  for (const [f, w, v] of new ProtoReader(buf).fields()) {
    if (f === 1 && w === 2) status = decodeStatus(v as Buffer);
    else if (f === 2 && w === 2) dbNames.push((v as Buffer).toString('utf8'));
  }
  return { status, dbNames };
}

/** The `authorization` metadata value Milvus expects (merr/crypto: base64 of "user:password"). */
export function authorizationValue(c: MilvusCredentials): string {
  return Buffer.from('token' in c ? c.token : `${c.username}:${c.password}`, 'utf8').toString('base64');
}

/** gRPC status codes used below (grpc/status). */
const GRPC = { DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** Milvus codes (merr) meaning the credentials were not accepted / the user may not do this. */
const isAuthFailure = (s: DecodedStatus) => s.code === 1800 || /auth|credential|password|token/i.test(s.reason) && !/privilege|permission/i.test(s.reason);
const isPermissionFailure = (s: DecodedStatus) => s.code === 1801 || /privilege|permission den/i.test(s.reason);

/**
 * ListDatabases on `host:port` (a local end of a port-forward to 19530). Errors are CliErrors with
 * one-line messages: unreachable (4), authentication refused (3), not permitted (5), failed (10).
 */
export async function listDatabasesGrpc(
  target: { host: string; port: number; describe: string },
  opts: { credentials?: MilvusCredentials; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<GrpcDatabaseListing> {
  const grpc = await import('@grpc/grpc-js');
  const client = new grpc.Client(`${target.host}:${target.port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 4 << 20,
    // One call: no reconnect storms, no keepalive pings.
    'grpc.enable_retries': 0,
  });
  const metadata = new grpc.Metadata();
  if (opts.credentials) metadata.set('authorization', authorizationValue(opts.credentials));
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  try {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const call = client.makeUnaryRequest<Buffer, Buffer>(
        LIST_DATABASES,
        (b) => b,
        (b) => b,
        Buffer.alloc(0),
        metadata,
        { deadline },
        (err, value) => (err ? reject(err) : resolve(value ?? Buffer.alloc(0))),
      );
      opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
    const { status, dbNames } = decodeListDatabasesResponse(answer);
    if (status.errorCode !== 0 || status.code !== 0) {
      if (isAuthFailure(status)) throw authRefused(target.describe);
      if (isPermissionFailure(status)) {
        throw new CliError(`Milvus does not allow this user to list databases (${target.describe})`, ExitCode.FORBIDDEN, 'grant the user the ListDatabases privilege, or name every database with --database');
      }
      throw new CliError(`Milvus refused to list its databases over gRPC (${target.describe}): ${status.reason || `error_code ${status.errorCode}`}`, ExitCode.FAILED);
    }
    return { databases: dbNames };
  } catch (e) {
    if (e instanceof CliError) throw e;
    if (opts.signal?.aborted) throw opts.signal.reason;
    const err = e as { code?: number; details?: string; message?: string };
    // grpc-js appends a timestamp and a resolution note to connection errors: keep one clean line.
    const detail = (err.details || err.message || String(e)).replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/, '').replace(/\.?\s*Resolution note:.*$/s, '').trim();
    switch (err.code) {
      case GRPC.UNIMPLEMENTED:
        return { databases: undefined, unimplemented: true, reason: `ListDatabases is not implemented by this Milvus (${detail})` };
      case GRPC.UNAUTHENTICATED:
        throw authRefused(target.describe);
      case GRPC.PERMISSION_DENIED:
        throw new CliError(`Milvus does not allow this user to list databases (${target.describe})`, ExitCode.FORBIDDEN, 'grant the user the ListDatabases privilege, or name every database with --database');
      case GRPC.UNAVAILABLE:
      case GRPC.DEADLINE_EXCEEDED:
        throw new CliError(`cannot reach Milvus over gRPC on port 19530 (${target.describe}) to list its databases: ${detail}`, ExitCode.UNREACHABLE, 'check that the proxy serves gRPC on 19530, or name every database with --database');
      default:
        // Real 2.2.16 refuses credentials with code UNKNOWN and this text (2.3.5: UNAUTHENTICATED).
        if (/auth check failure|unauthenticated/i.test(detail)) throw authRefused(target.describe);
        throw new CliError(`listing the databases over gRPC failed (${target.describe}): ${detail}`, ExitCode.FAILED);
    }
  } finally {
    client.close();
  }
}

const authRefused = (where: string) =>
  new CliError(`Milvus refused the credentials for listing its databases (${where})`, ExitCode.CONFIG, 'give a Milvus user with --milvus-secret (a Secret with username and password) or MILVUS_USERNAME/MILVUS_PASSWORD');
