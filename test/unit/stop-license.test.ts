import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import type { Step } from '../../src/procedure/engine.js';
import { beginStop, freshFlushStep, licenseSeenStop, MAX_FLUSH_AGE_MS, requireFreshFlush, requireStoppedAfterFlush, type LicensedState } from '../../src/pulsar-upgrade/stop-license.js';
import { testContext } from './test-context.js';

const at = Date.parse('2026-12-01T10:00:00Z');
function state(over: Partial<LicensedState> = {}): LicensedState {
  return { flushVerifiedAt: new Date(at).toISOString(), flushedCollections: 1, flushInvocation: 'inv1', stopBegunAt: undefined, stoppedAfterFlushAt: undefined, ...over };
}
function ctxAt(ms: number) {
  const { ctx } = testContext();
  return { ...ctx, now: () => new Date(ms) };
}
function code(fn: () => void): number | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { exitCode: number }).exitCode;
  }
}

describe('the flush that licenses the stop', () => {
  const table: Array<[string, LicensedState, string, number, number | undefined]> = [
    ['this invocation, just now', state(), 'inv1', at + 1000, undefined],
    ['this invocation, at the bound', state(), 'inv1', at + MAX_FLUSH_AGE_MS, undefined],
    ['this invocation, past the bound', state(), 'inv1', at + MAX_FLUSH_AGE_MS + 1, ExitCode.PRECONDITION],
    ['an earlier invocation (a resume)', state(), 'inv2', at + 1000, ExitCode.PRECONDITION],
    ['never verified', state({ flushVerifiedAt: undefined }), 'inv1', at, ExitCode.PRECONDITION],
    ['a clock that went backwards', state(), 'inv1', at - 60_000, ExitCode.PRECONDITION],
  ];
  for (const [what, s, inv, now, want] of table) {
    it(`${what} -> ${want ?? 'allowed'}`, () => {
      expect(code(() => requireFreshFlush(ctxAt(now), s, inv, 'uninstall'))).toBe(want);
    });
  }

  it('the volumes go only after a stop made under that license', () => {
    expect(code(() => requireStoppedAfterFlush(state(), 'delete Pulsar volumes'))).toBe(ExitCode.PRECONDITION);
    expect(code(() => requireStoppedAfterFlush(state({ stoppedAfterFlushAt: new Date(at).toISOString() }), 'delete Pulsar volumes'))).toBeUndefined();
  });
});

/** A flush step that records that it ran and verifies at the clock's time. */
function countingFlush(now: number): { step: Step<LicensedState>; runs: () => number } {
  let n = 0;
  return {
    runs: () => n,
    step: {
      id: 'flush',
      title: 'Flush',
      plan: () => ['flush'],
      async run({ state }) {
        n++;
        state.flushVerifiedAt = new Date(now).toISOString();
      },
    },
  };
}

async function runFlush(step: Step<LicensedState>, st: LicensedState, invocation: string, now: number): Promise<{ error: unknown; log: string[] }> {
  const log: string[] = [];
  try {
    await step.run({ ctx: ctxAt(now), state: st, checkpoint: async () => undefined, log: (m) => log.push(m), invocation, resumedAfterStart: false, runId: 'run-1' });
    return { error: undefined, log };
  } catch (e) {
    return { error: e, log };
  }
}

describe('a stop licenses the volume deletion only when this run saw it take effect', () => {
  const recovery = () => 'reinstall on Pulsar v2 from the backup, then --resume';
  const watch = (why: string | undefined) => ({ stopStep: 'uninstall', stopping: async () => why, recovery });
  // An earlier run (inv1) flushed and began the stop; its uninstall failed before doing anything.
  const begunNotSeen = () => state({ stopBegunAt: new Date(at).toISOString(), stopInvocation: 'inv1' });

  it('begun by an earlier run, then stopped by someone else: refused (exit 7), nothing flushed, the way back named', async () => {
    const flush = countingFlush(at + 60_000);
    const st = begunNotSeen();
    const { error } = await runFlush(freshFlushStep(flush.step, watch('the release is already uninstalled')), st, 'inv2', at + 60_000);
    expect((error as { exitCode: number }).exitCode).toBe(ExitCode.PRECONDITION);
    expect((error as Error).message).toContain('the release is already uninstalled, but no stop by this tool right after a verified flush is on record');
    expect((error as Error).message).toContain('its volumes were kept');
    expect((error as { hint: string }).hint).toBe(recovery());
    expect(flush.runs()).toBe(0);
    expect(st.stoppedAfterFlushAt).toBeUndefined();
    expect(code(() => requireStoppedAfterFlush(st, 'delete Pulsar volumes'))).toBe(ExitCode.PRECONDITION);
  });

  it('a stop an earlier run was seen to make: not flushed again, the license stands', async () => {
    const flush = countingFlush(at + 60_000);
    const st = state({ stopBegunAt: new Date(at).toISOString(), stopInvocation: 'inv1', stoppedAfterFlushAt: new Date(at).toISOString() });
    const { error, log } = await runFlush(freshFlushStep(flush.step, watch('the release is already uninstalled')), st, 'inv2', at + 60_000);
    expect(error).toBeUndefined();
    expect(flush.runs()).toBe(0);
    expect(log.join('\n')).toContain('not flushed again: the release is already uninstalled');
    expect(code(() => requireStoppedAfterFlush(st, 'delete Pulsar volumes'))).toBeUndefined();
  });

  it('a begun stop that did not stop Milvus: flushed again in this run, nothing of the begun stop kept', async () => {
    const flush = countingFlush(at + 60_000);
    const st = begunNotSeen();
    const { error } = await runFlush(freshFlushStep(flush.step, watch(undefined)), st, 'inv2', at + 60_000);
    expect(error).toBeUndefined();
    expect(flush.runs()).toBe(1);
    expect(st).toMatchObject({ stopBegunAt: undefined, stopInvocation: undefined, stoppedAfterFlushAt: undefined, flushInvocation: 'inv2' });
  });

  it('the license needs the stop begun in this run, right after this run\'s flush', () => {
    const st = state();
    beginStop(ctxAt(at + 1000), st, 'inv1', 'uninstall');
    expect(st.stoppedAfterFlushAt).toBeUndefined();
    licenseSeenStop(st, 'inv1');
    expect(st.stoppedAfterFlushAt).toBe(st.stopBegunAt);
    // A stop begun by an earlier run is no license for this one, whatever the cluster shows now.
    expect(code(() => licenseSeenStop(begunNotSeen(), 'inv2'))).toBe(ExitCode.PRECONDITION);
    // No stop begins without this run's fresh flush.
    expect(code(() => beginStop(ctxAt(at + 1000), state(), 'inv2', 'uninstall'))).toBe(ExitCode.PRECONDITION);
  });
});
