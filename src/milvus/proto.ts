/**
 * Protobuf wire format for the few Milvus messages the plugin sends and reads over gRPC, encoded
 * by hand so that no .proto files or generated code ship (milvus-io/milvus-proto proto/milvus.proto,
 * proto/common.proto). Unknown fields are skipped, as protobuf requires.
 */

/** Reads varints and length-delimited fields of one protobuf message. */
export class ProtoReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  get done(): boolean {
    return this.at >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.at >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('varint too long');
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    if (this.at + n > this.buf.length) throw new Error('truncated field');
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  /** Each field as [number, wire type, value]: a varint (0) or the bytes of a length-delimited field (2). */
  *fields(): Generator<[number, number, bigint | Buffer]> {
    while (!this.done) {
      const key = Number(this.varint());
      const field = key >>> 3;
      const wire = key & 7;
      if (wire === 0) yield [field, wire, this.varint()];
      else if (wire === 2) yield [field, wire, this.bytes()];
      else if (wire === 1) this.skip(8);
      else if (wire === 5) this.skip(4);
      else throw new Error(`unsupported wire type ${wire}`);
    }
  }
  private skip(n: number): void {
    if (this.at + n > this.buf.length) throw new Error('truncated field');
    this.at += n;
  }
}

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

/** Builds one message field by field. */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private key(field: number, wire: number): void {
    this.parts.push(varint(BigInt((field << 3) | wire)));
  }
  /** A string field; empty strings are left out, as proto3 does. */
  string(field: number, value: string): this {
    if (value === '') return this;
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }
  bytes(field: number, value: Buffer): this {
    this.key(field, 2);
    this.parts.push(varint(BigInt(value.length)), value);
    return this;
  }
  uint(field: number, value: bigint): this {
    this.key(field, 0);
    this.parts.push(varint(value));
    return this;
  }
  /** One entry of a map<string, uint64> field. */
  mapStringUint(field: number, key: string, value: bigint): this {
    return this.bytes(field, new ProtoWriter().string(1, key).uint(2, value).finish());
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface DecodedStatus {
  errorCode: number;
  reason: string;
  code: number;
}

/** common.Status { error_code = 1; reason = 2; code = 3; retriable = 4; detail = 5 }. */
export function decodeStatus(buf: Buffer): DecodedStatus {
  const s: DecodedStatus = { errorCode: 0, reason: '', code: 0 };
  let detail = '';
  for (const [f, w, v] of new ProtoReader(buf).fields()) {
    if (f === 1 && w === 0) s.errorCode = Number(v);
    else if (f === 2 && w === 2) s.reason = (v as Buffer).toString('utf8');
    // int32: negative values come as 10-byte varints.
    else if (f === 3 && w === 0) s.code = Number(BigInt.asIntN(32, v as bigint));
    else if (f === 5 && w === 2) detail = (v as Buffer).toString('utf8');
  }
  if (!s.reason) s.reason = detail;
  return s;
}

export const statusOk = (s: DecodedStatus) => s.errorCode === 0 && s.code === 0;

/** The entries of a map<string, V> field (each entry a message { key = 1; value = 2 }). */
export function mapEntry(buf: Buffer): { key: string; value: bigint | Buffer | undefined } {
  let key = '';
  let value: bigint | Buffer | undefined;
  for (const [f, w, v] of new ProtoReader(buf).fields()) {
    if (f === 1 && w === 2) key = (v as Buffer).toString('utf8');
    else if (f === 2) value = v;
  }
  return { key, value };
}
