// Ad-hoc code signing of the macOS executable on any host, with rcodesign (the Rust crate
// apple-codesign). Which rcodesign: $RCODESIGN, else .testbed/bin/rcodesign when its version
// stamp matches RCODESIGN_VERSION (scripts/cross-tools.sh builds it there), else `rcodesign` on PATH.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
export const RCODESIGN_VERSION = '0.29.0';
export const RCODESIGN_CACHE = join(root, '.testbed', 'bin', 'rcodesign');

function works(bin) {
  try {
    return execFileSync(bin, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().includes(`apple-codesign`);
  } catch {
    return false;
  }
}

/** The rcodesign to use, or undefined when there is none. */
export function rcodesign() {
  if (process.env.RCODESIGN) return works(process.env.RCODESIGN) ? process.env.RCODESIGN : undefined;
  const stamp = join(root, '.testbed', 'bin', '.rcodesign.version');
  if (existsSync(RCODESIGN_CACHE) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === RCODESIGN_VERSION && works(RCODESIGN_CACHE)) return RCODESIGN_CACHE;
  return works('rcodesign') ? 'rcodesign' : undefined;
}

/** Signs `file` in place ad hoc (no certificate, no hardened runtime: V8 needs its JIT); false without rcodesign. */
export function signAdHoc(file, log = () => {}) {
  const bin = rcodesign();
  if (!bin) {
    log(`rcodesign not found: ${file} stays unsigned`);
    return false;
  }
  execFileSync(bin, ['sign', '--binary-identifier', 'kubectl-milvus', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  return true;
}

/** rcodesign's own verification of the signature; throws with its output when it fails. */
export function verifySignature(file) {
  const bin = rcodesign();
  if (!bin) throw new Error('rcodesign not found');
  return execFileSync(bin, ['verify', file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}
