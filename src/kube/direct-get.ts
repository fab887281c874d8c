/**
 * A GET straight through node:https for the big list pages of a fleet read: the kubeconfig's own
 * TLS options, credentials and impersonation (client-node's applyToHTTPSOptions, the path its
 * watches and exec use), the answer gzip-compressed as kubectl asks for it and decompressed in
 * one piece off the main thread. The fetch stack of the typed clients inflates a response chunk
 * by chunk through streams, which costs a fleet's list about as much time as parsing it.
 *
 * Only for an https server without a proxy; anything else goes through the typed clients'
 * transport (`directGetApplies`).
 */
import { createHash } from 'node:crypto';
import { Agent, request, type RequestOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { gunzipWhole } from '../util/gzip.js';

export interface DirectAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Whether the current cluster of `kc` is one directGet can reach: https, no proxy. */
export function directGetApplies(kc: KubeConfig): boolean {
  const cluster = kc.getCurrentCluster();
  return Boolean(cluster?.server?.startsWith('https://') && !cluster.proxyUrl);
}

/**
 * One keep-alive agent per kubeconfig and TLS material, with one secure context: a fleet read's
 * pages reuse their connections, and the CA and client key are parsed once, not per socket. The
 * material comes from applyToHTTPSOptions on every request (an exec plugin may rotate a client
 * certificate), so an agent serves only the material it was made for. Idle sockets do not keep
 * the process alive (the agent unrefs them).
 */
const agents = new WeakMap<KubeConfig, { key: string; agent: Agent }>();
function agentFor(kc: KubeConfig, opts: RequestOptions): Agent {
  const tls = { ca: opts.ca, cert: opts.cert, key: opts.key, pfx: opts.pfx, passphrase: opts.passphrase };
  const h = createHash('sha256');
  for (const v of [...Object.values(tls), opts.servername, opts.rejectUnauthorized]) h.update(`${v === undefined ? '-' : String(v)}\0`);
  const key = h.digest('hex');
  const known = agents.get(kc);
  if (known?.key === key) return known.agent;
  known?.agent.destroy();
  const agent = new Agent({
    keepAlive: true,
    secureContext: createSecureContext(tls),
    ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
  });
  agents.set(kc, { key, agent });
  return agent;
}

/** GETs `url` (on the current cluster of `kc`) with its credentials; any HTTP status is an answer, a network failure is thrown. */
export async function directGet(kc: KubeConfig, url: URL, headers: Record<string, string>): Promise<DirectAnswer> {
  const opts: RequestOptions = { method: 'GET', headers: { ...headers, 'Accept-Encoding': 'gzip' } };
  await kc.applyToHTTPSOptions(opts);
  opts.agent = agentFor(kc, opts);
  const raw = await new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end();
  });
  const body = raw.headers['content-encoding'] === 'gzip' ? await gunzipWhole(raw.body) : raw.body;
  return { status: raw.status, headers: raw.headers, body: body.toString('utf8') };
}
