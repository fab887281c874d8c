import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSteps, type BenchStep } from '../../bench/runner.js';

/** Running, not a zombie left for whoever adopted it to reap. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('npm run bench: steps with deadlines', () => {
  it('a step that hangs or fails is named, killed with everything it started, and the next steps still run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-bench-runner-'));
    const pids = join(dir, 'pids');
    const steps: BenchStep[] = [
      { name: 'first', deadlineMs: 10_000, command: ['sh', '-c', 'echo first_ms 1.5'] },
      // Hangs in a grandchild (as a step waiting on a plugin run or a server it started).
      { name: 'hangs', deadlineMs: 1_500, command: ['sh', '-c', `sleep 300 & echo $! >> ${pids}; wait`] },
      // Ignores SIGTERM: killed after the grace period.
      { name: 'deaf', deadlineMs: 1_000, command: [process.execPath, '-e', `process.on('SIGTERM', () => {}); require('fs').appendFileSync(${JSON.stringify(pids)}, process.pid + '\\n'); setInterval(() => {}, 1000)`] },
      { name: 'fails', deadlineMs: 10_000, command: ['sh', '-c', 'echo half_ms 2; echo "could not reach the bed" >&2; exit 3'] },
      { name: 'needs-bed', deadlineMs: 10_000, command: ['false'], skip: 'the test bed is not up' },
      { name: 'last', deadlineMs: 10_000, command: ['sh', '-c', 'echo last_s 0.25'] },
    ];
    let out = '';
    let err = '';
    const cleaned: string[] = [];
    const outcomes = await runSteps(steps, {
      out: (t) => (out += t),
      err: (t) => (err += t),
      progressEveryMs: 400,
      graceMs: 500,
      afterFailure: async (step) => void cleaned.push(step.name),
    });
    expect(outcomes).toEqual([
      { name: 'first', status: 'ok' },
      { name: 'hangs', status: 'timed-out', reason: 'no result within 1.5s' },
      { name: 'deaf', status: 'timed-out', reason: 'no result within 1.0s' },
      { name: 'fails', status: 'failed', reason: expect.stringMatching(/^exit 3 after \d+\.\ds$/) },
      { name: 'needs-bed', status: 'skipped', reason: 'the test bed is not up' },
      { name: 'last', status: 'ok' },
    ]);
    expect(out).toBe('first_ms 1.5\nhalf_ms 2\nlast_s 0.25\n');
    const lines = err.trim().split('\n').map((l) => l.replace(/^\[bench \d\d:\d\d:\d\d\] /, ''));
    expect(lines).toContain('hangs: started (step 2/6, deadline 1.5s)');
    expect(lines.some((l) => /^hangs: still running \(\d+\.\ds of 1\.5s\)$/.test(l))).toBe(true);
    expect(lines).toContain('hangs: deadline of 1.5s passed: stopping it and everything it started');
    expect(lines).toContain('hangs: TIMED OUT: no result within 1.5s; going on with the next step');
    expect(lines).toContain('deaf: TIMED OUT: no result within 1.0s; going on with the next step');
    expect(lines.some((l) => /^fails: FAILED: exit 3 after \d+\.\ds; going on with the next step$/.test(l))).toBe(true);
    expect(lines).toContain('needs-bed: skipped: the test bed is not up');
    expect(lines.some((l) => /^last: done in \d+\.\ds$/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('3 step(s) without a result: hangs (timed-out), deaf (timed-out), fails (failed)');
    expect(cleaned).toEqual(['hangs', 'deaf', 'fails']);
    // Nothing the timed-out steps started still runs.
    const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(started).toHaveLength(2);
    for (let i = 0; i < 50 && started.some(running); i++) await new Promise((r) => setTimeout(r, 100));
    expect(started.filter(running)).toEqual([]);
  }, 30_000);
});
