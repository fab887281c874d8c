import { describe, expect, it } from 'vitest';
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
  type SessionFact,
} from '../../src/health/checks.js';
import { mqCheck, queueFacts } from '../../src/health/mq-check.js';
import { renderHealth } from '../../src/commands/health.js';
import type { Release } from '../../src/release/types.js';
import { componentStatuses, type ComponentStatus } from '../../src/status/report.js';
import { fixtureRelease } from './release-fixture.js';

const comp = (component: string, ready = '1/1', image = 'milvusdb/milvus:v2.4.5', healthy = true): ComponentStatus => ({
  component,
  deployment: `r-milvus-${component}`,
  ready,
  upToDate: 1,
  available: 1,
  image,
  strategy: 'RollingUpdate',
  healthy,
});

const session = (role: string, id: number): SessionFact => ({ key: `by-dev/meta/session/${role}-${id}`, role, serverId: id, address: '10.0.0.1:1', version: '2.4.5' });

describe('health checks', () => {
  it('grades components: all ready ok, one not ready critical, none critical', () => {
    expect(componentsCheck([comp('proxy'), comp('querynode')]).status).toBe('ok');
    const bad = componentsCheck([comp('proxy'), comp('querynode', '0/2', undefined, false)]);
    expect(bad.status).toBe('critical');
    expect(bad.detail).toContain('querynode 0/2');
    expect(componentsCheck([]).status).toBe('critical');
  });

  it('warns when components run different images, naming which runs what', () => {
    const running = (c: ComponentStatus) => ({ ...c, running: [c.image] });
    expect(versionsCheck([running(comp('proxy')), running(comp('querynode'))]).status).toBe('ok');
    const c = versionsCheck([running(comp('proxy', '1/1', 'milvusdb/milvus:v2.4.6')), running(comp('querynode'))]);
    expect(c.status).toBe('warning');
    expect(c.detail).toContain('milvusdb/milvus:v2.4.6 (proxy)');
  });

  it('versions come from the pods: templates on 2.4.6 with pods on 2.4.5 (a paused rollout) are no "every component runs 2.4.6"', () => {
    const half = componentStatuses(fixtureRelease([
      { component: 'mixcoord', template: '2.4.6' },
      { component: 'proxy', template: '2.4.6', pods: ['2.4.5'], paused: true },
    ]));
    const c = versionsCheck(half);
    expect(c.status).toBe('warning');
    expect(c.detail).toContain('milvusdb/milvus:v2.4.6 (mixcoord); milvusdb/milvus:v2.4.5 (proxy)');
    expect(c.detail).toContain('deployment/r-milvus-proxy: template milvusdb/milvus:v2.4.6, pods run milvusdb/milvus:v2.4.5, rollout paused');
    const unread = versionsCheck(half.map((x) => ({ ...x, running: undefined })));
    expect([unread.status, unread.detail]).toEqual(['warning', 'not checked: the pods of mixcoord, proxy could not be read']);
    expect(versionsCheck(componentStatuses(fixtureRelease([{ component: 'proxy', template: '2.4.6' }]))).detail).toBe('the pods of every component run milvusdb/milvus:v2.4.6');
  });

  it('finds pods of an old version and pods of no component; finished pods are ignored', () => {
    const comps = [comp('proxy')];
    expect(leftoversCheck([{ name: 'p1', component: 'proxy', images: ['milvusdb/milvus:v2.4.5'], ready: true, phase: 'Running' }], comps).status).toBe('ok');
    const old = leftoversCheck(
      [
        { name: 'p1', component: 'proxy', images: ['milvusdb/milvus:v2.4.4'], ready: true, phase: 'Running' },
        { name: 'q1', component: 'querynode', images: ['x'], ready: true, phase: 'Running' },
        { name: 'done', component: 'proxy', images: ['old'], ready: false, phase: 'Succeeded' },
      ],
      comps,
    );
    expect(old.status).toBe('warning');
    expect(old.detail).toContain('pod/p1 runs milvusdb/milvus:v2.4.4');
    expect(old.detail).toContain('pod/q1 (querynode) belongs to no current component');
    expect(old.detail).not.toContain('done');
  });

  it('healthz: a failing pod is critical, an unchecked one a warning, never ok', () => {
    const comps = [comp('proxy'), comp('querynode'), comp('datanode'), comp('indexnode')];
    const checks = healthzChecks(
      [
        { component: 'proxy', pod: 'p', ok: true },
        { component: 'querynode', pod: 'q', ok: false, reason: 'HTTP 500' },
        { component: 'datanode', pod: 'd', ok: false, unchecked: true, reason: 'forbidden' },
      ],
      comps,
    );
    expect(checks.map((c) => [c.check, c.status])).toEqual([
      ['healthz/proxy', 'ok'],
      ['healthz/querynode', 'critical'],
      ['healthz/datanode', 'warning'],
      ['healthz/indexnode', 'critical'],
    ]);
  });

  it('parses Milvus session values and skips the ID counter', () => {
    expect(parseSession('by-dev/meta/session/id', '12')).toBeUndefined();
    expect(parseSession('k', '{"ServerID":7,"ServerName":"querynode","Address":"10.1.2.3:21123","Version":"2.3.5"}')).toEqual({
      key: 'k',
      role: 'querynode',
      serverId: 7,
      address: '10.1.2.3:21123',
      version: '2.3.5',
    });
  });

  it('sessions: match per role, missing ones critical, extra ones stale', () => {
    const comps = [comp('proxy'), comp('mixcoord'), comp('querynode', '2/2')];
    const ready = new Map([['proxy', 1], ['mixcoord', 1], ['querynode', 2]]);
    const all = [session('proxy', 1), session('rootcoord', 2), session('datacoord', 3), session('querycoord', 4), session('querynode', 5), session('querynode', 6)];
    expect(sessionsCheck(all, comps, ready).status).toBe('ok');
    const missing = sessionsCheck(all.filter((s) => s.role !== 'rootcoord'), comps, ready);
    expect(missing.status).toBe('critical');
    expect(missing.detail).toContain('no rootcoord session');
    const fewer = sessionsCheck(all.filter((s) => s.serverId !== 6), comps, ready);
    expect(fewer.status).toBe('warning');
    expect(fewer.detail).toContain('1 querynode session(s) for 2 ready pod(s)');
    const stale = sessionsCheck([...all, session('querynode', 9)], comps, ready);
    expect(stale.detail).toContain('stale');
    const orphan = sessionsCheck([...all, session('datanode', 10)], comps, ready);
    expect(orphan.detail).toContain('1 datanode session(s) but no ready pod serves datanode');
  });

  it('sessions of a standalone: one process registers every role (index roles optional)', () => {
    const comps = [comp('standalone')];
    const ready = new Map([['standalone', 1]]);
    const roles = ['rootcoord', 'datacoord', 'querycoord', 'proxy', 'querynode', 'datanode', 'indexnode'];
    expect(sessionsCheck(roles.map((r, i) => session(r, i)), comps, ready).status).toBe('ok');
    expect(sessionsCheck(roles.filter((r) => r !== 'proxy').map((r, i) => session(r, i)), comps, ready).status).toBe('critical');
  });

  it('dependencies: not-ready etcd or MinIO critical, absent ones not checked', () => {
    const deps = [
      { dependency: 'etcd', kind: 'StatefulSet', name: 'r-etcd', ready: '1/1', healthy: true },
      { dependency: 'pulsar v2', kind: 'StatefulSet', name: 'r-pulsar-bookie', ready: '0/1', healthy: false },
    ];
    expect(dependencyChecks(deps).map((c) => [c.check, c.status])).toEqual([
      ['etcd', 'ok'],
      ['minio', 'warning'],
    ]);
  });

  describe('mq: graded from what runs; what is not checked is a warning, never ok', () => {
    const sts = (dependency: string, name: string, ready: string) => ({ dependency, kind: 'StatefulSet', name, ready, healthy: Number(ready.split('/')[0]) >= Number(ready.split('/')[1]) });
    const q = (mq: Release['mq'], mode: Release['mode'] = 'cluster', kafkaInCluster = false) => ({ mq, mode, kafkaInCluster });

    it('in-cluster Pulsar: its StatefulSets; none found is critical', () => {
      expect(mqCheck(q('pulsar-v2'), [sts('pulsar v2', 'r-pulsar-bookie', '0/1')])).toMatchObject({ status: 'critical', detail: 'Pulsar v2: not ready: statefulset/r-pulsar-bookie 0/1' });
      expect(mqCheck(q('pulsar-v3'), [sts('pulsar v3', 'r-pulsarv3-broker', '1/1')]).status).toBe('ok');
      expect(mqCheck(q('pulsar-v3'), []).status).toBe('critical');
    });

    it('in-cluster Kafka: brokers and ZooKeeper StatefulSets like Pulsar, none or brokers missing critical', () => {
      const brokers = sts('kafka', 'r-kafka', '3/3');
      const zk = sts('kafka zookeeper', 'r-zookeeper', '3/3');
      expect(mqCheck(q('kafka', 'cluster', true), [brokers, zk])).toEqual({ check: 'mq', status: 'ok', detail: 'Kafka: ready: statefulset/r-kafka 3/3, statefulset/r-zookeeper 3/3' });
      expect(mqCheck(q('kafka', 'cluster', true), [sts('kafka', 'r-kafka', '2/3'), zk])).toMatchObject({ status: 'critical', detail: 'Kafka: not ready: statefulset/r-kafka 2/3' });
      expect(mqCheck(q('kafka', 'cluster', true), [brokers, sts('kafka zookeeper', 'r-zookeeper', '0/3')]).status).toBe('critical');
      expect(mqCheck(q('kafka', 'cluster', true), [])).toMatchObject({ status: 'critical', detail: 'Kafka configured in the release, but no Kafka broker StatefulSet of the release found' });
      expect(mqCheck(q('kafka', 'cluster', true), [zk]).detail).toContain('(only statefulset/r-zookeeper)');
      // Another release's Pulsar is no Kafka.
      expect(mqCheck(q('kafka', 'cluster', true), [sts('pulsar v2', 'r-pulsar-bookie', '1/1')]).status).toBe('critical');
    });

    it('external queues, Woodpecker and unknown ones are not checked: warning', () => {
      for (const facts of [q('kafka'), q('external-pulsar'), q('woodpecker'), q('woodpecker', 'standalone'), q('unknown')]) {
        const c = mqCheck(facts, [sts('kafka', 'r-kafka', '1/1')]);
        expect(c.status, facts.mq).toBe('warning');
        expect(c.detail).toMatch(/^not checked: /);
      }
    });

    it('RocksMQ and NATS are ok only inside a standalone', () => {
      expect(mqCheck(q('rocksmq', 'standalone'), []).status).toBe('ok');
      expect(mqCheck(q('natsmq', 'standalone'), []).status).toBe('ok');
      expect(mqCheck(q('rocksmq', 'cluster'), []).status).toBe('warning');
      expect(mqCheck(q('natsmq', 'cluster'), []).status).toBe('warning');
    });

    it('Kafka in the cluster or external: the chart lets externalKafka win, the operator reads dependencies.kafka.external', () => {
      const helm = (computedValues: Record<string, unknown>) =>
        ({ method: 'helm', mode: 'cluster', mq: 'kafka', helm: { computedValues } }) as unknown as Release;
      expect(queueFacts(helm({ kafka: { enabled: true }, externalKafka: { enabled: false } })).kafkaInCluster).toBe(true);
      expect(queueFacts(helm({ kafka: { enabled: true }, externalKafka: { enabled: true } })).kafkaInCluster).toBe(false);
      expect(queueFacts(helm({ kafka: { enabled: false }, externalKafka: { enabled: true } })).kafkaInCluster).toBe(false);
      const op = (kafka: Record<string, unknown>) =>
        ({ method: 'operator', mode: 'cluster', mq: 'kafka', operator: { resource: { metadata: { name: 'r' }, spec: { dependencies: { msgStreamType: 'kafka', kafka } } } } }) as unknown as Release;
      expect(queueFacts(op({ inCluster: {} })).kafkaInCluster).toBe(true);
      expect(queueFacts(op({ external: true, brokerList: ['k:9092'] })).kafkaInCluster).toBe(false);
    });
  });

  it('volumes: anything not Bound is critical', () => {
    expect(volumesCheck([{ name: 'a', phase: 'Bound' }]).status).toBe('ok');
    expect(volumesCheck([{ name: 'a', phase: 'Bound' }, { name: 'b', phase: 'Pending' }]).detail).toBe('not bound: pvc/b Pending');
  });

  it('risks become warnings, except those the checks grade themselves', () => {
    const r = riskChecks(['not all components are ready (proxy): fix them', 'Milvus 2.1.x: changing the image ...']);
    expect(r).toEqual([{ check: 'risk', status: 'warning', detail: 'Milvus 2.1.x: changing the image ...' }]);
  });

  it('the worst grade wins, and the table reads like kubectl', () => {
    const checks = [componentsCheck([comp('proxy')]), volumesCheck([{ name: 'b', phase: 'Lost' }])];
    expect(worst(checks)).toBe('critical');
    expect(worst([])).toBe('ok');
    const out = renderHealth({ apiVersion: 'kubectl-milvus.io/v1', kind: 'Health', release: 'r', namespace: 'n', status: 'critical', checkedAt: '', summary: { ok: 1, warning: 0, critical: 1 }, checks });
    expect(out).toMatch(/^CHECK +STATUS +DETAIL\ncomponents +ok +1 component\(s\) ready: proxy 1\/1\nvolumes +critical +not bound: pvc\/b Lost\n\nRelease "r": critical \(1 ok, 0 warning, 1 critical\)\n$/);
  });
});
