/**
 * Milvus `status` objects and the errors made from them. A status is
 * `{error_code, reason, code, retriable, detail, extra_info}` (milvus-proto common.proto), every
 * field omitempty, so success is `{}`. Milvus reports logical failures (collection not found,
 * proxy not healthy, ...) with HTTP 200 and a non-empty status: every answer is checked for it.
 * Success follows upstream `merr.Ok`: error_code is Success (0) AND code is 0; a reason alone
 * does not make a failure.
 */
import { CliError, ExitCode } from '../errors.js';
import { toSmallNumber } from './json.js';

export interface MilvusStatus {
  error_code?: unknown;
  code?: unknown;
  reason?: unknown;
  detail?: unknown;
}

/** ErrorCode names (common.proto), for messages; encoding/json may also render them as names. */
const ERROR_CODE_NAMES: Record<number, string> = {
  0: 'Success',
  1: 'UnexpectedError',
  4: 'CollectionNotExists',
  5: 'IllegalArgument',
};

/** Code values (merr) worth naming in messages. */
const CODE_NAMES: Record<number, string> = {
  100: 'collection not found',
  800: 'database not found',
  1800: 'not authenticated',
};

export interface StatusFailure {
  errorCode: number | string | undefined;
  code: number | undefined;
  reason: string;
}

/** undefined when the status means success, the failure otherwise. */
export function statusFailure(status: unknown): StatusFailure | undefined {
  if (status === undefined || status === null) return undefined;
  if (typeof status !== 'object' || Array.isArray(status)) {
    return { errorCode: undefined, code: undefined, reason: `unexpected status ${JSON.stringify(String(status))}` };
  }
  const s = status as MilvusStatus;
  let errorCode: number | string | undefined;
  if (s.error_code !== undefined) {
    const n = toSmallNumber(s.error_code);
    // A name (the enum rendered as a string) is a failure unless it is "Success".
    errorCode = Number.isNaN(n) ? String(s.error_code) : n;
  }
  const codeNum = s.code === undefined ? 0 : toSmallNumber(s.code);
  const ok = (errorCode === undefined || errorCode === 0 || errorCode === 'Success') && codeNum === 0;
  if (ok) return undefined;
  const reason = [s.reason, s.detail].find((x) => typeof x === 'string' && x.trim() !== '') as string | undefined;
  return { errorCode, code: Number.isNaN(codeNum) ? undefined : codeNum, reason: reason ?? 'no reason given' };
}

/**
 * A Milvus reason cut to its cause. Milvus 2.3 puts Go stack traces into reasons ("attempt #0:
 * stack trace: /path/file.go:51 pkg.Func\n... pkg.Func: <cause>") and chains retry attempts
 * ("attempt #0: X: attempt #1: Y ..."): users see the last attempt's cause, with the number of
 * attempts; the whole text is for -v=4.
 */
export function reasonCause(reason: string): string {
  let r = reason;
  if (/stack trace:/.test(r)) {
    // The frames are "<file>.go:<line> <function>" lines; the cause follows the last frame's function.
    const lines = r.split('\n');
    const last = lines[lines.length - 1]!;
    const frame = /^\S+\.go:\d+ \S+?: (.*)$/s.exec(last);
    r = frame ? frame[1]! : last;
  }
  const attempts = [...r.matchAll(/attempt #(\d+): /g)];
  if (attempts.length > 1) {
    const lastAttempt = attempts[attempts.length - 1]!;
    r = `${r.slice(lastAttempt.index! + lastAttempt[0].length)} (after ${attempts.length} attempts)`;
  }
  return r.trim() || reason;
}

export function describeFailure(f: StatusFailure, full = false): string {
  const parts: string[] = [];
  if (f.errorCode !== undefined && f.errorCode !== 0) {
    parts.push(`error_code ${typeof f.errorCode === 'number' ? `${f.errorCode}${ERROR_CODE_NAMES[f.errorCode] ? ` ${ERROR_CODE_NAMES[f.errorCode]}` : ''}` : f.errorCode}`);
  }
  if (f.code) parts.push(`code ${f.code}${CODE_NAMES[f.code] ? ` ${CODE_NAMES[f.code]}` : ''}`);
  return `${full ? f.reason : reasonCause(f.reason)}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/**
 * Milvus answered, and the answer is a failure: an HTTP error code, or HTTP 200 with a non-empty
 * status. Exit code FAILED: the API was reached, the operation did not succeed.
 */
export class MilvusApiError extends CliError {
  constructor(
    readonly request: string,
    readonly httpStatus: number,
    readonly failure: StatusFailure | undefined,
    detail: string,
    hint?: string,
  ) {
    super(`Milvus answered ${request}${httpStatus !== 200 ? ` with HTTP ${httpStatus}` : ''}: ${detail}`, ExitCode.FAILED, hint);
    this.name = 'MilvusApiError';
  }

  /**
   * "Collection not found": merr code 100 or error_code CollectionNotExists (4) on 2.3+; 2.2 sends
   * error_code 1 without code and says it in the reason ("code: CollectionNotExists, reason: can't
   * find collection default:x").
   */
  get collectionNotFound(): boolean {
    return this.failure?.code === 100 || this.failure?.errorCode === 4 || /collection not (found|exist)|CollectionNotExists|can't find collection/i.test(this.failure?.reason ?? '');
  }

  /** merr code 800 on 2.3+; 2.2: "ShowCollections failed: database:x not found". */
  get databaseNotFound(): boolean {
    return this.failure?.code === 800 || /database not (found|exist)|database:\S* not found/i.test(this.failure?.reason ?? '');
  }

  /**
   * A failure that goes away by itself: HTTP 5xx, or a node of this Milvus not (yet) there —
   * right after a restart 2.3 answers persist with code 65535 "session not found->datanode-N:
   * node not found" for ~20-25 s. Retried within the caller's timeout; never evidence of anything.
   */
  get transient(): boolean {
    if (this.httpStatus >= 500) return true;
    const reason = this.failure?.reason ?? '';
    return /node not found|session not found|node not match|not ready|service unavailable|is not healthy|server is stopping|no available \w+/i.test(reason);
  }

  /** The whole reason as Milvus sent it (stack traces included), for -v=4. */
  get fullReason(): string | undefined {
    return this.failure?.reason;
  }
}
