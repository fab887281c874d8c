/**
 * The hand-encoded gRPC messages of ListDatabases, and the call against the simulator's gRPC
 * server (the same code path runs against real 2.2.16 and 2.3.5 in test/e2e/flush-real.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { authorizationValue, decodeListDatabasesResponse, decodeStatus, listDatabasesGrpc } from '../../src/milvus/grpc-databases.js';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';

const field = (n: number, bytes: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2, bytes.length]), bytes]);
const varintField = (n: number, bytes: number[]) => Buffer.from([n << 3, ...bytes]);

const sims: RunningSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe('ListDatabasesResponse decoding', () => {
  it('reads db_names and an empty status; skips unknown fields (created_timestamp, fixed64, fixed32)', () => {
    const msg = Buffer.concat([
      field(1, Buffer.alloc(0)),
      field(2, Buffer.from('default')),
      field(2, Buffer.from('sales')),
      varintField(3, [0x96, 0x01]),
      Buffer.from([(9 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]),
      Buffer.from([(10 << 3) | 5, 1, 2, 3, 4]),
    ]);
    expect(decodeListDatabasesResponse(msg)).toEqual({ status: { errorCode: 0, reason: '', code: 0 }, dbNames: ['default', 'sales'] });
  });
  it('reads a failure status: error_code, reason, a negative int32 code, detail when the reason is empty', () => {
    const neg = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]; // -1 as int32 varint
    expect(decodeStatus(Buffer.concat([varintField(1, [1]), field(2, Buffer.from('boom')), varintField(3, neg)]))).toEqual({ errorCode: 1, reason: 'boom', code: -1 });
    expect(decodeStatus(Buffer.concat([varintField(1, [1]), varintField(3, [0x88, 0x0e]), field(5, Buffer.from('detail only'))]))).toEqual({ errorCode: 1, reason: 'detail only', code: 1800 });
  });
  it('refuses a truncated message', () => {
    expect(() => decodeListDatabasesResponse(Buffer.from([0x12, 10, 0x61]))).toThrow('truncated field');
  });
  it('authorization metadata is base64 of user:password, or of the token', () => {
    expect(authorizationValue({ username: 'root', password: 'Milvus' })).toBe('cm9vdDpNaWx2dXM=');
    expect(authorizationValue({ token: 'root:Milvus' })).toBe('cm9vdDpNaWx2dXM=');
  });
});

describe('listDatabasesGrpc', () => {
  const target = (s: RunningSim) => ({ host: '127.0.0.1', port: s.port, describe: 'sim' });
  it('lists, says unimplemented before 2.2.9, and maps refusals to exit codes', async () => {
    const s = await startMilvusSim({ version: '2.3', databases: { default: [], a: [] } });
    const old = await startMilvusSim({ version: '2.1' });
    const auth = await startMilvusSim({ version: '2.3', authEnabled: true });
    sims.push(s, old, auth);
    expect(await listDatabasesGrpc(target(s))).toEqual({ databases: ['default', 'a'] });
    expect(await listDatabasesGrpc(target(old))).toMatchObject({ databases: undefined, unimplemented: true });
    const refused = await listDatabasesGrpc(target(auth)).catch((e) => e);
    expect(refused.exitCode).toBe(ExitCode.CONFIG);
    expect(await listDatabasesGrpc(target(auth), { credentials: { username: 'root', password: 'Milvus' } })).toEqual({ databases: ['default'] });
    s.control.failOn({ on: 'databases', kind: 'drop', times: 1 });
    const dropped = await listDatabasesGrpc(target(s)).catch((e) => e);
    expect(dropped.exitCode).toBe(ExitCode.UNREACHABLE);
    // One clean line: no grpc-js timestamps or resolution notes.
    expect(dropped.message).not.toMatch(/Resolution note|\d{4}-\d\d-\d\dT/);
  });
  it('a port that is closed: exit 4 within the deadline', async () => {
    const e = await listDatabasesGrpc({ host: '127.0.0.1', port: 1, describe: 'closed' }, { timeoutMs: 3000 }).catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.UNREACHABLE);
    expect(e.message).toMatch(/^cannot reach Milvus over gRPC on port 19530 \(closed\) to list its databases: /);
  });
});
