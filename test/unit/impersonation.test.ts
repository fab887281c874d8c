/** --as/--as-group on the plugin's own requests: headers on every request, kubectl's rules. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';

function config(): string {
  const f = join(mkdtempSync(join(tmpdir(), 'km-imp-')), 'config');
  writeFileSync(
    f,
    'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nusers:\n- name: u\n  user:\n    token: not-a-real-token\n',
  );
  return f;
}

async function headersOf(flags: Parameters<typeof loadKubeConfig>[0]): Promise<Record<string, string>> {
  const { kc } = loadKubeConfig({ kubeconfig: config(), ...flags }, {});
  const opts: { headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts as never);
  return opts.headers ?? {};
}

describe('impersonation', () => {
  it('--as and one --as-group become Impersonate-User and Impersonate-Group', async () => {
    const h = await headersOf({ as: 'alice', asGroups: ['ops'] });
    expect(h['Impersonate-User']).toBe('alice');
    expect(h['Impersonate-Group']).toBe('ops');
  });
  it('--as-group without --as, or several groups, is a usage error', () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as { exitCode: number }).exitCode;
      }
    };
    expect(code(() => loadKubeConfig({ kubeconfig: config(), asGroups: ['ops'] }, {}))).toBe(ExitCode.USAGE);
    expect(code(() => loadKubeConfig({ kubeconfig: config(), as: 'alice', asGroups: ['a', 'b'] }, {}))).toBe(ExitCode.USAGE);
  });
});
