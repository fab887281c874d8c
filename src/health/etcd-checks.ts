/**
 * etcd's own state, graded: for every member of the release's etcd (each pod through its own
 * port-forward, or an external etcd through its endpoints when they answer from here) the size of
 * its backend against its quota, how much of it is free space a defragment would return, the
 * alarms (NOSPACE stops every Milvus metadata write) and whether the members agree on a leader.
 * The facts are collected once and graded by pure functions; `report` stores the same facts.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError } from '../errors.js';
import { podReady } from '../kube/portforward.js';
import { etcdSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { connectEtcdPod, externalEtcd, externalEtcdEndpoints } from '../backup-meta/connect.js';
import { EtcdGateway, type EtcdAlarm, type MemberStatus } from '../backup-meta/etcd.js';
import type { Check } from './checks.js';

/** etcd's default backend quota when --quota-backend-bytes is not given (or is 0). */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;
export const WARN_RATIO = 0.7;
export const CRITICAL_RATIO = 0.9;
const EXTERNAL_TIMEOUT_MS = 3000;

export interface Quota {
  bytes: number;
  /** Where it was read: the flag, the environment, or etcd's default. */
  from: string;
}

export interface EtcdMemberFact {
  /** pod/NAME, or the endpoint of an external etcd. */
  name: string;
  quota: Quota;
  status?: MemberStatus;
  /** Why the member could not be asked. */
  error?: string;
}

export interface EtcdFacts {
  source: 'pods' | 'external' | 'none';
  members: EtcdMemberFact[];
  /** The cluster's alarm list (read from the first member that answered). */
  alarms?: EtcdAlarm[];
  alarmsError?: string;
  /** External etcd that did not answer from here. */
  unreachable?: string;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function quotaValue(text: string, from: string): Quota | undefined {
  if (!/^\d+$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  // 0 means "the default" to etcd.
  return n > 0 ? { bytes: n, from } : { bytes: DEFAULT_QUOTA_BYTES, from: `${from} (0: etcd's default, 2 GiB)` };
}

/**
 * The quota of an etcd member from its pod: the `--quota-backend-bytes` flag in the etcd
 * container's command or args (etcd prefers a flag to the environment), else
 * ETCD_QUOTA_BACKEND_BYTES, else etcd's 2 GiB default.
 */
export function memberQuota(pod: V1Pod): Quota {
  const containers = pod.spec?.containers ?? [];
  const c = containers.find((x) => x.name === 'etcd') ?? containers[0];
  const argv = [...(c?.command ?? []), ...(c?.args ?? [])];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?quota-backend-bytes(?:=(.*))?$/.exec(a);
    if (!m) {
      // A shell script in one argument: "etcd --quota-backend-bytes=8589934592 ...".
      const inline = /--quota-backend-bytes[= ](\d+)/.exec(a);
      if (inline) return quotaValue(inline[1]!, '--quota-backend-bytes') ?? { bytes: DEFAULT_QUOTA_BYTES, from: 'etcd default' };
      continue;
    }
    const v = quotaValue(m[1] ?? argv[i + 1] ?? '', '--quota-backend-bytes');
    if (v) return v;
  }
  const env = (c?.env ?? []).find((e) => e.name === 'ETCD_QUOTA_BACKEND_BYTES');
  if (env?.value !== undefined) {
    const v = quotaValue(env.value, 'ETCD_QUOTA_BACKEND_BYTES');
    if (v) return v;
  }
  if (env?.valueFrom) return { bytes: DEFAULT_QUOTA_BYTES, from: "etcd's default assumed (ETCD_QUOTA_BACKEND_BYTES comes from a reference this check does not read)" };
  return { bytes: DEFAULT_QUOTA_BYTES, from: "etcd's default" };
}

/** One check per member: its size against the quota and the free space inside the file. */
export function memberSpaceCheck(m: EtcdMemberFact): Check {
  const check = `etcd/${m.name.replace(/^pod\//, '')}`;
  if (!m.status) return { check, status: 'warning', detail: `not checked: ${m.error ?? 'no answer'}` };
  const s = m.status;
  const ratio = s.dbSize / m.quota.bytes;
  const pct = Math.round(ratio * 100);
  const inUse = s.dbSizeInUse;
  const free = inUse === undefined ? undefined : Math.max(0, s.dbSize - inUse);
  const facts =
    `db ${formatBytes(s.dbSize)} of quota ${formatBytes(m.quota.bytes)} (${pct}%, quota from ${m.quota.from})` +
    (inUse !== undefined ? `, in use ${formatBytes(inUse)}` : '') +
    `, raft index ${s.raftIndex}, etcd ${s.version}`;
  const fix = 'compact and defragment: kubectl milvus etcd-maintain';
  if (ratio >= CRITICAL_RATIO) return { check, status: 'critical', detail: `${facts}: at ${pct}% of its quota etcd soon refuses every write (NOSPACE); ${fix}` };
  if (ratio >= WARN_RATIO) return { check, status: 'warning', detail: `${facts}: over ${Math.round(WARN_RATIO * 100)}% of its quota; ${fix}` };
  if (free !== undefined && free > s.dbSize / 2) return { check, status: 'warning', detail: `${facts}: ${formatBytes(free)} of the file is free space; ${fix}` };
  // Alarms are graded by alarmsCheck; other errors the member reports are worth a look.
  const errors = s.errors.filter((e) => !/\balarm:/.test(e));
  if (errors.length) return { check, status: 'warning', detail: `${facts}; the member reports: ${errors.join('; ')}` };
  return { check, status: 'ok', detail: facts };
}

function memberName(facts: EtcdFacts, id: string): string {
  const m = facts.members.find((x) => x.status?.memberId === id);
  return m ? m.name : `member ${id}`;
}

/** NOSPACE (every write refused) and CORRUPT are critical; no alarm is ok. */
export function alarmsCheck(facts: EtcdFacts): Check {
  if (!facts.alarms) return { check: 'etcd-alarms', status: 'warning', detail: `not checked: ${facts.alarmsError ?? 'no member answered'}` };
  if (facts.alarms.length === 0) return { check: 'etcd-alarms', status: 'ok', detail: 'no alarm raised' };
  const list = facts.alarms.map((a) => `${a.alarm} on ${memberName(facts, a.memberId)}`).join(', ');
  const nospace = facts.alarms.some((a) => a.alarm === 'NOSPACE');
  const why = nospace ? ': etcd refuses every write (mvcc: database space exceeded), Milvus cannot change its metadata; run kubectl milvus etcd-maintain' : '';
  return { check: 'etcd-alarms', status: 'critical', detail: `${list}${why}` };
}

/** Every member that answered must name the same, existing leader. */
export function leaderCheck(facts: EtcdFacts): Check {
  const asked = facts.members.filter((m) => m.status);
  if (asked.length === 0) return { check: 'etcd-leader', status: 'warning', detail: 'not checked: no member answered' };
  const none = asked.filter((m) => m.status!.leader === '0');
  if (none.length) return { check: 'etcd-leader', status: 'critical', detail: `no leader seen by ${none.map((m) => m.name).join(', ')}` };
  const leaders = new Set(asked.map((m) => m.status!.leader));
  if (leaders.size > 1) {
    return { check: 'etcd-leader', status: 'critical', detail: `members disagree on the leader: ${asked.map((m) => `${m.name} follows ${memberName(facts, m.status!.leader)}`).join(', ')}` };
  }
  const leader = memberName(facts, [...leaders][0]!);
  const unasked = facts.members.length - asked.length;
  return { check: 'etcd-leader', status: 'ok', detail: `${asked.length} member(s) follow ${leader}${unasked ? ` (${unasked} not asked)` : ''}` };
}

export function etcdChecks(facts: EtcdFacts): Check[] {
  if (facts.source === 'none') return [];
  if (facts.unreachable) return [{ check: 'etcd-external', status: 'warning', detail: `not checked: ${facts.unreachable}` }];
  return [...facts.members.map(memberSpaceCheck), alarmsCheck(facts), leaderCheck(facts)];
}

const describe = (e: unknown) => (e instanceof CliError ? e.message : (e as Error).message);

async function askMember(gw: EtcdGateway, fact: EtcdMemberFact, facts: EtcdFacts): Promise<void> {
  try {
    fact.status = await gw.memberStatus();
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    fact.error = e.message;
    return;
  }
  if (facts.alarms) return;
  try {
    facts.alarms = await gw.alarms();
    facts.alarmsError = undefined;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    facts.alarmsError = e.message;
  }
}

/** The pods of the release's etcd that are not finished, sorted by name. */
export async function etcdPods(ctx: RunContext, r: Release): Promise<V1Pod[]> {
  const kube = ctx.kube();
  const pods = await kube.listAll({ verb: 'list', resource: 'pods', namespace: r.namespace }, (o) => kube.core.listNamespacedPod({ namespace: r.namespace, ...o }), {
    labelSelector: etcdSelector(r.method, r.name),
  });
  return pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/** Reads every member's status and the alarm list; what could not be read is recorded, not thrown. */
export async function collectEtcdFacts(ctx: RunContext, r: Release): Promise<EtcdFacts> {
  const pods = await etcdPods(ctx, r);
  if (pods.length === 0) {
    if (!externalEtcd(r)) return { source: 'none', members: [] };
    return collectExternal(ctx, externalEtcdEndpoints(r));
  }
  const facts: EtcdFacts = { source: 'pods', members: [] };
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '';
    const fact: EtcdMemberFact = { name: `pod/${name}`, quota: memberQuota(pod) };
    facts.members.push(fact);
    if (!podReady(pod)) {
      fact.error = `pod not ready (${pod.status?.phase ?? 'Unknown'})`;
      continue;
    }
    let conn;
    try {
      conn = await connectEtcdPod(ctx, r.namespace, name);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      fact.error = describe(e);
      continue;
    }
    try {
      await askMember(conn.etcd, fact, facts);
    } finally {
      await conn.close();
    }
  }
  return facts;
}

async function collectExternal(ctx: RunContext, endpoints: string[]): Promise<EtcdFacts> {
  if (endpoints.length === 0) return { source: 'external', members: [], unreachable: 'external etcd without endpoints in the release values' };
  const facts: EtcdFacts = { source: 'external', members: [] };
  for (const ep of endpoints) {
    const url = /^https?:\/\//.test(ep) ? ep : `http://${ep}`;
    const gw = new EtcdGateway(url, ep, ctx.signal, EXTERNAL_TIMEOUT_MS);
    const fact: EtcdMemberFact = { name: ep, quota: { bytes: DEFAULT_QUOTA_BYTES, from: "etcd's default assumed (an external etcd's flags are not visible)" } };
    facts.members.push(fact);
    try {
      await askMember(gw, fact, facts);
    } finally {
      gw.close();
    }
  }
  if (facts.members.every((m) => !m.status)) {
    return { source: 'external', members: facts.members, unreachable: `external etcd ${endpoints.join(', ')} does not answer from here (${facts.members[0]?.error ?? 'no answer'})` };
  }
  return facts;
}

/** health's etcd checks: one line to register. */
export async function etcdHealthChecks(ctx: RunContext, r: Release): Promise<Check[]> {
  return etcdChecks(await collectEtcdFacts(ctx, r));
}
