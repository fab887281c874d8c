/**
 * The graded checks of `health`, as pure functions of facts read from the cluster (and etcd), so
 * each rule is tested without one. Grades: ok, warning (works, but look at it), critical (Milvus
 * is down or degraded, or data is at risk). "Could not check" is a warning, never an ok.
 */
import type { ComponentStatus, DependencyStatus } from '../status/report.js';

export type Grade = 'ok' | 'warning' | 'critical';

export interface Check {
  /** Short id, e.g. "components", "healthz/proxy", "sessions", "etcd", "volumes", "risk". */
  check: string;
  status: Grade;
  detail: string;
}

const RANK: Record<Grade, number> = { ok: 0, warning: 1, critical: 2 };

export function worst(checks: Check[]): Grade {
  return checks.reduce<Grade>((w, c) => (RANK[c.status] > RANK[w] ? c.status : w), 'ok');
}

export function componentsCheck(components: ComponentStatus[]): Check {
  if (components.length === 0) return { check: 'components', status: 'critical', detail: 'no Milvus Deployment of the release found (stopped or not installed?)' };
  const bad = components.filter((c) => !c.healthy);
  if (bad.length === 0) return { check: 'components', status: 'ok', detail: `${components.length} component(s) ready: ${components.map((c) => `${c.component} ${c.ready}`).join(', ')}` };
  return { check: 'components', status: 'critical', detail: `not ready: ${bad.map((c) => `${c.component} ${c.ready} (up-to-date ${c.upToDate})`).join(', ')}` };
}

/**
 * What the pods run, not what the templates ask for: different images across the release, pods
 * behind their template, a paused rollout are a half-done change (warning); pods that could not
 * be read are not checked (warning), never "every component runs" the template's image.
 */
export function versionsCheck(components: ComponentStatus[]): Check {
  if (components.length === 0) return { check: 'versions', status: 'ok', detail: 'no components' };
  const unread = components.filter((c) => c.running === undefined);
  if (unread.length) return { check: 'versions', status: 'warning', detail: `not checked: the pods of ${unread.map((c) => c.component).join(', ')} could not be read` };
  const runs = (c: ComponentStatus) => (c.running!.length ? c.running! : [c.image]);
  const images = [...new Set(components.flatMap(runs))];
  const unsettled = components.map((c) => c.unsettled).filter((u): u is string => u !== undefined);
  const problems: string[] = [];
  if (images.length > 1) problems.push(`components run different images, an upgrade may be half done: ${images.map((i) => `${i} (${components.filter((c) => runs(c).includes(i)).map((c) => c.component).join(', ')})`).join('; ')}`);
  if (unsettled.length) problems.push(`rollouts not finished: ${unsettled.join('; ')}`);
  if (problems.length) return { check: 'versions', status: 'warning', detail: problems.join('. ') };
  return { check: 'versions', status: 'ok', detail: `the pods of every component run ${images[0]}` };
}

export interface PodFact {
  name: string;
  component: string | undefined;
  images: string[];
  ready: boolean;
  phase: string;
}

/** Pods of the release that run another image than their component's Deployment, or belong to no component. */
export function leftoversCheck(pods: PodFact[], components: ComponentStatus[]): Check {
  const image = new Map(components.map((c) => [c.component, c.image]));
  const problems: string[] = [];
  for (const p of pods) {
    if (p.phase === 'Succeeded' || p.phase === 'Failed') continue;
    const want = p.component ? image.get(p.component) : undefined;
    if (want === undefined) problems.push(`pod/${p.name} (${p.component ?? 'no component label'}) belongs to no current component`);
    else if (!p.images.includes(want)) problems.push(`pod/${p.name} runs ${p.images.join(',')}, its Deployment ${want}`);
  }
  if (problems.length === 0) return { check: 'leftovers', status: 'ok', detail: `${pods.length} pod(s), none of an old version` };
  return { check: 'leftovers', status: 'warning', detail: problems.join('; ') };
}

export interface HealthzResult {
  component: string;
  pod: string;
  ok: boolean;
  /** Why not ok; `unchecked` when the probe could not be made at all (RBAC, no way to the pod). */
  reason?: string;
  unchecked?: boolean;
}

export function healthzChecks(results: HealthzResult[], components: ComponentStatus[]): Check[] {
  return components.map((c) => {
    const mine = results.filter((r) => r.component === c.component);
    const check = `healthz/${c.component}`;
    if (mine.length === 0) return { check, status: 'critical', detail: 'no ready pod to ask' };
    const failed = mine.filter((r) => !r.ok && !r.unchecked);
    const unchecked = mine.filter((r) => r.unchecked);
    if (failed.length > 0) return { check, status: 'critical', detail: failed.map((r) => `pod/${r.pod}: ${r.reason}`).join('; ') };
    if (unchecked.length > 0) return { check, status: 'warning', detail: `not checked: ${unchecked.map((r) => `pod/${r.pod}: ${r.reason}`).join('; ')}` };
    return { check, status: 'ok', detail: `GET /healthz on 9091: OK from ${mine.length} pod(s)` };
  });
}

export interface SessionFact {
  key: string;
  role: string;
  serverId: number | undefined;
  address: string | undefined;
  version: string | undefined;
}

/** The session roles (ServerName) each component registers in etcd. */
export const SESSION_ROLES: Record<string, string[]> = {
  standalone: ['rootcoord', 'datacoord', 'querycoord', 'proxy', 'querynode', 'datanode'],
  mixcoord: ['rootcoord', 'datacoord', 'querycoord'],
  rootcoord: ['rootcoord'],
  datacoord: ['datacoord'],
  querycoord: ['querycoord'],
  indexcoord: ['indexcoord'],
  proxy: ['proxy'],
  querynode: ['querynode'],
  datanode: ['datanode'],
  indexnode: ['indexnode'],
  streamingnode: ['streamingnode'],
};

/** Roles a component registers only in some versions (2.2's index coordinator, 2.6's streaming node). */
export const OPTIONAL_ROLES: Record<string, string[]> = {
  standalone: ['indexcoord', 'indexnode', 'streamingnode'],
  mixcoord: ['indexcoord'],
};

const NODE_ROLES = new Set(['proxy', 'querynode', 'datanode', 'indexnode', 'streamingnode']);

/** A session key's value: JSON with ServerName (the role), ServerID, Address, Version. */
export function parseSession(key: string, value: string): SessionFact | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== 'object') return undefined;
  const d = doc as Record<string, unknown>;
  if (typeof d.ServerName !== 'string') return undefined;
  return {
    key,
    role: d.ServerName,
    serverId: typeof d.ServerID === 'number' ? d.ServerID : undefined,
    address: typeof d.Address === 'string' ? d.Address : undefined,
    version: typeof d.Version === 'string' ? d.Version : undefined,
  };
}

/**
 * Sessions against running pods: each component with ready pods must have its roles registered;
 * node roles (proxy, query/data/index/streaming nodes) one session per ready pod (standalone: one
 * of each). Sessions of a role no ready pod serves are stale or belong to something else.
 */
export function sessionsCheck(sessions: SessionFact[], components: ComponentStatus[], readyPods: Map<string, number>): Check {
  const count = new Map<string, number>();
  for (const s of sessions) count.set(s.role, (count.get(s.role) ?? 0) + 1);
  const critical: string[] = [];
  const warnings: string[] = [];
  const expected = new Map<string, number>();
  const optional = new Set<string>();
  for (const c of components) {
    const ready = readyPods.get(c.component) ?? 0;
    if (ready === 0) continue;
    for (const role of OPTIONAL_ROLES[c.component] ?? []) optional.add(role);
    for (const role of SESSION_ROLES[c.component] ?? []) {
      const want = NODE_ROLES.has(role) && c.component !== 'standalone' ? ready : 1;
      expected.set(role, (expected.get(role) ?? 0) + want);
    }
  }
  for (const [role, want] of expected) {
    const have = count.get(role) ?? 0;
    if (have === 0) critical.push(`no ${role} session: the ready pods are not registered with Milvus`);
    else if (NODE_ROLES.has(role) && have < want) warnings.push(`${have} ${role} session(s) for ${want} ready pod(s)`);
    else if (NODE_ROLES.has(role) && have > want) warnings.push(`${have} ${role} session(s) for ${want} ready pod(s): stale sessions of stopped pods`);
  }
  const known = new Set(Object.values(SESSION_ROLES).flat());
  for (const [role, have] of count) {
    if (!expected.has(role) && !optional.has(role) && known.has(role)) warnings.push(`${have} ${role} session(s) but no ready pod serves ${role}`);
  }
  if (critical.length) return { check: 'sessions', status: 'critical', detail: [...critical, ...warnings].join('; ') };
  if (warnings.length) return { check: 'sessions', status: 'warning', detail: warnings.join('; ') };
  const roles = [...count.entries()].map(([r, n]) => `${r} ${n}`).join(', ');
  return { check: 'sessions', status: 'ok', detail: `${sessions.length} session(s) in etcd match the ready pods (${roles || 'none'})` };
}

/** etcd and MinIO of the release; the message queue is graded by mqCheck (mq-check.ts). */
export function dependencyChecks(deps: DependencyStatus[]): Check[] {
  const out: Check[] = [];
  const families: Array<[string, (d: DependencyStatus) => boolean, string]> = [
    ['etcd', (d) => d.dependency === 'etcd', 'no etcd of the release found (external etcd?)'],
    ['minio', (d) => d.dependency === 'minio', 'no MinIO of the release found (external object storage?)'],
  ];
  for (const [check, match, none] of families) {
    const mine = deps.filter(match);
    if (mine.length === 0) out.push({ check, status: 'warning', detail: `not checked: ${none}` });
    else out.push(readiness(check, mine));
  }
  return out;
}

export function readiness(check: string, rows: DependencyStatus[], label?: string): Check {
  const bad = rows.filter((d) => !d.healthy);
  const list = (rs: DependencyStatus[]) => rs.map((d) => `${d.kind.toLowerCase()}/${d.name} ${d.ready}`).join(', ');
  if (bad.length) return { check, status: 'critical', detail: `${label ? label + ': ' : ''}not ready: ${list(bad)}` };
  return { check, status: 'ok', detail: `${label ? label + ': ' : ''}ready: ${list(rows)}` };
}

export interface VolumeFact {
  name: string;
  phase: string;
}

export function volumesCheck(pvcs: VolumeFact[]): Check {
  const bad = pvcs.filter((p) => p.phase !== 'Bound');
  if (bad.length) return { check: 'volumes', status: 'critical', detail: `not bound: ${bad.map((p) => `pvc/${p.name} ${p.phase}`).join(', ')}` };
  return { check: 'volumes', status: 'ok', detail: `${pvcs.length} PVC(s), all Bound` };
}

/** Risks status found, except those the checks above already grade. */
export function riskChecks(risks: string[]): Check[] {
  const graded = [/^not all components are ready/, /^dependencies not ready/, /^no Milvus Deployments found/, /^components run different images/];
  return risks.filter((r) => !graded.some((g) => g.test(r))).map((r) => ({ check: 'risk', status: 'warning' as const, detail: r }));
}
