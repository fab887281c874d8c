// How helm is run as a child process: stdout on success, stderr in the error, a missing binary as
// a precondition error, and Ctrl-C (the abort signal) ending helm, by SIGKILL if it ignores SIGTERM.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { Helm, HELM_FORCE_KILL_MS } from '../../src/helm/helm.js';
import { processAlive } from '../support/process-alive.js';

const dir = mkdtempSync(join(tmpdir(), 'km-helm-spawn-'));
function fakeHelm(name: string, script: string): string {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${script}\n`);
  chmodSync(f, 0o755);
  return f;
}
const target = { namespace: 'ns1', kubeconfig: '/k/config', context: 'ctx1' };
async function pidFrom(file: string): Promise<number> {
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 200; i++) {
    const t = readFileSync(file, 'utf8').trim();
    if (t) return Number(t);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no pid in ${file}`);
}

describe('Helm.run', () => {
  it('passes the arguments as an array plus the kube settings, and returns stdout unchanged', async () => {
    const bin = fakeHelm('echo-args', 'for a in "$@"; do printf "[%s]\\n" "$a"; done');
    const out = await new Helm(target, { HELM_BIN: bin }).run(['get', 'values', 'my release; rm -rf /']);
    expect(out).toBe('[get]\n[values]\n[my release; rm -rf /]\n[--namespace]\n[ns1]\n[--kubeconfig]\n[/k/config]\n[--kube-context]\n[ctx1]\n');
    const bare = await new Helm(target, { HELM_BIN: bin }).run(['version'], { kube: false });
    expect(bare).toBe('[version]\n');
  });

  it('fails with the last lines of helm\'s stderr and exit code FAILED', async () => {
    const bin = fakeHelm('fails', 'echo "progress" >&2; echo "Error: UPGRADE FAILED: another operation is in progress" >&2; exit 1');
    const err = await new Helm(target, { HELM_BIN: bin }).run(['upgrade', 'r1']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe('helm upgrade failed: progress Error: UPGRADE FAILED: another operation is in progress');
    expect((err as CliError).exitCode).toBe(ExitCode.FAILED);
  });

  it('reports a missing helm as a precondition with a hint', async () => {
    const err = await new Helm(target, { HELM_BIN: join(dir, 'no-such-helm') }).run(['version']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toContain(`helm not found (looked for "${join(dir, 'no-such-helm')}")`);
    expect((err as CliError).exitCode).toBe(ExitCode.PRECONDITION);
  });

  it('ends helm on Ctrl-C with SIGTERM, and says it was interrupted', async () => {
    const pidFile = join(dir, 'term.pid');
    const bin = fakeHelm('sleeps', `echo $$ > ${pidFile}\nexec sleep 30`);
    const ac = new AbortController();
    const started = Date.now();
    const p = new Helm(target, { HELM_BIN: bin }, ac.signal).run(['upgrade', 'r1']).catch((e: unknown) => e);
    const pid = await pidFrom(pidFile);
    ac.abort(new Error('received SIGINT'));
    const err = await p;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((err as CliError).message).toMatch(/^helm upgrade failed: interrupted/);
    expect(processAlive(pid)).toBe(false);
  });

  it('kills helm with SIGKILL when it ignores SIGTERM', async () => {
    const pidFile = join(dir, 'kill.pid');
    // The ignored SIGTERM survives exec, so sleep itself ignores it.
    const bin = fakeHelm('ignores-term', `trap '' TERM\necho $$ > ${pidFile}\nexec sleep 60`);
    const ac = new AbortController();
    const p = new Helm(target, { HELM_BIN: bin }, ac.signal).run(['upgrade', 'r1']).catch((e: unknown) => e);
    const pid = await pidFrom(pidFile);
    const aborted = Date.now();
    ac.abort(new Error('received SIGINT'));
    const err = await p;
    expect(Date.now() - aborted).toBeGreaterThanOrEqual(HELM_FORCE_KILL_MS - 500);
    expect(Date.now() - aborted).toBeLessThan(HELM_FORCE_KILL_MS + 5_000);
    expect((err as CliError).message).toMatch(/^helm upgrade failed: interrupted/);
    expect(processAlive(pid)).toBe(false);
  });

  it('ends helm at the timeout', async () => {
    const bin = fakeHelm('slow', 'exec sleep 30');
    const err = await new Helm(target, { HELM_BIN: bin }).run(['status', 'r1'], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as CliError).message).toMatch(/^helm status failed: timed out after 300 ms/);
  });
});
