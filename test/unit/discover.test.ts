import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { helmFullname, helmMessageQueue } from '../../src/release/discover.js';
import { decodeHelmRelease } from '../../src/release/helm-secret.js';
import { anyPulsarSelector, pulsarSelector } from '../../src/release/labels.js';
import { lowestVersion, versionFromImage } from '../../src/release/version.js';
import { hasPath, mergeValues } from '../../src/util/values.js';

describe('chart naming', () => {
  it('follows milvus.fullname', () => {
    expect(helmFullname('my-release', {})).toBe('my-release-milvus');
    expect(helmFullname('milvus-prod', {})).toBe('milvus-prod');
    expect(helmFullname('my-release', { fullnameOverride: 'custom-' })).toBe('custom');
    expect(helmFullname('my-release', { nameOverride: 'vdb' })).toBe('my-release-vdb');
  });
});

describe('message queue from values, in the chart precedence order', () => {
  it('prefers Pulsar v2 when both Pulsar generations are enabled', () => {
    expect(helmMessageQueue({ pulsar: { enabled: true }, pulsarv3: { enabled: true } }, 'cluster')).toBe('pulsar-v2');
  });
  it('recognises v3, kafka, external pulsar and standalone rocksmq', () => {
    expect(helmMessageQueue({ pulsar: { enabled: false }, pulsarv3: { enabled: true } }, 'cluster')).toBe('pulsar-v3');
    expect(helmMessageQueue({ kafka: { enabled: true } }, 'cluster')).toBe('kafka');
    expect(helmMessageQueue({ externalPulsar: { enabled: true }, pulsar: { enabled: true } }, 'cluster')).toBe('external-pulsar');
    expect(helmMessageQueue({}, 'standalone')).toBe('rocksmq');
    expect(helmMessageQueue({}, 'cluster')).toBe('unknown');
  });
});

describe('label selectors never match by name prefix', () => {
  it('selects one release exactly', () => {
    expect(pulsarSelector('helm', 'my-release', 'pulsar')).toBe('app=pulsar,release=my-release');
    expect(pulsarSelector('operator', 'my-release', 'pulsar')).toBe('app=pulsar,release=my-release-pulsar');
    expect(anyPulsarSelector('helm', 'r')).toBe('app in (pulsar,pulsarv3),release=r');
  });
});

describe('helm release records', () => {
  it('decodes base64(gzip(json)) as Helm stores it', () => {
    const rec = { name: 'r', namespace: 'n', version: 3, config: { pulsar: { enabled: true } }, chart: { metadata: { version: '4.2.8' } } };
    const payload = gzipSync(Buffer.from(JSON.stringify(rec))).toString('base64');
    expect(decodeHelmRelease(payload)).toEqual(rec);
  });
});

describe('values', () => {
  it('merges user values over chart defaults like helm, null deleting a key', () => {
    const merged = mergeValues({ a: { b: 1, c: 2 }, d: [1], e: 'x' }, { a: { c: 3 }, d: [2], e: null });
    expect(merged).toEqual({ a: { b: 1, c: 3 }, d: [2] });
    expect(hasPath({ pulsar: { enabled: false } }, 'pulsar.enabled')).toBe(true);
    expect(hasPath({ pulsar: {} }, 'pulsar.enabled')).toBe(false);
  });
});

describe('versions', () => {
  it('reads versions from image tags', () => {
    expect(versionFromImage('milvusdb/milvus:v2.4.5')).toBe('2.4.5');
    expect(versionFromImage('registry:5000/milvusdb/milvus:v2.2.0-20230101-abc')).toBe('2.2.0');
    expect(versionFromImage('registry:5000/milvusdb/milvus')).toBeUndefined();
    expect(versionFromImage('milvusdb/milvus:latest')).toBeUndefined();
    expect(lowestVersion(['2.4.5', undefined, '2.2.10', '2.10.0'])).toBe('2.2.10');
  });
});
