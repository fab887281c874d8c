/**
 * JSON for the Milvus management API without losing 64-bit integers. Segment and collection IDs
 * are int64 (about 4.5e17) and hybrid timestamps uint64 (beyond 2^53): JSON.parse would round
 * them, and a rounded segment ID is "unknown" to Milvus, which counts unknown IDs as flushed.
 * Parsing keeps every number as a lossless-json LosslessNumber; encoding writes bigints as exact
 * JSON numbers (never strings: the Go side binds int64 fields from numbers).
 */
import { isLosslessNumber, LosslessNumber, parse, stringify } from 'lossless-json';

/** Recursively turns bigints into exact JSON numbers. */
function toLossless(x: unknown): unknown {
  if (typeof x === 'bigint') return new LosslessNumber(x.toString());
  if (Array.isArray(x)) return x.map(toLossless);
  if (x && typeof x === 'object' && !isLosslessNumber(x)) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toLossless(v)]));
  }
  return x;
}

/** JSON text with bigints written as exact numbers. */
export function encodeJson(value: unknown): string {
  return stringify(toLossless(value)) ?? 'null';
}

/** Parses JSON keeping every number exact (as LosslessNumber); undefined when not JSON. */
export function parseJson(text: string): unknown {
  try {
    return parse(text);
  } catch {
    return undefined;
  }
}

/** An exact integer from a parsed value; undefined when it is not an integer. */
export function toBigInt(v: unknown): bigint | undefined {
  if (isLosslessNumber(v)) {
    const s = v.toString();
    return /^-?\d+$/.test(s) ? BigInt(s) : undefined;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'bigint') return v;
  return undefined;
}

/** A small number (enum, count) from a parsed value; NaN when it is not numeric. */
export function toSmallNumber(v: unknown): number {
  if (isLosslessNumber(v)) return Number(v.toString());
  if (typeof v === 'number') return v;
  return Number.NaN;
}

export { isLosslessNumber };
