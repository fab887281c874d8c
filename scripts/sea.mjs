// Turns the bundled JavaScript into one target's single executable (Node SEA):
//   1. a Node of the target's exact version writes the SEA blob (for another platform with
//      useCodeCache and useSnapshot off: V8's caches are specific to the platform that made them);
//   2. the target's official Node binary is prepared: ELF stripped of its symbols and debug
//      information, Mach-O and PE with their vendor signatures removed (the injection would
//      break them), and its ICU data cut down to the root and English locales (icu.mjs);
//   3. postject injects the blob (into the segment NODE_SEA on macOS) and flips the fuse;
//   4. macOS: an ad-hoc signature (codesign.mjs), then checked.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signAdHoc } from './codesign.mjs';
import { trimIcu } from './icu.mjs';
import * as macho from './macho.mjs';
import * as pe from './pe.mjs';

const root = join(import.meta.dirname, '..');
/**
 * V8 flags the executable starts with (they must be set before the heap exists: set later, from
 * the script, they change nothing). A young generation of 2 MB semi-spaces instead of up to 32:
 * the lists of a fleet are short-lived garbage, collected early instead of piling up in RSS.
 */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=2'];
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function has(cmd) {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A strip that handles the target's ELF machine: binutils for x86-64, else llvm-strip or a cross binutils. */
function stripTool(arch) {
  const candidates = arch === 'amd64' ? ['strip', 'llvm-strip'] : ['llvm-strip', 'aarch64-linux-gnu-strip'];
  return candidates.find(has);
}

/**
 * Writes `out`, the executable for `target`.
 * @param {{ target: import('./targets.mjs').Target, runtime: string, blobNode: string, main: string,
 *   assets: Record<string, string>, codeCache: boolean, work: string, out: string,
 *   log: (m: string) => void, unsignedMacOk?: boolean }} o
 * @returns {{ stripped: boolean, signed: boolean }}
 */
export function makeExecutable(o) {
  const { target, log } = o;
  const name = `${target.os}-${target.arch}`;
  const seaConfig = join(o.work, `sea-config-${name}.json`);
  const blob = join(o.work, `sea-${name}.blob`);
  writeFileSync(
    seaConfig,
    JSON.stringify({ main: o.main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: o.codeCache, useSnapshot: false, assets: o.assets, execArgv: SEA_EXEC_ARGV }),
  );
  execFileSync(o.blobNode, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  let stripped = false;
  if (target.format === 'elf') {
    copyFileSync(o.runtime, o.out);
    const strip = stripTool(target.arch);
    if (strip) {
      execFileSync(strip, [o.out], { stdio: 'ignore' });
      stripped = true;
    } else {
      log(`${name}: no strip for ${target.arch} (install binutils or llvm): the executable keeps its debug symbols`);
    }
  }
  let bytes = target.format === 'elf' ? readFileSync(o.out) : (target.format === 'macho' ? macho : pe).removeSignature(readFileSync(o.runtime));
  const icu = trimIcu(bytes);
  log(`${name}: ICU data ${(icu.oldLength / 1e6).toFixed(1)} -> ${(icu.newLength / 1e6).toFixed(1)} MB (root and English locales kept)`);
  writeFileSync(o.out, bytes);
  bytes = undefined;
  chmodSync(o.out, 0o755);
  if (!readFileSync(o.out).includes(`${SEA_FUSE}:0`)) throw new Error(`${name}: the runtime has no unflipped SEA fuse`);

  // postject warns about unnamed ELF note sections of a stripped binary and about the removed
  // PE signature; both are expected.
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/postject/dist/cli.js'), o.out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, ...(target.format === 'macho' ? ['--macho-segment-name', 'NODE_SEA'] : [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );

  let signed = false;
  if (target.format === 'macho') {
    signed = signAdHoc(o.out, log);
    if (!signed && !o.unsignedMacOk) throw new Error(`${name}: rcodesign is needed to sign the macOS executable (bash scripts/cross-tools.sh builds it)`);
    const info = macho.inspect(readFileSync(o.out));
    if (signed && !(info.signature?.valid && info.signature.flags & macho.CS_ADHOC)) throw new Error(`${name}: the ad-hoc signature does not check out: ${info.signature?.problem ?? 'none found'}`);
  }
  return { stripped, signed };
}
