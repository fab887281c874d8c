import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function release(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'release.mjs'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

describe('npm run release: a failure the user can act on is one line and its hint', () => {
  it('without rcodesign: says so and how to get it, before building anything, exit 3, no stack trace', () => {
    const out = mkdtempSync(join(tmpdir(), 'km-release-test-'));
    // RCODESIGN naming a missing program: no rcodesign, whatever this machine has.
    const r = release(['--only', 'darwin/amd64', '--out', out], { RCODESIGN: join(out, 'no-rcodesign') });
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'error: rcodesign is needed to sign the macOS executable, and none was found ($RCODESIGN, .testbed/bin/rcodesign or rcodesign on PATH)',
      'hint: build it with "KM_BUILD_RCODESIGN=1 bash scripts/cross-tools.sh" (about 8 min cold), or pass --unsigned-macos for a build that is not published',
    ]);
    expect(r.code).toBe(3);
    expect(readdirSync(out)).toEqual([]);
  });

  it('an unknown platform: names it and the known ones, exit 2, no stack trace', () => {
    const r = release(['--only', 'plan9/amd64']);
    expect(r.stderr.trimEnd().split('\n')).toEqual(['error: --only: unknown platform plan9/amd64', 'hint: known platforms: linux/amd64, linux/arm64, darwin/amd64, windows/amd64']);
    expect(r.code).toBe(2);
  });
});
