/**
 * Port-forward to a pod through the API server, in-process (no kubectl child process): a listener
 * on an ephemeral 127.0.0.1 port, one WebSocket stream (pods/portforward) per accepted connection.
 * `close()` ends the listener, every local socket and every WebSocket at once (terminate, no close
 * handshake that could keep the process alive); it also runs on abort, so nothing is left behind
 * on Ctrl-C or error.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { PortForward, type V1Pod } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';
import type { Kube } from './client.js';

export interface PortForwardHandle {
  localPort: number;
  remotePort: number;
  pod: string;
  namespace: string;
  /** The last error reported by the API server or the kubelet for a stream, if any. */
  lastError(): string | undefined;
  /** Connections accepted and WebSocket streams still open (for leak checks). */
  openStreams(): number;
  close(): Promise<void>;
}

export function podReady(p: V1Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    !p.metadata?.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

function whyNotReady(p: V1Pod): string {
  if (p.metadata?.deletionTimestamp) return 'terminating';
  const phase = p.status?.phase ?? 'Unknown';
  const waiting = (p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).find(Boolean);
  return waiting ? `${phase}, ${waiting}` : `${phase}, not ready`;
}

/** A Ready pod matching the selector, or a clear precondition error naming what is wrong. */
export async function pickReadyPod(kube: Kube, namespace: string, selector: string, what: string): Promise<string> {
  const pods = await kube.listAll(
    { verb: 'list', resource: 'pods', namespace },
    (o) => kube.core.listNamespacedPod({ namespace, ...o }),
    { labelSelector: selector },
  );
  if (pods.length === 0) {
    throw new CliError(
      `no ${what} pod found in namespace "${namespace}" (selector ${selector})`,
      ExitCode.PRECONDITION,
      'is Milvus stopped or scaled to zero? the management API is served by the running proxy',
    );
  }
  const ready = pods.filter(podReady).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  if (ready.length === 0) {
    const names = pods.map((p) => `${p.metadata?.name} (${whyNotReady(p)})`).join(', ');
    throw new CliError(
      `no ${what} pod is ready: ${names}`,
      ExitCode.PRECONDITION,
      `the management API answers only on a ready pod; see "kubectl describe pod -n ${namespace} -l ${selector}"`,
    );
  }
  return ready[0]!.metadata!.name!;
}

interface StreamLike {
  on(event: string, fn: (...args: any[]) => void): unknown;
  terminate?: () => void;
  close(): void;
}

/** The WebSocket handler rejects with an ErrorEvent ({message, error}), not an Error. */
function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object') {
    const o = e as { message?: unknown; error?: unknown };
    if (typeof o.message === 'string' && o.message) return o.message;
    if (o.error instanceof Error) return o.error.message;
  }
  return String(e);
}

/** Local listeners of port-forwards not yet closed, in this process (diagnostics and tests). */
let activeForwards = 0;
export function activePortForwards(): number {
  return activeForwards;
}

export async function openPortForward(kube: Kube, namespace: string, pod: string, remotePort: number, signal?: AbortSignal): Promise<PortForwardHandle> {
  if (signal?.aborted) throw signal.reason;
  const forward = new PortForward(kube.kc, true);
  const sockets = new Set<Socket>();
  const streams = new Set<StreamLike>();
  let lastError: string | undefined;
  let closed = false;
  const end = (s: StreamLike) => {
    streams.delete(s);
    if (s.terminate) s.terminate();
    else s.close();
  };

  const server: Server = createServer((socket) => {
    if (closed) return void socket.destroy();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // Channel 1 of a port-forward stream carries the kubelet's error text ("connection refused").
    const errors = new Writable({
      write(chunk: Buffer, _enc, cb) {
        const text = chunk.toString('utf8').trim();
        if (text) lastError = text;
        cb();
      },
    });
    forward
      .portForward(namespace, pod, [remotePort], socket, errors, socket)
      .then((ws) => {
        const stream = (typeof ws === 'function' ? ws() : ws) as StreamLike | null;
        if (!stream) return void socket.destroy();
        if (closed || socket.destroyed) return void end(stream);
        streams.add(stream);
        stream.on('close', () => {
          streams.delete(stream);
          socket.end();
        });
        stream.on('error', (e: unknown) => {
          lastError = errorText(e);
          socket.destroy();
        });
        socket.on('close', () => end(stream));
      })
      .catch((e: unknown) => {
        lastError = errorText(e);
        socket.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const localPort = (server.address() as { port: number }).port;
  activeForwards++;

  const onAbort = () => void close();
  const close = async () => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', onAbort);
    for (const s of [...streams]) end(s);
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    activeForwards--;
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    localPort,
    remotePort,
    pod,
    namespace,
    lastError: () => lastError,
    openStreams: () => streams.size + sockets.size + (server.listening ? 1 : 0),
    close,
  };
}

/** Why a request through the forward failed, worded for the user (403 means RBAC). */
export function explainForwardFailure(handle: PortForwardHandle): CliError | undefined {
  const err = handle.lastError();
  if (!err) return undefined;
  if (/\b403\b|forbidden/i.test(err)) {
    return new CliError(
      `port-forward to pod "${handle.pod}" is forbidden: the command needs "create" on "pods/portforward" in namespace "${handle.namespace}"`,
      ExitCode.FORBIDDEN,
      'or use --via service-proxy, which needs "get" on "services/proxy"',
    );
  }
  if (/\b401\b|unauthorized/i.test(err)) {
    return new CliError(`port-forward to pod "${handle.pod}": the API server did not accept the credentials (${err})`, ExitCode.CONFIG);
  }
  return new CliError(
    `cannot connect to port ${handle.remotePort} of pod "${handle.pod}" through port-forward: ${err}`,
    ExitCode.UNREACHABLE,
    handle.remotePort === 9091 ? 'the proxy serves the management API on 9091 only when proxy.http.enabled is true; or try --via service-proxy' : undefined,
  );
}
