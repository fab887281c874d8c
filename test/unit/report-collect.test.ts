/**
 * writeReport against an API-server fixture: the pods' logs (current, and previous only for a
 * restarted container, with --since as sinceSeconds) end up in the archive with the Secret's and
 * the env's credentials scrubbed out of them.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/collect.js';
import type { Release } from '../../src/release/types.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

const labels = { 'app.kubernetes.io/instance': 'rel', 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/component': 'standalone' };
const pod = {
  metadata: { name: 'rel-milvus-standalone-abc12', namespace: 'ns', labels },
  spec: {
    containers: [
      { name: 'standalone', image: 'milvusdb/milvus:v2.4.5', env: [{ name: 'DB_PASSWORD', value: 'envpass-1234' }, { name: 'KAFKA_SASL_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-creds', key: 'password' } } }] },
      { name: 'sidecar', image: 'busybox' },
    ],
  },
  status: { phase: 'Running', containerStatuses: [{ name: 'standalone', restartCount: 0 }, { name: 'sidecar', restartCount: 2 }] },
};
const secret = { metadata: { name: 'rel-creds', namespace: 'ns', labels }, data: { token: Buffer.from('tok-secret-5678').toString('base64') } };
// Used by the pod by name, with no release label (created by hand, shared); and one nobody uses.
const b64 = (s: string) => Buffer.from(s).toString('base64');
const referenced = { metadata: { name: 'kafka-creds', namespace: 'ns' }, data: { username: b64('milvus'), password: b64('shared-pw-4321') } };
const unrelated = { metadata: { name: 'unrelated', namespace: 'ns' }, data: { token: b64('not-of-the-release') } };

describe('writeReport with logs', () => {
  let url = '';
  const logRequests: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    const list = (kind: string, items: unknown[]) => res.end(JSON.stringify({ kind, apiVersion: 'v1', metadata: {}, items }));
    const m = /^\/api\/v1\/namespaces\/ns\/pods\/([^/]+)\/log$/.exec(u.pathname);
    if (m) {
      logRequests.push(u.search);
      res.setHeader('content-type', 'text/plain');
      const c = u.searchParams.get('container');
      const previous = u.searchParams.get('previous') === 'true';
      return void res.end(c === 'standalone' ? 'connecting with token tok-secret-5678 and password envpass-1234\nkafka sasl user milvus, password shared-pw-4321\n' : previous ? 'sidecar crashed\n' : 'sidecar running\n');
    }
    if (u.pathname === '/api/v1/namespaces/ns/pods') return list('PodList', [pod]);
    if (u.pathname === '/api/v1/namespaces/ns/secrets') return list('SecretList', [secret, referenced, unrelated]);
    if (u.pathname === '/api/v1/namespaces/ns/events') return list('EventList', [{ metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: pod.metadata.name }, reason: 'BackOff', message: 'Back-off restarting failed container sidecar' }]);
    if (/^\/(api\/v1|apis\/apps\/v1)\/namespaces\/ns\/\w+$/.test(u.pathname)) return list('List', []);
    if (u.pathname === '/version') return void res.end(JSON.stringify({ gitVersion: 'v1.33.0' }));
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' }));
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('collects current and previous logs, since the given time, with credentials scrubbed', async () => {
    const { ctx, stderr } = testContext({ kube: kubeForFixture(url) });
    const release = { name: 'rel', namespace: 'ns', method: 'operator', mode: 'standalone', components: [], mq: 'rocksmq', operator: { resource: { apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', metadata: { name: 'rel' }, spec: {} }, status: 'Healthy' } } as unknown as Release;
    const dir = mkdtempSync(join(tmpdir(), 'km-report-unit-'));
    const file = join(dir, 'r.tar.gz');
    const res = await writeReport(ctx, release, { file, logs: true, sinceMs: 3_600_000, secrets: 'hidden', health: false });
    execFileSync('tar', ['xzf', file, '-C', dir]);
    const read = (f: string) => readFileSync(join(dir, 'rel-report', f), 'utf8');
    expect(read(`logs/${pod.metadata.name}/standalone.log`)).toBe('connecting with token <redacted> and password <redacted>\nkafka sasl user milvus, password <redacted>\n');
    // The Secret the pod references is the release's, labelled or not; the username stays, the image too.
    const secrets = read('objects/secrets.yaml');
    expect(secrets).toContain('name: kafka-creds');
    expect(secrets).not.toContain('unrelated');
    expect(secrets).not.toContain(b64('shared-pw-4321'));
    expect(read('objects/pods.yaml')).toContain('image: milvusdb/milvus:v2.4.5');
    expect(read('objects/pods.yaml')).toContain('name: kafka-creds');
    expect(read(`logs/${pod.metadata.name}/sidecar.log`)).toBe('sidecar running\n');
    expect(read(`logs/${pod.metadata.name}/sidecar.previous.log`)).toBe('sidecar crashed\n');
    expect(() => read(`logs/${pod.metadata.name}/standalone.previous.log`)).toThrow();
    expect(logRequests).toHaveLength(3);
    for (const q of logRequests) expect(new URLSearchParams(q).get('sinceSeconds')).toBe('3600');
    expect(read('objects/pods.yaml')).toContain('name: DB_PASSWORD\n              value: <redacted>');
    expect(read('objects/events.yaml')).toContain('Back-off restarting failed container sidecar');
    expect(read('milvus/milvus.yaml')).toContain('kind: Milvus');
    expect(read('version.txt')).toContain('server v1.33.0');
    expect(stderr()).toContain('Collecting 3 log(s) of 1 pod(s) since 3600s ago ...');
    expect(res.errors.filter((e) => e.startsWith('logs'))).toEqual([]);
  });
});
