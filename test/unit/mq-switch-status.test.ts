/**
 * What status and pvc-list say around a WAL switch: the queue with its source (values, resource,
 * etcd), a Pulsar v3 release flagged as a candidate (the Pulsar v3 chart is end of life), and the
 * Woodpecker service's volumes listed with the release's queue volumes (and no neighbour's).
 */
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Kube } from '../../src/kube/client.js';
import { listReleasePvcs } from '../../src/pvc-list/list-pvcs.js';
import type { Release } from '../../src/release/types.js';
import { queueSource } from '../../src/status/queue-source.js';
import { adviseProcedures } from '../../src/status/report.js';
import { fixtureRelease } from './release-fixture.js';

const on = (version: string, over: Partial<Release> = {}) =>
  fixtureRelease([{ component: 'proxy', template: version }, { component: 'mixcoord', template: version }, { component: 'streamingnode', template: version }], over);

const v3Values = { pulsar: { enabled: false }, pulsarv3: { enabled: true }, woodpecker: { enabled: false } };
const helmInfo = (computedValues: Record<string, unknown>) => ({ ...on('3.0.2').helm!, chartVersion: '5.0.27', computedValues });

describe('status: the message queue and its source', () => {
  it('names the values, and etcd when it can be read', () => {
    const r = on('3.0.2', { mq: 'pulsar-v3', helm: helmInfo(v3Values) });
    expect(queueSource(r, { key: 'by-dev/config/mqtype', value: undefined })).toEqual({ source: 'values pulsarv3.enabled=true; etcd by-dev/config/mqtype not set (never switched)', etcd: 'etcd by-dev/config/mqtype not set (never switched)', runs: undefined });
    expect(queueSource(r, { error: 'cannot reach the etcd of release "r": no etcd pod is ready' }).source).toBe('values pulsarv3.enabled=true; etcd not read: cannot reach the etcd of release "r": no etcd pod is ready');
  });
  it('after a switch the installation may still name Pulsar v2 (chart precedence): etcd says what runs', () => {
    const r = on('3.0.2', { mq: 'pulsar-v2', helm: helmInfo({ pulsar: { enabled: true }, woodpecker: { enabled: true } }) });
    expect(queueSource(r, { key: 'by-dev/config/mqtype', value: 'woodpecker' })).toMatchObject({ source: 'values pulsar.enabled=true (chart precedence over woodpecker.enabled=true); etcd by-dev/config/mqtype=woodpecker', runs: 'woodpecker' });
  });
  it('the Operator: the resource field', () => {
    const r = on('3.0.2', { method: 'operator', mq: 'kafka', operator: { resource: { metadata: { name: 'r' }, spec: { dependencies: { msgStreamType: 'kafka' } } }, status: 'Healthy' } });
    expect(queueSource(r, undefined).source).toBe('resource spec.dependencies.msgStreamType=kafka');
  });
});

describe('status: mq-switch advice', () => {
  const advice = (r: Release) => adviseProcedures(r).find((a) => a.procedure === 'mq-switch');
  it('a Pulsar v3 release on 3.0 is a candidate the switch applies to', () => {
    expect(advice(on('3.0.2', { mq: 'pulsar-v3' }))).toMatchObject({ applies: true, reason: expect.stringMatching(/^candidate: the Pulsar v3 chart is end of life \(milvus-helm#294\); Milvus 3\.0\.2 can switch Pulsar v3 to Woodpecker/) });
  });
  it('a Pulsar v3 release below 3.0 is a candidate that must upgrade first', () => {
    expect(advice(on('2.6.24', { mq: 'pulsar-v3' }))).toMatchObject({ applies: false, reason: expect.stringMatching(/candidate: .*needs Milvus 3\.0, this runs 2\.6\.24/) });
  });
  it('Kafka on 3.0 applies; Woodpecker does not; Pulsar v2 on 2.4 gets no row', () => {
    expect(advice(on('3.0.2', { mq: 'kafka' }))?.applies).toBe(true);
    expect(advice(on('3.0.2', { mq: 'woodpecker' }))).toMatchObject({ applies: false, reason: 'the release runs on Woodpecker' });
    expect(advice(on('2.4.5', { mq: 'pulsar-v2' }))).toBeUndefined();
  });
});

/** A Kube whose PVC list evaluates the label selectors it is given (equality and `in`), as the API server does. */
function kubeWithPvcs(pvcs: V1PersistentVolumeClaim[]): Kube {
  const matches = (labels: Record<string, string>, selector: string) =>
    selector.split(/,(?![^(]*\))/).every((term) => {
      const inSet = /^(\S+) in \(([^)]*)\)$/.exec(term.trim());
      if (inSet) return inSet[2]!.split(',').map((x) => x.trim()).includes(labels[inSet[1]!] ?? '\0');
      const [k, v] = term.split('=');
      return labels[k!.trim()] === v!.trim();
    });
  return {
    listAll: async (req: { resource: string }, _fn: unknown, opts: { labelSelector?: string } = {}) =>
      req.resource === 'persistentvolumeclaims' ? pvcs.filter((p) => matches(p.metadata?.labels ?? {}, opts.labelSelector ?? '')) : [],
  } as unknown as Kube;
}

const pvc = (name: string, labels: Record<string, string>): V1PersistentVolumeClaim => ({ metadata: { name, labels }, spec: {} });

describe('pvc-list: the Woodpecker service volumes', () => {
  it('lists this release\'s Woodpecker PVCs beside its Pulsar ones, never a neighbour\'s', async () => {
    const kube = kubeWithPvcs([
      pvc('woodpecker-storage-r-milvus-woodpecker-0', { 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'r', component: 'woodpecker' }),
      pvc('woodpecker-storage-r-2-milvus-woodpecker-0', { 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'r-2', component: 'woodpecker' }),
      pvc('r-pulsarv3-bookie-journal-r-pulsarv3-bookie-0', { app: 'pulsarv3', release: 'r', component: 'bookie' }),
      pvc('data-r-etcd-0', { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'r' }),
    ]);
    const r = on('3.0.2', { mq: 'woodpecker' });
    const { items } = await listReleasePvcs(kube, r, false);
    expect(items.map((i) => [i.pvc.metadata?.name, i.component])).toEqual([
      ['r-pulsarv3-bookie-journal-r-pulsarv3-bookie-0', 'bookie journal'],
      ['woodpecker-storage-r-milvus-woodpecker-0', 'woodpecker'],
    ]);
  });
});
