import { describe, expect, it } from 'vitest';
import type { V1Deployment } from '@kubernetes/client-node';
import { adviseProcedures, assessRisks, componentStatuses } from '../../src/status/report.js';
import type { MilvusComponent, Release } from '../../src/release/types.js';

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
