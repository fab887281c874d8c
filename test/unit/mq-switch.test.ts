/**
 * mq-switch without a cluster: the gates (as data), the etcd key Milvus writes, the argument
 * checks, the Helm values of the switch, and the steps' guards through the procedure's seam
 * (MqSwitchDeps): the switch is requested only after this invocation's fresh flush, at most once
 * per run (an interrupted run reads etcd instead of asking again), confirmed only from etcd, and
 * the old queue is deleted only with a fresh flush and etcd saying woodpecker right then.
 */
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { toMqSwitchOptions } from '../../src/commands/mq-switch.js';
import type { Helm } from '../../src/helm/helm.js';
import type { RunContext } from '../../src/cli/context.js';
import type { StepRun } from '../../src/procedure/engine.js';
import { etcdConfigKey, mqTypeKey } from '../../src/mq-switch/mq-type.js';
import { mqSwitchProcedure, type CleanupTarget, type MqSwitchDeps, type MqSwitchState } from '../../src/mq-switch/procedure.js';
import { installationNamesWoodpecker, queueCandidates, switchValues } from '../../src/mq-switch/queue.js';
import { helmQueue } from '../../src/release/discover.js';
import { gateRefusal, targetRefusal, type GateInput } from '../../src/mq-switch/rules.js';
import type { Release } from '../../src/release/types.js';
import { fixtureRelease } from './release-fixture.js';
import { secretsApi } from './secrets-fixture.js';
import { mergeValues, type Values } from '../../src/util/values.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testContext } from './test-context.js';

const gate = (over: Partial<GateInput>) => gateRefusal({ milvusVersion: '3.0.2', running: '3.0.2', mode: 'embedded', method: 'helm', chartVersion: '5.0.27', ...over });

describe('mq-switch gates', () => {
  it.each([
    [{}, undefined],
    [{ milvusVersion: '3.0.0', running: '3.0.0' }, undefined],
    [{ milvusVersion: '2.6.24', running: '2.6.24' }, 'switch-api'],
    [{ milvusVersion: '3.1.0', running: '3.1.0' }, 'documented-minor'],
    [{ running: 'mixed' as const }, 'version-known'],
    [{ milvusVersion: undefined, running: undefined }, 'version-known'],
    [{ mode: 'service' as const, milvusVersion: '3.0.0', running: '3.0.0' }, 'service-mode-milvus'],
    [{ mode: 'service' as const, chartVersion: '5.0.15' }, 'service-mode-chart'],
    [{ mode: 'service' as const, method: 'operator' as const, chartVersion: undefined }, undefined],
    [{ mode: 'service' as const, woodpeckerTag: 'v0.1.36' }, 'service-mode-woodpecker'],
    [{ mode: 'service' as const, woodpeckerTag: 'v0.1.42' }, undefined],
    [{ mode: 'service' as const, woodpeckerTag: 'latest' }, undefined],
  ])('%j -> %s', (over, rule) => {
    expect(gate(over)?.rule).toBe(rule);
  });

  it('refuses every target but woodpecker, with the reason', () => {
    expect(targetRefusal('woodpecker')).toBeUndefined();
    expect(targetRefusal('Woodpecker')).toBeUndefined();
    expect(targetRefusal('pulsar')).toMatch(/in-cluster Pulsar is impossible with the Milvus Helm chart/);
    expect(targetRefusal('kafka')).toMatch(/only --to woodpecker/);
    expect(targetRefusal('rocksmq')).toMatch(/Docker Compose standalone/);
    expect(targetRefusal('nats')).toMatch(/unknown --to "nats"/);
  });
});

describe('the etcd key of mq.type', () => {
  it('is <rootPath>/config/mqtype, as TestWALSwitch reads it', () => {
    expect(mqTypeKey('by-dev')).toBe('by-dev/config/mqtype');
    expect(etcdConfigKey('my-release', 'common.storage_type/x')).toBe('my-release/config/commonstoragetypex');
  });
});

describe('toMqSwitchOptions', () => {
  const base = { release: 'r1', to: 'woodpecker', cleanup: false, chart: 'zilliztech/milvus', timeout: '15m', 'flush-timeout': '30m', 'confirm-timeout': '5m', 'dry-run': false, yes: false, resume: false, restart: false, 'skip-meta-backup': false } as const;
  const usage = (args: Record<string, unknown>) => {
    try {
      toMqSwitchOptions({ ...base, ...args } as never);
    } catch (e) {
      return e instanceof CliError ? `${e.exitCode} ${e.message}` : String(e);
    }
    return 'ok';
  };
  it.each([
    [{}, 'ok'],
    [{ to: undefined }, '2 --to is required: --to woodpecker'],
    [{ to: 'pulsar' }, '2 --to pulsar is not supported'],
    [{ to: 'kafka' }, '2 --to kafka is not supported'],
    [{ release: 'Bad_Name' }, '2 invalid release name'],
    [{ 'confirm-timeout': '0s' }, '2 --confirm-timeout must be greater than 0'],
    [{ 'root-path': '/by-dev' }, '2 invalid --root-path'],
  ])('%j', (args, want) => {
    expect(usage(args)).toContain(want);
  });
});

const r30 = (over: Partial<Release> = {}): Release =>
  fixtureRelease([{ component: 'proxy', template: '3.0.2' }, { component: 'mixcoord', template: '3.0.2' }, { component: 'streamingnode', template: '3.0.2' }, { component: 'querynode', template: '3.0.2' }, { component: 'datanode', template: '3.0.2' }], {
    mq: 'pulsar-v3',
    helm: {
      revision: 1, status: 'deployed', chartName: 'milvus', chartVersion: '5.0.27', appVersion: '3.0.1', secretName: 's', fullname: 'r-milvus',
      userValues: {},
      computedValues: { pulsar: { enabled: false }, pulsarv3: { enabled: true, name: 'pulsarv3' }, woodpecker: { enabled: false }, streaming: { woodpecker: { embedded: true } } },
    },
    ...over,
  });

describe('the Helm values of the switch', () => {
  it('Pulsar v3: woodpecker on, the mode as it is, Pulsar v3 kept deployed until --cleanup', () => {
    expect(switchValues(r30(), true)).toEqual([['woodpecker.enabled', 'true'], ['streaming.woodpecker.embedded', 'true'], ['pulsarv3.enabled', 'true']]);
  });
  it('an external Pulsar is turned off (nothing of it runs here)', () => {
    const r = r30({ mq: 'external-pulsar', helm: { ...r30().helm!, computedValues: { externalPulsar: { enabled: true }, pulsar: { enabled: false } } } });
    expect(switchValues(r, true)).toEqual([['woodpecker.enabled', 'true'], ['streaming.woodpecker.embedded', 'true'], ['externalPulsar.enabled', 'false']]);
  });
  it('selects only this release: release=r, never release=r-2', () => {
    const sel = queueCandidates(r30()).map((q) => q.selector);
    expect(sel).toEqual(['app=pulsar,release=r', 'app=pulsarv3,release=r', 'app.kubernetes.io/instance=r,app.kubernetes.io/name in (kafka,zookeeper)']);
  });
});

/** A fake cluster behind the seam: etcd's mq.type, mixcoord's answers, the serving probe. */
function world(o: { mq?: string | undefined; release?: Release } = {}) {
  const calls: string[] = [];
  const w = {
    mq: o.mq as string | undefined,
    release: o.release ?? r30(),
    calls,
    targets: [] as CleanupTarget[],
    annotations: [] as Array<[string, string]>,
    deps: undefined as unknown as MqSwitchDeps,
  };
  w.deps = {
    discover: async () => w.release,
    readMqType: async () => {
      calls.push('read');
      return { value: w.mq, rootPath: 'by-dev', from: 'the chart default' };
    },
    alter: async () => {
      calls.push('alter');
      return { kind: 'accepted', pod: 'r-milvus-mixcoord-0', message: 'OK' };
    },
    probe: {
      baseline: async (ctx) => ({ takenAt: ctx.now().toISOString(), loaded: [] }),
      verify: async () => ({ ok: true, problems: [] }),
    },
    cleanupTargets: async () => {
      calls.push('list');
      return w.targets;
    },
    storage: async () => ({ mode: 'embedded', detail: "the release's MinIO deployment/r-minio 1/1" }),
    annotateQueue: async (_r, deployment, queue) => {
      calls.push(`annotate ${deployment} ${queue}`);
      w.annotations.push([deployment, queue]);
      // The Deployment carries it from now on (what discovery and the chart's lookup see).
      w.release = { ...w.release, components: w.release.components.map((c) => (c.name === deployment ? { ...c, deployment: { ...c.deployment, metadata: { ...c.deployment.metadata, annotations: { ...c.deployment.metadata?.annotations, 'milvus.io/message-queue': queue } } } } : c)) };
    },
  };
  return w;
}

/** helm with the zilliztech repository added: `helm show chart` answers the version asked for. */
const helmFake = {
  requireVersion: async () => '3.17.4',
  revisions: async () => ({ latest: { revision: 1, status: 'deployed' }, deployed: 1 }),
  releaseStatus: async () => 'not-found',
  run: async (args: string[]) => (args[0] === 'show' && args[1] === 'chart' ? `apiVersion: v2\nname: milvus\nversion: ${args.includes('--version') ? args[args.indexOf('--version') + 1] : '5.0.27'}\n` : ''),
} as unknown as Helm;

function setup(w: ReturnType<typeof world>, over: { cleanup?: boolean; confirmTimeoutMs?: number; ctx?: RunContext; helm?: Helm; backupDir?: string } = {}) {
  const ctx = over.ctx ?? testContext().ctx;
  const def = mqSwitchProcedure(ctx, { release: 'r', namespace: 'ns', cleanup: over.cleanup ?? false, chart: 'zilliztech/milvus', chartVersion: undefined, backupDir: over.backupDir ?? '/tmp/x', timeoutMs: 1000, flushTimeoutMs: 1000, confirmTimeoutMs: over.confirmTimeoutMs ?? 1000, databases: [] }, over.helm ?? helmFake, w.deps);
  const state = structuredClone(def.initialState);
  const step = (id: string) => def.steps.find((s) => s.id === id)!;
  const run = (id: string, invocation = 'inv1', extra: Partial<StepRun<MqSwitchState>> = {}) =>
    step(id).run({ ctx, state, checkpoint: async () => void w.calls.push('checkpoint'), log: () => undefined, invocation, resumedAfterStart: false, runId: 'r1', ...extra });
  return { ctx, def, state, run };
}

const exitOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e instanceof CliError ? e.exitCode : -1;
  }
  return 0;
};

describe('mq-switch steps', () => {
  it('the switch is requested only after a flush verified in this invocation, and "begun" is checkpointed before the call', async () => {
    const w = world();
    const { state, run, ctx } = setup(w);
    expect(await exitOf(run('wal-alter'))).toBe(ExitCode.PRECONDITION);
    expect(w.calls).not.toContain('alter');
    state.flushVerifiedAt = ctx.now().toISOString();
    state.flushInvocation = 'earlier';
    expect(await exitOf(run('wal-alter'))).toBe(ExitCode.PRECONDITION);
    expect(w.calls).not.toContain('alter');
    state.flushInvocation = 'inv1';
    await run('wal-alter');
    expect(w.calls.filter((c) => c !== 'read')).toEqual(['checkpoint', 'alter']);
    expect(state.alterBegunAt).toBeDefined();
  });

  it('an interruption between the call and the confirmation: the resumed run reads etcd and never asks again', async () => {
    const w = world({ mq: 'pulsar' });
    const { state, run, ctx } = setup(w);
    state.flushVerifiedAt = ctx.now().toISOString();
    state.flushInvocation = 'inv2';
    state.alterBegunAt = '2026-12-03T07:00:00.000Z';
    await run('wal-alter', 'inv2', { resumedAfterStart: true });
    expect(w.calls).toEqual(['read']);
    w.mq = 'woodpecker';
    await run('confirm-mq-type', 'inv2');
    expect(w.calls).toEqual(['read', 'read']);
    expect(state.confirmedAt).toBeDefined();
  });

  it('etcd already says woodpecker: nothing is requested', async () => {
    const w = world({ mq: 'woodpecker' });
    const { state, run, ctx } = setup(w);
    state.flushVerifiedAt = ctx.now().toISOString();
    state.flushInvocation = 'inv1';
    await run('wal-alter');
    expect(w.calls).toEqual(['read']);
  });

  it('a switch etcd never confirms stops with exit 9 naming that nothing was deleted', async () => {
    const w = world({ mq: 'pulsar' });
    const { run } = setup(w, { confirmTimeoutMs: 1 });
    const e = await run('confirm-mq-type').catch((x: unknown) => x as CliError);
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.TIMEOUT);
    expect((e as CliError).message).toMatch(/by-dev\/config\/mqtype is "pulsar"; nothing was deleted/);
    expect((e as CliError).hint).toMatch(/--resume" reads etcd again without a new request/);
  });

  it('the old queue is deleted only with this invocation\'s fresh flush and etcd saying woodpecker right then', async () => {
    const w = world({ mq: 'pulsar' });
    const { state, run, ctx } = setup(w, { cleanup: true });
    expect(await exitOf(run('delete-old-queue'))).toBe(ExitCode.PRECONDITION);
    state.flushVerifiedAt = new Date(ctx.now().getTime() - 11 * 60_000).toISOString();
    state.flushInvocation = 'inv1';
    expect(await exitOf(run('delete-old-queue'))).toBe(ExitCode.PRECONDITION);
    state.flushVerifiedAt = ctx.now().toISOString();
    const onWoodpecker = r30({ helm: { ...r30().helm!, computedValues: { ...r30().helm!.computedValues, woodpecker: { enabled: true } } } });
    // Fresh flush and values naming Woodpecker, but etcd says pulsar: Milvus does not run Woodpecker, nothing is listed or deleted.
    w.release = onWoodpecker;
    expect(await exitOf(run('delete-old-queue'))).toBe(ExitCode.PRECONDITION);
    expect(w.calls).not.toContain('list');
    // etcd says woodpecker, but the values do not name Woodpecker yet.
    w.mq = 'woodpecker';
    w.release = r30();
    expect(await exitOf(run('delete-old-queue'))).toBe(ExitCode.PRECONDITION);
    expect(w.calls).not.toContain('list');
    w.release = onWoodpecker;
    // Volumes that appeared since the plan are refused.
    w.targets = [{ label: 'Pulsar v3', selector: 'app=pulsarv3,release=r', helmFlags: [], volumes: [{ pvc: 'new-pvc', pv: undefined, reclaimPolicy: undefined }] }];
    const e = await run('delete-old-queue').catch((x: unknown) => x as CliError);
    expect((e as CliError).message).toMatch(/volumes appeared since the plan \(new-pvc\): nothing was deleted/);
  });
});

describe('mq-switch preflight', () => {
  const preflight = (w: ReturnType<typeof world>, cleanup = false) => {
    const { def, state } = setup(w, { cleanup });
    return def.preflight(state, new Set()).then(() => state);
  };
  it('a release below 3.0: exit 7 with the reason', async () => {
    const w = world({ release: r30({ components: r30().components.map((c) => ({ ...c, runningImages: ['milvusdb/milvus:v2.6.24'], running: ['2.6.24'], image: 'milvusdb/milvus:v2.6.24', version: '2.6.24' })), milvusVersion: '2.6.24', running: '2.6.24' }) });
    const e = await preflight(w).catch((x: unknown) => x as CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.PRECONDITION);
    expect((e as CliError).message).toMatch(/Milvus 2\.6\.24 has no WAL switch: it exists from Milvus 3\.0\.0/);
  });
  it('streaming nodes not ready: exit 7', async () => {
    const w = world({ release: r30({ components: r30().components.map((c) => (c.component === 'streamingnode' ? { ...c, readyReplicas: 0 } : c)) }) });
    const e = await preflight(w).catch((x: unknown) => x as CliError);
    expect((e as CliError).message).toMatch(/deployment\/r-milvus-streamingnode 0\/1 ready/);
  });
  it('switched by hand, the values not updated: the run goes on (it makes the installation say so)', async () => {
    const w = world({ mq: 'woodpecker' });
    await expect(preflight(w)).resolves.toBeDefined();
  });
  it('already on Woodpecker: exit 7 naming --cleanup; with --cleanup it plans the leftovers', async () => {
    const w = world({ mq: 'woodpecker', release: r30({ helm: { ...r30().helm!, computedValues: { ...r30().helm!.computedValues, woodpecker: { enabled: true } } } }) });
    const e = await preflight(w).catch((x: unknown) => x as CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.PRECONDITION);
    expect((e as CliError).hint).toMatch(/--cleanup/);
    w.targets = [{ label: 'Pulsar v3', selector: 'app=pulsarv3,release=r', helmFlags: ['pulsarv3.enabled'], volumes: [] }];
    const st = await preflight(w, true);
    expect(st.cleanup).toEqual(w.targets);
  });
  it('etcd that cannot be read stops the preflight with its exit code', async () => {
    const w = world();
    w.deps.readMqType = async () => {
      throw new CliError('cannot reach the etcd of release "r": no etcd pod is ready', ExitCode.UNREACHABLE);
    };
    expect(await exitOf(preflight(w))).toBe(ExitCode.UNREACHABLE);
  });
  it('Woodpecker storage not reachable: exit 7', async () => {
    const w = world();
    w.deps.storage = async () => ({ mode: 'embedded', refusal: "the release's MinIO is not ready: deployment/r-minio 0/1", detail: 'MinIO not ready' });
    const e = await preflight(w).catch((x: unknown) => x as CliError);
    expect((e as CliError).message).toMatch(/to Woodpecker: the release's MinIO is not ready/);
  });
});

/**
 * A Helm standalone on chart 5.0.27 as discovery reads it: the chart's defaults (standalone.messageQueue
 * woodpecker, pulsarv3 on), the values given, the standalone Deployment's annotation, and the queue
 * discovery's rule (helmQueue) gives for them.
 */
function solo(o: { values?: Values; annotation?: string | undefined; revision?: number }): Release {
  const base = fixtureRelease([{ component: 'standalone', template: '3.0.2' }]);
  const comp = base.components[0]!;
  const components = [{ ...comp, deployment: { ...comp.deployment, metadata: { ...comp.deployment.metadata, annotations: (o.annotation ? { 'milvus.io/message-queue': o.annotation } : {}) as Record<string, string> } } }];
  const chart5 = { cluster: { enabled: true }, pulsar: { enabled: false }, pulsarv3: { enabled: true }, woodpecker: { enabled: false }, kafka: { enabled: false }, standalone: { messageQueue: 'woodpecker' }, streaming: { woodpecker: { embedded: true } } };
  const userValues = mergeValues({ cluster: { enabled: false }, pulsarv3: { enabled: false } }, o.values ?? {});
  const computedValues = mergeValues(chart5, userValues);
  const revision = o.revision ?? 2;
  const q = helmQueue(computedValues, 'standalone', { chartVersion: '5.0.27', revision, standaloneDeployment: { name: comp.name, annotation: o.annotation } });
  return {
    ...base,
    mode: 'standalone',
    components,
    mq: q.mq,
    pulsar: undefined,
    helm: { revision, status: 'deployed', chartName: 'milvus', chartVersion: '5.0.27', appVersion: '3.0.1', secretName: `sh.helm.release.v1.r.v${revision}`, fullname: 'r-milvus', userValues, computedValues, mqEvidence: q.evidence },
  };
}

/**
 * helm for a chart-5 standalone: an upgrade renders as the chart does (--set values over the
 * release's, milvus.standalone.messageQueue looking the Deployment's annotation up) and deploys a
 * new revision whose Deployment carries what was rendered.
 */
function chartHelm(w: ReturnType<typeof world>) {
  const runs: string[] = [];
  let deployed = w.release.helm!.revision;
  const helm = {
    requireVersion: async () => '3.17.4',
    revisions: async () => ({ latest: { revision: deployed, status: 'deployed' }, lastDeployed: deployed }),
    releaseStatus: async () => 'deployed',
    run: async (args: string[]) => {
      runs.push(args.join(' '));
      if (args[0] !== 'show') w.calls.push(`helm ${args[0]}`);
      if (args[0] === 'show') return `apiVersion: v2\nname: milvus\nversion: ${args[args.indexOf('--version') + 1]}\n`;
      if (args[0] !== 'upgrade') return args[0] === 'get' ? 'cluster:\n  enabled: false\n' : '';
      const sets: Values = {};
      for (let i = 0; i < args.length; i++) {
        if (args[i] !== '--set') continue;
        const [k, v] = args[i + 1]!.split('=') as [string, string];
        const path = k.split('.');
        let at = sets as Record<string, unknown>;
        for (const p of path.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
        at[path.at(-1)!] = v === 'true' ? true : v === 'false' ? false : v;
      }
      const before = w.release;
      const values = mergeValues(before.helm!.userValues as Values, sets);
      deployed += 1;
      // What the chart renders with the Deployment as the lookup finds it: the new annotation.
      const rendered = solo({ values, annotation: before.components[0]!.deployment.metadata?.annotations?.['milvus.io/message-queue'], revision: deployed }).mq;
      w.release = solo({ values, annotation: rendered, revision: deployed });
      return '';
    },
  } as unknown as Helm;
  return { helm, runs };
}

describe('mq-switch on a Helm standalone: the chart names Woodpecker through standalone.messageQueue', () => {
  it('the values: standalone.messageQueue=woodpecker first (it overrides every switch for a standalone)', () => {
    expect(switchValues(solo({ values: { standalone: { messageQueue: 'rocksmq' } } }), true)).toEqual([['standalone.messageQueue', 'woodpecker'], ['woodpecker.enabled', 'true'], ['streaming.woodpecker.embedded', 'true']]);
  });
  it('woodpecker.enabled=true does not make a standalone on standalone.messageQueue=rocksmq name Woodpecker', () => {
    const r = solo({ values: { standalone: { messageQueue: 'rocksmq' }, woodpecker: { enabled: true } }, annotation: 'rocksmq' });
    expect(r.mq).toBe('rocksmq');
    expect(installationNamesWoodpecker(r)).toBe(false);
    expect(installationNamesWoodpecker(solo({ values: { standalone: { messageQueue: 'woodpecker' }, woodpecker: { enabled: true } }, annotation: 'woodpecker' }))).toBe(true);
  });
  it('the old queue is not deleted while the chart renders RocksMQ, whatever woodpecker.enabled says', async () => {
    const w = world({ mq: 'woodpecker', release: solo({ values: { standalone: { messageQueue: 'rocksmq' }, woodpecker: { enabled: true } }, annotation: 'rocksmq' }) });
    const { state, run, ctx } = setup(w, { cleanup: true });
    state.flushVerifiedAt = ctx.now().toISOString();
    state.flushInvocation = 'inv1';
    const e = await run('delete-old-queue').catch((x: unknown) => x as CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.PRECONDITION);
    expect((e as CliError).message).toMatch(/does not name Woodpecker \(values standalone\.messageQueue=rocksmq/);
    expect(w.calls).not.toContain('list');
  });

  it('chart 5, a Deployment annotated rocksmq: the annotation says woodpecker (checkpointed first) before the upgrade, and the chart renders Woodpecker', async () => {
    const api = await secretsApi();
    try {
      const w = world({ mq: 'woodpecker', release: solo({ values: { standalone: { messageQueue: 'rocksmq' } }, annotation: 'rocksmq', revision: 1 }) });
      const { helm, runs } = chartHelm(w);
      const { state, run, def } = setup(w, { ctx: api.ctx, helm, backupDir: mkdtempSync(join(tmpdir(), 'km-mqsw-')) });
      await def.preflight(state, new Set(['meta-backup', 'flush', 'wal-alter', 'confirm-mq-type', 'streaming']));
      expect(state.standaloneAnnotation).toEqual({ deployment: 'r-milvus-standalone', now: 'rocksmq' });
      expect(def.steps.find((x) => x.id === 'install')!.plan(state).join('\n')).toMatch(/kubectl annotate deployment\/r-milvus-standalone -n ns milvus\.io\/message-queue=woodpecker --overwrite \(now rocksmq;/);
      await run('install');
      expect(w.calls.filter((c) => c !== 'read')).toEqual(['helm get', 'checkpoint', 'annotate r-milvus-standalone woodpecker', 'helm upgrade']);
      expect(runs.find((x) => x.startsWith('upgrade'))).toContain('--set standalone.messageQueue=woodpecker');
      expect(state.annotatedAtRevision).toBe(1);
      expect(w.release.mq).toBe('woodpecker');
      expect(w.release.components[0]!.deployment.metadata?.annotations?.['milvus.io/message-queue']).toBe('woodpecker');
    } finally {
      api.close();
    }
  });

  it('interrupted after the annotation, before the upgrade: the resumed step upgrades although discovery already reads woodpecker', async () => {
    const api = await secretsApi();
    try {
      // The chart's default standalone.messageQueue (woodpecker), kept on RocksMQ by the annotation; ours now says woodpecker.
      const w = world({ mq: 'woodpecker', release: solo({ annotation: 'woodpecker', revision: 2 }) });
      expect(w.release.mq).toBe('woodpecker');
      const { helm } = chartHelm(w);
      const { state, run } = setup(w, { ctx: api.ctx, helm, backupDir: mkdtempSync(join(tmpdir(), 'km-mqsw-')) });
      state.annotatedAtRevision = 2;
      state.valuesSets = switchValues(w.release, true);
      await run('install', 'inv2', { resumedAfterStart: true });
      expect(w.calls.filter((c) => c !== 'read')).toEqual(['helm get', 'helm upgrade']);
      expect(w.release.helm!.revision).toBe(3);
      // Once a later revision is deployed, the step is done.
      w.calls.length = 0;
      await run('install', 'inv3', { resumedAfterStart: true });
      expect(w.calls.filter((c) => c !== 'read')).toEqual([]);
    } finally {
      api.close();
    }
  });

  it('an upgrade after which the chart still renders another queue fails the step (exit 9), not "done"', async () => {
    const api = await secretsApi();
    try {
      const w = world({ mq: 'woodpecker', release: solo({ values: { standalone: { messageQueue: 'rocksmq' } }, annotation: 'rocksmq', revision: 1 }) });
      const { helm } = chartHelm(w);
      // A deps whose annotation never reaches the Deployment: the lookup still finds rocksmq.
      w.deps.annotateQueue = async () => void w.calls.push('annotate (lost)');
      const { state, run, def } = setup(w, { ctx: api.ctx, helm, backupDir: mkdtempSync(join(tmpdir(), 'km-mqsw-')) });
      await def.preflight(state, new Set(['meta-backup', 'flush', 'wal-alter', 'confirm-mq-type', 'streaming']));
      const e = await run('install').catch((x: unknown) => x as CliError);
      expect((e as CliError).exitCode).toBe(ExitCode.FAILED);
      expect((e as CliError).message).toMatch(/still names rocksmq \(Deployment r-milvus-standalone annotation milvus\.io\/message-queue=rocksmq/);
    } finally {
      api.close();
    }
  });
});
