/** Completion of --context values from the kubeconfig: one name, or the last of a comma list (list, health). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { completionSource } from '../../src/cli/app.js';
import { complete } from '../../src/completion/complete.js';

function kubeconfigEnv(current: string | undefined): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'km-comp-'));
  const file = join(dir, 'config');
  const ctx = (n: string) => `- name: ${n}\n  context:\n    cluster: c\n    user: u\n`;
  writeFileSync(file, `apiVersion: v1\nkind: Config\n${current ? `current-context: ${current}\n` : ''}clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n${['prod-eu', 'prod-us', 'staging'].map(ctx).join('')}users:\n- name: u\n  user:\n    token: t\n`);
  return { KUBECONFIG: file, HOME: dir };
}

const noCluster = () => {
  throw new Error('completion of contexts must not connect');
};

describe('--context completion', () => {
  it('offers the contexts of the kubeconfig that match', async () => {
    expect(await complete(['list', '--context', 'prod'], completionSource(), kubeconfigEnv('staging'), noCluster)).toEqual(['prod-eu', 'prod-us', ':4']);
  });
  it('completes the last name of a comma list, without the names already given', async () => {
    expect(await complete(['list', '-A', '--context', 'prod-eu,'], completionSource(), kubeconfigEnv('staging'), noCluster)).toEqual(['prod-eu,prod-us', 'prod-eu,staging', ':4']);
    expect(await complete(['health', '--context', 'prod-eu,st'], completionSource(), kubeconfigEnv('staging'), noCluster)).toEqual(['prod-eu,staging', ':4']);
  });
  it('--context=VALUE, and a kubeconfig without a current context', async () => {
    expect(await complete(['list', '--context=prod-u'], completionSource(), kubeconfigEnv(undefined), noCluster)).toEqual(['--context=prod-us', ':4']);
  });
  it('list and health offer the fleet flags', async () => {
    const flags = await complete(['list', '--'], completionSource(), kubeconfigEnv('staging'), noCluster);
    expect(flags).toEqual(expect.arrayContaining(['--all-namespaces', '--all-contexts', '--max-parallel']));
  });
});
