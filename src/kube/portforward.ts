/**
 * Port-forward to a pod through the API server, in-process (no kubectl child): a listener on an
 * ephemeral 127.0.0.1 port, one WebSocket stream per accepted connection. `close()` ends the
 * listener and every stream; it also runs on abort, so nothing is left behind on Ctrl-C or error.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { PortForward } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';
import type { Kube } from './client.js';

export interface PortForwardHandle {
  localPort: number;
  remotePort: number;
  pod: string;
  close(): Promise<void>;
}

export function podReady(p: V1Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    !p.metadata?.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** A Ready pod matching the selector, or a clear precondition error naming what is wrong. */
export async function pickReadyPod(kube: Kube, namespace: string, selector: string, what: string): Promise<string> {
  const pods = await kube.listAll(
    { verb: 'list', resource: 'pods', namespace },
    (o) => kube.core.listNamespacedPod({ namespace, ...o }),
    { labelSelector: selector },
  );
  if (pods.length === 0) {
    throw new CliError(`no ${what} pod found in namespace "${namespace}" (selector ${selector})`, ExitCode.PRECONDITION, 'is Milvus stopped? start it before flushing');
  }
  const ready = pods.find(podReady);
  if (!ready) {
    const names = pods.map((p) => `${p.metadata?.name} (${p.status?.phase ?? 'Unknown'}, not ready)`).join(', ');
    throw new CliError(`no ${what} pod is ready: ${names}`, ExitCode.PRECONDITION, 'the management API answers only on a ready pod; check "kubectl describe pod"');
  }
  return ready.metadata!.name!;
}

export async function openPortForward(kube: Kube, namespace: string, pod: string, remotePort: number, signal?: AbortSignal): Promise<PortForwardHandle> {
  const forward = new PortForward(kube.kc, true);
  const sockets = new Set<Socket>();
  const streams = new Set<{ close(): void }>();
  let lastError: string | undefined;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    forward
      .portForward(namespace, pod, [remotePort], socket, null, socket)
      .then((ws) => {
        const stream = typeof ws === 'function' ? ws() : ws;
        if (!stream) {
          socket.destroy();
          return;
        }
        streams.add(stream);
        stream.on('close', () => {
          streams.delete(stream);
          socket.end();
        });
        stream.on('error', (e: Error) => {
          lastError = e.message;
          socket.destroy();
        });
        socket.on('close', () => stream.close());
      })
      .catch((e: unknown) => {
        lastError = e instanceof Error ? e.message : String(e);
        socket.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const localPort = (server.address() as { port: number }).port;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const s of streams) s.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  signal?.addEventListener('abort', () => void close(), { once: true });
  const handle: PortForwardHandle & { lastError(): string | undefined } = {
    localPort,
    remotePort,
    pod,
    close,
    lastError: () => lastError,
  };
  return handle;
}

/** Why a request through the forward failed, worded for the user (403 means RBAC). */
export function explainForwardFailure(handle: PortForwardHandle, namespace: string): CliError | undefined {
  const err = (handle as { lastError?: () => string | undefined }).lastError?.();
  if (!err) return undefined;
  if (/403|forbidden/i.test(err)) {
    return new CliError(
      `port-forward to pod "${handle.pod}" is forbidden: the command needs "create" on "pods/portforward" in namespace "${namespace}"`,
      ExitCode.FORBIDDEN,
      'or use --via service-proxy, which needs "get" on "services/proxy"',
    );
  }
  return new CliError(`port-forward to pod "${handle.pod}" port ${handle.remotePort} failed: ${err}`, ExitCode.UNREACHABLE);
}
