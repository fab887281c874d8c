/**
 * The members of a release's etcd as they are now: each pod asked through its own port-forward
 * for its status (member ID, leader, sizes) with its quota read from the pod. Used by
 * etcd-maintain right before every change; an unready or silent member is an error (exit 4),
 * never skipped.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { podReady } from '../kube/portforward.js';
import type { Release } from '../release/types.js';
import { connectEtcdPod, externalEtcd } from '../backup-meta/connect.js';
import type { EtcdGateway, MemberStatus } from '../backup-meta/etcd.js';
import { etcdPods, memberQuota, type Quota } from '../health/etcd-checks.js';

export interface LiveMember {
  pod: string;
  status: MemberStatus;
  quota: Quota;
}

/** Runs `fn` against one member through a port-forward of its own, closed afterwards. */
export async function withMember<T>(ctx: RunContext, namespace: string, pod: string, fn: (etcd: EtcdGateway) => Promise<T>, timeoutMs?: number): Promise<T> {
  const conn = await connectEtcdPod(ctx, namespace, pod, timeoutMs === undefined ? {} : { timeoutMs });
  try {
    return await fn(conn.etcd);
  } finally {
    await conn.close();
  }
}

/** Every member, each ready and answering with a leader; otherwise an error naming the member. */
export async function readMembers(ctx: RunContext, r: Release): Promise<LiveMember[]> {
  if (externalEtcd(r)) {
    throw preconditionError(`release "${r.name}" uses an external etcd: maintain it where it runs (etcdctl compact, defrag --endpoints one at a time, alarm disarm)`);
  }
  const pods = await etcdPods(ctx, r);
  if (pods.length === 0) throw new CliError(`cannot reach the etcd of release "${r.name}": no etcd pod of the release in namespace "${r.namespace}"`, ExitCode.UNREACHABLE);
  const out: LiveMember[] = [];
  for (const p of pods) {
    const pod = p.metadata?.name ?? '';
    if (!podReady(p)) throw new CliError(`etcd member pod/${pod} is not ready (${p.status?.phase ?? 'Unknown'}): every member must be healthy before etcd is maintained`, ExitCode.UNREACHABLE, `see "kubectl describe pod -n ${r.namespace} ${pod}"`);
    let status: MemberStatus;
    try {
      status = await withMember(ctx, r.namespace, pod, (etcd) => etcd.memberStatus());
    } catch (e) {
      if (e instanceof CliError) throw new CliError(`cannot reach etcd member pod/${pod}: ${e.message}`, e.exitCode, e.hint, { cause: e });
      throw e;
    }
    if (status.leader === '0') throw new CliError(`etcd member pod/${pod} sees no leader: the cluster must have one before it is maintained`, ExitCode.UNREACHABLE);
    out.push({ pod, status, quota: memberQuota(p) });
  }
  const leaders = new Set(out.map((m) => m.status.leader));
  if (leaders.size > 1) throw preconditionError(`the etcd members disagree on the leader (${out.map((m) => `pod/${m.pod} follows ${m.status.leader}`).join(', ')}): fix the cluster first`);
  return out;
}

/** Followers first (by name), the leader last: a leader that goes last is defragmented once, with no election in between. */
export function defragOrder(members: LiveMember[]): string[] {
  const leader = members[0]?.status.leader;
  const followers = members.filter((m) => m.status.memberId !== leader).map((m) => m.pod).sort();
  const lead = members.filter((m) => m.status.memberId === leader).map((m) => m.pod);
  return [...followers, ...lead];
}
