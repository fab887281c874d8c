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
import { renderHealth } from '../../src/commands/health.js';
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

  it('dependencies: not-ready etcd, MinIO or Pulsar critical, absent ones not checked', () => {
    const deps = [
      { dependency: 'etcd', kind: 'StatefulSet', name: 'r-etcd', ready: '1/1', healthy: true },
      { dependency: 'pulsar v2', kind: 'StatefulSet', name: 'r-pulsar-bookie', ready: '0/1', healthy: false },
    ];
    const checks = dependencyChecks(deps, 'Pulsar v2');
    expect(checks.map((c) => [c.check, c.status])).toEqual([
      ['etcd', 'ok'],
      ['minio', 'warning'],
      ['mq', 'critical'],
    ]);
    expect(dependencyChecks([], 'Kafka').find((c) => c.check === 'mq')!.status).toBe('ok');
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
