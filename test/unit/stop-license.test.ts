import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { MAX_FLUSH_AGE_MS, requireFreshFlush, requireStoppedAfterFlush, type LicensedState } from '../../src/pulsar-upgrade/stop-license.js';
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
