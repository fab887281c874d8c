/**
 * Port-forward and service-proxy transports against a FIXTURE API server: an HTTP server that
 * lists pods and services and speaks the pods/portforward WebSocket protocol (v4.channel.k8s.io:
 * per port a data and an error channel, each starting with the 2-byte port number), relaying to
 * the Milvus simulator; it can refuse port-forward (403) or the service proxy. The real API server
 * is exercised by test/e2e/flush.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { flushRelease } from '../../src/flush/flush.js';
import { openReleaseTransport } from '../../src/flush/transport.js';
import type { Kube } from '../../src/kube/client.js';
import { activePortForwards, openPortForward } from '../../src/kube/portforward.js';
import type { Release } from '../../src/release/types.js';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

// `ws` ships with @kubernetes/client-node; the fixture only needs its server side.
const { WebSocketServer } = createRequire(import.meta.url)('ws') as { WebSocketServer: new (o: object) => any };

const SELECTOR = 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus,component=proxy';
const release = {
  name: 'r',
  namespace: 'ns',
  method: 'helm',
  mode: 'cluster',
  milvusVersion: '2.4.5',
  proxyDeployment: 'r-milvus-proxy',
  proxyPodSelector: SELECTOR,
  workloadSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus',
} as Release;

const readyPod = (name: string) => ({
  metadata: { name, namespace: 'ns' },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
});
const pendingPod = (name: string) => ({
  metadata: { name, namespace: 'ns' },
  status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'proxy', state: { waiting: { reason: 'ContainerCreating' } } }] },
});

interface Fixture {
  url: string;
  pods: object[];
  forbidPortForward: boolean;
  forbidServiceProxy: boolean;
  /** The service proxy cannot reach the pod (a plain-text answer of something on the way). */
  serviceProxyUnreachable: boolean;
  /** pod port -> local port the fixture relays to. */
  targets: Map<number, number>;
  openSockets: () => number;
  forwardedPods: string[];
  proxied: string[];
  close(): Promise<void>;
}

async function fixtureApiServer(sim: RunningSim): Promise<Fixture> {
  const sockets = new Set<any>();
  const f: Fixture = {
    url: '',
    pods: [readyPod('r-milvus-proxy-1')],
    forbidPortForward: false,
    forbidServiceProxy: false,
    serviceProxyUnreachable: false,
    targets: new Map([
      [9091, sim.port],
      [19530, sim.port],
    ]),
    openSockets: () => sockets.size,
    forwardedPods: [],
    proxied: [],
    close: async () => {},
  };
  const wss = new WebSocketServer({ noServer: true, handleProtocols: () => 'v4.channel.k8s.io' });
  const forbidden = (what: string) =>
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: `${what} is forbidden: User "u" cannot do it` });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const json = (code: number, body: string) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(body);
    };
    if (url.pathname === '/api/v1/namespaces/ns/pods') {
      expect(url.searchParams.get('labelSelector')).toBe(SELECTOR);
      return json(200, JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: f.pods }));
    }
    if (url.pathname === '/api/v1/namespaces/ns/services') {
      return json(
        200,
        JSON.stringify({
          kind: 'ServiceList',
          apiVersion: 'v1',
          metadata: {},
          items: [
            // Another release's service with a shared name prefix must not be picked (it is not in the label selection anyway).
            {
              metadata: { name: 'r-milvus' },
              spec: {
                selector: { 'app.kubernetes.io/instance': 'r', 'app.kubernetes.io/name': 'milvus', component: 'proxy' },
                ports: [
                  { name: 'milvus', port: 19530, targetPort: 'milvus' },
                  { name: 'metrics', port: 9091, targetPort: 'metrics' },
                ],
              },
            },
          ],
        }),
      );
    }
    const m = /^\/api\/v1\/namespaces\/ns\/services\/([^/:]+):(\d+)\/proxy(\/.*)$/.exec(url.pathname);
    if (m) {
      if (f.forbidServiceProxy) return json(403, forbidden('services "r-milvus"'));
      if (f.serviceProxyUnreachable) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        return res.end('Error trying to reach service: dial tcp 10.0.0.7:9091: connect: connection refused');
      }
      f.proxied.push(`${req.method} ${m[1]}:${m[2]}${m[3]}`);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const up = (require('node:http') as typeof import('node:http')).request(
          { host: '127.0.0.1', port: f.targets.get(Number(m[2]))!, method: req.method, path: m[3], headers: { 'content-type': 'application/json', 'content-length': body.length } },
          (ur) => {
            res.writeHead(ur.statusCode!, { 'content-type': String(ur.headers['content-type'] ?? 'text/plain') });
            ur.pipe(res);
          },
        );
        up.end(body);
      });
      return;
    }
    json(404, JSON.stringify({ kind: 'Status', apiVersion: 'v1', code: 404, message: 'not found' }));
  });
  const require = createRequire(import.meta.url);
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const url = new URL(req.url!, 'http://x');
    const m = /^\/api\/v1\/namespaces\/ns\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    if (!m || f.forbidPortForward) {
      const body = forbidden(`pods "${m?.[1]}"`);
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    const port = Number(url.searchParams.get('ports'));
    f.forwardedPods.push(m[1]!);
    wss.handleUpgrade(req, socket, head, (ws: any) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      const portBytes = Buffer.from([port & 0xff, port >> 8]);
      ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
      ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
      const target = connect(f.targets.get(port) ?? 1, '127.0.0.1');
      target.on('data', (d) => ws.send(Buffer.concat([Buffer.from([0]), d])));
      target.on('error', (e) => {
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${port} to pod ${m[1]}: dial tcp: ${e.message}`)]));
        ws.close();
      });
      target.on('close', () => ws.close());
      ws.on('message', (d: Buffer) => {
        if (d[0] === 0 && d.length > 1) target.write(d.subarray(1));
      });
      ws.on('close', () => target.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  f.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.terminate();
      server.closeAllConnections();
      server.close(() => r());
    });
  return f;
}

const kubeFor = (f: Fixture): Kube => kubeForFixture(f.url);

const contextFor = (f: Fixture, signal?: AbortSignal) => testContext({ signal, kube: kubeFor(f) });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function setup() {
  const sim = await startMilvusSim({ version: '2.4', databases: { default: ['a'], db2: ['b'] }, flushAfterPolls: 2 });
  const f = await fixtureApiServer(sim);
  cleanups.push(() => sim.close(), () => f.close());
  return { sim, f };
}
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return cond();
};

describe('port-forward to the proxy pod (fixture API server)', () => {
  it('flushes through a port-forward to the Ready pod and leaves no listener or stream behind', async () => {
    const { sim, f } = await setup();
    f.pods = [pendingPod('r-milvus-proxy-0'), readyPod('r-milvus-proxy-1')];
    const id = sim.control.insert('db2', 'b');
    const { ctx } = contextFor(f);
    const report = await flushRelease(ctx, release, { timeoutMs: 10_000, pollIntervalMs: 10 });
    expect(report).toMatchObject({ verified: true, endpoint: 'pod/r-milvus-proxy-1', scope: 'all-databases' });
    expect(report.collections.find((c) => c.collection === 'b')!.sealedSegmentIds).toEqual([id.toString()]);
    expect(new Set(f.forwardedPods)).toEqual(new Set(['r-milvus-proxy-1']));
    expect(activePortForwards()).toBe(0); // the local listeners are closed
    expect(await until(() => f.openSockets() === 0)).toBe(true); // every WebSocket ended
  });

  it('close() ends the listener and open streams; abort closes it too', async () => {
    const { f } = await setup();
    const kube = kubeFor(f);
    const h = await openPortForward(kube, 'ns', 'r-milvus-proxy-1', 9091);
    const sock = connect(h.localPort, '127.0.0.1');
    await until(() => f.openSockets() === 1);
    expect(h.openStreams()).toBeGreaterThanOrEqual(2);
    await h.close();
    expect(activePortForwards()).toBe(0);
    expect(await until(() => h.openStreams() === 0)).toBe(true);
    expect(await until(() => f.openSockets() === 0)).toBe(true);
    sock.destroy();
    const refused = await new Promise<string>((r) => connect(h.localPort, '127.0.0.1').on('error', (e: NodeJS.ErrnoException) => r(e.code!)).on('connect', () => r('connected')));
    expect(refused).toBe('ECONNREFUSED');

    const ac = new AbortController();
    const h2 = await openPortForward(kube, 'ns', 'r-milvus-proxy-1', 9091, ac.signal);
    ac.abort(new Error('received SIGINT'));
    expect(await until(() => h2.openStreams() === 0)).toBe(true);
  });

  it('Ctrl-C during the wait closes the port-forward', async () => {
    const { sim, f } = await setup();
    sim.control.setFlushDelay(60_000);
    sim.control.insert('default', 'a');
    const ac = new AbortController();
    const { ctx } = contextFor(f, ac.signal);
    setTimeout(() => ac.abort(new Error('received SIGINT')), 200);
    const e = await flushRelease(ctx, release, { timeoutMs: 60_000, pollIntervalMs: 20 }).catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(activePortForwards()).toBe(0);
    expect(await until(() => f.openSockets() === 0)).toBe(true);
  });

  it('no pod / no ready pod: precondition errors naming the selector and the pod states', async () => {
    const { f } = await setup();
    f.pods = [];
    const e1 = await openReleaseTransport(contextFor(f).ctx, release).catch((x) => x);
    expect(e1.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e1.message).toBe(`no proxy pod found in namespace "ns" (selector ${SELECTOR})`);
    f.pods = [pendingPod('r-milvus-proxy-0')];
    const e2 = await openReleaseTransport(contextFor(f).ctx, release).catch((x) => x);
    expect(e2.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e2.message).toBe('no proxy pod is ready: r-milvus-proxy-0 (Pending, ContainerCreating)');
    const noProxy = await openReleaseTransport(contextFor(f).ctx, { ...release, proxyDeployment: undefined }).catch((x) => x);
    expect(noProxy.exitCode).toBe(ExitCode.PRECONDITION);
  });

  it('forbidden port-forward: FORBIDDEN with --via port-forward, service-proxy fallback otherwise', async () => {
    const { sim, f } = await setup();
    f.forbidPortForward = true;
    const e = await openReleaseTransport(contextFor(f).ctx, release, 'port-forward').catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.FORBIDDEN);
    expect(e.message).toBe('port-forward to pod "r-milvus-proxy-1" is forbidden: the command needs "create" on "pods/portforward" in namespace "ns"');
    expect(e.hint).toContain('--via service-proxy');

    sim.control.insert('default', 'a');
    const { ctx, stderr } = contextFor(f);
    const report = await flushRelease(ctx, release, { timeoutMs: 10_000, pollIntervalMs: 10 });
    expect(report).toMatchObject({ verified: true, endpoint: 'service/r-milvus (API server service proxy)' });
    expect(stderr()).toContain("trying the API server's service proxy instead (--via service-proxy)");
    expect(f.proxied).toContain('GET r-milvus:9091/api/v1/persist/state');
    expect(f.proxied).toContain('POST r-milvus:19530/v2/vectordb/databases/list');
    // The GET body reached Milvus through the proxy.
    expect(sim.control.requestsTo('/api/v1/persist/state')[0]!.body).toMatch(/^\{"segmentIDs":\[\d{18}\],"flush_ts":\d+/);

    f.serviceProxyUnreachable = true;
    const e4 = await openReleaseTransport(contextFor(f).ctx, release, 'service-proxy').catch((x) => x);
    expect(e4.exitCode).toBe(ExitCode.UNREACHABLE);
    expect(e4.message).toBe(
      'cannot reach service/r-milvus port 9091 through the API server: HTTP 503 Error trying to reach service: dial tcp 10.0.0.7:9091: connect: connection refused',
    );
    f.serviceProxyUnreachable = false;

    f.forbidServiceProxy = true;
    const e2 = await openReleaseTransport(contextFor(f).ctx, release, 'service-proxy').catch((x) => x);
    expect(e2.exitCode).toBe(ExitCode.FORBIDDEN);
    expect(e2.message).toBe('the service proxy to service/r-milvus is forbidden: the command needs "get" on "services/proxy" in namespace "ns"');
    const e3 = await openReleaseTransport(contextFor(f).ctx, release).catch((x) => x);
    expect(e3.exitCode).toBe(ExitCode.FORBIDDEN);
    expect(e3.message).toBe('cannot reach the management API: port-forward and the service proxy are both forbidden in namespace "ns"');
    expect(e3.hint).toContain('"create" on "pods/portforward"');
  });

  it('nothing listening on 9091 in the pod: UNREACHABLE with the kubelet error', async () => {
    const { f } = await setup();
    const closed = await startMilvusSim({});
    const deadPort = closed.port;
    await closed.close();
    f.targets.set(9091, deadPort);
    const e = await openReleaseTransport(contextFor(f).ctx, release, 'port-forward').catch((x) => x);
    expect(e.exitCode).toBe(ExitCode.UNREACHABLE);
    expect(e.message).toMatch(/^cannot connect to port 9091 of pod "r-milvus-proxy-1" through port-forward: error forwarding port 9091 to pod r-milvus-proxy-1: dial tcp: connect ECONNREFUSED/);
    expect(e.hint).toContain('proxy.http.enabled');
    expect(await until(() => f.openSockets() === 0)).toBe(true);
  });
});
