import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, KUBECONFIG, PLUGIN, ROOT, run } from './harness.js';

describe('the packaged executable', () => {
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

describe('release archives, krew manifest and helm plugin', () => {
  const out = mkdtempSync(join(tmpdir(), 'km-release-'));
  const manifestPath = join(out, 'krew-manifest.yaml');
  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/release.mjs'), '--manifest-out', manifestPath], { stdio: 'pipe' });
  });

  it('renders a krew Plugin manifest that follows krew\'s validation rules, with the real sha256 of this platform', () => {
    const m = yaml.load(readFileSync(manifestPath, 'utf8')) as any;
    expect(m.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
    expect(m.kind).toBe('Plugin');
    expect(m.metadata.name).toBe('milvus');
    expect(m.spec.version).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(m.spec.shortDescription.length).toBeLessThanOrEqual(50);
    const plats = m.spec.platforms.map((p: any) => `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`);
    expect(plats).toEqual(['linux/amd64', 'linux/arm64', 'darwin/amd64', 'darwin/arm64', 'windows/amd64']);
    for (const p of m.spec.platforms) {
      expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(p.uri).toMatch(/^https:\/\/.+\.tar\.gz$/);
      expect(p.bin).toBe(p.selector.matchLabels.os === 'windows' ? 'kubectl-milvus.exe' : 'kubectl-milvus');
    }
    const archive = join(ROOT, 'dist/release/kubectl-milvus_0.1.0_linux_amd64.tar.gz');
    const real = execFileSync('sha256sum', [archive]).toString().split(' ')[0];
    expect(m.spec.platforms[0].sha256).toBe(real);
    const listing = execFileSync('tar', ['-tzf', archive]).toString().trim().split('\n').sort();
    expect(listing).toEqual(['LICENSE', 'README.md', 'kubectl-milvus']);
    expect(statSync(archive).size).toBeGreaterThan(10 << 20);
  });

  // Runs where testbed/build.sh could build krew (KREW_SOURCE); the Go proxy refuses the module.
  it.skipIf(!existsSync(join(BIN, 'validate-krew-manifest')))('passes krew\'s own validate-krew-manifest and installs offline with krew install --manifest --archive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-krew-'));
    // krew wants the manifest file named after the plugin.
    const named = join(dir, 'milvus.yaml');
    copyFileSync(manifestPath, named);
    const env = { ...process.env, KREW_ROOT: join(dir, 'root') };
    const valid = await run(join(BIN, 'validate-krew-manifest'), ['-manifest', named, '-skip-install'], { env });
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stderr).toContain('structural validation OK');
    expect(valid.stderr).toContain('no overlapping spec.platform[].selector');
    const archive = join(ROOT, 'dist/release/kubectl-milvus_0.1.0_linux_amd64.tar.gz');
    const inst = await run(join(BIN, 'krew'), ['install', `--manifest=${named}`, `--archive=${archive}`], { env });
    expect(inst.code, inst.stderr).toBe(0);
    const v = await run('kubectl', ['milvus', 'version', '--client'], { env: { ...env, PATH: `${join(dir, 'root', 'bin')}:${process.env.PATH}` } });
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
    execFileSync('tar', ['-xzf', join(ROOT, 'dist/release/helm-milvus_0.1.0_linux_amd64.tar.gz'), '-C', src]);
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
  });
});
