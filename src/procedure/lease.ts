/**
 * Who is running a procedure right now: a coordination.k8s.io Lease named like the checkpoint,
 * holding the run's identity (user@host pid, invocation id) and renewed by a heartbeat. A Lease
 * renewed within its duration is a live run; an older one is a run that died (killed, laptop
 * closed) and may be taken over. Every write names the resourceVersion it read, so two runs
 * racing for it cannot both win.
 *
 * A run that died on this machine need not wait out the lease: the Lease also records the holder's
 * process (kernel boot, pid namespace, pid, start time, from /proc), and a holder whose process
 * provably no longer runs in this very process table is dead at once. Only a definite answer
 * counts: another machine, another pid namespace, no /proc or an unreadable one leave the
 * decision to the heartbeat.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import { LABEL_PROCEDURE, LABEL_RELEASE, MANAGED_BY } from './checkpoint-store.js';

export interface Holder {
  identity: string;
  renewedAt: string;
  /** Renewed within its duration, and its process not known to be gone. */
  live: boolean;
  /** Its process is known to have ended (this machine's process table says so). */
  processGone?: boolean;
}

/** A process, told apart from every other one: its kernel boot and pid namespace, pid and start time. */
export interface HolderProcess {
  bootId: string;
  pidNamespace: string;
  pid: number;
  /** Start time in clock ticks after boot (/proc/PID/stat field 22): a reused pid has another one. */
  startTicks: string;
}

/** This machine's process table, as far as the lease needs it (a seam for tests). */
export interface ProcessTable {
  /** The current process, or undefined where there is no /proc to say it. */
  self(): HolderProcess | undefined;
  /** `gone` only when the table definitely has no such process running; `unknown` on any doubt. */
  state(p: HolderProcess): 'running' | 'gone' | 'unknown';
}

export const HOLDER_PROCESS_ANNOTATION = 'kubectl-milvus.io/holder-process';

/** Start time and state of /proc/<pid>/stat; the command name may hold spaces and parentheses. */
function readStat(pid: number | 'self'): { startTicks: string; state: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, fields start at number 3 (state); the start time is number 22.
  const startTicks = fields[22 - 3];
  if (!fields[0] || !startTicks || !/^\d+$/.test(startTicks)) throw new Error(`unexpected /proc/${pid}/stat`);
  return { startTicks, state: fields[0] };
}

function machine(): { bootId: string; pidNamespace: string } {
  return { bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidNamespace: readlinkSync('/proc/self/ns/pid') };
}

/** The record of a running process of this machine (the current one by default), or undefined without /proc. */
export function processRecord(pid: number = process.pid): HolderProcess | undefined {
  try {
    return { ...machine(), pid, startTicks: readStat(pid === process.pid ? 'self' : pid).startTicks };
  } catch {
    return undefined;
  }
}

export const procProcessTable: ProcessTable = {
  self: () => processRecord(),
  state(p) {
    let here: { bootId: string; pidNamespace: string };
    try {
      here = machine();
    } catch {
      return 'unknown';
    }
    // Another machine, another boot or another container's pid namespace: this table says nothing.
    if (here.bootId !== p.bootId || here.pidNamespace !== p.pidNamespace) return 'unknown';
    try {
      const now = readStat(p.pid);
      if (now.startTicks !== p.startTicks) return 'gone'; // the pid now belongs to another process
      return now.state === 'Z' || now.state === 'X' ? 'gone' : 'running'; // a zombie never runs again
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'unknown';
    }
  },
};

function parseHolderProcess(text: string | undefined): HolderProcess | undefined {
  if (!text) return undefined;
  try {
    const p = JSON.parse(text) as Partial<HolderProcess>;
    if (typeof p.bootId === 'string' && typeof p.pidNamespace === 'string' && Number.isInteger(p.pid) && typeof p.startTicks === 'string') {
      return { bootId: p.bootId, pidNamespace: p.pidNamespace, pid: p.pid!, startTicks: p.startTicks };
    }
  } catch {
    /* not ours to read: the heartbeat decides */
  }
  return undefined;
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

/** The Lease's holder: live while renewed within its duration, unless its process is known to be gone. */
export function holderOf(l: V1Lease, now: Date, table: ProcessTable = procProcessTable): Holder | undefined {
  const identity = l.spec?.holderIdentity;
  if (!identity) return undefined;
  const renewed = l.spec?.renewTime ?? l.spec?.acquireTime;
  const renewedAt = renewed ? new Date(renewed as unknown as string) : new Date(0);
  const duration = (l.spec?.leaseDurationSeconds ?? LEASE_DURATION_S) * 1000;
  const fresh = now.getTime() - renewedAt.getTime() < duration;
  const proc = fresh ? parseHolderProcess(l.metadata?.annotations?.[HOLDER_PROCESS_ANNOTATION]) : undefined;
  const processGone = proc !== undefined && table.state(proc) === 'gone';
  return { identity, renewedAt: renewedAt.toISOString(), live: fresh && !processGone, ...(processGone ? { processGone } : {}) };
}

export function leaseLock(ctx: RunContext, where: { namespace: string; name: string; release: string; procedure: string }, table: ProcessTable = procProcessTable): RunLock {
  const { namespace, name } = where;
  const self = table.self();
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
      ...(self ? { annotations: { [HOLDER_PROCESS_ANNOTATION]: JSON.stringify(self) } } : {}),
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
      return l ? holderOf(l, ctx.now(), table) : undefined;
    },
    async acquire(identity) {
      const existing = await read();
      const now = ctx.now();
      const current = existing ? holderOf(existing, now, table) : undefined;
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
          const h = l ? holderOf(l, ctx.now(), table) : undefined;
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
