/**
 * vitest globalSetup: one temporary directory for the whole test run, removed at its end.
 *
 * Tests, the plugin they run and the tools it spawns make their scratch directories with
 * os.tmpdir(); TMPDIR points that here for every worker and child. A run used to leave about
 * 3 GB behind (etcd data, release builds, a wine prefix), which fills a shared disk within a few
 * runs. A run that was killed leaves its directory; the next run removes it once its owner (the
 * pid in the name) is gone.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from './process-alive.js';

const PREFIX = 'km-test-run-';

/** Removes the run directories under `base` whose owning process has exited. */
export function sweepAbandoned(base: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(base)) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    rmSync(join(base, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const base = tmpdir();
  sweepAbandoned(base);
  const dir = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
