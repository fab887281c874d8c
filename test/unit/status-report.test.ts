import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { V1Deployment } from '@kubernetes/client-node';
import { adviseProcedures, assessRisks, buildStatusReport, componentStatuses } from '../../src/status/report.js';
import { kubeForFixture } from './fixture-kube.js';
import type { MilvusComponent, Release } from '../../src/release/types.js';
import { renderStatus } from '../../src/commands/status.js';
import { fixtureRelease } from './release-fixture.js';

function component(name: MilvusComponent['component'], strategy = 'RollingUpdate', image = 'milvusdb/milvus:v2.4.5'): MilvusComponent {
  return {
    component: name,
    deployment: {} as V1Deployment,
    name: `r-milvus-${name}`,
    image,
    version: image.split(':v')[1],
    replicas: 1,
    readyReplicas: 1,
    updatedReplicas: 1,
    availableReplicas: 1,
    strategy,
  };
}

function release(over: Partial<Release> = {}): Release {
  return {
    name: 'r',
    namespace: 'ns',
    method: 'helm',
    mode: 'cluster',
    helm: {
      revision: 1,
      status: 'deployed',
      chartName: 'milvus',
      chartVersion: '4.2.8',
      appVersion: '2.4.5',
      userValues: {},
      computedValues: { pulsar: { enabled: true }, pulsarv3: { enabled: false } },
      secretName: 'sh.helm.release.v1.r.v1',
      fullname: 'r-milvus',
    },
    workloadSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus',
    components: [component('proxy'), component('mixcoord', 'Recreate')],
    idleComponents: [],
    milvusVersion: '2.4.5',
    mq: 'pulsar-v2',
    pulsar: { version: 'v2', selector: 'app=pulsar,release=r', evidence: 'values', statefulSets: [] },
    proxyDeployment: 'r-milvus-proxy',
    proxyPodSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus,component=proxy',
    ...over,
  };
}

const statuses = (r: Release) => componentStatuses(r);

describe('adviseProcedures', () => {
  it('offers rolling-update from 2.2.3 and pulsar-upgrade for Pulsar v2', () => {
    const advice = adviseProcedures(release());
    expect(advice.map((a) => [a.procedure, a.applies])).toEqual([
      ['rolling-update', true],
      ['meta-migrate', false],
      ['pulsar-upgrade', true],
    ]);
  });

  it('requires meta-migrate for 2.1.x and refuses rolling-update below 2.2.3', () => {
    const advice = adviseProcedures(release({ milvusVersion: '2.1.4', mq: 'pulsar-v3' }));
    expect(advice.find((a) => a.procedure === 'meta-migrate')?.applies).toBe(true);
    expect(advice.find((a) => a.procedure === 'rolling-update')?.applies).toBe(false);
    expect(advice.find((a) => a.procedure === 'pulsar-upgrade')?.applies).toBe(false);
  });

  it('refuses rolling-update for standalone with RocksMQ', () => {
    const advice = adviseProcedures(release({ mode: 'standalone', mq: 'rocksmq', pulsar: undefined }));
    expect(advice.find((a) => a.procedure === 'rolling-update')?.applies).toBe(false);
  });
});

describe('assessRisks', () => {
  it('warns that a release relying on the chart default pulsar.enabled loses messages on a plain chart upgrade', () => {
    const r = release();
    const risks = assessRisks(r, statuses(r), []);
    expect(risks.some((x) => x.includes('only by the chart default') && x.includes('4.2.27'))).toBe(true);
  });

  it('does not warn when the user pinned pulsar.enabled explicitly', () => {
    const r = release();
    r.helm!.userValues = { pulsar: { enabled: true } };
    expect(assessRisks(r, statuses(r), []).some((x) => x.includes('chart default'))).toBe(false);
  });

  it('names coordinators that cannot roll without downtime and mixed images', () => {
    const r = release({ components: [component('proxy', 'RollingUpdate', 'milvusdb/milvus:v2.4.6'), component('mixcoord', 'Recreate')] });
    const risks = assessRisks(r, statuses(r), []);
    expect(risks.some((x) => x.includes('coordinators without active-standby (mixcoord'))).toBe(true);
    expect(risks.some((x) => x.includes('components run different images'))).toBe(true);
  });

  it('warns about 2.1.x image changes and unhealthy components', () => {
    const r = release({ milvusVersion: '2.1.4' });
    const st = statuses(r);
    st[0]!.healthy = false;
    const risks = assessRisks(r, st, [{ dependency: 'etcd', kind: 'StatefulSet', name: 'r-etcd', ready: '0/1', healthy: false }]);
    expect(risks.some((x) => x.includes('without meta-migrate'))).toBe(true);
    expect(risks.some((x) => x.includes('not all components are ready (proxy)'))).toBe(true);
    expect(risks.some((x) => x.includes('dependencies not ready: r-etcd'))).toBe(true);
  });
});

describe('buildStatusReport: checkpoints of our procedures', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** An API whose lists are empty, but the labelled ConfigMaps answer `configmaps`. */
  async function kubeWith(configmaps: { code: number } | { items: unknown[] }) {
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/api/v1/namespaces/ns/configmaps')) {
        if ('code' in configmaps) {
          res.statusCode = configmaps.code;
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: configmaps.code, message: 'configmaps is forbidden: User "sre" cannot list resource "configmaps"' }));
        } else res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: {}, items: configmaps.items }));
        return;
      }
      res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: {}, items: [] }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return kubeForFixture(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`);
  }

  it('an interrupted procedure is the first risk', async () => {
    const cp = { procedure: 'pulsar-upgrade', completed: [{ id: 'flush' }], startedAt: '2026-12-01T00:00:00Z', finished: false };
    const report = await buildStatusReport(await kubeWith({ items: [{ metadata: { name: 'kubectl-milvus-pulsar-upgrade-r' }, data: { 'checkpoint.json': JSON.stringify(cp) } }] }), release());
    expect(report.inProgress).toMatchObject([{ procedure: 'pulsar-upgrade', stepsDone: ['flush'], finished: false }]);
    expect(report.risks[0]).toContain('an interrupted pulsar-upgrade is recorded in configmap/kubectl-milvus-pulsar-upgrade-r');
  });
  it('checkpoints that cannot be listed, or do not parse, are a risk, never "nothing in progress"', async () => {
    const denied = await buildStatusReport(await kubeWith({ code: 403 }), release());
    expect(denied.inProgress).toEqual([]);
    expect(denied.risks[0]).toMatch(/^could not list the checkpoints of kubectl-milvus procedures \(configmaps is forbidden.*\): an interrupted procedure may be recorded/);
    server?.close();
    const broken = await buildStatusReport(await kubeWith({ items: [{ metadata: { name: 'kubectl-milvus-upgrade-r' }, data: { 'checkpoint.json': '{"procedure":' } }] }), release());
    expect(broken.risks[0]).toMatch(/^configmap\/kubectl-milvus-upgrade-r holds a checkpoint that does not parse/);
  });
});

describe('status shows what runs', () => {
  const half = () =>
    fixtureRelease([
      { component: 'mixcoord', template: '2.4.6' },
      { component: 'proxy', template: '2.4.6', pods: ['2.4.5', '2.4.6'], replicas: 2 },
      { component: 'querynode', template: '2.4.6', pods: ['2.4.5'], paused: true },
    ]);

  it('a half-upgraded release is "mixed", with who runs what, and its unfinished rollouts are a risk', async () => {
    const r = half();
    const report = await buildStatusReport(await emptyApi(), r);
    expect(report.running).toBe('mixed');
    expect(report.milvusVersion).toBe('2.4.5');
    expect(report.runningVersions).toEqual([
      { version: '2.4.5', components: ['proxy', 'querynode'] },
      { version: '2.4.6', components: ['mixcoord', 'proxy'] },
    ]);
    const text = renderStatus(report, true);
    expect(text).toContain('Milvus version:  mixed (2.4.5: proxy, querynode; 2.4.6: mixcoord, proxy): an update is in progress or was left half done');
    expect(text).toMatch(/querynode +r-milvus-querynode .* milvusdb\/milvus:v2\.4\.6 \(pods: milvusdb\/milvus:v2\.4\.5; paused\) +paused/);
    expect(report.risks.some((x) => x.startsWith('components run different versions (2.4.5: proxy, querynode; 2.4.6: mixcoord, proxy)'))).toBe(true);
    expect(report.risks.some((x) => x.includes('rollouts not finished (') && x.includes('deployment/r-milvus-querynode: template milvusdb/milvus:v2.4.6, pods run milvusdb/milvus:v2.4.5, rollout paused'))).toBe(true);
  });

  it('a settled release shows its one version; pods not read show unknown, never the template as what runs', async () => {
    const r = fixtureRelease([{ component: 'mixcoord', template: '2.4.6' }, { component: 'proxy', template: '2.4.6' }]);
    const report = await buildStatusReport(await emptyApi(), r);
    expect(renderStatus(report, false)).toContain('Milvus version:  2.4.6\n');
    const unread = { ...r, running: undefined, components: r.components.map((c) => ({ ...c, runningImages: undefined, running: undefined })) };
    expect(renderStatus(await buildStatusReport(await emptyApi(), unread), false)).toContain('Milvus version:  <unknown>: the pods could not be read (the templates say 2.4.6)');
  });

  let server: Server | undefined;
  afterEach(() => server?.close());
  async function emptyApi() {
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: {}, items: [] }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return kubeForFixture(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`);
  }
});
