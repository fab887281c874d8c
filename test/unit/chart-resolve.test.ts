/**
 * A chart helm cannot resolve is bad input: one error line with exit 7 and the way out (helm repo
 * add, --chart), found before any plan is printed and before anything changes, for every command
 * that upgrades with a chart: `upgrade` (through runCli against an API fixture and a helm that
 * knows no such repository; every hop's chart, not only the first's), `mq-switch` (before the WAL
 * is switched) and `pulsar-upgrade`.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/app.js';
import { CliError, ExitCode } from '../../src/errors.js';
import { HelmCommandError, type Helm } from '../../src/helm/helm.js';
import { mqSwitchProcedure, type MqSwitchDeps } from '../../src/mq-switch/procedure.js';
import { memoryCheckpointStore } from '../../src/procedure/checkpoint-store.js';
import { runProcedure, type ProcedureDefinition } from '../../src/procedure/engine.js';
import { memoryLock } from '../../src/procedure/lease.js';
import { checkTargetChart } from '../../src/pulsar-upgrade/helm-procedure.js';
import { helmRollingUpdate } from '../../src/rolling-update/helm-procedure.js';
import { validateFlags } from '../../src/rolling-update/preflight.js';
import type { Release } from '../../src/release/types.js';
import { fleetStore, startFleetFixture, type RunningFixture } from './fleet-fixture.js';
import { fixtureRelease } from './release-fixture.js';
import { testContext } from './test-context.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const dir = mkdtempSync(join(tmpdir(), 'km-chart-resolve-'));

/**
 * A helm whose repositories know chart `milvus` only at the versions given (`helm show chart`),
 * as helm 3.17 answers: "Error: repo X not found" for a repository never added, "Error: chart
 * "milvus" version "V" not found in X repository" for a version it lacks. Its `template` renders a
 * standalone Deployment; anything else it is asked is printed to `calls` and fails.
 */
function fakeHelm(name: string, versions: string[]): { env: NodeJS.ProcessEnv; calls: string } {
  const bin = join(dir, name);
  const calls = join(dir, `${name}.calls`);
  writeFileSync(calls, '');
  const known = versions.map((v) => `"${v}") printf 'apiVersion: v2\\nname: milvus\\nversion: ${v}\\n'; exit 0;;`).join('\n      ');
  writeFileSync(
    bin,
    `#!/bin/sh
echo "$*" >> ${calls}
case "$1 $2" in
  "version --template") printf 'v3.17.4'; exit 0;;
  "get values") printf 'cluster:\\n  enabled: false\\n'; exit 0;;
  "template "*) printf 'kind: Deployment\\nmetadata:\\n  name: h0-milvus-standalone\\n  labels:\\n    component: standalone\\n'; exit 0;;
  "show chart")
    case "$3" in zilliztech/milvus) ;; *) echo "Error: repo \${3%%/*} not found" >&2; exit 1;; esac
    ver=""; if [ "$4" = "--version" ]; then ver="$5"; fi
    case "$ver" in
      ${known}
    esac
    echo "Error: chart \\"milvus\\" version \\"$ver\\" not found in https://zilliztech.github.io/milvus-helm repository" >&2; exit 1;;
esac
echo "unexpected: $*" >&2
exit 1
`,
  );
  chmodSync(bin, 0o755);
  return { env: { HELM_BIN: bin }, calls };
}

function kubeconfig(server: string): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'km-chart-kc-'));
  const file = join(home, 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster:
    server: ${server}
contexts:
- name: a
  context:
    cluster: a
    user: u
    namespace: team-0
users:
- name: u
  user:
    token: t
`,
  );
  return { KUBECONFIG: file, HOME: home };
}

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await runCli(args, { stdout, stderr, stdin: Readable.from([]), env, interactive: false, host: 'kubectl', now: () => new Date('2026-12-01T00:00:00Z') });
  return { code, out, err };
}

/** The fleet fixture's first release: h0 in team-0, Helm standalone on RocksMQ, Milvus 2.4.5, chart 4.2.30. */
async function fleet(): Promise<RunningFixture> {
  const f = await startFleetFixture(fleetStore({ namespaces: 1, perNamespace: 1 }));
  closers.push(() => f.close());
  return f;
}

describe('upgrade --dry-run with a chart helm cannot resolve', () => {
  it('a repository never added: one error line with exit 7 and the helm repo add hint, no plan printed', async () => {
    const f = await fleet();
    const helm = fakeHelm('no-repo', ['4.2.30']);
    const r = await cli(['upgrade', 'h0', '--to', '2.4.9', '--chart', 'no-such-repo/milvus', '--dry-run'], { ...kubeconfig(f.url), ...helm.env });
    expect(r.code, r.err).toBe(ExitCode.PRECONDITION);
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).toBe('error: helm cannot resolve the chart no-such-repo/milvus 4.2.30: Error: repo no-such-repo not found');
    expect(lines.slice(1).every((l) => l.startsWith('hint: ') || !l.startsWith('error')), r.err).toBe(true);
    expect(r.err).toContain('helm repo add no-such-repo <its URL>');
    expect(r.err).not.toContain('Upgrade of "h0"');
    expect(r.err).not.toMatch(/HOP\s+FROM\s+TO/);
    expect(r.err).not.toContain('Plan for "upgrade"');
    expect(r.out).toBe('');
  });

  it('the chart of a later hop: refused before the plan too (the first hop\'s chart resolves)', async () => {
    const f = await fleet();
    // 2.4.5 -> 2.5.16 on chart 4.2.58, then -> 2.6.5 on chart 5.0.22, which this helm lacks.
    const helm = fakeHelm('later-hop', ['4.2.58']);
    const r = await cli(['upgrade', 'h0', '--to', '2.6.5', '--dry-run'], { ...kubeconfig(f.url), ...helm.env });
    expect(r.code, r.err).toBe(ExitCode.PRECONDITION);
    expect(r.err.split('\n')[0]).toBe('error: helm cannot resolve the chart zilliztech/milvus 5.0.22: Error: chart "milvus" version "5.0.22" not found in https://zilliztech.github.io/milvus-helm repository');
    expect(r.err).not.toMatch(/HOP\s+FROM\s+TO/);
    expect(r.err).not.toContain('Plan for "upgrade"');
  });

  it('charts that resolve: the table of hops, then the plan', async () => {
    const f = await fleet();
    const helm = fakeHelm('resolves', ['4.2.58', '5.0.22']);
    const r = await cli(['upgrade', 'h0', '--to', '2.6.5', '--dry-run'], { ...kubeconfig(f.url), ...helm.env });
    expect(r.code, r.err).toBe(0);
    expect(r.err.indexOf('Upgrade of "h0"')).toBeGreaterThanOrEqual(0);
    expect(r.err.indexOf('Upgrade of "h0"')).toBeLessThan(r.err.indexOf('Plan for "upgrade"'));
    expect(r.err).toContain('Dry run: nothing was changed.');
  });
});

/** helm as mq-switch and pulsar-upgrade see it: `show chart` fails as helm does for a repository never added. */
function helmWithoutRepo(): Helm & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    requireVersion: async () => '3.17.4',
    revisions: async () => ({ latest: { revision: 1, status: 'deployed' }, deployed: 1 }),
    releaseStatus: async () => 'not-found',
    run: async (args: string[]) => {
      asked.push(args);
      if (args[0] === 'show') throw new HelmCommandError('helm show failed: Error: repo nowhere not found', ExitCode.FAILED, 'Error: repo nowhere not found');
      return '';
    },
  } as unknown as Helm & { asked: string[][] };
}

describe('mq-switch with a chart helm cannot resolve', () => {
  const release = (): Release =>
    fixtureRelease([{ component: 'standalone', template: '3.0.2' }], {
      mode: 'standalone',
      mq: 'rocksmq',
      helm: { revision: 1, status: 'deployed', chartName: 'milvus', chartVersion: '4.2.30', appVersion: '2.4.5', secretName: 's', fullname: 'r-milvus', userValues: {}, computedValues: { cluster: { enabled: false }, pulsar: { enabled: false }, woodpecker: { enabled: false } } },
    });
  const deps = (calls: string[]): MqSwitchDeps => ({
    discover: async () => release(),
    readMqType: async () => ({ value: undefined, rootPath: 'by-dev', from: 'the chart default' }),
    alter: async () => {
      calls.push('alter');
      return { kind: 'accepted', pod: 'r-milvus-standalone-0', message: 'OK' };
    },
    probe: { baseline: async (ctx) => ({ takenAt: ctx.now().toISOString(), loaded: [] }), verify: async () => ({ ok: true, problems: [] }) },
    cleanupTargets: async () => [],
    storage: async () => ({ mode: 'embedded', detail: "the release's MinIO deployment/r-minio 1/1" }),
    annotateQueue: async () => void calls.push('annotate'),
  });

  it('is refused by the preflight (exit 7, the hint), before the plan and before the WAL is switched', async () => {
    const { ctx } = testContext();
    const helm = helmWithoutRepo();
    const calls: string[] = [];
    const def = mqSwitchProcedure(ctx, { release: 'r', namespace: 'ns', cleanup: true, chart: 'nowhere/milvus', chartVersion: undefined, backupDir: '/tmp/x', timeoutMs: 1000, flushTimeoutMs: 1000, confirmTimeoutMs: 1000, databases: [] }, helm, deps(calls));
    const e = await def.preflight(structuredClone(def.initialState), new Set()).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.PRECONDITION);
    expect((e as CliError).message).toBe('helm cannot resolve the chart nowhere/milvus 4.2.30: Error: repo nowhere not found');
    expect((e as CliError).hint).toContain('helm repo add nowhere <its URL>');
    expect(helm.asked).toContainEqual(['show', 'chart', 'nowhere/milvus', '--version', '4.2.30']);
    expect(calls).toEqual([]);
  });

  it('the install and the cleanup are done: no chart is needed, none is asked for', async () => {
    const { ctx } = testContext();
    const helm = helmWithoutRepo();
    const def = mqSwitchProcedure(ctx, { release: 'r', namespace: 'ns', cleanup: true, chart: 'nowhere/milvus', chartVersion: undefined, backupDir: '/tmp/x', timeoutMs: 1000, flushTimeoutMs: 1000, confirmTimeoutMs: 1000, databases: [] }, helm, deps([]));
    const state = { ...structuredClone(def.initialState), alterBegunAt: '2026-12-01T00:00:00.000Z' };
    await def.preflight(state, new Set(['flush', 'wal-alter', 'confirm-mq-type', 'streaming', 'install', 'verify', 'cleanup-flush', 'delete-old-queue']));
    expect(helm.asked.filter((a) => a[0] === 'show')).toEqual([]);
  });
});

describe('pulsar-upgrade with a chart helm cannot resolve', () => {
  it('exit 7 with the hint, not a failed operation', async () => {
    const e = await checkTargetChart(helmWithoutRepo(), 'nowhere/milvus', '4.2.30').then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.PRECONDITION);
    expect((e as CliError).message).toBe('helm cannot resolve the chart nowhere/milvus 4.2.30: Error: repo nowhere not found');
    expect((e as CliError).hint).toContain('nothing was changed');
  });
});

describe('rolling-update --via-helm with a chart helm cannot resolve', () => {
  const r = () => fixtureRelease([{ component: 'mixcoord', template: '2.4.5' }, { component: 'proxy', template: '2.4.5' }]);
  const def = (helm: Helm) =>
    helmRollingUpdate(testContext().ctx, r(), {
      flags: validateFlags({ image: 'milvusdb/milvus:v2.4.6', targetVersion: undefined, sourceVersion: undefined, mode: 'rolling' }),
      timeoutMs: 1000,
      coordinatorMinReadySeconds: 0,
      backupDir: '/tmp/x',
      viaHelm: { helm, chart: 'nowhere/milvus', chartVersion: undefined },
    });

  it('is refused by the preflight: exit 7, the release\'s chart version named, the hint', async () => {
    const d = def(helmWithoutRepo());
    const e = await d.preflight(d.initialState, new Set()).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.PRECONDITION);
    expect((e as CliError).message).toBe('helm cannot resolve the chart nowhere/milvus 4.2.30: Error: repo nowhere not found');
  });
  it('once the helm upgrade is done, a resume needs no chart', async () => {
    const helm = helmWithoutRepo();
    const d = def(helm);
    await d.preflight(d.initialState, new Set(['helm-upgrade']));
    expect(helm.asked).toEqual([]);
  });
});

describe('the engine prints nothing before the preflight passed', () => {
  const def = (preflight: () => Promise<void>): ProcedureDefinition<{ n: number }> => ({
    name: 'proc',
    release: 'rel',
    namespace: 'ns',
    params: {},
    initialState: { n: 0 },
    warning: 'stop every writer first',
    intro: 'TABLE OF HOPS',
    steps: [{ id: 'change', title: 'change it', destructive: true, plan: () => ['do it'], run: async () => undefined }],
    preflight,
  });
  const run = (d: ProcedureDefinition<{ n: number }>, dryRun: boolean) => {
    const { ctx, stderr } = testContext();
    const p = runProcedure(ctx, d, { dryRun, yes: true, resume: false, restart: false }, { store: memoryCheckpointStore(), lock: memoryLock(ctx.now) });
    return { p, stderr };
  };

  it.each([true, false])('a refused preflight (dry run %s): no warning, no intro, no plan', async (dryRun) => {
    const { p, stderr } = run(
      def(async () => {
        throw new CliError('helm cannot resolve the chart nowhere/milvus', ExitCode.PRECONDITION);
      }),
      dryRun,
    );
    await expect(p).rejects.toThrow('helm cannot resolve the chart nowhere/milvus');
    expect(stderr()).toBe('');
  });

  it('a preflight that passes: the intro, the warning, then the plan', async () => {
    const { p, stderr } = run(def(async () => undefined), true);
    await p;
    const err = stderr();
    expect(err.indexOf('TABLE OF HOPS')).toBe(0);
    expect(err.indexOf('TABLE OF HOPS')).toBeLessThan(err.indexOf('stop every writer first'));
    expect(err.indexOf('stop every writer first')).toBeLessThan(err.indexOf('Plan for "proc"'));
  });
});
