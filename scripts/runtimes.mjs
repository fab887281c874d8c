// Official Node binaries for the release targets, taken from the npm registry with `npm pack`
// (npm checks each tarball against the registry's integrity hash) and cached, extracted, under
// .testbed/runtimes/<package>-<version>/. The packages are platform-specific, so `npm ci` does
// not install them on another platform; this fetches them on demand.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
export const RUNTIME_CACHE = process.env.KM_RUNTIME_CACHE || join(root, '.testbed', 'runtimes');

/** Path of `bin/node` (`bin/node.exe` for Windows) of npm package `name@version`, fetched once. */
export function runtimeBinary(name, version, log = () => {}) {
  const dir = join(RUNTIME_CACHE, `${name}-${version}`);
  const exe = name.startsWith('node-win-') ? 'node.exe' : 'node';
  const bin = join(dir, 'bin', exe);
  if (existsSync(bin)) return bin;
  mkdirSync(RUNTIME_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(RUNTIME_CACHE, '.fetch-'));
  try {
    log(`fetching ${name}@${version} from the npm registry`);
    execFileSync('npm', ['pack', `${name}@${version}`, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${name}@${version} wrote no tarball`);
    execFileSync('tar', ['-xzf', join(tmp, tgz), '-C', tmp, `package/bin/${exe}`]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(bin)) throw new Error(`${name}@${version} has no bin/${exe}`);
  return bin;
}
