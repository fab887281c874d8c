/**
 * The one "poll until" of the procedures: checks, sleeps, checks again until the condition holds,
 * the deadline passes (exit 9) or Ctrl-C aborts (the signal's reason is thrown). Time is read from
 * `ctx.now()`, never from Date.now(), so tests drive the clock.
 */
import type { RunContext } from '../cli/context.js';
import { timeoutError } from '../errors.js';

export interface PollOptions<T> {
  /** What is awaited, for the timeout message: "persistentvolumeclaim/x to be deleted". */
  what?: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Returns a value when done, undefined to keep waiting; a thrown error ends the wait. */
  check(): Promise<T | undefined>;
  /** Why it is not done yet, appended to the timeout message. */
  pending?(): string | undefined;
  hint?: string;
  /** The error to throw at the deadline instead of the default one built from `what`. */
  onTimeout?: () => Error;
}

export async function pollUntil<T>(ctx: RunContext, o: PollOptions<T>): Promise<T> {
  const deadline = ctx.now().getTime() + o.timeoutMs;
  const interval = o.intervalMs ?? 1000;
  for (;;) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const v = await o.check();
    if (v !== undefined) return v;
    if (ctx.now().getTime() >= deadline) {
      if (o.onTimeout) throw o.onTimeout();
      const why = o.pending?.();
      throw timeoutError(`timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${o.what ?? 'the condition'}${why ? `: ${why}` : ''}`, o.hint);
    }
    await sleep(interval, ctx.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
