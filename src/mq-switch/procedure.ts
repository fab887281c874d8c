/**
 * `mq-switch RELEASE --to woodpecker`: moves a Milvus 3.0 release off Pulsar, Kafka or RocksMQ onto
 * Woodpecker as the docs describe it (switch-pulsar-woodpecker.md, -kafka-, -rocksmq-), on the
 * engine, and retires the old queue only when asked (--cleanup) and only after a fresh verified
 * flush on Woodpecker:
 *
 *   meta-backup → flush (fresh before the call) → wal-alter (POST /management/wal/alter to mixcoord
 *   through our own port-forward) → confirm-mq-type (etcd `<root>/config/mqtype` = woodpecker, never
 *   a log line) → streaming (streaming nodes and mixcoord answer again) → install (Helm values
 *   through a pinned-chart upgrade, or the Operator's spec.dependencies.msgStreamType) → verify
 *   (every component ready, a flush verified on Woodpecker) [→ cleanup-flush → delete-old-queue].
 *
 * Every step decides from what the cluster shows: etcd's mq.type, helm's values, the resource, the
 * PVCs listed by label right before they are deleted. The switch is requested at most once per run:
 * "begun" is checkpointed before the call, and a run that finds it begun reads etcd instead of
 * calling again (--restart starts over and asks again, after a fresh flush).
 */
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, failedError, notFoundError, preconditionError, usageError } from '../errors.js';
import { backupSecretName, saveBackup } from '../backup/backup.js';
import { connectReleaseEtcd, type ReleaseEtcd } from '../backup-meta/connect.js';
import type { MetaBackupState } from '../backup-meta/step.js';
import { requireChart } from '../helm/chart-ref.js';
import { Helm, deployedRevision } from '../helm/helm.js';
import { helmUpgradeArgs } from '../helm/upgrade-args.js';
import { MIN_HELM } from '../helm/values-file.js';
import { mergePatch } from '../kube/client.js';
import { mergePatchMilvus, getMilvusResource } from '../kube/milvus-resource.js';
import { podReady } from '../kube/portforward.js';
import type { ProcedureDefinition, Step, StepRun } from '../procedure/engine.js';
import { pollUntil } from '../procedure/wait.js';
import { flushStep } from '../pulsar-upgrade/flush-step.js';
import { looksLikeFlag } from '../pulsar-upgrade/chart-version.js';
import { noLicenseYet, requireFreshFlush, MAX_FLUSH_AGE_MS, type LicensedState } from '../pulsar-upgrade/stop-license.js';
import { deletePulsarVolumes as deleteVolumes, listPulsarVolumes as listVolumes, type PulsarVolume as QueueVolume } from '../pulsar-upgrade/volumes.js';
import { discoverRelease, STANDALONE_MQ_ANNOTATION } from '../release/discover.js';
import { componentSelector } from '../release/labels.js';
import type { MessageQueue, Release } from '../release/types.js';
import { getPath } from '../util/values.js';
import { alterWal, podHealthy, WAL_ALTER_PATH, type AlterAnswer } from './mgmt.js';
import { servingProbe } from '../milvus/serving.js';
import type { ServingBaseline, ServingProbe } from '../milvus/serving-types.js';
import { mqTypeKey, readMqType } from './mq-type.js';
import { enabledFlags, installationNamesWoodpecker, outsideCleanup, queueCandidates, standaloneAnnotationToSet, switchValues } from './queue.js';
import { gateRefusal, sourceRefusal, SWITCH_TARGET, walNameOf, type WoodpeckerMode } from './rules.js';
import { checkWoodpeckerStorage, type WoodpeckerStorage } from './woodpecker.js';

export const MQ_SWITCH = 'mq-switch';

export interface MqSwitchOptions {
  release: string;
  namespace: string;
  cleanup: boolean;
  chart: string;
  chartVersion: string | undefined;
  backupDir: string;
  /** Each wait: helm upgrade, operator, streaming nodes, deletions. */
  timeoutMs: number;
  flushTimeoutMs: number;
  /** How long etcd may take to show mq.type=woodpecker after the call. */
  confirmTimeoutMs: number;
  databases: string[];
  milvusSecret?: string | undefined;
  rootPath?: string | undefined;
}

export interface CleanupTarget {
  label: string;
  selector: string;
  /** Helm: values still deploying it, set to false by the cleanup. */
  helmFlags: string[];
  /** Operator: its Helm release, uninstalled by the cleanup (when it exists). */
  dependencyRelease?: string | undefined;
  volumes: QueueVolume[];
}

export interface MqSwitchState extends MetaBackupState, LicensedState {
  method: 'helm' | 'operator' | undefined;
  /** The queue Milvus ran before the switch (recorded by the first run that saw it). */
  source: MessageQueue | undefined;
  rootPath: string | undefined;
  rootPathFrom: string | undefined;
  /** mq.type in etcd when the run was planned (undefined: never switched). */
  mqTypeBefore: string | undefined;
  woodpeckerMode: WoodpeckerMode | undefined;
  woodpeckerDetail: string | undefined;
  /** Set (and checkpointed) right before the wal/alter call: the call is never made twice in a run. */
  alterBegunAt: string | undefined;
  alterAnswer: string | undefined;
  confirmedAt: string | undefined;
  chart: string;
  chartVersion: string | undefined;
  backupDir: string;
  backupSecret: string;
  backupFiles: string[];
  valuesRevision: number | undefined;
  valuesSets: Array<[string, string]>;
  /** Helm standalone on chart 5: the Deployment whose milvus.io/message-queue annotation must say woodpecker before the upgrade, and what it says (planned). */
  standaloneAnnotation?: { deployment: string; now: string | undefined } | undefined;
  /**
   * Set (and checkpointed) right before that annotation is written: helm's deployed revision then.
   * Until a later revision is deployed, the annotation is ours, not what the chart rendered, and
   * the upgrade is still to run.
   */
  annotatedAtRevision?: number | undefined;
  cleanup: CleanupTarget[];
  /** What the cleanup leaves where this tool cannot reach (external topics, RocksMQ files). */
  outside: string | undefined;
  /** The collections loaded right before the switch was requested: loaded again afterwards. */
  baseline?: ServingBaseline | undefined;
}

const FLUSH_STEP = 'flush';
const ALTER_STEP = 'wal-alter';
const CONFIRM_STEP = 'confirm-mq-type';
const DELETE_STEP = 'delete-old-queue';
const INSTALL_STEP = 'install';

async function withEtcd<T>(ctx: RunContext, r: Release, rootPath: string | undefined, fn: (e: ReleaseEtcd) => Promise<T>): Promise<T> {
  const e = await connectReleaseEtcd(ctx, r, rootPath);
  try {
    return await fn(e);
  } finally {
    await e.close();
  }
}

/** A flush step whose verification licenses what follows only in this invocation (see stop-license). */
function licensingFlush(base: Step<MqSwitchState>, id: string, title: string, repeatUntil: string, why: string): Step<MqSwitchState> {
  return {
    ...base,
    id,
    title,
    repeatUntil,
    plan: (s) => [...base.plan(s), `repeated by every --resume until "${repeatUntil}" is done: ${why} needs this invocation's flush, verified less than ${MAX_FLUSH_AGE_MS / 60_000} min before`],
    async run(run) {
      run.state.flushVerifiedAt = undefined;
      run.state.flushInvocation = undefined;
      await base.run(run);
      if (run.state.flushVerifiedAt) run.state.flushInvocation = run.invocation;
    },
  };
}

/** What the steps ask the cluster, as one seam (unit tests pass fakes; the command the real ones). */
export interface MqSwitchDeps {
  discover(): Promise<Release>;
  /** mq.type in the release's etcd now (undefined: absent), with the root path it was read under. */
  readMqType(r: Release, rootPath: string | undefined): Promise<{ value: string | undefined; rootPath: string; from: string }>;
  alter(r: Release): Promise<AlterAnswer>;
  probe: ServingProbe;
  cleanupTargets(r: Release): Promise<CleanupTarget[]>;
  storage(r: Release): Promise<WoodpeckerStorage>;
  /** Writes the standalone Deployment's milvus.io/message-queue annotation (metadata only: no pod restarts). */
  annotateQueue(r: Release, deployment: string, queue: string): Promise<void>;
}

export function realDeps(ctx: RunContext, o: Pick<MqSwitchOptions, 'release' | 'namespace'>, helm: Helm): MqSwitchDeps {
  return {
    discover: () => discoverRelease(ctx.kube(), o.release, o.namespace),
    readMqType: (r, rootPath) => withEtcd(ctx, r, rootPath, async (e) => ({ value: await readMqType(e.etcd, e.rootPath), rootPath: e.rootPath, from: e.rootPathFrom })),
    alter: (r) => alterWal(ctx, r, SWITCH_TARGET),
    probe: servingProbe,
    cleanupTargets: (r) => cleanupTargets(ctx, r, helm),
    storage: (r) => checkWoodpeckerStorage(ctx, r),
    annotateQueue: async (r, deployment, queue) => {
      const kube = ctx.kube();
      await kube.call({ verb: 'patch', resource: 'deployments.apps', namespace: r.namespace, name: deployment }, () =>
        kube.apps.patchNamespacedDeployment({ name: deployment, namespace: r.namespace, body: { metadata: { annotations: { [STANDALONE_MQ_ANNOTATION]: queue } } } }, mergePatch),
      );
    },
  };
}

export function mqSwitchProcedure(ctx: RunContext, o: MqSwitchOptions, helm: Helm, deps: MqSwitchDeps = realDeps(ctx, o, helm)): ProcedureDefinition<MqSwitchState> {
  const { release: name, namespace } = o;
  for (const [flag, v] of [['--chart', o.chart], ['--chart-version', o.chartVersion]] as const) {
    if (looksLikeFlag(v)) throw usageError(`invalid ${flag} "${v}": a value starting with "-" would be read by helm as a flag`);
  }
  const discover = () => deps.discover();
  const mqNow = async (r: Release, s: MqSwitchState) => {
    const read = await deps.readMqType(r, s.rootPath ?? o.rootPath);
    s.rootPath ??= read.rootPath;
    return read.value;
  };
  const keyOf = (s: MqSwitchState) => (s.rootPath ? mqTypeKey(s.rootPath) : '<root path>/config/mqtype');
  const flushBase = flushStep<MqSwitchState>(ctx, name, namespace, o.flushTimeoutMs, o.databases, o.milvusSecret);
  const versionArgs = (s: MqSwitchState) => (s.chartVersion ? ['--version', s.chartVersion] : []);

  /** The switch is on record in etcd right now: the one evidence that Milvus runs Woodpecker. */
  const requireSwitched = async (r: Release, s: MqSwitchState, what: string) => {
    const v = await mqNow(r, s);
    if (v !== SWITCH_TARGET) throw preconditionError(`refusing to ${what}: etcd's ${keyOf(s)} is ${v === undefined ? 'absent' : `"${v}"`}, not "${SWITCH_TARGET}": Milvus does not run Woodpecker`);
  };

  const steps: Step<MqSwitchState>[] = [
    licensingFlush(
      { ...flushBase, title: 'Flush all data to object storage and verify it' },
      FLUSH_STEP,
      'Flush all data to object storage and verify it (before the switch)',
      ALTER_STEP,
      'the switch',
    ),
    {
      id: ALTER_STEP,
      title: 'Switch the WAL to Woodpecker (POST /management/wal/alter on mixcoord)',
      destructive: true,
      plan: (s) => [
        `read etcd's ${keyOf(s)} first: already "woodpecker" → nothing is requested`,
        `POST ${WAL_ALTER_PATH} {"target_wal_name":"woodpecker"} on mixcoord's port 9091 through a port-forward to a ready mixcoord pod (standalone: the standalone pod; no kubectl exec)`,
        'requested at most once per run: an interrupted run reads etcd instead of asking again',
        'Milvus keeps serving; writes may be refused for a moment while the streaming nodes reopen their channels',
      ],
      async run({ state, log, invocation, checkpoint }) {
        const r = await discover();
        const current = await mqNow(r, state);
        if (current === SWITCH_TARGET) {
          log(`etcd's ${keyOf(state)} is already "woodpecker"${state.alterBegunAt ? ` (requested by this run at ${state.alterBegunAt})` : ''}: nothing requested`);
          return;
        }
        if (state.alterBegunAt) {
          log(`the switch was requested at ${state.alterBegunAt}${state.alterAnswer ? ` (answer: ${state.alterAnswer})` : ''}: not requested again; the next step reads etcd`);
          return;
        }
        requireFreshFlush(ctx, state, invocation, 'request the switch');
        // What must be loaded again afterwards; a baseline that cannot be taken stops here, nothing requested.
        state.baseline ??= await deps.probe.baseline(ctx, r, { milvusSecret: o.milvusSecret });
        state.alterBegunAt = ctx.now().toISOString();
        await checkpoint();
        const ans = await deps.alter(r);
        state.alterAnswer = ans.message;
        log(`mixcoord (pod/${ans.pod}) answered: ${ans.message}`);
      },
    },
    {
      id: CONFIRM_STEP,
      title: "Confirm the switch from etcd (mq.type = woodpecker)",
      plan: (s) => [`wait until etcd's ${keyOf(s)} reads "woodpecker" (up to ${Math.round(o.confirmTimeoutMs / 1000)}s); Milvus writes it once every channel acknowledged the switch`, 'not confirmed: stop here, nothing deleted; --resume reads etcd again'],
      async run({ state, log }) {
        const r = await discover();
        let last = 'not read yet';
        await pollUntil(ctx, {
          timeoutMs: o.confirmTimeoutMs,
          intervalMs: 1000,
          check: async () => {
            try {
              const v = await mqNow(r, state);
              if (v === SWITCH_TARGET) return true;
              last = v === undefined ? 'absent' : `"${v}"`;
            } catch (x) {
              // A read that failed is no answer: keep asking until the deadline.
              if (!(x instanceof CliError)) throw x;
              last = `not readable (${x.message})`;
            }
            return undefined;
          },
          onTimeout: () =>
            new CliError(
              `the switch was not confirmed: after ${Math.round(o.confirmTimeoutMs / 1000)}s etcd's ${keyOf(state)} is ${last}; nothing was deleted, the old queue still serves`,
              ExitCode.TIMEOUT,
              `look at mixcoord's log ("successfully updated mq.type configuration in etcd" or an AlterWAL error); "${ctx.commandPrefix} ${MQ_SWITCH} ${name} -n ${namespace} --to woodpecker --resume" reads etcd again without a new request`,
            ),
        });
        state.confirmedAt = ctx.now().toISOString();
        log(`etcd's ${keyOf(state)} = woodpecker`);
      },
    },
    {
      id: 'streaming',
      title: 'Wait until mixcoord and the streaming nodes answer on the new WAL',
      plan: () => [`every streamingnode and mixcoord pod ready and GET /healthz = OK on its port 9091 (standalone: the standalone pod), up to ${Math.round(o.timeoutMs / 1000)}s`],
      async run({ log }) {
        let why = 'not looked at yet';
        const pods = await pollUntil(ctx, {
          what: `the streaming nodes of "${name}" to answer`,
          timeoutMs: o.timeoutMs,
          intervalMs: 2000,
          pending: () => why,
          check: async () => {
            const r = await discover();
            const comps = r.mode === 'standalone' ? ['standalone'] : ['mixcoord', 'streamingnode'];
            const kube = ctx.kube();
            const names: string[] = [];
            for (const c of comps) {
              const pods = await kube.listAll({ verb: 'list', resource: 'pods', namespace }, (x) => kube.core.listNamespacedPod({ namespace, ...x }), { labelSelector: componentSelector(r.method, name, c) });
              const live = pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
              if (!live.length) return void (why = `no ${c} pod`);
              const notReady = live.filter((p) => !podReady(p)).map((p) => p.metadata?.name);
              if (notReady.length) return void (why = `not ready: ${notReady.join(', ')}`);
              names.push(...live.map((p) => p.metadata!.name!));
            }
            for (const p of names) {
              const h = await podHealthy(ctx, namespace, p);
              if (!h.ok) return void (why = `pod/${p}: /healthz ${h.detail}`);
            }
            return names;
          },
        });
        log(`${pods.length} pod(s) answer: ${pods.join(', ')}`);
      },
    },
    {
      id: INSTALL_STEP,
      title: 'Make the installation name Woodpecker',
      destructive: true,
      plan: (s) =>
        s.method === 'operator'
          ? [
              `save the Milvus resource to ${join(s.backupDir, 'milvus.yaml')} and secret/${s.backupSecret}`,
              `kubectl patch milvus/${name} -n ${namespace} --type merge -p '{"spec":{"dependencies":{"msgStreamType":"woodpecker"}}}' (the operator would otherwise revert the switch), then wait until the resource is Healthy`,
              'the old queue (its Helm release and volumes) is kept',
            ]
          : [
              `save the values of the deployed revision to ${join(s.backupDir, 'values.yaml')} and secret/${s.backupSecret}`,
              ...(s.standaloneAnnotation
                ? [
                    `kubectl annotate deployment/${s.standaloneAnnotation.deployment} -n ${namespace} ${STANDALONE_MQ_ANNOTATION}=woodpecker --overwrite (now ${s.standaloneAnnotation.now ?? 'absent'}; chart ${s.chartVersion ?? '?'} renders standalone.messageQueue=woodpecker after revision 1 as the queue this annotation names, ${s.standaloneAnnotation.now ?? 'rocksmq'} without it): metadata only, no pod restarts; only once etcd says woodpecker`,
                  ]
                : []),
              `helm upgrade ${name} ${s.chart} --version ${s.chartVersion ?? '?'} (the release's own chart) --reset-then-reuse-values ${s.valuesSets.map(([k, v]) => `--set ${k}=${v}`).join(' ')} --wait -n ${namespace}`,
              'the old queue stays deployed with its volumes until --cleanup; Milvus pods restart with the new configuration (etcd\'s mq.type already rules what they run)',
            ],
      async run({ state, log, runId, checkpoint }) {
        const r = await discover();
        await requireSwitched(r, state, 'change the installation');
        if (r.method === 'operator') {
          const cr = await getMilvusResource(ctx.kube(), namespace, name);
          if (!cr) throw notFoundError(`Milvus resource "${name}" not found in namespace "${namespace}"`);
          if (getPath(cr.spec ?? {}, 'dependencies.msgStreamType') !== SWITCH_TARGET) {
            const saved = await saveBackup(ctx, { namespace, release: name, procedure: MQ_SWITCH, dir: state.backupDir, runId }, { 'milvus.yaml': yaml.dump(cr) });
            state.backupFiles = saved.paths;
            await mergePatchMilvus(ctx.kube(), namespace, name, { spec: { dependencies: { msgStreamType: SWITCH_TARGET } } });
            log(`spec.dependencies.msgStreamType = woodpecker (the resource was saved to ${saved.paths.join(', ')})`);
          } else log('spec.dependencies.msgStreamType is woodpecker already');
          let why = '';
          await pollUntil(ctx, {
            what: `Milvus resource "${name}" to be Healthy on Woodpecker`,
            timeoutMs: o.timeoutMs,
            intervalMs: 2000,
            pending: () => why,
            check: async () => {
              const now = await discover();
              const st = now.operator?.resource.status;
              const gen = now.operator?.resource.metadata.generation;
              const notReady = now.components.filter((c) => c.readyReplicas < c.replicas).map((c) => c.name);
              why = `status ${st?.status ?? '?'}, observedGeneration ${st?.observedGeneration ?? '?'} of ${gen ?? '?'}${notReady.length ? `, not ready: ${notReady.join(', ')}` : ''}`;
              return st?.status === 'Healthy' && (gen === undefined || st.observedGeneration === gen) && notReady.length === 0 && now.mq === 'woodpecker' ? true : undefined;
            },
          });
          return;
        }
        const rev = deployedRevision(name, namespace, await requireRevisions(helm, name));
        // Our annotation with no deployed revision after it: the chart has not rendered Woodpecker yet.
        const annotatedOnly = state.annotatedAtRevision !== undefined && rev <= state.annotatedAtRevision;
        if (installationNamesWoodpecker(r) && !annotatedOnly) {
          log(`the installation names Woodpecker already (${r.helm?.mqEvidence ?? 'values woodpecker.enabled=true'})`);
          return;
        }
        state.valuesRevision = rev;
        const values = await helm.run(['get', 'values', name, '--revision', String(rev), '-o', 'yaml']);
        const saved = await saveBackup(ctx, { namespace, release: name, procedure: MQ_SWITCH, dir: state.backupDir, runId }, { 'values.yaml': values });
        state.backupFiles = saved.paths;
        // Decided from the Deployment as discovery shows it now, not from the plan.
        const annotate = standaloneAnnotationToSet(r);
        if (annotate) {
          state.annotatedAtRevision = rev;
          await checkpoint();
          await deps.annotateQueue(r, annotate.deployment, SWITCH_TARGET);
          log(`deployment/${annotate.deployment}: ${STANDALONE_MQ_ANNOTATION}=woodpecker (was ${annotate.now ?? 'absent'}), for the chart's lookup in the upgrade`);
        }
        await helm.run([...helmUpgradeArgs(name, state.chart, state.chartVersion, state.valuesSets), '--wait', '--timeout', `${Math.ceil(o.timeoutMs / 1000)}s`]);
        log(`helm upgrade done (${state.valuesSets.map(([k, v]) => `${k}=${v}`).join(', ')}); the values before are in ${saved.paths.join(', ')}`);
        const after = await discover();
        if (!installationNamesWoodpecker(after)) {
          throw failedError(
            `after the helm upgrade the installation of "${name}" still names ${after.mq} (${after.helm?.mqEvidence ?? 'values'}): etcd's mq.type (woodpecker) rules what Milvus runs, but the chart's configuration does not say so`,
            `look at the chart's mq values (helm get values ${name} -n ${namespace} --all) and the standalone Deployment's ${STANDALONE_MQ_ANNOTATION} annotation, then rerun with --resume`,
          );
        }
      },
    },
    {
      id: 'verify',
      title: 'Verify that the release serves on Woodpecker',
      plan: () => [
        "every Milvus component ready; etcd's mq.type still woodpecker",
        'the serving check of the 3.0 upgrade: streaming nodes registered with mixcoord and not suspended, proxies healthy, a FlushAll through the proxies (writes reach the new WAL), every collection loaded before the switch loaded again',
      ],
      async run({ state, log }) {
        let why = '';
        const r = await pollUntil(ctx, {
          what: `every component of "${name}" to be ready`,
          timeoutMs: o.timeoutMs,
          intervalMs: 2000,
          pending: () => why,
          check: async () => {
            const r = await discover();
            const notReady = r.components.filter((c) => c.readyReplicas < c.replicas || c.replicas === 0).map((c) => `deployment/${c.name}`);
            why = notReady.length ? `not ready: ${notReady.join(', ')}` : '';
            return notReady.length === 0 && r.components.length > 0 ? r : undefined;
          },
        });
        await requireSwitched(r, state, 'call the release switched');
        const baseline = state.baseline ?? (await deps.probe.baseline(ctx, r, { milvusSecret: o.milvusSecret }));
        const verdict = await deps.probe.verify(ctx, r, baseline, { timeoutSeconds: Math.ceil(o.timeoutMs / 1000), onProgress: log, signal: ctx.signal, milvusSecret: o.milvusSecret });
        if (!verdict.ok) {
          throw failedError(
            `release "${name}" does not serve on Woodpecker: ${verdict.problems.map((p) => `${p.component}: ${p.what}`).join('; ')}`,
            [...new Set(verdict.problems.map((p) => p.remedy))].join('\n'),
          );
        }
        log(`Milvus ${r.milvusVersion ?? ''} serves on Woodpecker`);
      },
    },
  ];

  if (o.cleanup) {
    steps.push(
      licensingFlush(
        { ...flushBase, title: 'Flush again on Woodpecker and verify it' },
        'cleanup-flush',
        'Flush again on Woodpecker and verify it (licenses the deletion)',
        DELETE_STEP,
        'the deletion of the old queue',
      ),
      {
        id: DELETE_STEP,
        title: "Delete the old queue's workloads and volumes of this release",
        destructive: true,
        plan: (s) =>
          s.cleanup.length === 0
            ? ['no old queue of this release is deployed or has volumes', ...(s.outside ? [s.outside] : [])]
            : [
                "right before: this invocation's flush is fresh, etcd's mq.type is woodpecker, the installation names Woodpecker, the PVCs are listed again by label",
                ...s.cleanup.flatMap((c) => [
                  `${c.label}: selector ${c.selector}`,
                  ...(c.helmFlags.length ? [`helm upgrade ${name} ${s.chart} --version ${s.chartVersion ?? '?'} --reset-then-reuse-values ${c.helmFlags.map((f) => `--set ${f}=false`).join(' ')} --wait (the chart removes its workloads)`] : []),
                  ...(c.dependencyRelease ? [`helm uninstall ${c.dependencyRelease} -n ${namespace} --wait (the Operator installed it; its PVCs stay until deleted below)`] : []),
                  ...c.volumes.map((v) => `kubectl delete persistentvolumeclaim/${v.pvc} -n ${namespace}`),
                  ...c.volumes.filter((v) => v.reclaimPolicy === 'Retain').map((v) => `kubectl delete persistentvolume/${v.pv} (reclaim policy Retain, only while bound to that claim)`),
                ]),
                ...(s.outside ? [s.outside] : []),
              ],
        async run({ state, log, invocation }) {
          requireFreshFlush(ctx, state, invocation, 'delete the old queue');
          const r = await discover();
          await requireSwitched(r, state, 'delete the old queue');
          if (!installationNamesWoodpecker(r)) throw preconditionError(`refusing to delete the old queue: the ${r.method === 'operator' ? 'Milvus resource' : 'Helm installation'} of "${name}" does not name Woodpecker${r.helm?.mqEvidence ? ` (${r.helm.mqEvidence})` : ''}`);
          const now = await deps.cleanupTargets(r);
          const known = new Set(state.cleanup.flatMap((c) => c.volumes.map((v) => v.pvc)));
          const unexpected = now.flatMap((c) => c.volumes.map((v) => v.pvc)).filter((p) => !known.has(p));
          if (unexpected.length) throw preconditionError(`volumes appeared since the plan (${unexpected.join(', ')}): nothing was deleted`, 'rerun with --restart to review the plan');
          for (const c of now) {
            if (c.helmFlags.length) {
              await helm.run([...helmUpgradeArgs(name, state.chart, state.chartVersion, c.helmFlags.map((f) => [f, 'false'] as [string, string])), '--wait', '--timeout', `${Math.ceil(o.timeoutMs / 1000)}s`]);
              log(`helm upgrade: ${c.helmFlags.map((f) => `${f}=false`).join(', ')}`);
            }
            if (c.dependencyRelease) {
              const st = await helm.releaseStatus(c.dependencyRelease);
              if (st !== 'not-found') {
                await helm.run(['uninstall', c.dependencyRelease, '--wait', '--timeout', `${Math.ceil(o.timeoutMs / 1000)}s`]);
                log(`helm uninstall ${c.dependencyRelease}`);
              }
            }
            await deleteVolumes(ctx, namespace, c.volumes, log, o.timeoutMs);
          }
          if (state.outside) log(state.outside);
        },
      },
    );
  }

  return {
    name: MQ_SWITCH,
    release: name,
    namespace,
    steps,
    params: { to: SWITCH_TARGET, cleanup: String(o.cleanup), chart: o.chart, chartVersion: o.chartVersion ?? '' },
    warning: 'switching the message queue is a high-risk operation (the docs\' words): Milvus keeps serving, writes may be refused for a moment while the streaming nodes reopen their channels',
    initialState: {
      ...noLicenseYet(),
      method: undefined,
      source: undefined,
      rootPath: o.rootPath,
      rootPathFrom: undefined,
      mqTypeBefore: undefined,
      woodpeckerMode: undefined,
      woodpeckerDetail: undefined,
      alterBegunAt: undefined,
      alterAnswer: undefined,
      confirmedAt: undefined,
      chart: o.chart,
      chartVersion: o.chartVersion,
      backupDir: o.backupDir,
      backupSecret: backupSecretName(MQ_SWITCH, name),
      backupFiles: [],
      valuesRevision: undefined,
      valuesSets: [],
      cleanup: [],
      outside: undefined,
    },
    restoreCommands: (s, done) => {
      const out: string[] = [];
      if (s.alterBegunAt || done.has(ALTER_STEP)) out.push('the WAL switch cannot be undone to an in-cluster queue (the docs: back to a builtin Pulsar is impossible with the chart); the old queue and its volumes are kept until --cleanup');
      if (s.method === 'helm' && s.backupFiles.length && !done.has(DELETE_STEP)) out.push(`values before the switch: ${s.backupFiles.join(', ')} (also in secret/${s.backupSecret} -n ${namespace})`);
      return out;
    },
    async preflight(state, done) {
      const r = await discover();
      state.method = r.method;
      if (r.method === 'helm') {
        await helm.requireVersion(MIN_HELM);
        const revs = await requireRevisions(helm, name);
        if (revs.latest.status.startsWith('pending-')) {
          throw preconditionError(`Helm release "${name}" revision ${revs.latest.revision} is ${revs.latest.status}: another helm operation is running or was cut off`, `let it finish or roll it back (helm history ${name} -n ${namespace}), then rerun`);
        }
        // Pinned: the release's own chart version, never whatever the local repository holds.
        state.chartVersion = o.chartVersion ?? r.helm?.chartVersion;
      }
      const storage = await deps.storage(r);
      state.woodpeckerMode = storage.mode;
      state.woodpeckerDetail = storage.detail;
      const gate = gateRefusal({ milvusVersion: r.milvusVersion, running: r.running, mode: storage.mode, method: r.method, chartVersion: r.helm?.chartVersion, woodpeckerTag: storage.tag });
      if (gate) throw preconditionError(`cannot switch release "${name}": ${gate.reason}`);

      // etcd decides what runs; an etcd that cannot be read stops here (exit 4), nothing changed.
      const read = await deps.readMqType(r, state.rootPath ?? o.rootPath);
      const etcdView = { rootPath: read.rootPath, from: read.from, mq: read.value };
      state.rootPath = etcdView.rootPath;
      state.rootPathFrom = etcdView.from;
      if (state.mqTypeBefore === undefined && done.size === 0) state.mqTypeBefore = etcdView.mq;
      const running = etcdView.mq ?? walNameOf(r.mq);
      const ours = state.alterBegunAt !== undefined || done.has(ALTER_STEP);
      if (running === SWITCH_TARGET) {
        // Switched (by us or by hand) but the installation may not say so yet: the run finishes that.
        if (!ours && !o.cleanup && installationNamesWoodpecker(r)) {
          throw preconditionError(
            `release "${name}" already runs on Woodpecker (${etcdView.mq ? `etcd's ${mqTypeKey(etcdView.rootPath)} = woodpecker` : 'the installation names Woodpecker'}): there is nothing to switch`,
            `to delete the old queue's leftovers, rerun with --cleanup`,
          );
        }
      } else {
        const refusal = sourceRefusal(r.mq);
        if (refusal) throw preconditionError(`cannot switch release "${name}": ${refusal}`);
        if (etcdView.mq !== undefined && etcdView.mq !== walNameOf(r.mq)) {
          throw preconditionError(`release "${name}": etcd's ${mqTypeKey(etcdView.rootPath)} is "${etcdView.mq}" while the installation names ${r.mq}: resolve that first`);
        }
        state.source ??= r.mq;
        if (storage.refusal) throw preconditionError(`cannot switch release "${name}" to Woodpecker: ${storage.refusal}`);
        const need = r.mode === 'standalone' ? ['standalone'] : ['mixcoord', 'streamingnode'];
        for (const c of need) {
          const comps = r.components.filter((x) => x.component === c);
          if (!comps.length) throw preconditionError(`cannot switch release "${name}": it has no ${c} (the switch needs the ${r.mode === 'standalone' ? 'standalone' : 'mixcoord + streaming node'} topology of 2.6/3.0)`);
          const bad = comps.filter((x) => x.replicas === 0 || x.readyReplicas < x.replicas);
          if (bad.length) throw preconditionError(`cannot switch release "${name}": ${bad.map((x) => `deployment/${x.name} ${x.readyReplicas}/${x.replicas} ready`).join(', ')}`);
        }
      }
      state.outside = outsideCleanup(state.source ?? r.mq);
      if (r.method === 'helm') {
        state.valuesSets = switchValues(r, storage.mode === 'embedded');
        state.standaloneAnnotation = done.has(INSTALL_STEP) ? undefined : standaloneAnnotationToSet(r);
      }
      if (o.cleanup && !done.has(DELETE_STEP)) state.cleanup = await deps.cleanupTargets(r);
      // The chart a helm upgrade still to come uses resolves now, before the plan and before the switch
      // (a chart found missing after the WAL was switched would stop the run half way).
      if (r.method === 'helm') {
        const installAhead = !done.has(INSTALL_STEP) && (!installationNamesWoodpecker(r) || state.annotatedAtRevision !== undefined);
        const cleanupAhead = o.cleanup && !done.has(DELETE_STEP) && state.cleanup.some((c) => c.helmFlags.length > 0);
        if (installAhead || cleanupAhead) await requireChart(helm, state.chart, state.chartVersion);
      }
    },
  };
}

async function requireRevisions(helm: Helm, name: string) {
  const revs = await helm.revisions(name);
  if (revs === 'not-found') throw notFoundError(`helm has no release "${name}"`);
  return revs;
}

/** The old queues of the release that still have workloads or volumes, each with its volumes (by label). */
export async function cleanupTargets(ctx: RunContext, r: Release, helm: Helm): Promise<CleanupTarget[]> {
  const out: CleanupTarget[] = [];
  for (const q of queueCandidates(r)) {
    const volumes = await listVolumes(ctx, r.namespace, q.selector);
    const helmFlags = r.method === 'helm' ? enabledFlags(r, q) : [];
    let dependencyRelease: string | undefined;
    if (q.dependencyRelease) dependencyRelease = (await helm.releaseStatus(q.dependencyRelease)) === 'not-found' ? undefined : q.dependencyRelease;
    if (volumes.length || helmFlags.length || dependencyRelease) out.push({ label: q.label, selector: q.selector, helmFlags, dependencyRelease, volumes });
  }
  return out;
}
