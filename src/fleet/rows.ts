/**
 * One `list` item per release, from what discovery read: how it is installed, what its pods run,
 * its queue, readiness, and NEXT — what to do first. NEXT, in this order: an unfinished procedure
 * of ours (resume it); components not ready, versions mixed or a rollout half done (finish it);
 * meta-migrate, then pulsar-upgrade when they apply; else the first risk status names; else
 * rolling-update when it applies.
 */
import type { DiscoveredRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { adviseProcedures, assessRisks, componentStatuses, runningVersions } from '../status/report.js';

export interface ListItem {
  context?: string | undefined;
  namespace: string;
  name: string;
  method: 'helm' | 'operator';
  /** METHOD: the chart (milvus-4.2.30), or "operator". */
  installedBy: string;
  helm?: { chart: string; revision: number; status: string } | undefined;
  operatorStatus?: string | undefined;
  mode: string;
  /** What the pods run: one version, "mixed", or null when it cannot be told. */
  version: string | null;
  /** Each version the pods run, with its components. */
  versions: Array<{ version: string; components: string[] }>;
  mq: string;
  /** Components with every replica ready and updated / components. */
  ready: string;
  next: { action: string; reason: string } | null;
  /** Our procedures recorded and not finished; null when the checkpoints could not be read. */
  unfinished: string[] | null;
  risks: string[];
  createdAt: string | null;
  components: Array<{ component: string; deployment: string; ready: string; images: string[] }>;
}

const MQ: Record<string, string> = { 'pulsar-v2': 'pulsar-v2', 'pulsar-v3': 'pulsar-v3', 'external-pulsar': 'pulsar-external', kafka: 'kafka', rocksmq: 'rocksmq', woodpecker: 'woodpecker', natsmq: 'natsmq', unknown: 'unknown' };

/** A risk's first clause, for the NEXT cell (the whole sentence is in -o json). */
export function shortRisk(risk: string, max = 50): string {
  const head = risk.split(/: /)[0]!;
  return head.length > max ? `${head.slice(0, max - 1)}…` : head;
}

function nextStep(r: Release, unfinished: string[] | undefined, risks: string[]): ListItem['next'] {
  if (unfinished?.length) return { action: `resume ${unfinished[0]}`, reason: `an unfinished ${unfinished.join(', ')} is recorded: finish it with --resume before anything else` };
  const comps = componentStatuses(r);
  const notReady = comps.filter((c) => !c.healthy).map((c) => c.component);
  if (comps.length === 0) return { action: 'no Milvus Deployments', reason: 'no Milvus Deployments found with the release labels: stopped, or not installed by a known method' };
  if (r.running === 'mixed') return { action: 'finish the update', reason: `components run different versions (${runningVersions(r).map((v) => `${v.version}: ${v.components.join(', ')}`).join('; ')})` };
  const unsettled = comps.map((c) => c.unsettled).filter((u): u is string => u !== undefined);
  if (unsettled.length) return { action: 'finish the rollout', reason: `rollouts not finished: ${unsettled.join('; ')}` };
  if (notReady.length) return { action: 'not ready', reason: `not all components are ready (${notReady.join(', ')}): fix them before any upgrade` };
  const procs = adviseProcedures(r);
  for (const p of ['meta-migrate', 'pulsar-upgrade'] as const) {
    const a = procs.find((x) => x.procedure === p);
    if (a?.applies) return { action: p, reason: a.reason };
  }
  if (risks.length) return { action: shortRisk(risks[0]!), reason: risks[0]! };
  const rolling = procs.find((x) => x.procedure === 'rolling-update');
  if (rolling?.applies) return { action: 'rolling-update', reason: rolling.reason };
  return null;
}

export function listItem(d: DiscoveredRelease, context?: string): ListItem {
  const r = d.release;
  const comps = componentStatuses(r);
  // Dependencies are not read for a list: the risks of the release itself.
  const risks = assessRisks(r, comps, []);
  const versions = runningVersions(r);
  return {
    ...(context !== undefined ? { context } : {}),
    namespace: r.namespace,
    name: r.name,
    method: r.method,
    installedBy: r.method === 'helm' && r.helm ? `${r.helm.chartName}-${r.helm.chartVersion}` : 'operator',
    ...(r.helm ? { helm: { chart: `${r.helm.chartName}-${r.helm.chartVersion}`, revision: r.helm.revision, status: r.helm.status } } : {}),
    ...(r.operator ? { operatorStatus: r.operator.status } : {}),
    mode: r.mode,
    version: r.running ?? null,
    versions,
    mq: MQ[r.mq] ?? r.mq,
    ready: `${comps.filter((c) => c.healthy).length}/${comps.length}`,
    next: nextStep(r, d.unfinished, risks),
    unfinished: d.unfinished ?? null,
    risks,
    createdAt: d.createdAt ?? null,
    components: comps.map((c) => ({ component: c.component, deployment: c.deployment, ready: c.ready, images: c.running?.length ? c.running : [c.image] })),
  };
}

/** The VERSION cell: the version, "mixed (2.4.5, 2.4.6)", or <unknown>. */
export function versionCell(i: ListItem): string {
  if (i.version === 'mixed') return `mixed (${i.versions.map((v) => v.version).join(', ')})`;
  return i.version ?? '<unknown>';
}

/** -o wide: the components with their replicas (proxy:1,querynode:2). */
export function topologyCell(i: ListItem): string {
  return i.components.map((c) => `${c.component}:${c.ready.split('/')[1]}`).join(',');
}

export function imageCell(i: ListItem): string {
  return [...new Set(i.components.flatMap((c) => c.images))].join(',');
}
