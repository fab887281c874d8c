/**
 * Size benchmark: the linux/amd64 krew archive as `npm run release` makes it (scripts/release.mjs
 * --only linux/amd64, into a temporary directory), in MB (10^6 bytes). Target: <= 35.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function measureArchiveMb(): number {
  const root = join(import.meta.dirname, '..');
  const out = mkdtempSync(join(tmpdir(), 'km-bench-archive-'));
  try {
    execFileSync(
      process.execPath,
      [join(root, 'scripts/release.mjs'), '--only', 'linux/amd64', '--out', out, '--manifest-out', join(out, 'krew.yaml'), '--plugin-out', join(out, 'plugin.yaml')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    return statSync(join(out, `kubectl-milvus_${version}_linux_amd64.tar.gz`)).size / 1e6;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
