import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import setup, { sweepAbandoned } from '../support/run-temp-dir.js';

describe('the test run scratch directory', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('removes the directories of runs that are gone, and keeps live ones and everything else', () => {
    const base = mkdtempSync(join(tmpdir(), 'sweep-'));
    made.push(base);
    // A pid that has certainly exited: a child that ran and was reaped.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const gone = join(base, `km-test-run-${dead}-abc`);
    const live = join(base, `km-test-run-${process.pid}-def`);
    const other = join(base, 'km-test-run-notapid');
    const unrelated = join(base, `elsewhere-${dead}`);
    for (const d of [gone, live, other, unrelated]) {
      mkdirSync(d);
      writeFileSync(join(d, 'f'), 'x');
    }
    expect(sweepAbandoned(base)).toEqual([`km-test-run-${dead}-abc`]);
    expect(existsSync(gone)).toBe(false);
    expect([live, other, unrelated].every((d) => existsSync(d))).toBe(true);
  });

  it('points TMPDIR at a fresh directory and removes it, with what is in it, at the end', () => {
    const before = process.env.TMPDIR;
    const teardown = setup();
    const dir = process.env.TMPDIR!;
    try {
      expect(dir).not.toBe(before);
      expect(tmpdir()).toBe(dir);
      mkdirSync(join(dir, 'nested'));
      writeFileSync(join(dir, 'nested', 'f'), 'x');
    } finally {
      teardown();
    }
    expect(existsSync(dir)).toBe(false);
    expect(process.env.TMPDIR).toBe(before);
  });
});
