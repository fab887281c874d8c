/**
 * Opens the way to a release's management API (9091) and REST v2 (19530):
 * - port-forward (default): to a Ready proxy (or standalone) pod selected by the release's
 *   proxyPodSelector, opened and closed by us, probed with GET /healthz before use;
 * - service-proxy (--via service-proxy): the API server's service proxy
 *   /api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH, for clusters where pods/portforward is
 *   forbidden. The Service is found by the release's labels, never by name.
 * With no --via, a forbidden port-forward falls back to the service proxy with a warning.
 */
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type RequestOptions } from 'node:http';
import type { V1Service } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { explainForwardFailure, openPortForward, pickReadyPod, type PortForwardHandle } from '../kube/portforward.js';
import { httpSend, keepAliveAgent, type HttpAnswer, type Transport } from '../milvus/transport.js';
import type { Release } from '../release/types.js';

export type Via = 'port-forward' | 'service-proxy';

export async function openReleaseTransport(ctx: RunContext, release: Release, via?: Via): Promise<Transport> {
  if (!release.proxyDeployment) {
    throw preconditionError(
      `release "${release.name}" has no ${release.mode === 'standalone' ? 'standalone' : 'proxy'} Deployment to serve the management API`,
      'start Milvus before flushing',
    );
  }
  if (via === 'service-proxy') return probed(await serviceProxyTransport(ctx, release));
  try {
    return await probed(await portForwardTransport(ctx, release));
  } catch (e) {
    if (via === undefined && e instanceof CliError && e.exitCode === ExitCode.FORBIDDEN) {
      ctx.log.warn(`${e.message}; trying the API server's service proxy instead (--via service-proxy)`);
      try {
        return await probed(await serviceProxyTransport(ctx, release));
      } catch (e2) {
        if (!(e2 instanceof CliError)) throw e2;
        const both = e2.exitCode === ExitCode.FORBIDDEN;
        throw new CliError(
          both
            ? `cannot reach the management API: port-forward and the service proxy are both forbidden in namespace "${release.namespace}"`
            : `cannot reach the management API: port-forward is forbidden and the service proxy failed: ${e2.message}`,
          ExitCode.FORBIDDEN,
          'the command needs "create" on "pods/portforward", or "get" and "create" on "services/proxy" (see docs/rbac.yaml, role kubectl-milvus-flush)',
        );
      }
    }
    throw e;
  }
}

/** Checks that 9091 answers at all (GET /healthz: any HTTP answer will do); closes on failure. */
async function probed(t: Transport): Promise<Transport> {
  try {
    await t.send('GET', 9091, '/healthz', undefined);
    return t;
  } catch (e) {
    await t.close();
    throw e;
  }
}

async function portForwardTransport(ctx: RunContext, release: Release): Promise<Transport> {
  const kube = ctx.kube();
  const what = release.mode === 'standalone' ? 'standalone' : 'proxy';
  const pod = await pickReadyPod(kube, release.namespace, release.proxyPodSelector, what);
  ctx.log.debug(1, `port-forwarding to pod/${pod} (ports 9091 and 19530 on demand)`);
  const forwards = new Map<number, Promise<PortForwardHandle>>();
  // Connections reused across requests: each new one is a new stream through the API server.
  const agent = keepAliveAgent();
  let closed = false;
  const forward = (port: 9091 | 19530) => {
    if (closed) return Promise.reject(new CliError('the port-forward is closed', ExitCode.UNREACHABLE));
    let f = forwards.get(port);
    if (!f) {
      f = openPortForward(kube, release.namespace, pod, port, ctx.signal);
      forwards.set(port, f);
    }
    return f;
  };
  return {
    async send(method, port, path, body, signal) {
      const f = await forward(port);
      try {
        return await httpSend('127.0.0.1', f.localPort, method, path, body, signal, undefined, agent);
      } catch (e) {
        if (signal?.aborted || ctx.signal.aborted) throw e;
        throw explainForwardFailure(f) ?? e;
      }
    },
    describe: () => `pod/${pod}`,
    async grpcTarget() {
      const f = await forward(19530);
      return { host: '127.0.0.1', port: f.localPort };
    },
    async close() {
      closed = true;
      agent.destroy();
      const all = await Promise.allSettled([...forwards.values()]);
      await Promise.all(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.close()] : [])));
    },
  };
}

/** The release's Service in front of the proxy pods that exposes port 9091, found by labels. */
async function findProxyService(ctx: RunContext, release: Release): Promise<{ name: string; ports: Map<number, number> }> {
  const kube = ctx.kube();
  const services: V1Service[] = await kube.listAll(
    { verb: 'list', resource: 'services', namespace: release.namespace },
    (o) => kube.core.listNamespacedService({ namespace: release.namespace, ...o }),
    { labelSelector: release.workloadSelector },
  );
  const proxyLabels = Object.fromEntries(release.proxyPodSelector.split(',').map((kv) => kv.split('=') as [string, string]));
  const selectsProxy = (s: V1Service) => {
    const sel = s.spec?.selector ?? {};
    return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => proxyLabels[k] === v);
  };
  const candidates = services.filter((s) => selectsProxy(s) && s.spec?.type !== 'ExternalName');
  const withMgmt = candidates.find((s) => (s.spec?.ports ?? []).some((p) => p.port === 9091 || p.targetPort === 9091 || p.targetPort === 'metrics'));
  if (!withMgmt) {
    throw preconditionError(
      `no Service of release "${release.name}" exposes the management port 9091 (selector ${release.workloadSelector})`,
      'enable metrics on the Service (Helm: metrics.enabled=true) or use --via port-forward',
    );
  }
  // Service port per pod port: the service proxy addresses service ports.
  const ports = new Map<number, number>();
  for (const p of withMgmt.spec?.ports ?? []) {
    const target = typeof p.targetPort === 'number' ? p.targetPort : p.targetPort === 'metrics' ? 9091 : p.targetPort === 'milvus' ? 19530 : p.port;
    ports.set(target, p.port);
  }
  return { name: withMgmt.metadata!.name!, ports };
}

/** Requests through https://<api-server>/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH. */
async function serviceProxyTransport(ctx: RunContext, release: Release): Promise<Transport> {
  const kube = ctx.kube();
  const server = kube.server;
  if (!server) throw new CliError('the current context has no server', ExitCode.CONFIG);
  const { name: service, ports } = await findProxyService(ctx, release);
  const base = new URL(server);
  ctx.log.debug(1, `using the API server's service proxy to service/${service}`);
  return {
    async send(method, port, path, body, signal): Promise<HttpAnswer> {
      const servicePort = ports.get(port);
      if (servicePort === undefined) {
        throw new CliError(`service/${service} does not expose port ${port}`, ExitCode.UNREACHABLE);
      }
      const proxyPath = `${base.pathname.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(release.namespace)}/services/${encodeURIComponent(service)}:${servicePort}/proxy${path}`;
      const opts: RequestOptions & Record<string, unknown> = {
        method,
        host: base.hostname,
        port: base.port || (base.protocol === 'https:' ? 443 : 80),
        path: proxyPath,
        headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        agent: false,
        timeout: 30_000,
        ...(signal ? { signal } : {}),
      };
      await kube.kc.applyToHTTPSOptions(opts as never);
      const answer = await new Promise<HttpAnswer & { contentType: string }>((resolve, reject) => {
        const req = (base.protocol === 'https:' ? httpsRequest : httpRequest)(opts, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? '') }));
        });
        req.on('timeout', () => req.destroy(new CliError(`no answer through the service proxy within 30s (${method} ${path})`, ExitCode.UNREACHABLE)));
        req.on('error', (e) => {
          if (e instanceof CliError || signal?.aborted) reject(e);
          else reject(new CliError(`cannot reach the API server's service proxy: ${e.message}`, ExitCode.UNREACHABLE, undefined, { cause: e }));
        });
        req.end(body);
      });
      // Answers of the API server itself (not of Milvus) are Kubernetes Status objects.
      const isKubeStatus = answer.contentType.includes('application/json') && /"kind"\s*:\s*"Status"/.test(answer.body) && /"apiVersion"\s*:\s*"v1"/.test(answer.body);
      if (answer.status === 403 && isKubeStatus) {
        throw new CliError(
          `the service proxy to service/${service} is forbidden: the command needs "get" on "services/proxy" in namespace "${release.namespace}"`,
          ExitCode.FORBIDDEN,
          'or use --via port-forward, which needs "create" on "pods/portforward"',
        );
      }
      if (answer.status === 401 && isKubeStatus) throw new CliError('the API server did not accept the credentials for the service proxy', ExitCode.CONFIG);
      if ((answer.status === 503 || answer.status === 502 || answer.status === 404) && isKubeStatus) {
        const msg = /"message"\s*:\s*"([^"]*)"/.exec(answer.body)?.[1] ?? `HTTP ${answer.status}`;
        throw new CliError(`cannot reach service/${service} port ${servicePort} through the API server: ${msg}`, ExitCode.UNREACHABLE);
      }
      // The API server (or a proxy on its way to the pod) failed to reach the endpoint: plain
      // text, not a Milvus answer (Milvus answers these routes with JSON or "OK").
      if ([403, 502, 503, 504].includes(answer.status) && !answer.body.trimStart().startsWith('{')) {
        throw new CliError(
          `cannot reach service/${service} port ${servicePort} through the API server: HTTP ${answer.status} ${answer.body.trim().slice(0, 160)}`,
          ExitCode.UNREACHABLE,
          'the API server must be able to connect to the pod network; otherwise use --via port-forward',
        );
      }
      return { status: answer.status, body: answer.body };
    },
    describe: () => `service/${service} (API server service proxy)`,
    close: async () => {},
  };
}
