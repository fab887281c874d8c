/**
 * Helpers for the e2e suite: every test drives the packaged executable (dist/kubectl-milvus) and
 * real kubectl and helm against the test bed's real API server (node testbed/run.mjs ensure).
 * Child processes always get argument arrays, never shell strings.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, '.testbed', 'bin');
export const KUBECONFIG = join(ROOT, '.testbed', 'kubeconfig');
export const PLUGIN = join(ROOT, 'dist', 'kubectl-milvus');
export const CHART = join(ROOT, 'testbed', 'charts', 'milvus');

export function testbedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG,
    PATH: `${BIN}:${process.env.PATH ?? ''}`,
    HELM_CACHE_HOME: join(ROOT, '.testbed', 'helm', 'cache'),
    HELM_CONFIG_HOME: join(ROOT, '.testbed', 'helm', 'config'),
    HELM_DATA_HOME: join(ROOT, '.testbed', 'helm', 'data'),
    NO_COLOR: '1',
    ...extra,
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function assertTestbed(): void {
  if (!existsSync(KUBECONFIG)) throw new Error('the test bed is not up: run "node testbed/run.mjs ensure"');
  if (!existsSync(PLUGIN)) throw new Error('dist/kubectl-milvus is missing: run "npm run build"');
}

export async function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? testbedEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs the packaged plugin as kubectl would (argv[0] named kubectl-milvus). */
export function runPlugin(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(PLUGIN, args, { ...opts, env: testbedEnv(opts.env), timeoutMs: opts.timeoutMs ?? 240_000 });
}

export async function kubectl(args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await run('kubectl', args, { input: opts.input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function kubectlJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export async function helm(args: string[]): Promise<string> {
  const { stdout } = await execFileP(join(BIN, 'helm'), args, { env: testbedEnv(), maxBuffer: 32 << 20 });
  return stdout;
}

/** A fresh namespace for one test; delete it with deleteNamespace. */
export async function newNamespace(prefix = 'e2e'): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', ns]);
  return ns;
}

export async function deleteNamespace(ns: string): Promise<void> {
  await run('kubectl', ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
}

/** helm install of the test chart, waiting until every workload is ready. */
export async function installHelmRelease(ns: string, name: string, set: Record<string, string | number | boolean> = {}, chart = CHART): Promise<void> {
  const sets = Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  await helm(['install', name, chart, '-n', ns, '--wait', '--timeout', '3m', ...sets]);
}

/** Routes port 9091 of every pod in the namespace (KWOK port-forward rule) to 127.0.0.1:port. */
export async function forwardNamespaceTo(ns: string, port: number, podPort = 9091): Promise<void> {
  const manifest = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterPortForward',
    metadata: { name: `ns-${ns}-${podPort}` },
    spec: { selector: { matchNamespaces: [ns] }, forwards: [{ ports: [podPort], target: { port, address: '127.0.0.1' } }] },
  };
  // KWOK keeps the target of an existing rule when it is updated: replace the rule instead.
  await removeForward(ns, podPort);
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
}

export async function removeForward(ns: string, podPort = 9091): Promise<void> {
  await run('kubectl', ['delete', 'clusterportforward', `ns-${ns}-${podPort}`, '--ignore-not-found']);
}

export interface ObjectRef {
  kind: string;
  name: string;
  resourceVersion: string;
  generation?: number;
}

/** Every namespaced object the plugin could touch, with its resourceVersion, for before/after comparisons. */
export async function snapshotObjects(ns: string): Promise<ObjectRef[]> {
  const kinds = 'deployments,statefulsets,services,configmaps,secrets,persistentvolumeclaims,pods,milvuses.milvus.io,milvusupgrades.milvus.io';
  const list = await kubectlJson<{ items: Array<{ kind: string; metadata: { name: string; resourceVersion: string; generation?: number } }> }>([
    'get', kinds, '-n', ns,
  ]);
  return list.items
    .map((o) => ({ kind: o.kind, name: o.metadata.name, resourceVersion: o.metadata.resourceVersion, generation: o.metadata.generation }))
    .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

/** A kubeconfig for a ServiceAccount of the namespace (token auth), optionally with its own default namespace. */
export async function serviceAccountKubeconfig(ns: string, sa: string, opts: { namespace?: string; exec?: boolean } = {}): Promise<string> {
  await kubectl(['create', 'serviceaccount', sa, '-n', ns]);
  const token = (await kubectl(['create', 'token', sa, '-n', ns, '--duration', '1h'])).trim();
  const admin = readFileSync(KUBECONFIG, 'utf8');
  const server = /server: (\S+)/.exec(admin)![1]!;
  const dir = mkdtempSync(join(tmpdir(), 'km-sa-'));
  let user: string;
  if (opts.exec) {
    // An exec credential plugin, as cloud providers use, returning the token.
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const plugin = join(dir, 'credential-plugin');
    writeFileSync(
      plugin,
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat ${tokenFile})"\n`,
      { mode: 0o700 },
    );
    user = `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      interactiveMode: Never\n`;
  } else {
    user = `    token: ${token}\n`;
  }
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: sa
clusters:
- name: testbed
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
contexts:
- name: sa
  context:
    cluster: testbed
    user: sa
${opts.namespace ? `    namespace: ${opts.namespace}\n` : ''}users:
- name: sa
  user:
${user}`,
    { mode: 0o600 },
  );
  return file;
}

/** A milvus.io/v1beta1 Milvus reconciled by the test bed's operator simulator; waits until Healthy. */
export async function createOperatorMilvus(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const manifest = { apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', metadata: { name, namespace: ns }, spec };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
  await waitForMilvusStatus(ns, name, 'Healthy');
}

export async function waitForMilvusStatus(ns: string, name: string, status: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run('kubectl', ['get', 'milvus', name, '-n', ns, '-o', 'jsonpath={.status.status}']);
    if (r.code === 0 && r.stdout === status) return;
    if (Date.now() > deadline) throw new Error(`milvus ${ns}/${name} did not reach ${status} (last: ${r.stdout || r.stderr})`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
