/**
 * `health`: judges a release. Reads what status reads, plus the release's pods and volumes, asks
 * every ready Milvus pod's /healthz on its management port (9091, through our port-forward) and,
 * where the release's etcd is reachable, compares the Milvus sessions registered there with the
 * ready pods. Returns graded checks; the caller exits non-zero on a critical one.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { openPortForward, podReady } from '../kube/portforward.js';
import { httpSend } from '../milvus/transport.js';
import { listReleasePvcs } from '../pvc-list/list-pvcs.js';
import { componentLabelKey } from '../release/labels.js';
import { mapLimit } from '../util/map-limit.js';
import type { Release } from '../release/types.js';
import { buildStatusReport, type StatusReport } from '../status/report.js';
import { connectReleaseEtcd } from '../backup-meta/connect.js';
import { etcdHealthChecks } from './etcd-checks.js';
import { imageHealthChecks } from './image-checks.js';
import {
  componentsCheck,
  dependencyChecks,
  healthzChecks,
  leftoversCheck,
  parseSession,
  riskChecks,
  sessionsCheck,
  versionsCheck,
  volumesCheck,
  worst,
  type Check,
  type Grade,
  type HealthzResult,
  type PodFact,
  type SessionFact,
} from './checks.js';
import { mqCheck, queueFacts } from './mq-check.js';

export interface HealthReport {
  apiVersion: 'kubectl-milvus.io/v1';
  kind: 'Health';
  release: string;
  namespace: string;
  status: Grade;
  checkedAt: string;
  summary: Record<Grade, number>;
  checks: Check[];
}

const PROBE_CONCURRENCY = 8;
const PROBE_TIMEOUT_MS = 5000;

async function probeHealthz(ctx: RunContext, namespace: string, component: string, pod: string): Promise<HealthzResult> {
  let handle;
  try {
    handle = await openPortForward(ctx.kube(), namespace, pod, 9091, ctx.signal);
  } catch (e) {
    return { component, pod, ok: false, unchecked: true, reason: `no port-forward: ${(e as Error).message}` };
  }
  try {
    const r = await httpSend('127.0.0.1', handle.localPort, 'GET', '/healthz', undefined, ctx.signal, PROBE_TIMEOUT_MS);
    if (r.status === 200 && /^\s*("?OK"?|\{.*"status"\s*:\s*"?ok.*)\s*$/is.test(r.body)) return { component, pod, ok: true };
    return { component, pod, ok: false, reason: `HTTP ${r.status} ${r.body.trim().slice(0, 100)}` };
  } catch (e) {
    const fwd = handle.lastError();
    if (fwd && /\b403\b|forbidden/i.test(fwd)) return { component, pod, ok: false, unchecked: true, reason: 'port-forward forbidden (needs "create" on pods/portforward)' };
    return { component, pod, ok: false, reason: fwd ? `no answer on 9091: ${fwd}` : `no answer on 9091: ${(e as Error).message}` };
  } finally {
    await handle.close();
  }
}

async function readSessions(ctx: RunContext, release: Release): Promise<{ sessions: SessionFact[] } | { error: string }> {
  let conn;
  try {
    conn = await connectReleaseEtcd(ctx, release);
  } catch (e) {
    if (e instanceof CliError) return { error: e.message };
    throw e;
  }
  try {
    const prefix = `${conn.rootPath}/meta/session/`;
    const sessions: SessionFact[] = [];
    for await (const page of conn.etcd.rangePrefix(Buffer.from(prefix, 'utf8'))) {
      for (const kv of page.kvs) {
        const s = parseSession(Buffer.from(kv.key, 'base64').toString('utf8'), Buffer.from(kv.value ?? '', 'base64').toString('utf8'));
        if (s) sessions.push(s);
      }
    }
    return { sessions };
  } catch (e) {
    if (e instanceof CliError) return { error: e.message };
    throw e;
  } finally {
    await conn.close();
  }
}

export function podFacts(pods: V1Pod[], release: Release): PodFact[] {
  const key = componentLabelKey(release.method);
  return pods.map((p) => ({
    name: p.metadata?.name ?? '',
    component: p.metadata?.labels?.[key],
    images: (p.spec?.containers ?? []).map((c) => c.image ?? ''),
    ready: podReady(p),
    phase: p.status?.phase ?? 'Unknown',
  }));
}

export async function checkHealth(ctx: RunContext, release: Release, status?: StatusReport): Promise<HealthReport> {
  const kube = ctx.kube();
  const ns = release.namespace;
  const report = status ?? (await buildStatusReport(kube, release));
  const [pods, pvcs, sessions] = await Promise.all([
    kube.listAll({ verb: 'list', resource: 'pods', namespace: ns }, (o) => kube.core.listNamespacedPod({ namespace: ns, ...o }), { labelSelector: release.workloadSelector }),
    listReleasePvcs(kube, release, true),
    readSessions(ctx, release),
  ]);
  const facts = podFacts(pods, release);
  const readyPods = new Map<string, number>();
  const targets: Array<{ component: string; pod: string }> = [];
  for (const c of release.components) {
    for (const p of facts.filter((f) => f.component === c.component && f.ready)) {
      readyPods.set(c.component, (readyPods.get(c.component) ?? 0) + 1);
      targets.push({ component: c.component, pod: p.name });
    }
  }
  ctx.log.debug(1, `asking /healthz of ${targets.length} pod(s)`);
  const probes = await mapLimit(targets, PROBE_CONCURRENCY, (t) => probeHealthz(ctx, ns, t.component, t.pod));
  const checks: Check[] = [
    componentsCheck(report.components),
    versionsCheck(report.components),
    leftoversCheck(facts, report.components),
    ...healthzChecks(probes, report.components),
    'sessions' in sessions
      ? sessionsCheck(sessions.sessions, report.components, readyPods)
      : { check: 'sessions', status: 'warning', detail: `not checked: ${sessions.error}` },
    ...dependencyChecks(report.dependencies),
    mqCheck(queueFacts(release), report.dependencies),
    ...(await etcdHealthChecks(ctx, release)),
    ...(await imageHealthChecks(ctx, release)),
    volumesCheck(pvcs.items.map((i) => ({ name: i.pvc.metadata?.name ?? '', phase: i.pvc.status?.phase ?? 'Unknown' }))),
    ...riskChecks(report.risks),
  ];
  const summary: Record<Grade, number> = { ok: 0, warning: 0, critical: 0 };
  for (const c of checks) summary[c.status]++;
  return {
    apiVersion: 'kubectl-milvus.io/v1',
    kind: 'Health',
    release: release.name,
    namespace: ns,
    status: worst(checks),
    checkedAt: ctx.now().toISOString(),
    summary,
    checks,
  };
}

export function unhealthyError(h: HealthReport): CliError {
  return new CliError(`release "${h.release}" is critical: ${h.summary.critical} critical check(s)`, ExitCode.UNHEALTHY);
}
