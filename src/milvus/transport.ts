/**
 * How requests reach a Milvus proxy: HTTP to a local port (a port-forward we opened, or a
 * simulator in tests). GET requests carry a JSON body, which the management API expects and
 * fetch() refuses, so this uses node:http directly.
 */
import { Agent, request } from 'node:http';
import { CliError, ExitCode } from '../errors.js';

export interface HttpAnswer {
  status: number;
  body: string;
}

export interface Transport {
  /** `port` is the proxy's port: 9091 (management API) or 19530 (REST v2). */
  send(method: 'GET' | 'POST', port: 9091 | 19530, path: string, body: string | undefined, signal?: AbortSignal): Promise<HttpAnswer>;
  describe(): string;
  close(): Promise<void>;
  /**
   * A local host:port that reaches the proxy's gRPC port 19530 (a port-forward's local end), for
   * gRPC calls; absent (or throwing UNREACHABLE) where gRPC cannot go (the API server's service
   * proxy speaks HTTP/1.1 only).
   */
  grpcTarget?(): Promise<{ host: string; port: number }>;
}

/**
 * Connections kept open between requests, at most `maxSockets` at once: through a port-forward
 * each new connection is a new stream to the API server and the kubelet, so many requests (the
 * flush's persist/state polls) reuse a few. Destroy it with the transport.
 */
export function keepAliveAgent(maxSockets = 16): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
}

/**
 * One request. With a keep-alive `agent`, a request that fails on a reused connection before any
 * answer (the other end closed it while idle) is sent once more on a new one.
 */
export async function httpSend(host: string, localPort: number, method: string, path: string, body: string | undefined, signal?: AbortSignal, timeoutMs = 30_000, agent?: Agent): Promise<HttpAnswer> {
  try {
    return await httpSendOnce(host, localPort, method, path, body, signal, timeoutMs, agent);
  } catch (e) {
    if (!agent || signal?.aborted || !(e instanceof StaleConnectionError)) throw e;
    return httpSendOnce(host, localPort, method, path, body, signal, timeoutMs, agent);
  }
}

/** A reused keep-alive connection was found closed before any answer. */
class StaleConnectionError extends CliError {}

function httpSendOnce(host: string, localPort: number, method: string, path: string, body: string | undefined, signal: AbortSignal | undefined, timeoutMs: number, agent: Agent | undefined): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: localPort,
        method,
        path,
        agent: agent ?? false,
        headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        signal,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new CliError(`no answer from the Milvus proxy within ${timeoutMs / 1000}s (${method} ${path})`, ExitCode.UNREACHABLE)));
    req.on('error', (e) => {
      if (e instanceof CliError || signal?.aborted) reject(e);
      else if (req.reusedSocket && /ECONNRESET|EPIPE|socket hang up/.test(`${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`)) {
        reject(new StaleConnectionError(`the kept-alive connection was closed (${method} ${path})`, ExitCode.UNREACHABLE));
      } else reject(new CliError(`cannot reach the Milvus management API (${method} ${path}): ${e.message}`, ExitCode.UNREACHABLE, undefined, { cause: e }));
    });
    req.end(body);
  });
}

/** A transport to fixed local ports (tests and simulators). */
export function directTransport(ports: { 9091: number; 19530?: number }, host = '127.0.0.1'): Transport {
  const agent = keepAliveAgent();
  return {
    send: (method, port, path, body, signal) => {
      const local = port === 9091 ? ports[9091] : ports[19530];
      if (local === undefined) return Promise.reject(new CliError(`port ${port} is not reachable`, ExitCode.UNREACHABLE));
      return httpSend(host, local, method, path, body, signal, undefined, agent);
    },
    describe: () => `${host}:${ports[9091]}`,
    close: async () => agent.destroy(),
    grpcTarget: async () => {
      if (ports[19530] === undefined) throw new CliError('port 19530 is not reachable', ExitCode.UNREACHABLE);
      return { host, port: ports[19530] };
    },
  };
}
