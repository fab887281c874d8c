/**
 * The run-to-completion pods of the migration, and the waits around stopping and starting Milvus,
 * all followed with watches (src/kube/rollout.ts follow) and bounded by a timeout.
 *
 * A task pod of the same name may exist from before. It is reused when it belongs to this run
 * (label kubectl-milvus.io/run) and succeeded, followed when it still runs, and replaced when it
 * failed or belongs to a finished earlier run (`kubectl apply` of a Failed pod would change
 * nothing: upstream's rerun sees the old failure again). A pod of an earlier run that is still
 * running is never deleted: it may be writing etcd.
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { deploymentImage, deploymentRolloutStatus, follow } from '../kube/rollout.js';
import { elapsed } from '../output/duration.js';
import { MILVUS_COMPONENTS, componentLabelKey } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { RUN_LABEL, names, taskPod, type TaskKind } from './manifests.js';

export interface TaskRun {
  ctx: RunContext;
  namespace: string;
  instance: string;
  kind: TaskKind;
  image: string;
  runId: string;
  timeoutMs: number;
  log: (m: string) => void;
  /** A file the pod writes: it refuses to start (exit 17) when the file already exists. */
  neverOverwrite?: string | undefined;
}

/** The task pod, refusing to run over an existing file when asked (a backup never replaces another). */
export function guardedTaskPod(t: Pick<TaskRun, 'instance' | 'namespace' | 'kind' | 'image' | 'runId' | 'neverOverwrite'>): V1Pod {
  const pod = taskPod(t.instance, t.namespace, t.kind, t.image, t.runId);
  const c = pod.spec!.containers[0]!;
  if (t.neverOverwrite) {
    const f = t.neverOverwrite.replace(/'/g, `'\\''`);
    c.args = [c.args![0]!, `if [ -e '${f}' ]; then echo 'kubectl-milvus: ${f} exists: a backup is never overwritten' >&2; exit 17; fi; ${c.args![1]}`];
  }
  return pod;
}

/** The pod, or undefined when it does not exist; any other failure is thrown (it is no evidence of absence). */
export async function readPod(ctx: RunContext, namespace: string, name: string): Promise<V1Pod | undefined> {
  const kube = ctx.kube();
  return kube.getIfExists({ verb: 'get', resource: 'pods', namespace, name }, () => kube.core.readNamespacedPod({ name, namespace }));
}

const podsPath = (ns: string) => `/api/v1/namespaces/${ns}/pods`;

function listPods(ctx: RunContext, namespace: string, o: { labelSelector?: string; fieldSelector?: string }) {
  const kube = ctx.kube();
  return kube.call({ verb: 'list', resource: 'pods', namespace }, () => kube.core.listNamespacedPod({ namespace, ...o }));
}

/** Waits until the pod is Succeeded or Failed. */
export async function waitPodFinished(ctx: RunContext, namespace: string, name: string, timeoutMs: number): Promise<V1Pod> {
  const fieldSelector = `metadata.name=${name}`;
  return follow<V1Pod, V1Pod>({
    kube: ctx.kube(),
    what: `pod/${name} to finish`,
    path: podsPath(namespace),
    fieldSelector,
    list: () => listPods(ctx, namespace, { fieldSelector }),
    check: (items) => {
      const p = items.get(name);
      if (!p) throw new CliError(`pod/${name} was deleted before it finished`, ExitCode.FAILED);
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
    },
    describe: (items) => `phase ${items.get(name)?.status?.phase ?? 'unknown'}`,
    timeoutMs,
    signal: ctx.signal,
  });
}

async function deleteAndWait(ctx: RunContext, namespace: string, name: string, timeoutMs: number): Promise<void> {
  const kube = ctx.kube();
  await kube
    .call({ verb: 'delete', resource: 'pods', namespace, name }, () => kube.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }))
    .catch((e: unknown) => {
      if (!(e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND)) throw e;
    });
  const fieldSelector = `metadata.name=${name}`;
  await follow<V1Pod, true>({
    kube,
    what: `pod/${name} to be deleted`,
    path: podsPath(namespace),
    fieldSelector,
    list: () => listPods(ctx, namespace, { fieldSelector }),
    check: (items) => (items.has(name) ? undefined : true),
    timeoutMs,
    signal: ctx.signal,
  });
}

async function lastLogLines(ctx: RunContext, namespace: string, name: string): Promise<string> {
  try {
    const text = await ctx.kube().core.readNamespacedPodLog({ name, namespace, container: 'meta-migration', tailLines: 5 });
    return String(text ?? '').trim();
  } catch {
    return '';
  }
}

/** Runs one task pod to completion (see the module comment for reuse and replacement). */
export async function runTask(t: TaskRun): Promise<void> {
  const { ctx, namespace: ns, instance, kind, runId, log } = t;
  const name = names(instance).pod(kind);
  const kube = ctx.kube();
  const existing = await readPod(ctx, ns, name);
  let followExisting = false;
  if (existing) {
    const phase = existing.status?.phase;
    const ours = existing.metadata?.labels?.[RUN_LABEL] === runId;
    const finished = phase === 'Succeeded' || phase === 'Failed';
    if (ours && phase === 'Succeeded') {
      log(`pod/${name} of this run already succeeded`);
      return;
    }
    if (!finished && !existing.metadata?.deletionTimestamp) {
      if (!ours) {
        throw preconditionError(
          `pod/${name} of an earlier run is still ${phase ?? 'running'}: it may be writing etcd`,
          `wait for it to finish (kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/${name} -n ${ns}), then rerun`,
        );
      }
      log(`pod/${name} of this run is still ${phase}: following it`);
      followExisting = true;
    } else {
      log(`replacing pod/${name} (${phase} in ${ours ? 'this' : 'an earlier'} run)`);
      await deleteAndWait(ctx, ns, name, t.timeoutMs);
    }
  }
  if (!followExisting) {
    await kube.call({ verb: 'create', resource: 'pods', namespace: ns, name }, () => kube.core.createNamespacedPod({ namespace: ns, body: guardedTaskPod(t) }));
  }
  const t0 = ctx.now().getTime();
  const pod = await waitPodFinished(ctx, ns, name, t.timeoutMs);
  if (pod.status?.phase === 'Succeeded') {
    log(`pod/${name} succeeded after ${elapsed(ctx.now().getTime() - t0)}`);
    return;
  }
  const term = pod.status?.containerStatuses?.find((c) => c.name === 'meta-migration')?.state?.terminated;
  const logs = await lastLogLines(ctx, ns, name);
  throw new CliError(
    `pod/${name} failed (exit code ${term?.exitCode ?? '?'}${term?.reason ? `, ${term.reason}` : ''}${term?.message ? `: ${term.message.trim()}` : ''})${logs ? `; last log lines:\n${logs}` : ''}`,
    ExitCode.FAILED,
    `see "kubectl logs pod/${name} -n ${ns}"`,
  );
}

/** Milvus component pods of the release (attu, cdc and anything else excluded). */
function isMilvusPod(r: Release, p: V1Pod): boolean {
  return (MILVUS_COMPONENTS as readonly string[]).includes(p.metadata?.labels?.[componentLabelKey(r.method)] ?? '');
}

/** Waits until no Milvus component pod of the release exists (not even terminating). */
export async function waitMilvusPodsGone(ctx: RunContext, r: Release, timeoutMs: number): Promise<void> {
  await follow<V1Pod, true>({
    kube: ctx.kube(),
    what: `the Milvus pods of "${r.name}" to stop`,
    path: podsPath(r.namespace),
    labelSelector: r.workloadSelector,
    list: () => listPods(ctx, r.namespace, { labelSelector: r.workloadSelector }),
    check: (items) => ([...items.values()].some((p) => isMilvusPod(r, p)) ? undefined : true),
    describe: (items) => `still there: ${[...items.values()].filter((p) => isMilvusPod(r, p)).map((p) => `pod/${p.metadata?.name}`).join(', ')}`,
    timeoutMs,
    signal: ctx.signal,
  });
}

/** Waits until every recorded Deployment rolled out with its image and has all its replicas ready. */
export async function waitMilvusReady(
  ctx: RunContext,
  r: Release,
  want: Record<string, { image: string; replicas: number; container: string }>,
  timeoutMs: number,
  log: (m: string) => void,
): Promise<void> {
  const kube = ctx.kube();
  const last = new Map<string, string>();
  const ready = (d: V1Deployment | undefined, w: { image: string; replicas: number; container: string }) =>
    Boolean(d && deploymentImage(d, w.container) === w.image && deploymentRolloutStatus(d).done && (d.status?.readyReplicas ?? 0) >= w.replicas && (d.spec?.replicas ?? 1) === w.replicas);
  await follow<V1Deployment, true>({
    kube,
    what: `the Milvus components of "${r.name}" to be ready`,
    path: `/apis/apps/v1/namespaces/${r.namespace}/deployments`,
    labelSelector: r.workloadSelector,
    list: () => kube.call({ verb: 'list', resource: 'deployments.apps', namespace: r.namespace }, () => kube.apps.listNamespacedDeployment({ namespace: r.namespace, labelSelector: r.workloadSelector })),
    check: (items) => {
      for (const [name, w] of Object.entries(want)) {
        const d = items.get(name);
        const line = d ? `${d.status?.readyReplicas ?? 0}/${w.replicas} ready` : 'missing';
        if (last.get(name) !== line) log(`deployment/${name}: ${line}`);
        last.set(name, line);
      }
      return Object.entries(want).every(([name, w]) => ready(items.get(name), w)) ? true : undefined;
    },
    describe: (items) =>
      Object.entries(want)
        .filter(([name, w]) => !ready(items.get(name), w))
        .map(([name]) => {
          const d = items.get(name);
          return d ? `${name} (${deploymentRolloutStatus(d).message}, ${d.status?.readyReplicas ?? 0}/${want[name]!.replicas} ready)` : `${name} (missing)`;
        })
        .join('; '),
    timeoutMs,
    signal: ctx.signal,
  });
}
