import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/app.js';
import { ExitCode } from '../../src/errors.js';

async function run(args: string[], env: NodeJS.ProcessEnv = {}, host: 'kubectl' | 'helm' = 'kubectl') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await runCli(args, { stdout, stderr, stdin: Readable.from([]), env, interactive: false, host });
  return { code, out, err };
}

import { createServer } from 'node:net';

/** A loopback port with nothing listening: bound once, then closed. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function unreachableKubeconfig(port = 9): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-cli-'));
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: dead
clusters:
- name: dead
  cluster:
    server: https://127.0.0.1:${port}
    insecure-skip-tls-verify: true
contexts:
- name: dead
  context: {cluster: dead, user: u, namespace: ns1}
users:
- name: u
  user: {token: not-a-real-token}
`,
  );
  return file;
}

describe('runCli', () => {
  it('prints help on stdout and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('kubectl milvus <command> [flags]');
    const listed = r.out.split('\nCommands:\n')[1]!.split('\n\n')[0]!.split('\n').map((l) => l.trim().split(/\s+/)[0]);
    expect(listed).toEqual(['list', 'status', 'health', 'report', 'pvc-list', 'flush', 'pulsar-upgrade', 'meta-migrate', 'rolling-update', 'upgrade', 'backup', 'etcd-maintain', 'mq-switch', 'version', 'completion', 'options']);
    expect(r.err).toBe('');
  });

  it('prints each command\'s help like kubectl: description, examples, options, usage', async () => {
    for (const args of [['flush', '--help'], ['help', 'flush'], ['-n', 'x', 'flush', '-h']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Persist all data still in the message queue/);
      expect(r.out).toContain('Examples:\n  # Flush every collection of every database and verify\n  kubectl milvus flush my-release -n milvus\n');
      expect(r.out).toContain("    --timeout='30m':\n\tHow long to wait for the flush to be verified");
      expect(r.out).toContain('    --database=[]:\n');
      expect(r.out).toContain('Usage:\n  kubectl milvus flush RELEASE [options]\n');
      expect(r.out).not.toContain('--kubeconfig'); // global flags have their own page
    }
    const options = await run(['options']);
    expect(options.out).toContain("    -n, --namespace='':\n\tIf present, the namespace scope for this CLI request.\n");
    expect(options.out).toContain('    --no-color=false:\n');
  });

  it('words usage errors the way kubectl does, each with exit 2 and nothing else on stdout', async () => {
    const cases: Array<[string[], string]> = [
      [['flsh', 'r1'], 'error: unknown command "flsh" for "kubectl milvus"\nhint: did you mean "flush"?\n'],
      [['status', 'r1', '--bogus'], 'error: unknown flag: --bogus\nhint: see "kubectl milvus status --help"\n'],
      [['status', 'r1', '-n'], 'error: flag needs an argument: --namespace\nhint: see "kubectl milvus status --help"\n'],
      [['status'], 'error: a release name is required\nhint: see "kubectl milvus status --help"\n'],
      [['status', 'r1', 'r2'], 'error: unexpected argument "r2"\nhint: see "kubectl milvus status --help"\n'],
      [['flush', 'r1', '--via', 'ssh'], 'error: invalid argument "ssh" for "--via" flag: use port-forward or service-proxy\nhint: see "kubectl milvus flush --help"\n'],
      [['rolling-update', 'r1', '--dry-run=maybe'], 'error: invalid argument "maybe" for "--dry-run" flag: use true or false\nhint: see "kubectl milvus rolling-update --help"\n'],
      [['status', 'r1', '-v=loud'], 'error: invalid argument "loud" for "-v, --v" flag: use a number from 0 to 9\n'],
      [['completion'], 'error: the SHELL argument is required\nhint: see "kubectl milvus completion --help"\n'],
    ];
    for (const [args, err] of cases) {
      const r = await run(args);
      expect([args, r.code, r.err]).toEqual([args, ExitCode.USAGE, err]);
      expect(r.out).toBe('');
    }
  });

  it('uses "helm milvus" in helm mode', async () => {
    const r = await run(['--help'], { HELM_PLUGIN_NAME: 'milvus' }, 'helm');
    expect(r.out).toContain('helm milvus <command> [flags]');
  });

  it('rejects unknown commands and flags with a one-line usage error (exit 2)', async () => {
    for (const args of [['bogus'], ['status', 'r1', '--bogus'], []]) {
      const r = await run(args);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.err).toMatch(/^error: /);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('rejects an invalid release name before contacting any cluster', async () => {
    const r = await run(['status', 'My_Release'], { KUBECONFIG: '/nonexistent' });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toContain('invalid release name "My_Release"');
  });

  it('refuses flags that exclude each other, and bad durations, before contacting any cluster', async () => {
    for (const args of [
      ['pulsar-upgrade', 'r1', '--resume', '--restart'],
      ['meta-migrate', 'r1', '-s', '2.1.4', '-t', '2.2.0', '--restart', '--resume'],
      ['rolling-update', 'r1', '--target-version', '2.5.16', '--resume', '--restart'],
      ['upgrade', 'r1', '--to', '2.6.5', '--resume', '--restart'],
      ['backup', 'restore-meta', 'r1', '--from', 'f', '--resume', '--restart'],
    ]) {
      const r = await run(args, { KUBECONFIG: '/nonexistent' });
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(ExitCode.USAGE);
      expect(r.err).toMatch(/^error: --(resume and --restart|restart and --resume) exclude each other\n/);
    }
    // Given as false, a flag is not given.
    const declined = await run(['pulsar-upgrade', 'r1', '--resume=false', '--restart', '--timeout', '0s'], { KUBECONFIG: '/nonexistent' });
    expect(declined.code).toBe(ExitCode.USAGE);
    expect(declined.err).toContain('--timeout must be greater than 0');
  });

  it('rejects an output format the command does not support', async () => {
    const r = await run(['status', 'r1', '-o', 'name']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toContain('output format "name"');
  });

  it('reports a missing configuration with exit 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-home-'));
    const r = await run(['status', 'r1'], { HOME: dir });
    expect(r.code).toBe(ExitCode.CONFIG);
    expect(r.err).toBe('error: no configuration has been provided: set --kubeconfig or KUBECONFIG, or create ~/.kube/config\n');
  });

  it('reports an unknown context with exit 3', async () => {
    const r = await run(['pvc-list', 'r1', '--context', 'nope', '--kubeconfig', unreachableKubeconfig()]);
    expect(r.code).toBe(ExitCode.CONFIG);
    expect(r.err).toBe('error: context "nope" does not exist\n');
  });

  it('reports an unreachable cluster with exit 4 and one line', async () => {
    const port = await closedPort();
    const r = await run(['status', 'r1', '--kubeconfig', unreachableKubeconfig(port)]);
    expect(r.code).toBe(ExitCode.UNREACHABLE);
    expect(r.err).toContain(`error: unable to connect to the server at https://127.0.0.1:${port}: `);
    expect(r.err).toContain('ECONNREFUSED');
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('version --client works without any cluster', async () => {
    const r = await run(['version', '--client', '-o', 'json'], { HOME: '/nonexistent' });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { clientVersion: { version: string; nodeVersion: string } };
    expect(doc.clientVersion.version).toMatch(/^v\d+\.\d+\.\d+/);
    expect(doc.clientVersion.nodeVersion).toBe(process.version);
  });

  it('completes commands, flags and output formats in cobra format', async () => {
    const first = await run(['__complete', 'pvc']);
    expect(first.out.split('\n')).toEqual(['pvc-list\tList the Pulsar PVCs of a release and their PVs (with --all-components: every volume of the release)', ':4', '']);
    const flags = await run(['__complete', 'pvc-list', 'r1', '--all']);
    expect(flags.out).toBe('--all-components\n:4\n');
    const formats = await run(['__complete', 'status', 'r1', '-o', 'y']);
    expect(formats.out).toBe('yaml\n:4\n');
  });

  it('completion prints a script for each supported shell and refuses others', async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await run(['completion', shell]);
      expect(r.code).toBe(0);
      expect(r.out).toContain('kubectl-milvus __complete');
    }
    const bad = await run(['completion', 'tcsh']);
    expect(bad.code).toBe(ExitCode.USAGE);
  });
});
