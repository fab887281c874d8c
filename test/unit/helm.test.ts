import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { Helm, helmFailureCode, helmTargetFrom, isReleaseNotFound } from '../../src/helm/helm.js';

/** A helm stand-in: records its arguments, answers `status` with the given stderr and exit code. */
function fakeHelm(status: { stdout?: string; stderr?: string; code: number }): { bin: string; args: () => string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'km-fakehelm-'));
  const log = join(dir, 'args.log');
  writeFileSync(join(dir, 'stdout'), status.stdout ?? '');
  writeFileSync(join(dir, 'stderr'), status.stderr ?? '');
  const bin = join(dir, 'helm');
  writeFileSync(
    bin,
    `#!/bin/sh\nprintf '%s\\037' "$@" >> '${log}'; printf '\\n' >> '${log}'\ncat '${dir}/stdout'; cat '${dir}/stderr' >&2\nexit ${status.code}\n`,
  );
  chmodSync(bin, 0o755);
  return {
    bin,
    args: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\x1f').filter((x) => x !== '')),
  };
}

describe('helm status: only "release: not found" means gone', () => {
  const cases: Array<[string, string, number | 'not-found']> = [
    ['not found', 'Error: release: not found', 'not-found'],
    ['unreachable API', 'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused', ExitCode.UNREACHABLE],
    ['RBAC', 'Error: query: failed to query with labels: secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "ns"', ExitCode.FORBIDDEN],
    ['expired exec token', 'Error: Kubernetes cluster unreachable: getting credentials: exec: executable aws failed with exit code 255', ExitCode.FORBIDDEN],
    ['impersonation refused', 'Error: query: failed to query with labels: users "alice" is forbidden: User "bob" cannot impersonate resource "users"', ExitCode.FORBIDDEN],
    ['server error', 'Error: query: failed to query with labels: the server is currently unable to handle the request', ExitCode.UNREACHABLE],
    ['a wait that ran out', 'Error: context deadline exceeded', ExitCode.TIMEOUT],
    ['something else', 'Error: unknown failure', ExitCode.FAILED],
  ];
  for (const [what, stderr, want] of cases) {
    it(`${what} -> ${want}`, async () => {
      const f = fakeHelm({ stderr, code: 1 });
      const helm = new Helm({ namespace: 'ns' }, { HELM_BIN: f.bin });
      if (want === 'not-found') {
        await expect(helm.releaseStatus('r')).resolves.toBe('not-found');
      } else {
        const err = await helm.releaseStatus('r').then(
          () => undefined,
          (e: unknown) => e as { exitCode: number; message: string },
        );
        expect(err?.exitCode).toBe(want);
        expect(err?.message).toContain('cannot read the state of Helm release "r"');
      }
    });
  }

  it('a deployed release is read from the JSON', async () => {
    const f = fakeHelm({ stdout: JSON.stringify({ version: 3, info: { status: 'failed' }, chart: { metadata: { version: '4.2.30', appVersion: '2.4.17' } } }), code: 0 });
    const helm = new Helm({ namespace: 'ns' }, { HELM_BIN: f.bin });
    expect(await helm.releaseStatus('r')).toEqual({ status: 'failed', version: 3, chartVersion: '4.2.30', appVersion: '2.4.17' });
  });

  it('classifies messages without reading "not found" of other objects as a missing release', () => {
    expect(isReleaseNotFound('Error: release: not found')).toBe(true);
    expect(isReleaseNotFound('Error: secrets "sh.helm.release.v1.r.v1" not found')).toBe(false);
    expect(helmFailureCode('Error: Unauthorized')).toBe(ExitCode.FORBIDDEN);
  });
});

describe('helm target: kubectl flags reach helm', () => {
  it('--as and --as-group become --kube-as-user and --kube-as-group; --kubeconfig only when given', async () => {
    const f = fakeHelm({ stdout: '{}', code: 0 });
    const target = helmTargetFrom({ as: 'alice', asGroups: ['ops', 'dba'] }, 'ctx1', 'ns');
    await new Helm(target, { HELM_BIN: f.bin }).run(['status', 'r', '-o', 'json']);
    expect(f.args()[0]).toEqual(['status', 'r', '-o', 'json', '--namespace', 'ns', '--kube-context', 'ctx1', '--kube-as-user', 'alice', '--kube-as-group', 'ops', '--kube-as-group', 'dba']);
  });

  it('a KUBECONFIG list is left to helm (which merges it like kubectl), not passed as one --kubeconfig path', async () => {
    const f = fakeHelm({ stdout: '{}', code: 0 });
    const target = helmTargetFrom({}, 'ctx1', 'ns');
    await new Helm(target, { HELM_BIN: f.bin, KUBECONFIG: '/a/one.yaml:/b/two.yaml' }).run(['list']);
    expect(f.args()[0]).not.toContain('--kubeconfig');
    const explicit = helmTargetFrom({ kubeconfig: '/x/config' }, undefined, 'ns');
    await new Helm(explicit, { HELM_BIN: f.bin }).run(['list']);
    expect(f.args()[1]).toEqual(['list', '--namespace', 'ns', '--kubeconfig', '/x/config']);
  });
});
