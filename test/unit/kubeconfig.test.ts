import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { CliError, ExitCode } from '../../src/errors.js';

function kubeconfig(opts: { current?: string; contexts: Array<{ name: string; cluster: string; ns?: string }>; clusters: Array<{ name: string; server: string }> }): string {
  const lines = ['apiVersion: v1', 'kind: Config', `current-context: "${opts.current ?? ''}"`, 'clusters:'];
  for (const c of opts.clusters) lines.push(`- name: ${c.name}`, '  cluster:', `    server: ${c.server}`);
  lines.push('contexts:');
  for (const c of opts.contexts) {
    lines.push(`- name: ${c.name}`, '  context:', `    cluster: ${c.cluster}`, '    user: u');
    if (c.ns) lines.push(`    namespace: ${c.ns}`);
  }
  lines.push('users:', '- name: u', '  user:', '    token: not-a-real-token');
  return lines.join('\n') + '\n';
}

function files() {
  const dir = mkdtempSync(join(tmpdir(), 'km-kc-'));
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(a, kubeconfig({ current: 'ctx-a', contexts: [{ name: 'ctx-a', cluster: 'c1', ns: 'team-a' }], clusters: [{ name: 'c1', server: 'https://a.example:6443' }] }));
  writeFileSync(
    b,
    kubeconfig({
      current: 'ctx-b',
      contexts: [{ name: 'ctx-b', cluster: 'c1' }, { name: 'ctx-a', cluster: 'c2', ns: 'other' }],
      clusters: [{ name: 'c1', server: 'https://b.example:6443' }, { name: 'c2', server: 'http://127.0.0.1:8001' }],
    }),
  );
  return { dir, a, b };
}

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof CliError ? e.exitCode : -1;
  }
  return undefined;
}

describe('loadKubeConfig follows kubectl', () => {
  it('merges KUBECONFIG files with the first value winning and skips missing files', () => {
    const { dir, a, b } = files();
    const env = { KUBECONFIG: [join(dir, 'missing.yaml'), a, b].join(delimiter), HOME: dir };
    const loaded = loadKubeConfig({}, env);
    expect(loaded.contextName).toBe('ctx-a'); // first current-context wins
    expect(loaded.kc.getCurrentCluster()?.server).toBe('https://a.example:6443'); // first cluster c1 wins
    expect(loaded.namespace).toBe('team-a'); // context namespace
  });

  it('takes --context, then -n over the context namespace, and defaults to "default"', () => {
    const { a, b, dir } = files();
    const env = { KUBECONFIG: [b, a].join(delimiter), HOME: dir };
    expect(loadKubeConfig({}, env).namespace).toBe('default'); // ctx-b has no namespace
    expect(loadKubeConfig({ context: 'ctx-a' }, env).namespace).toBe('other'); // ctx-a from b wins
    const explicit = loadKubeConfig({ context: 'ctx-a', namespace: 'x' }, env);
    expect(explicit.namespace).toBe('x');
    expect(explicit.namespaceExplicit).toBe(true);
  });

  it('lets plain-HTTP servers through without TLS settings', () => {
    const { a, b, dir } = files();
    const loaded = loadKubeConfig({ context: 'ctx-a' }, { KUBECONFIG: [b, a].join(delimiter), HOME: dir });
    expect(loaded.kc.getCurrentCluster()?.server).toBe('http://127.0.0.1:8001');
    expect(loaded.kc.getCurrentCluster()?.skipTLSVerify).toBe(true);
  });

  it('--kubeconfig overrides KUBECONFIG and must exist', () => {
    const { a, b, dir } = files();
    expect(loadKubeConfig({ kubeconfig: b }, { KUBECONFIG: a, HOME: dir }).contextName).toBe('ctx-b');
    expect(codeOf(() => loadKubeConfig({ kubeconfig: join(dir, 'nope') }, { HOME: dir }))).toBe(ExitCode.CONFIG);
  });

  it('fails with a config error for an unknown context, no context, or no configuration', () => {
    const { a, dir } = files();
    expect(codeOf(() => loadKubeConfig({ context: 'nope' }, { KUBECONFIG: a, HOME: dir }))).toBe(ExitCode.CONFIG);
    const noCurrent = join(dir, 'nocurrent.yaml');
    writeFileSync(noCurrent, kubeconfig({ contexts: [{ name: 'x', cluster: 'c1' }], clusters: [{ name: 'c1', server: 'https://x:1' }] }));
    expect(codeOf(() => loadKubeConfig({}, { KUBECONFIG: noCurrent, HOME: dir }))).toBe(ExitCode.CONFIG);
    expect(codeOf(() => loadKubeConfig({}, { HOME: join(dir, 'empty-home') }))).toBe(ExitCode.CONFIG);
  });
});
