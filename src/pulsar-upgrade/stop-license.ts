/**
 * What licenses stopping Milvus and then deleting its Pulsar volumes: a flush verified IN THIS
 * INVOCATION, immediately before the stop, and no older than MAX_FLUSH_AGE_MS. A flush remembered
 * from an interrupted run proves nothing about rows written since; the engine re-runs the flush
 * step on every resume until the stop is done (`repeatUntil`), and the stop step checks here that
 * the flush it relies on is this invocation's and fresh.
 *
 * The volume deletion then needs the stop to be PROVEN: the invocation that verified the flush
 * saw its own stop call take effect (`licenseSeenStop`: the call succeeded, or the release was
 * gone or going right after it). A stop that was only begun (`stopBegunAt`) licenses nothing: if
 * its call failed before doing anything, Milvus kept serving writes, and whoever stops it later
 * (by hand, or another tool) stops it with messages that exist only in Pulsar. Then the volumes
 * are kept and the run refuses (exit 7) with the way back (`noProvenStop`).
 */
import type { RunContext } from '../cli/context.js';
import { preconditionError, type CliError } from '../errors.js';
import type { Step } from '../procedure/engine.js';
import type { FlushedState } from './flush-step.js';

/** A verification older than this at the stop is refused (the flush is repeated instead). */
export const MAX_FLUSH_AGE_MS = 10 * 60_000;

export interface LicensedState extends FlushedState {
  /** The invocation whose flush was verified last. */
  flushInvocation: string | undefined;
  /** Recorded right before the stop's destructive call, once the flush license was checked: a stop was tried, no more. */
  stopBegunAt: string | undefined;
  /** The invocation that began the stop (compared with the current one: only its own stop can be seen to succeed). */
  stopInvocation?: string | undefined;
  /** Set only when the invocation that verified the flush saw its own stop take effect: the one license for deleting the Pulsar volumes. */
  stoppedAfterFlushAt: string | undefined;
}

/** The license fields of a run that has neither flushed nor stopped anything yet. */
export const noLicenseYet = (): LicensedState => ({ flushVerifiedAt: undefined, flushedCollections: 0, flushInvocation: undefined, stopBegunAt: undefined, stopInvocation: undefined, stoppedAfterFlushAt: undefined });

/** How a stop step hands over: what the cluster shows of the stop, and the way back when it is not ours. */
export interface StopWatch<S> {
  /** The stop step's id: the flush repeats until it is done. */
  stopStep: string;
  /** Why Milvus is already stopped or stopping (release gone, resource deleted), or undefined when it still runs. */
  stopping(): Promise<string | undefined>;
  /** The way back when Milvus was stopped without a proven stop of ours (see noProvenStop). */
  recovery(state: S): string;
}

/**
 * The flush step, repeated in every invocation until the stop step is done. When Milvus is already
 * stopped or stopping (looked at whenever a stop was begun), there is nothing to flush: that is
 * fine only after a proven stop of ours; otherwise the run refuses with the way back (exit 7).
 * When Milvus still runs (an earlier stop failed before it did anything), the flush runs again.
 */
export function freshFlushStep<S extends LicensedState>(flush: Step<S>, watch: StopWatch<S>): Step<S> {
  return {
    ...flush,
    repeatUntil: watch.stopStep,
    plan: (s) => [...flush.plan(s), `repeated by every --resume until the stop is done; the stop needs this invocation's flush, verified less than ${MAX_FLUSH_AGE_MS / 60_000} min before`],
    async run(run) {
      if (run.state.stopBegunAt || run.state.stoppedAfterFlushAt) {
        const why = await watch.stopping();
        if (why) {
          if (!run.state.stoppedAfterFlushAt) throw noProvenStop(why, watch.recovery(run.state));
          run.log(`not flushed again: ${why}, stopped by this tool right after the flush verified at ${run.state.flushVerifiedAt ?? '?'}`);
          return;
        }
        // Milvus still runs: whatever was begun did not stop it. It is flushed again, stopped again.
        run.state.stopBegunAt = undefined;
        run.state.stopInvocation = undefined;
        run.state.stoppedAfterFlushAt = undefined;
      }
      run.state.flushVerifiedAt = undefined;
      run.state.flushInvocation = undefined;
      await flush.run(run);
      if (run.state.flushVerifiedAt) run.state.flushInvocation = run.invocation;
    },
  };
}

/** Records, right before the stop's destructive call, that this invocation begins it; throws unless this invocation's flush is fresh. */
export function beginStop(ctx: RunContext, state: LicensedState, invocation: string, what: string): void {
  requireFreshFlush(ctx, state, invocation, what);
  state.stopBegunAt = ctx.now().toISOString();
  state.stopInvocation = invocation;
  state.stoppedAfterFlushAt = undefined;
}

/**
 * The stop this invocation began took effect (its call succeeded, or right after it the release
 * was gone or going): from now on the Pulsar volumes may go. Throws (a bug, never a license) when
 * the stop or the flush before it was not this invocation's.
 */
export function licenseSeenStop(state: LicensedState, invocation: string): void {
  if (!state.stopBegunAt || state.stopInvocation !== invocation || state.flushInvocation !== invocation) {
    throw preconditionError('refusing to license the Pulsar volume deletion: the stop was not begun by this run right after its own flush');
  }
  state.stoppedAfterFlushAt = state.stopBegunAt;
}

/**
 * Milvus is stopped (or stopping) but no stop of ours is proven: messages written since the last
 * verified flush may exist only in Pulsar. The Pulsar volumes are kept; the error says how to
 * get the messages into object storage first.
 */
export function noProvenStop(why: string, recovery: string): CliError {
  return preconditionError(
    `refusing to go on: ${why}, but no stop by this tool right after a verified flush is on record (the stop this run began failed, or none was begun); rows written since the last flush may exist only in Pulsar, so its volumes were kept`,
    recovery,
  );
}

/** Throws unless this invocation verified a flush less than MAX_FLUSH_AGE_MS ago. */
export function requireFreshFlush(ctx: RunContext, state: LicensedState, invocation: string, what: string): void {
  if (!state.flushVerifiedAt || state.flushInvocation !== invocation) {
    throw preconditionError(`refusing to ${what}: no flush was verified in this run`, 'rerun with --resume: the flush is repeated before the stop');
  }
  const age = ctx.now().getTime() - Date.parse(state.flushVerifiedAt);
  if (!(age >= 0 && age <= MAX_FLUSH_AGE_MS)) {
    throw preconditionError(
      `refusing to ${what}: the flush was verified ${Math.round(age / 1000)}s ago, more than ${MAX_FLUSH_AGE_MS / 1000}s`,
      'rerun with --resume: the flush is repeated right before the stop',
    );
  }
}

/** Throws unless Milvus was stopped right after a verified flush of the run that stopped it. */
export function requireStoppedAfterFlush(state: LicensedState, what: string): void {
  if (!state.stoppedAfterFlushAt) {
    throw preconditionError(`refusing to ${what}: Milvus was not stopped right after a flush verified in the same run`);
  }
}
