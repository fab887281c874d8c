/**
 * `etcd-maintain`: brings a full (or nearly full) etcd of a release back, on the engine:
 * a verified metadata snapshot (backup meta) → compact at the current revision → defragment one
 * member at a time, followers first and the leader last, each member answering with a leader
 * again before the next → disarm NOSPACE alarms (only when every member is below its quota) →
 * verify: a write succeeds, no alarm is left, dbSize before and after.
 *
 * Every step reads the members as they are now (readMembers) right before it acts; the order of
 * the defragments is decided from the leader at the time the plan is made (a resume plans again).
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, failedError, preconditionError } from '../errors.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { pollUntil } from '../procedure/wait.js';
import { discoverRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { metaBackupStep, type MetaBackupState } from '../backup-meta/step.js';
import { formatBytes } from '../health/etcd-checks.js';
import { defragOrder, readMembers, withMember, type LiveMember } from './members.js';

export const ETCD_MAINTAIN = 'etcd-maintain';
/** Written and deleted by the verification; outside any Milvus root path. */
export const CHECK_KEY_PREFIX = 'kubectl-milvus-etcd-maintain-check/';

export interface MaintainOptions {
  release: string;
  namespace: string;
  /** Directory of the metadata snapshot. */
  dir?: string | undefined;
  /** How long one defragment may take, and how long a member may take to answer again after it. */
  timeoutMs: number;
}

export interface MaintainState extends MetaBackupState {
  /** dbSize of each member (pod name) before anything changed. */
  before: Record<string, number>;
  /** dbSize of each member after its defragment, then at the verification. */
  after: Record<string, number>;
  /** How long each member was blocked by its defragment (ms). */
  blockedMs: Record<string, number>;
  compactedAt?: string;
  disarmed: string[];
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

async function release(ctx: RunContext, o: MaintainOptions): Promise<Release> {
  return discoverRelease(ctx.kube(), o.release, o.namespace);
}

function compactStep(ctx: RunContext, o: MaintainOptions): Step<MaintainState> {
  return {
    id: 'compact',
    title: 'Compact the etcd key history at the current revision',
    destructive: true,
    plan: () => [
      'etcd Compact(revision = the current one, physical): older revisions of every key are dropped, as etcd auto-compaction does; current values stay',
      'the freed pages are reused, the file shrinks only with the defragments that follow',
    ],
    async run({ state, log }) {
      const members = await readMembers(ctx, await release(ctx, o));
      for (const m of members) state.before[m.pod] ??= m.status.dbSize;
      const leader = members.find((m) => m.status.memberId === m.status.leader) ?? members[0]!;
      const revision = leader.status.revision;
      await withMember(ctx, o.namespace, leader.pod, async (etcd) => {
        try {
          await etcd.compact(revision);
        } catch (e) {
          // A compaction at this revision or later already happened (an earlier run, auto-compaction).
          if (e instanceof CliError && /required revision has been compacted/.test(e.message)) {
            log(`already compacted at revision ${revision} or later`);
            return;
          }
          throw e;
        }
        log(`compacted at revision ${revision}`);
      });
      state.compactedAt = revision;
    },
  };
}

function defragStep(ctx: RunContext, o: MaintainOptions, pod: string, role: string): Step<MaintainState> {
  return {
    id: `defragment-${pod}`,
    title: `Defragment etcd member pod/${pod} (${role})`,
    destructive: true,
    plan: () => [
      `re-check that every member is ready and follows one leader`,
      `etcd Defragment on pod/${pod} only (through its own port-forward): the member answers no read or write while it runs (seconds per GiB); the other members serve`,
      `wait until pod/${pod} answers with a leader again (up to ${Math.round(o.timeoutMs / 1000)}s) before the next member`,
    ],
    async run({ state, log }) {
      const members = await readMembers(ctx, await release(ctx, o));
      const me = members.find((m) => m.pod === pod);
      if (!me) throw preconditionError(`etcd member pod/${pod} is gone: the members changed since the plan`, 'rerun with --restart to plan again');
      for (const m of members) state.before[m.pod] ??= m.status.dbSize;
      const t0 = ctx.now().getTime();
      try {
        await withMember(ctx, o.namespace, pod, (etcd) => etcd.defragment(), o.timeoutMs);
      } catch (e) {
        if (e instanceof CliError) throw new CliError(`etcd member pod/${pod} did not defragment: ${e.message}`, e.exitCode, e.hint, { cause: e });
        throw e;
      }
      state.blockedMs[pod] = ctx.now().getTime() - t0;
      let last = '';
      const after = await pollUntil(ctx, {
        what: `etcd member pod/${pod} to answer after its defragment`,
        timeoutMs: o.timeoutMs,
        intervalMs: 500,
        async check() {
          try {
            const s = await withMember(ctx, o.namespace, pod, (etcd) => etcd.memberStatus());
            if (s.leader !== '0') return s;
            last = 'no leader';
          } catch (e) {
            if (!(e instanceof CliError)) throw e;
            last = e.message;
          }
          return undefined;
        },
        onTimeout: () =>
          new CliError(
            `etcd member pod/${pod} did not come back after its defragment within ${Math.round(o.timeoutMs / 1000)}s (${last}): the other members were not touched`,
            ExitCode.TIMEOUT,
            `look at "kubectl logs -n ${o.namespace} ${pod}"; once it answers, rerun with --resume`,
          ),
      });
      state.after[pod] = after.dbSize;
      log(`pod/${pod}: ${formatBytes(me.status.dbSize)} -> ${formatBytes(after.dbSize)}, blocked ${(state.blockedMs[pod]! / 1000).toFixed(2)}s`);
    },
  };
}

/** Refuses to disarm while a member is still at or over its quota: the alarm would only fire again. */
export function assertBelowQuota(members: LiveMember[]): void {
  const full = members.filter((m) => m.status.dbSize >= m.quota.bytes);
  if (full.length) {
    throw failedError(
      `after compact and defragment ${full.map((m) => `pod/${m.pod} still holds ${formatBytes(m.status.dbSize)} of its quota ${formatBytes(m.quota.bytes)} (${m.quota.from})`).join(', ')}: the data itself does not fit, the NOSPACE alarm stays`,
      'raise the quota (etcd --quota-backend-bytes, or ETCD_QUOTA_BACKEND_BYTES in the etcd values), then rerun with --resume',
    );
  }
}

function disarmStep(ctx: RunContext, o: MaintainOptions): Step<MaintainState> {
  return {
    id: 'disarm',
    title: 'Disarm NOSPACE alarms',
    destructive: true,
    plan: () => ['re-check that every member is below its quota', 'etcd Alarm DEACTIVATE of every NOSPACE alarm (other alarms are left for a person to look at)'],
    async run({ state, log }) {
      const members = await readMembers(ctx, await release(ctx, o));
      assertBelowQuota(members);
      const first = members[0]!.pod;
      await withMember(ctx, o.namespace, first, async (etcd) => {
        const alarms = (await etcd.alarms()).filter((a) => a.alarm === 'NOSPACE');
        for (const a of alarms) {
          await etcd.disarm(a);
          const pod = members.find((m) => m.status.memberId === a.memberId)?.pod ?? `member ${a.memberId}`;
          state.disarmed.push(pod);
          log(`NOSPACE of ${pod} disarmed`);
        }
        if (alarms.length === 0) log('no NOSPACE alarm raised');
      });
    },
  };
}

function verifyStep(ctx: RunContext, o: MaintainOptions): Step<MaintainState> {
  return {
    id: 'verify',
    title: 'Verify: a write succeeds, no alarm is left, dbSize before and after',
    plan: () => [`put and delete ${CHECK_KEY_PREFIX}${o.namespace}/${o.release}`, 'etcd Alarm GET: empty', 'dbSize of every member, before and after'],
    async run({ state, log }) {
      const members = await readMembers(ctx, await release(ctx, o));
      const key = `${CHECK_KEY_PREFIX}${o.namespace}/${o.release}`;
      const leader = members.find((m) => m.status.memberId === m.status.leader) ?? members[0]!;
      await withMember(ctx, o.namespace, leader.pod, async (etcd) => {
        try {
          await etcd.put(key, ctx.now().toISOString());
          await etcd.delete(key);
        } catch (e) {
          if (e instanceof CliError) throw failedError(`etcd still refuses a write: ${e.message}`);
          throw e;
        }
        const alarms = await etcd.alarms();
        if (alarms.length) throw failedError(`etcd still has alarms: ${alarms.map((a) => `${a.alarm} on ${members.find((m) => m.status.memberId === a.memberId)?.pod ?? a.memberId}`).join(', ')}`);
      });
      for (const m of members) state.after[m.pod] = m.status.dbSize;
      const before = sum(state.before);
      const after = sum(state.after);
      log(`a write succeeded, no alarm; dbSize ${formatBytes(before)} before, ${formatBytes(after)} after (${members.length} member(s))`);
      if (after >= before) ctx.log.warn(`dbSize did not shrink (${formatBytes(before)} -> ${formatBytes(after)}): there was little to reclaim`);
    },
  };
}

export async function etcdMaintainProcedure(ctx: RunContext, o: MaintainOptions): Promise<ProcedureDefinition<MaintainState>> {
  const r = await release(ctx, o);
  const members = await readMembers(ctx, r);
  const order = defragOrder(members);
  const leaderPod = order[order.length - 1];
  return {
    name: ETCD_MAINTAIN,
    release: o.release,
    namespace: o.namespace,
    params: { members: members.map((m) => m.pod).sort().join(',') },
    initialState: { before: {}, after: {}, blockedMs: {}, disarmed: [] },
    warning: `defragmenting blocks each etcd member while it runs (${members.length} member(s), one at a time): Milvus requests to that member wait until it is done`,
    async preflight() {
      await readMembers(ctx, await release(ctx, o));
    },
    steps: [
      metaBackupStep<MaintainState>(ctx, { release: o.release, namespace: o.namespace, dir: o.dir }),
      compactStep(ctx, o),
      ...order.map((pod) => defragStep(ctx, o, pod, pod === leaderPod && members.length > 1 ? 'the leader, last' : members.length > 1 ? 'a follower' : 'the only member')),
      disarmStep(ctx, o),
      verifyStep(ctx, o),
    ],
  };
}

export function maintainSummary(state: MaintainState): Array<{ member: string; before: number | undefined; after: number | undefined; blockedMs: number | undefined }> {
  const pods = [...new Set([...Object.keys(state.before), ...Object.keys(state.after)])].sort();
  return pods.map((p) => ({ member: p, before: state.before[p], after: state.after[p], blockedMs: state.blockedMs[p] }));
}
