/**
 * The etcd part of `report`: every member's status (sizes, leader, raft index), its quota and
 * where it was read, the alarm list and the graded etcd checks, as health sees them, in etcd.json.
 */
import type { RunContext } from '../cli/context.js';
import type { Release } from '../release/types.js';
import { collectEtcdFacts, etcdChecks, type EtcdFacts } from '../health/etcd-checks.js';

export function etcdReportDoc(facts: EtcdFacts) {
  return {
    source: facts.source,
    members: facts.members.map((m) => ({ name: m.name, quota: m.quota, ...(m.status ? { status: m.status } : {}), ...(m.error ? { error: m.error } : {}) })),
    ...(facts.alarms ? { alarms: facts.alarms } : {}),
    ...(facts.alarmsError ? { alarmsError: facts.alarmsError } : {}),
    ...(facts.unreachable ? { unreachable: facts.unreachable } : {}),
    checks: etcdChecks(facts),
  };
}

/** etcd.json of the bundle. */
export async function etcdReportFile(ctx: RunContext, release: Release): Promise<string> {
  return JSON.stringify(etcdReportDoc(await collectEtcdFacts(ctx, release)), null, 2) + '\n';
}
