import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the CI failure summary reporter', () => {
  it('ends the output with the counts and one line per failure, hook errors included', () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', join(ROOT, 'test', 'support', 'fixtures', 'failing-run'), '--reporter=dot', `--reporter=${join(ROOT, 'test', 'support', 'failure-summary-reporter.ts')}`],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
    );
    expect(r.status).toBe(1);
    const tail = r.stdout.trimEnd().split('\n').slice(-3);
    expect(tail).toEqual([
      '== tests: 1 passed, 1 failed, 1 skipped',
      'FAILED failing.test.ts > a suite whose hook throws: the bed is not up | second line',
      expect.stringMatching(/^FAILED failing\.test\.ts > fails: expected 1 to be 2/),
    ]);
  });
});
