/**
 * health on the test bed: a cluster-mode Helm release whose pods' 9091 reach the management-API
 * simulator and whose etcd pod's 2379 reaches a private real etcd holding Milvus sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { startPrivateEtcd, type PrivateEtcd } from './backup-meta-etcd.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, installHelmRelease, kubectl, newNamespace, removeForward, runPlugin } from './harness.js';

const REL = 'health-rel';
const SESSIONS: Array<[string, string]> = [
  ['rootcoord', 'rootcoord'],
  ['datacoord', 'datacoord'],
  ['querycoord', 'querycoord'],
  ['proxy-4', 'proxy'],
  ['querynode-5', 'querynode'],
  ['datanode-6', 'datanode'],
  ['indexnode-7', 'indexnode'],
];

describe('health', () => {
  let ns: string;
  let sim: RunningSim;
  let etcd: PrivateEtcd;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('health');
    [sim, etcd] = await Promise.all([startMilvusSim({ version: '2.4' }), startPrivateEtcd()]);
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, etcd.port, 2379);
    await installHelmRelease(ns, REL);
    for (const [key, role] of SESSIONS) {
      const id = Number(/\d+$/.exec(key)?.[0] ?? 1);
      await etcd.put(`by-dev/meta/session/${key}`, JSON.stringify({ ServerID: id, ServerName: role, Address: `10.0.0.${id}:21123`, Version: '2.4.5' }), { leaseTtl: 600 });
    }
    await etcd.put('by-dev/meta/session/id', '8');
  }, 240_000);
  afterAll(async () => {
    await sim?.close();
    await etcd?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('a working release: every check ok but the risks status finds, exit 0, json for scripts', async () => {
    const r = await runPlugin(['health', REL, '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const h = JSON.parse(r.stdout);
    expect(h).toMatchObject({ kind: 'Health', release: REL, namespace: ns, status: 'warning' });
    const grade = Object.fromEntries(h.checks.filter((c: { check: string }) => c.check !== 'risk').map((c: { check: string; status: string }) => [c.check, c.status]));
    expect(grade).toEqual({
      components: 'ok',
      versions: 'ok',
      leftovers: 'ok',
      'healthz/proxy': 'ok',
      'healthz/mixcoord': 'ok',
      'healthz/querynode': 'ok',
      'healthz/datanode': 'ok',
      'healthz/indexnode': 'ok',
      sessions: 'ok',
      etcd: 'ok',
      minio: 'ok',
      mq: 'ok',
      'etcd/health-rel-etcd-0': 'ok',
      'etcd-alarms': 'ok',
      'etcd-leader': 'ok',
      images: 'ok',
      volumes: 'ok',
    });
    // The risks are status's (Pulsar v2 only by the chart default, coordinators without standby).
    const risks = h.checks.filter((c: { check: string }) => c.check === 'risk');
    expect(risks.length).toBeGreaterThan(0);
    expect(risks.every((c: { status: string }) => c.status === 'warning')).toBe(true);
    expect(h.checks.find((c: { check: string }) => c.check === 'sessions').detail).toContain('7 session(s) in etcd match the ready pods');
    // Every ready pod was asked on its own port-forward.
    expect(sim.control.requestsTo('/healthz').length).toBeGreaterThanOrEqual(5);
  });

  it('a missing session is critical: exit 12 and a kubectl-style table', async () => {
    await etcd.del('by-dev/meta/session/querynode-5');
    const r = await runPlugin(['health', REL, '-n', ns]);
    expect(r.code, r.stderr).toBe(12);
    expect(r.stdout).toMatch(/^CHECK +STATUS +DETAIL$/m);
    expect(r.stdout).toMatch(/^sessions +critical +no querynode session: the ready pods are not registered with Milvus$/m);
    expect(r.stdout).toMatch(/^Release "health-rel": critical \(\d+ ok, \d+ warning, 1 critical\)$/m);
    expect(r.stderr).toBe('error: release "health-rel" is critical: 1 critical check(s)\n');
    for (const line of r.stdout.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('an in-cluster Kafka is graded by its StatefulSets: ready is ok, its brokers gone is critical (never "ok, not run by the release")', async () => {
    const rel = 'health-kafka';
    await installHelmRelease(ns, rel, { 'pulsar.enabled': false, 'kafka.enabled': true });
    const mq = async () => {
      const r = await runPlugin(['health', rel, '-n', ns, '-o', 'json']);
      return { code: r.code, stderr: r.stderr, mq: JSON.parse(r.stdout).checks.find((c: { check: string }) => c.check === 'mq') };
    };
    const ready = await mq();
    expect(ready.mq, ready.stderr).toEqual({ check: 'mq', status: 'ok', detail: `Kafka: ready: statefulset/${rel}-kafka 1/1, statefulset/${rel}-zookeeper 1/1` });
    await kubectl(['delete', 'statefulset', `${rel}-kafka`, '-n', ns, '--wait=true']);
    const gone = await mq();
    expect(gone.code, gone.stderr).toBe(12);
    expect(gone.mq).toEqual({ check: 'mq', status: 'critical', detail: `Kafka configured in the release, but no Kafka broker StatefulSet of the release found (only statefulset/${rel}-zookeeper)` });
  }, 240_000);

  it('an external Kafka is "not checked": a warning, never ok, even beside an idle in-cluster one (externalKafka wins, as in the chart)', async () => {
    const rel = 'health-extkafka';
    await installHelmRelease(ns, rel, { 'pulsar.enabled': false, 'kafka.enabled': true, 'externalKafka.enabled': true, 'externalKafka.brokerList': 'kafka.example:9092' });
    const r = await runPlugin(['health', rel, '-n', ns, '-o', 'json']);
    const mq = JSON.parse(r.stdout).checks.find((c: { check: string }) => c.check === 'mq');
    expect(mq, r.stderr).toEqual({ check: 'mq', status: 'warning', detail: 'not checked: external Kafka, not run by the release; check it where it runs' });
  }, 240_000);

  it('an unhealthy component is critical; an unreachable etcd is "not checked", never ok', async () => {
    sim.control.failOn({ on: 'healthz', kind: 'unhealthy' });
    await removeForward(ns, 2379);
    try {
      const r = await runPlugin(['health', REL, '-n', ns, '-o', 'json']);
      expect(r.code, r.stderr).toBe(12);
      const h = JSON.parse(r.stdout);
      const by = (name: string) => h.checks.find((c: { check: string }) => c.check === name);
      expect(by('healthz/proxy')).toMatchObject({ status: 'critical' });
      expect(by('healthz/proxy').detail).toMatch(/HTTP 500 Not all components are healthy/);
      expect(by('sessions').status).toBe('warning');
      expect(by('sessions').detail).toMatch(/^not checked: cannot reach the etcd of release "health-rel"/);
    } finally {
      sim.control.clearFailures();
    }
  });
});
