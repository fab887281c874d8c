/**
 * What licenses stopping Milvus and then deleting its Pulsar volumes: a flush verified IN THIS
 * INVOCATION, immediately before the stop, and no older than MAX_FLUSH_AGE_MS. A flush remembered
 * from an interrupted run proves nothing about rows written since; the engine re-runs the flush
 * step on every resume until the stop is done (`repeatUntil`), and the stop step checks here that
 * the flush it relies on is this invocation's and fresh. The volume deletion then needs the stop
 * to have happened under such a license (`stoppedAfterFlushAt`): after the stop nothing can write.
 */
import type { RunContext } from '../cli/context.js';
import { preconditionError } from '../errors.js';
import type { Step } from '../procedure/engine.js';
import type { FlushedState } from './flush-step.js';

/** A verification older than this at the stop is refused (the flush is repeated instead). */
export const MAX_FLUSH_AGE_MS = 10 * 60_000;

export interface LicensedState extends FlushedState {
  /** The invocation whose flush was verified last. */
  flushInvocation: string | undefined;
  /** Recorded right before the stop's destructive call, once the flush license was checked. */
  stopBegunAt: string | undefined;
  /** Set by the stop step when Milvus stopped under that license (in this run or the one that began the stop). */
  stoppedAfterFlushAt: string | undefined;
}

/** The license fields of a run that has neither flushed nor stopped anything yet. */
export const noLicenseYet = (): LicensedState => ({ flushVerifiedAt: undefined, flushedCollections: 0, flushInvocation: undefined, stopBegunAt: undefined, stoppedAfterFlushAt: undefined });

/**
 * The flush step, repeated in every invocation until the step `stopStep` is done. When the stop
 * already began in an earlier run under a fresh flush (stopBegunAt), `stopping` looks at the cluster:
 * if Milvus really is going (it returns why), there is nothing to flush and nothing can write;
 * otherwise (the stop failed before it did anything) the flush runs again.
 */
export function freshFlushStep<S extends LicensedState>(flush: Step<S>, stopStep: string, stopping: () => Promise<string | undefined>): Step<S> {
  return {
    ...flush,
    repeatUntil: stopStep,
    plan: (s) => [...flush.plan(s), `repeated by every --resume until the stop is done; the stop needs this invocation's flush, verified less than ${MAX_FLUSH_AGE_MS / 60_000} min before`],
    async run(run) {
      if (run.state.stopBegunAt) {
        const why = await stopping();
        if (why) {
          run.log(`not flushed again: ${why}, after the flush verified right before the stop began (${run.state.stopBegunAt})`);
          return;
        }
        run.state.stopBegunAt = undefined;
      }
      run.state.flushVerifiedAt = undefined;
      run.state.flushInvocation = undefined;
      await flush.run(run);
      if (run.state.flushVerifiedAt) run.state.flushInvocation = run.invocation;
    },
  };
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
