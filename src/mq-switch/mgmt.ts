/**
 * mixcoord's management API (9091) through the plugin's own port-forward to a Ready mixcoord pod
 * (the standalone pod in standalone mode, where mixcoord runs inside): no `kubectl exec`, no
 * Service needed (the Operator exposes none for 9091). Also `GET /healthz` on any pod's 9091.
 *
 * POST /management/wal/alter (milvus-io/milvus internal/coordinator mixCoordImpl.HandleAlterWAL):
 * 200 {"msg": "OK"} once the AlterWAL broadcast is accepted (mq.type is written to etcd later, when
 * every vchannel acknowledged it); 200 "target WAL type '…' is already configured, no change
 * needed"; 400 for a bad body or an unknown name; 500 "failed to broadcast AlterWALMessage, …".
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, failedError, preconditionError } from '../errors.js';
import { explainForwardFailure, openPortForward, pickReadyPod } from '../kube/portforward.js';
import { httpSend } from '../milvus/transport.js';
import { componentSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';

export const MGMT_PORT = 9091;
export const WAL_ALTER_PATH = '/management/wal/alter';

export type AlterAnswer = { kind: 'accepted' | 'already'; pod: string; message: string };

/** The component serving mixcoord's management API: mixcoord, or standalone (mixcoord inside). */
export const coordComponent = (r: Pick<Release, 'mode'>) => (r.mode === 'standalone' ? 'standalone' : 'mixcoord');

/** Runs `fn` with a local port forwarded to `pod`:9091; forward failures are worded for the user. */
export async function withPodPort<T>(ctx: RunContext, namespace: string, pod: string, fn: (port: number) => Promise<T>): Promise<T> {
  const handle = await openPortForward(ctx.kube(), namespace, pod, MGMT_PORT, ctx.signal);
  try {
    return await fn(handle.localPort);
  } catch (e) {
    const why = e instanceof CliError && e.exitCode === ExitCode.UNREACHABLE ? explainForwardFailure(handle) : undefined;
    throw why ?? e;
  } finally {
    await handle.close();
  }
}

/** A Ready pod of mixcoord (or standalone); exit 4 when there is none to reach. */
export async function mixcoordPod(ctx: RunContext, r: Release): Promise<string> {
  const comp = coordComponent(r);
  try {
    return await pickReadyPod(ctx.kube(), r.namespace, componentSelector(r.method, r.name, comp), comp);
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.PRECONDITION) throw new CliError(`cannot reach mixcoord of release "${r.name}": ${e.message}`, ExitCode.UNREACHABLE, e.hint);
    throw e;
  }
}

/** Reads `{"msg": …}` of an answer, or the text as it is. */
function messageOf(body: string): string {
  try {
    const j = JSON.parse(body) as { msg?: unknown };
    if (typeof j.msg === 'string') return j.msg;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 300);
}

/** One POST /management/wal/alter to the release's mixcoord. Throws on anything but a 200. */
export async function alterWal(ctx: RunContext, r: Release, target: string): Promise<AlterAnswer> {
  const pod = await mixcoordPod(ctx, r);
  const ans = await withPodPort(ctx, r.namespace, pod, (port) => httpSend('127.0.0.1', port, 'POST', WAL_ALTER_PATH, JSON.stringify({ target_wal_name: target }), ctx.signal));
  const message = messageOf(ans.body);
  if (ans.status === 200) return { kind: /already configured/i.test(message) ? 'already' : 'accepted', pod, message };
  if (ans.status === 404) throw preconditionError(`mixcoord (pod/${pod}) has no ${WAL_ALTER_PATH}: the switch needs Milvus 3.0 or later`);
  throw failedError(`mixcoord (pod/${pod}) refused the switch: HTTP ${ans.status} ${message}`);
}

/** GET /healthz on one pod's 9091: true only on "OK". A pod that cannot be reached is not healthy. */
export async function podHealthy(ctx: RunContext, namespace: string, pod: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const ans = await withPodPort(ctx, namespace, pod, (port) => httpSend('127.0.0.1', port, 'GET', '/healthz', undefined, ctx.signal, 10_000));
    return { ok: ans.status === 200, detail: `HTTP ${ans.status} ${ans.body.trim().slice(0, 80)}` };
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    return { ok: false, detail: (e as Error).message };
  }
}
