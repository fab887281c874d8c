/**
 * `list` and `health` without a release through runCli, against API fixtures under several
 * kubeconfig contexts: a CONTEXT column and `context` in JSON with several contexts, a context
 * that hangs or is forbidden to list across namespaces named on stderr and in `errors` while the
 * others print, exit codes, bad input, bounded parallelism.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/app.js';
import { ExitCode } from '../../src/errors.js';
import { fleetStore, startFleetFixture, type Overlap, type RunningFixture } from './fleet-fixture.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await runCli(args, { stdout, stderr, stdin: Readable.from([]), env, interactive: false, host: 'kubectl', now: () => new Date('2026-12-01T00:00:00Z') });
  return { code, out, err };
}

async function fixture(...a: Parameters<typeof startFleetFixture>): Promise<RunningFixture> {
  const f = await startFleetFixture(...a);
  closers.push(() => f.close());
  return f;
}

/** An API server that accepts connections and never answers (a hung or black-holed cluster). */
async function hungServer(): Promise<string> {
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
}

function kubeconfig(contexts: Record<string, { server: string; namespace?: string }>, current: string): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'km-fleet-'));
  const file = join(dir, 'config');
  const names = Object.keys(contexts);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: ${current}
clusters:
${names.map((n) => `- name: ${n}\n  cluster:\n    server: ${contexts[n]!.server}\n`).join('')}contexts:
${names.map((n) => `- name: ${n}\n  context:\n    cluster: ${n}\n    user: u\n${contexts[n]!.namespace ? `    namespace: ${contexts[n]!.namespace}\n` : ''}`).join('')}users:
- name: u
  user:
    token: t
`,
  );
  return { KUBECONFIG: file, HOME: dir };
}

describe('list across namespaces and contexts', () => {
  it('one context, -A: a row per release, no CONTEXT column, what the pods run', async () => {
    const a = await fixture(fleetStore({ namespaces: 2, perNamespace: 2, pods: (i) => (i === 1 ? { template: '2.4.6', pods: ['2.4.5', '2.4.6'] } : { template: '2.4.5', pods: ['2.4.5'] }) }));
    const r = await run(['list', '-A'], kubeconfig({ a: { server: a.url } }, 'a'));
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+METHOD\s+MODE\s+VERSION\s+MQ\s+READY\s+NEXT\s+AGE$/);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^team-0\s+h0\s+milvus-4\.2\.30\s+standalone\s+2\.4\.5\s+rocksmq\s+1\/1\s+.*\s+30d$/);
    expect(lines.find((l) => /\so1\s/.test(l))).toMatch(/operator\s+cluster\s+mixed \(2\.4\.5, 2\.4\.6\)\s+pulsar-v2\s+\d\/2\s+finish the update/);
  });

  it('three contexts, one hanging: the two others print with a CONTEXT column, the hung one is named; exit 4', async () => {
    const a = await fixture(fleetStore({ namespaces: 1, perNamespace: 2 }));
    const b = await fixture(fleetStore({ namespaces: 1, perNamespace: 1 }));
    const env = kubeconfig({ a: { server: a.url }, b: { server: b.url }, hung: { server: await hungServer() } }, 'a');
    const r = await run(['list', '-A', '--context', 'a,hung,b', '--request-timeout', '2s'], env);
    expect(r.code).toBe(ExitCode.UNREACHABLE);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTEXT\s+NAMESPACE\s+NAME\s+METHOD/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual(['a team-0 h0', 'a team-0 o1', 'b team-0 h0']);
    expect(r.err).toMatch(/^error: context "hung": the server did not answer within --request-timeout/m);
    expect(r.err).toMatch(/1 of 3 context\(s\) could not be read: hung/);
  });

  it('-o json: items carry their context, the failed context is in errors', async () => {
    const a = await fixture(fleetStore({ namespaces: 1, perNamespace: 1 }));
    const env = kubeconfig({ a: { server: a.url }, hung: { server: await hungServer() } }, 'a');
    const r = await run(['list', '-A', '--all-contexts', '--request-timeout', '2s', '-o', 'json'], env);
    expect(r.code).toBe(ExitCode.UNREACHABLE);
    const doc = JSON.parse(r.out);
    expect(doc.kind).toBe('ReleaseList');
    expect(doc.items).toMatchObject([{ context: 'a', namespace: 'team-0', name: 'h0', method: 'helm', mode: 'standalone', version: '2.4.5', mq: 'rocksmq', ready: '1/1' }]);
    expect(doc.errors).toMatchObject([{ context: 'hung', exitCode: ExitCode.UNREACHABLE }]);
  });

  it('no leave to list across namespaces: the context\'s namespace, a warning, exit 5', async () => {
    const a = await fixture(fleetStore({ namespaces: 3, perNamespace: 1 }), { forbid: (q) => q.namespace === undefined });
    const r = await run(['list', '-A'], kubeconfig({ a: { server: a.url, namespace: 'team-1' } }, 'a'));
    expect(r.code).toBe(ExitCode.FORBIDDEN);
    expect(r.out.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['team-1 o1']);
    expect(r.err).toMatch(/Warning: cannot list across namespaces in context "a" .*showing namespace "team-1" only/);
    // Without -A the namespace is all that is asked: no warning, exit 0.
    const plain = await run(['list'], kubeconfig({ a: { server: a.url, namespace: 'team-1' } }, 'a'));
    expect(plain.code, plain.err).toBe(0);
    expect(plain.err).toBe('');
  });

  it('contexts are read at most --max-parallel at a time', async () => {
    for (const [max, overlaps] of [['1', false], ['2', true]] as const) {
      const overlap: Overlap = { active: new Map(), overlapped: false };
      const a = await fixture(fleetStore({ namespaces: 1, perNamespace: 1 }), { overlap, name: 'a', delayMs: 40 });
      const b = await fixture(fleetStore({ namespaces: 1, perNamespace: 1 }), { overlap, name: 'b', delayMs: 40 });
      const r = await run(['list', '-A', '--context', 'a,b', '--max-parallel', max], kubeconfig({ a: { server: a.url }, b: { server: b.url } }, 'a'));
      expect(r.code, r.err).toBe(0);
      expect(overlap.overlapped).toBe(overlaps);
    }
  });

  it('-o name and -o wide', async () => {
    const a = await fixture(fleetStore({ namespaces: 1, perNamespace: 2 }));
    const env = kubeconfig({ a: { server: a.url } }, 'a');
    expect((await run(['list', '-A', '-o', 'name'], env)).out).toBe('release/h0\nrelease/o1\n');
    const wide = await run(['list', '-A', '-o', 'wide'], env);
    expect(wide.out.split('\n')[0]).toMatch(/AGE\s+TOPOLOGY\s+IMAGE$/);
    expect(wide.out).toMatch(/proxy:1,querynode:1\s+milvusdb\/milvus:v2\.4\.5$/m);
  });
});

describe('bad input: one line, a distinct exit code, nothing read', () => {
  it.each([
    [['list', '-A', '-n', 'x'], ExitCode.USAGE, /^error: -A\/--all-namespaces and -n\/--namespace exclude each other$/m],
    [['list', '--all-contexts', '--context', 'a'], ExitCode.USAGE, /^error: --all-contexts and --context exclude each other$/m],
    [['list', '--max-parallel', '0'], ExitCode.USAGE, /^error: invalid argument "0" for "--max-parallel" flag/m],
    [['list', '--context', 'a,nope'], ExitCode.CONFIG, /^error: context "nope" does not exist$/m],
    [['health', 'r', '-A'], ExitCode.USAGE, /^error: a RELEASE is checked in one namespace of one context/m],
  ])('%j', async (args, code, message) => {
    const a = await fixture(fleetStore({ namespaces: 1, perNamespace: 1 }));
    const r = await run(args, kubeconfig({ a: { server: a.url } }, 'a'));
    expect(r.code).toBe(code);
    expect(r.err).toMatch(message);
    expect(r.err.trimEnd().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(a.requests).toEqual([]);
  });
});

describe('health without a release: every release, a line each', () => {
  it('-A over two contexts: a line per release with its worst check, exit 12 when one is critical; -o json has every check', async () => {
    const a = await fixture(fleetStore({ namespaces: 1, perNamespace: 2, notReady: (i) => i === 0 }));
    const b = await fixture(fleetStore({ namespaces: 1, perNamespace: 1 }));
    const env = kubeconfig({ a: { server: a.url }, b: { server: b.url } }, 'a');
    const r = await run(['health', '-A', '--context', 'a,b'], env);
    expect(r.code, r.err).toBe(ExitCode.UNHEALTHY);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTEXT\s+NAMESPACE\s+NAME\s+STATUS\s+OK\s+WARNING\s+CRITICAL\s+WORST$/);
    expect(lines.find((l) => l.startsWith('a ') && /\sh0\s/.test(l))).toMatch(/critical\s+\d+\s+\d+\s+[1-9]\d*\s+components: not ready: standalone 0\/1/);
    expect(lines.find((l) => l.startsWith('b '))).toMatch(/\sh0\s+(ok|warning)\s/);
    expect(lines.at(-1)).toMatch(/^3 release\(s\): \d+ ok, \d+ warning, 1 critical$/);
    expect(r.err).toMatch(/^error: 1 release\(s\) critical: a\/team-0\/h0$/m);
    const json = await run(['health', '-A', '--context', 'a,b', '-o', 'json'], env);
    const doc = JSON.parse(json.out);
    expect(doc).toMatchObject({ kind: 'HealthList', status: 'critical', summary: { critical: 1 } });
    expect(doc.items).toHaveLength(3);
    const h0 = doc.items.find((i: { context: string; release: string }) => i.context === 'a' && i.release === 'h0');
    expect(h0.checks.map((c: { check: string }) => c.check)).toEqual(expect.arrayContaining(['components', 'versions', 'sessions', 'volumes']));
  });
});
