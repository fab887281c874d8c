/**
 * Opens the way to a release's management API: a port-forward to a ready proxy (or standalone)
 * pod for 9091 and 19530, opened and closed by us; or, with --via service-proxy, the API
 * server's service proxy (for clusters where port-forward is forbidden).
 */
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type RequestOptions } from 'node:http';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { explainForwardFailure, openPortForward, pickReadyPod, type PortForwardHandle } from '../kube/portforward.js';
import { httpSend, type HttpAnswer, type Transport } from '../milvus/transport.js';
import type { Release } from '../release/types.js';

export type Via = 'port-forward' | 'service-proxy';

export async function openReleaseTransport(ctx: RunContext, release: Release, via: Via): Promise<Transport> {
  const kube = ctx.kube();
  if (!release.proxyDeployment) {
    throw preconditionError(
      `release "${release.name}" has no running proxy${release.mode === 'standalone' ? ' (standalone)' : ''} Deployment`,
      'start Milvus before flushing',
    );
  }
  if (via === 'service-proxy') return serviceProxyTransport(ctx, release);
  const what = release.mode === 'standalone' ? 'standalone' : 'proxy';
  const pod = await pickReadyPod(kube, release.namespace, release.proxyPodSelector, what);
  ctx.log.debug(1, `port-forwarding to pod/${pod} ports 9091 and 19530`);
  const forwards = new Map<number, PortForwardHandle>();
  const forward = async (port: 9091 | 19530) => {
    let f = forwards.get(port);
    if (!f) {
      f = await openPortForward(kube, release.namespace, pod, port, ctx.signal);
      forwards.set(port, f);
    }
    return f;
  };
  return {
    async send(method, port, path, body, signal) {
      const f = await forward(port);
      try {
        return await httpSend('127.0.0.1', f.localPort, method, path, body, signal);
      } catch (e) {
        throw explainForwardFailure(f, release.namespace) ?? e;
      }
    },
    describe: () => `pod/${pod}`,
    async close() {
      await Promise.all([...forwards.values()].map((f) => f.close()));
    },
  };
}

/** Requests through https://<api-server>/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH. */
async function serviceProxyTransport(ctx: RunContext, release: Release): Promise<Transport> {
  const kube = ctx.kube();
  const service = release.method === 'helm' ? release.helm!.fullname : `${release.name}-milvus`;
  const server = kube.server;
  if (!server) throw new CliError('the current context has no server', ExitCode.CONFIG);
  const base = new URL(server);
  return {
    async send(method, port, path, body, signal): Promise<HttpAnswer> {
      const url = new URL(
        `${base.pathname.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(release.namespace)}/services/${encodeURIComponent(service)}:${port}/proxy${path}`,
        base,
      );
      const opts: RequestOptions & Record<string, unknown> = {
        method,
        host: base.hostname,
        port: base.port || (base.protocol === 'https:' ? 443 : 80),
        path: url.pathname,
        headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        agent: false,
        signal,
      };
      await kube.kc.applyToHTTPSOptions(opts as never);
      return new Promise((resolve, reject) => {
        const req = (base.protocol === 'https:' ? httpsRequest : httpRequest)(opts, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 403) {
              reject(new CliError(`service proxy to "${service}" is forbidden: the command needs "get" on "services/proxy" in namespace "${release.namespace}"`, ExitCode.FORBIDDEN));
            } else resolve({ status: res.statusCode ?? 0, body: text });
          });
        });
        req.on('error', (e) => reject(new CliError(`cannot reach the API server's service proxy: ${e.message}`, ExitCode.UNREACHABLE)));
        req.end(body);
      });
    },
    describe: () => `service/${service} (through the API server)`,
    close: async () => {},
  };
}
