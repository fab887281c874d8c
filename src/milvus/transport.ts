/**
 * How requests reach a Milvus proxy: HTTP to a local port (a port-forward we opened, or a
 * simulator in tests). GET requests carry a JSON body, which the management API expects and
 * fetch() refuses, so this uses node:http directly.
 */
import { request } from 'node:http';
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

export function httpSend(host: string, localPort: number, method: string, path: string, body: string | undefined, signal?: AbortSignal, timeoutMs = 30_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: localPort,
        method,
        path,
        agent: false,
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
      else reject(new CliError(`cannot reach the Milvus management API (${method} ${path}): ${e.message}`, ExitCode.UNREACHABLE, undefined, { cause: e }));
    });
    req.end(body);
  });
}

/** A transport to fixed local ports (tests and simulators). */
export function directTransport(ports: { 9091: number; 19530?: number }, host = '127.0.0.1'): Transport {
  return {
    send: (method, port, path, body, signal) => {
      const local = port === 9091 ? ports[9091] : ports[19530];
      if (local === undefined) return Promise.reject(new CliError(`port ${port} is not reachable`, ExitCode.UNREACHABLE));
      return httpSend(host, local, method, path, body, signal);
    },
    describe: () => `${host}:${ports[9091]}`,
    close: async () => {},
    grpcTarget: async () => {
      if (ports[19530] === undefined) throw new CliError('port 19530 is not reachable', ExitCode.UNREACHABLE);
      return { host, port: ports[19530] };
    },
  };
}
