/**
 * Who is running a procedure right now: a coordination.k8s.io Lease named like the checkpoint,
 * holding the run's identity (user@host pid, invocation id) and renewed by a heartbeat. A Lease
 * renewed within its duration is a live run; an older one is a run that died (killed, laptop
 * closed) and may be taken over. Every write names the resourceVersion it read, so two runs
 * racing for it cannot both win.
 */
import { hostname, userInfo } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import { LABEL_PROCEDURE, LABEL_RELEASE, MANAGED_BY } from './checkpoint-store.js';

export interface Holder {
  identity: string;
  renewedAt: string;
  /** Renewed within its duration. */
  live: boolean;
}

export type AcquireResult = { ok: true } | { ok: false; holder: Holder };

export interface RunLock {
  /** The current holder, live or not; undefined when nobody holds it. */
  holder(): Promise<Holder | undefined>;
  /** Takes it for `identity` unless another live holder has it. */
  acquire(identity: string): Promise<AcquireResult>;
  /** Renews our hold; false when it was lost (taken over or deleted). */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

export const LEASE_DURATION_S = 60;

export function runIdentity(invocation: string): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  return `${user}@${hostname()} pid ${process.pid} run ${invocation}`;
}

function holderOf(l: V1Lease, now: Date): Holder | undefined {
  const identity = l.spec?.holderIdentity;
  if (!identity) return undefined;
  const renewed = l.spec?.renewTime ?? l.spec?.acquireTime;
  const renewedAt = renewed ? new Date(renewed as unknown as string) : new Date(0);
  const duration = (l.spec?.leaseDurationSeconds ?? LEASE_DURATION_S) * 1000;
  return { identity, renewedAt: renewedAt.toISOString(), live: now.getTime() - renewedAt.getTime() < duration };
}

export function leaseLock(ctx: RunContext, where: { namespace: string; name: string; release: string; procedure: string }): RunLock {
  const { namespace, name } = where;
  let api: CoordinationV1Api | undefined;
  const coord = () => (api ??= ctx.kube().kc.makeApiClient(CoordinationV1Api));
  let mine: { identity: string; resourceVersion: string; acquired: Date } | undefined;
  const call = <T>(verb: string, fn: () => Promise<T>) => ctx.kube().call({ verb, resource: 'leases.coordination.k8s.io', namespace, name }, fn);
  const read = (): Promise<V1Lease | undefined> =>
    ctx.kube().getIfExists({ verb: 'get', resource: 'leases.coordination.k8s.io', namespace, name }, () => coord().readNamespacedLease({ name, namespace }));
  const body = (identity: string, acquired: Date, resourceVersion?: string): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: where.release, [LABEL_PROCEDURE]: where.procedure },
    },
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: LEASE_DURATION_S,
      acquireTime: new V1MicroTime(acquired.getTime()),
      renewTime: new V1MicroTime(ctx.now().getTime()),
    },
  });
  return {
    async holder() {
      const l = await read();
      return l ? holderOf(l, ctx.now()) : undefined;
    },
    async acquire(identity) {
      const existing = await read();
      const now = ctx.now();
      const current = existing ? holderOf(existing, now) : undefined;
      if (current?.live && current.identity !== identity) return { ok: false, holder: current };
      try {
        const made = existing
          ? await call('update', () => coord().replaceNamespacedLease({ name, namespace, body: body(identity, now, existing.metadata?.resourceVersion) }))
          : await call('create', () => coord().createNamespacedLease({ namespace, body: body(identity, now) }));
        mine = { identity, resourceVersion: made.metadata?.resourceVersion ?? '', acquired: now };
        return { ok: true };
      } catch (e) {
        const cause = (e as { cause?: unknown }).cause;
        if (isConflict(cause) || (e instanceof CliError && /already exists|modified/i.test(e.message))) {
          const l = await read();
          const h = l ? holderOf(l, ctx.now()) : undefined;
          return { ok: false, holder: h ?? { identity: 'another run', renewedAt: now.toISOString(), live: true } };
        }
        throw e;
      }
    },
    async renew() {
      if (!mine) return false;
      try {
        const made = await call('update', () => coord().replaceNamespacedLease({ name, namespace, body: body(mine!.identity, mine!.acquired, mine!.resourceVersion) }));
        mine.resourceVersion = made.metadata?.resourceVersion ?? '';
        return true;
      } catch (e) {
        const cause = (e as { cause?: unknown }).cause;
        if (isConflict(cause) || isNotFound(cause) || (e instanceof CliError && (e.exitCode === ExitCode.NOT_FOUND || /modified/i.test(e.message)))) return false;
        // A transient error: the hold stays ours until the lease expires; the next beat retries.
        return true;
      }
    },
    async release() {
      if (!mine) return;
      const identity = mine.identity;
      mine = undefined;
      // A heartbeat still in flight may have bumped the resourceVersion: delete what is ours, by
      // the version just read, and never another run's hold.
      for (let attempt = 0; attempt < 3; attempt++) {
        const l = await read().catch(() => undefined);
        if (!l || l.spec?.holderIdentity !== identity) return;
        try {
          await call('delete', () => coord().deleteNamespacedLease({ name, namespace, body: { preconditions: { resourceVersion: l.metadata?.resourceVersion } } }));
          return;
        } catch {
          /* changed under us: look again */
        }
      }
    },
  };
}

/** An in-memory lock (unit tests): `clock` decides liveness. */
export function memoryLock(clock: () => Date, initial?: { identity: string; renewedAt: Date }): RunLock & { state(): { identity: string; renewedAt: Date } | undefined } {
  let cur = initial ? { ...initial } : undefined;
  let me: string | undefined;
  const view = (): Holder | undefined =>
    cur ? { identity: cur.identity, renewedAt: cur.renewedAt.toISOString(), live: clock().getTime() - cur.renewedAt.getTime() < LEASE_DURATION_S * 1000 } : undefined;
  return {
    state: () => cur,
    async holder() {
      return view();
    },
    async acquire(identity) {
      const h = view();
      if (h?.live && h.identity !== identity) return { ok: false, holder: h };
      cur = { identity, renewedAt: clock() };
      me = identity;
      return { ok: true };
    },
    async renew() {
      if (!me || cur?.identity !== me) return false;
      cur.renewedAt = clock();
      return true;
    },
    async release() {
      if (me && cur?.identity === me) cur = undefined;
      me = undefined;
    },
  };
}
