import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { checkAnswer, LOOPBACK_ANNOTATION, minioAnswer, serviceNames, startDependencyGateway } from '../../testbed/operator-deps/gateway.js';

describe('test bed dependency gateway', () => {
  it('names a Service as in-cluster DNS does, with the etcd pods behind a headless Service', () => {
    const names = serviceNames({ metadata: { name: 'r-etcd-headless', namespace: 'ns', annotations: { 'testbed.kubectl-milvus.io/pods': 'r-etcd' } } });
    expect(names.slice(0, 3)).toEqual(['r-etcd-headless.ns', 'r-etcd-headless.ns.svc', 'r-etcd-headless.ns.svc.cluster.local']);
    expect(names).toContain('r-etcd-0.r-etcd-headless.ns');
    expect(names).toContain('r-etcd-2.r-etcd-headless.ns.svc.cluster.local');
    expect(serviceNames({ metadata: { name: 'r-minio', namespace: 'ns' } })).toHaveLength(3);
  });

  it('answers madmin ServerInfo with one online server and S3 GetBucketLocation', () => {
    const info = minioAnswer('GET', '/minio/admin/v3/info');
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body).servers[0].state).toBe('online');
    const loc = minioAnswer('GET', '/a-bucket?location=');
    expect(loc.body).toContain('<LocationConstraint');
  });
});

/**
 * The gateway under Service churn, against a fixture API server (list + watch): the operator's
 * hosts file only grows (a reader never sees a live name missing, as it could while the file was
 * rewritten in place on every change), a Service added again resolves where it did, and every kind
 * of answer holds.
 */
describe('test bed dependency gateway under Service churn', () => {
  const svc = (name: string, kind: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'churn', resourceVersion: '1', annotations: { [LOOPBACK_ANNOTATION]: kind } }, spec: {} });
  let api: Server | undefined;
  let upstream: NetServer | undefined;
  let gateway: { stop(): Promise<void> } | undefined;
  afterEach(async () => {
    await gateway?.stop();
    api?.close();
    upstream?.close();
  });

  it('appends, never rewrites: a removed Service keeps its line, comes back on its old address, and every answer holds', async () => {
    let watch: ServerResponse | undefined;
    api = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.includes('watch=true')) {
        watch = res;
        res.writeHead(200);
        return;
      }
      res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [svc('a-etcd', 'etcd'), svc('b-minio', 'minio')] }));
    });
    await new Promise<void>((r) => api!.listen(0, '127.0.0.1', r));
    // The relay's upstream: an echo server standing in for the real etcd.
    upstream = createNetServer((s) => s.pipe(s));
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'f', server: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'f', user: 'u' }],
      currentContext: 'c',
    });
    const hostsFile = join(mkdtempSync(join(tmpdir(), 'gateway-')), 'hosts');
    gateway = startDependencyGateway(kc, () => undefined, { hostsFile, etcd: `127.0.0.1:${(upstream.address() as AddressInfo).port}` });
    const read = () => readFileSync(hostsFile, 'utf8');
    const addressOf = (name: string) => read().split('\n').find((l) => l.split(' ').includes(`${name}.churn`))?.split(' ')[0];
    const answers = (address: string, port: number) =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, address, () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
    const until = async (what: string, ok: () => Promise<boolean> | boolean) => {
      for (let i = 0; i < 200; i++) {
        if (await ok()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`gave up waiting for ${what}`);
    };
    const event = (type: string, object: unknown) => watch!.write(`${JSON.stringify({ type, object })}\n`);

    await until('both Services addressed', async () => Boolean(addressOf('a-etcd') && addressOf('b-minio') && (await answers(addressOf('b-minio')!, 9000))));
    await until('the watch', () => watch !== undefined);
    const first = read();
    const b = addressOf('b-minio')!;

    event('DELETED', svc('b-minio', 'minio'));
    await until('b-minio closed', async () => !(await answers(b, 9000)));
    const afterDelete = read();
    expect(afterDelete.startsWith(first)).toBe(true);
    expect(addressOf('b-minio')).toBe(b);

    event('ADDED', svc('b-minio', 'minio'));
    event('ADDED', svc('c-pulsar', 'pulsar'));
    await until('b-minio back and c-pulsar addressed', async () => (await answers(b, 9000)) && Boolean(addressOf('c-pulsar')));
    await until('c-pulsar answering', () => answers(addressOf('c-pulsar')!, 6650));
    const last = read();
    expect(last.startsWith(afterDelete)).toBe(true);
    expect(last.split('\n').filter((l) => l.split(' ').includes('b-minio.churn'))).toHaveLength(1);

    // MinIO: the admin info the operator's probe reads, on a connection that is not kept alive.
    const info = await fetch(`http://${b}:9000/minio/admin/v3/info`);
    expect(info.headers.get('connection')).toBe('close');
    expect(((await info.json()) as { servers: Array<{ state: string }> }).servers[0]!.state).toBe('online');
    await checkAnswer('minio', b);
    await checkAnswer('pulsar', addressOf('c-pulsar')!);
    // etcd: bytes go through the relay to its upstream and back.
    const echoed = await new Promise<string>((resolve, reject) => {
      const s = connect(2379, addressOf('a-etcd')!, () => s.write('ping'));
      s.on('data', (d) => (s.destroy(), resolve(String(d))));
      s.on('error', reject);
    });
    expect(echoed).toBe('ping');
  });
});
