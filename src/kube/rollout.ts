/**
 * Waiting on Kubernetes objects the way kubectl does: Deployment rollout status by kubectl's own
 * rules (`kubectl rollout status`, pkg/polymorphichelpers/rollout_status.go), and a list-then-watch
 * loop that follows a collection with server-side watches (bounded by a watch timeout, re-listing
 * whenever a watch ends) instead of sleeping and polling.
 */
import { Watch, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';
import { elapsed } from '../output/duration.js';
import type { Kube } from './client.js';

export interface RolloutStatus {
  done: boolean;
  /** Set when the rollout can no longer succeed (progress deadline exceeded). */
  failed?: string;
  /** kubectl's status line. */
  message: string;
}

/** kubectl's reason for a Deployment whose rollout stalled (pkg/util/deployment TimedOutReason). */
export const TIMED_OUT_REASON = 'ProgressDeadlineExceeded';

/**
 * One Deployment's rollout status, in kubectl's order: the spec change must be observed
 * (generation <= observedGeneration) before anything else counts; then a ProgressDeadlineExceeded
 * condition is a failure; then every replica must be updated, no old replica may be left, and
 * every updated replica must be available.
 */
export function deploymentRolloutStatus(d: V1Deployment): RolloutStatus {
  const name = d.metadata?.name ?? '';
  const generation = d.metadata?.generation ?? 0;
  const st = d.status ?? {};
  if (generation > (st.observedGeneration ?? 0)) {
    return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === TIMED_OUT_REASON) {
    return { done: false, failed: `deployment "${name}" exceeded its progress deadline`, message: progressing.message ?? '' };
  }
  const want = d.spec?.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  const replicas = st.replicas ?? 0;
  const available = st.availableReplicas ?? 0;
  if (updated < want) {
    return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
  }
  if (replicas > updated) {
    return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...` };
  }
  if (available < updated) {
    return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  }
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/** The image of a Deployment's container `container` (else its first container). */
export function deploymentImage(d: V1Deployment, container?: string): string | undefined {
  const cs = d.spec?.template?.spec?.containers ?? [];
  return (cs.find((c) => c.name === container) ?? cs[0])?.image;
}

/**
 * Rolled out AND running `image`: kubectl's rules plus the image of the pod template, so that a
 * Deployment nobody changed yet (or that a controller has not updated) never counts as done.
 */
export function rolledOutWithImage(d: V1Deployment, image: string, container?: string): boolean {
  return deploymentImage(d, container) === image && deploymentRolloutStatus(d).done;
}

interface ObjectWithMeta {
  metadata?: { name?: string; resourceVersion?: string };
}

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface FollowOptions<T, R> {
  kube: Kube;
  /** What is followed, for messages: `deployment "x"`, `pods of release "r"`. */
  what: string;
  /** API path of the collection, e.g. /apis/apps/v1/namespaces/ns/deployments. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The list call (through kube.call) with the same selectors. */
  list: () => Promise<ListResult<T>>;
  /** Called with the current objects (by name) after every list and every event; a result ends the wait. May throw to fail it. */
  check: (items: ReadonlyMap<string, T>) => R | undefined;
  /** A one-line description of why it is still waiting, for the timeout message. */
  describe?: (items: ReadonlyMap<string, T>) => string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Longest single watch (seconds) before it is renewed with a fresh list; default 25. */
  watchSeconds?: number;
}

/**
 * Lists the collection, then watches it from the list's resourceVersion until `check` returns a
 * value. A watch that ends (server timeout, 410 Gone, dropped connection) is followed by a fresh
 * list, so nothing is missed; an error ending a watch early waits a second before the next list.
 * Rejects with TIMEOUT after timeoutMs (naming what it still waited for) or with the abort reason.
 */
export async function follow<T extends ObjectWithMeta, R>(o: FollowOptions<T, R>): Promise<R> {
  const deadline = Date.now() + o.timeoutMs;
  const items = new Map<string, T>();
  const timedOut = () =>
    new CliError(
      `timed out after ${elapsed(o.timeoutMs)} waiting for ${o.what}${o.describe ? `: ${o.describe(items)}` : ''}`,
      ExitCode.TIMEOUT,
    );
  for (;;) {
    if (o.signal.aborted) throw o.signal.reason;
    const listed = await o.list();
    items.clear();
    for (const it of listed.items) items.set(it.metadata?.name ?? '', it);
    const first = o.check(items);
    if (first !== undefined) return first;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut();
    const ended = await new Promise<{ result?: R; error?: unknown; watchFailed?: boolean }>((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const settle = (v: { result?: R; error?: unknown; watchFailed?: boolean }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve(v);
      };
      const onAbort = () => settle({ error: o.signal.reason });
      const timer = setTimeout(() => settle({}), remaining);
      o.signal.addEventListener('abort', onAbort, { once: true });
      const seconds = Math.max(1, Math.min(o.watchSeconds ?? 25, Math.ceil(remaining / 1000)));
      new Watch(o.kube.kc)
        .watch(
          o.path,
          {
            ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
            ...(o.fieldSelector ? { fieldSelector: o.fieldSelector } : {}),
            resourceVersion: listed.metadata?.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: seconds,
          },
          (type: string, obj: T) => {
            if (settled) return;
            if (type === 'ERROR') return settle({}); // e.g. 410 Gone: list again
            if (type === 'BOOKMARK') return;
            const name = obj?.metadata?.name ?? '';
            if (type === 'DELETED') items.delete(name);
            else items.set(name, obj);
            try {
              const r = o.check(items);
              if (r !== undefined) settle({ result: r });
            } catch (e) {
              settle({ error: e });
            }
          },
          (err: unknown) => settle({ watchFailed: Boolean(err && (err as { statusCode?: number }).statusCode) }),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch(() => settle({ watchFailed: true }));
    });
    if (ended.error !== undefined) throw ended.error;
    if (ended.result !== undefined) return ended.result;
    if (Date.now() >= deadline) {
      // One last look, so that a change in the final moment is not reported as a timeout.
      const last = await o.list();
      items.clear();
      for (const it of last.items) items.set(it.metadata?.name ?? '', it);
      const r = o.check(items);
      if (r !== undefined) return r;
      throw timedOut();
    }
    if (ended.watchFailed) await delay(1000, o.signal);
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface WaitRolloutOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** Called with every version of the Deployment seen, and its status. */
  onUpdate?: (d: V1Deployment, s: RolloutStatus) => void;
  /** Also require this image in the pod template (container `container`, else the first). */
  image?: string;
  container?: string;
}

/**
 * Waits until one Deployment has rolled out (kubectl's rules), watching it by name. Rejects with
 * FAILED on ProgressDeadlineExceeded or when the Deployment is deleted, TIMEOUT after timeoutMs
 * (with the pods' own reasons, e.g. ErrImagePull), or the abort reason.
 */
export async function waitForRollout(kube: Kube, namespace: string, name: string, opts: WaitRolloutOptions): Promise<V1Deployment> {
  let seen = false;
  try {
    return await follow<V1Deployment, V1Deployment>({
      kube,
      what: `deployment "${name}" to roll out`,
      path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
      fieldSelector: `metadata.name=${name}`,
      list: () =>
        kube.call({ verb: 'list', resource: 'deployments.apps', namespace }, () =>
          kube.apps.listNamespacedDeployment({ namespace, fieldSelector: `metadata.name=${name}` }),
        ),
      check: (items) => {
        const d = items.get(name);
        if (!d) {
          throw new CliError(
            seen ? `deployment "${name}" was deleted while waiting for its rollout` : `deployments.apps "${name}" not found`,
            seen ? ExitCode.FAILED : ExitCode.NOT_FOUND,
          );
        }
        seen = true;
        const s = deploymentRolloutStatus(d);
        opts.onUpdate?.(d, s);
        if (s.failed) throw new CliError(s.failed, ExitCode.FAILED);
        if (s.done && (opts.image === undefined || deploymentImage(d, opts.container) === opts.image)) return d;
        return undefined;
      },
      describe: (items) => {
        const d = items.get(name);
        return d ? deploymentRolloutStatus(d).message : 'the deployment is gone';
      },
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof CliError && (e.exitCode === ExitCode.TIMEOUT || e.exitCode === ExitCode.FAILED) && !opts.signal.aborted) {
      const why = await podProblems(kube, namespace, name).catch(() => []);
      if (why.length) throw new CliError(`${e.message}; ${why.join('; ')}`, e.exitCode, e.hint, { cause: e });
    }
    throw e;
  }
}

/** Why pods of a Deployment are not ready, from their container states (ErrImagePull, CrashLoopBackOff, Unschedulable ...). */
export async function podProblems(kube: Kube, namespace: string, deployment: string): Promise<string[]> {
  const d = await kube.apps.readNamespacedDeployment({ name: deployment, namespace });
  const labels = d.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (!selector) return [];
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selector });
  return describePodProblems(pods.items);
}

export function describePodProblems(pods: V1Pod[]): string[] {
  const out: string[] = [];
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp) continue;
    const name = `pod/${p.metadata?.name ?? ''}`;
    const unschedulable = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    if (unschedulable) {
      out.push(`${name}: ${unschedulable.reason ?? 'not scheduled'}${unschedulable.message ? ` (${unschedulable.message})` : ''}`);
      continue;
    }
    for (const c of p.status?.containerStatuses ?? []) {
      const w = c.state?.waiting;
      const t = c.state?.terminated;
      if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
        out.push(`${name}: container "${c.name}" ${w.reason}${w.message ? ` (${w.message})` : ''} [${c.image}]`);
      } else if (t && t.exitCode !== 0) {
        out.push(`${name}: container "${c.name}" exited with ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`);
      } else if ((c.restartCount ?? 0) > 0 && !c.ready) {
        out.push(`${name}: container "${c.name}" restarted ${c.restartCount} times`);
      }
    }
  }
  return out;
}
