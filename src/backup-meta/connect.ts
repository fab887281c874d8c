/**
 * The way to a release's etcd: a port-forward to a Ready pod of its etcd (labels of the Bitnami
 * chart or the operator's `<name>-etcd` release, client port 2379), the etcd v3 JSON gateway
 * behind it, and the root path under which Milvus keeps its keys (`by-dev` by default on Helm,
 * the resource name on the Operator, or etcd.rootPath of the release's configuration).
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { openPortForward, pickReadyPod } from '../kube/portforward.js';
import { milvusConfig } from '../meta-migrate/preflight.js';
import { etcdSelector } from '../release/labels.js';
import type { Release } from '../release/types.js';
import { getPath, truthy } from '../util/values.js';
import { EtcdGateway } from './etcd.js';

export const ETCD_CLIENT_PORT = 2379;

export interface ReleaseEtcd {
  etcd: EtcdGateway;
  rootPath: string;
  /** Where the root path came from, for plans and messages. */
  rootPathFrom: string;
  pod: string;
  close(): Promise<void>;
}

/** etcd.rootPath of the release: the Milvus configuration, else the install method's default. */
export async function releaseRootPath(ctx: RunContext, r: Release): Promise<{ rootPath: string; from: string }> {
  if (r.method === 'operator') {
    const configured = getPath((r.operator?.resource.spec ?? {}) as Record<string, unknown>, 'config.etcd.rootPath');
    if (typeof configured === 'string' && configured) return { rootPath: configured, from: 'spec.config.etcd.rootPath' };
    return { rootPath: r.name, from: 'the Milvus resource name (operator default)' };
  }
  const config = await milvusConfig(ctx, r);
  const configured = getPath(config ?? {}, 'etcd.rootPath');
  if (typeof configured === 'string' && configured) return { rootPath: configured, from: `etcd.rootPath in configmap/${r.helm?.fullname}` };
  return { rootPath: 'by-dev', from: 'the chart default' };
}

export function externalEtcd(r: Release): boolean {
  if (r.method === 'operator') return truthy(getPath((r.operator?.resource.spec ?? {}) as Record<string, unknown>, 'dependencies.etcd.external'));
  return truthy(getPath(r.helm?.computedValues ?? {}, 'externalEtcd.enabled'));
}

/** The endpoints of an external etcd as the release names them (host:port or URLs). */
export function externalEtcdEndpoints(r: Release): string[] {
  const raw =
    r.method === 'operator'
      ? getPath((r.operator?.resource.spec ?? {}) as Record<string, unknown>, 'dependencies.etcd.endpoints')
      : getPath(r.helm?.computedValues ?? {}, 'externalEtcd.endpoints');
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [];
  return list.filter((e): e is string => typeof e === 'string' && e.trim() !== '').map((e) => e.trim());
}

/** One etcd member reached through its own port-forward. */
export interface EtcdMemberConnection {
  pod: string;
  etcd: EtcdGateway;
  close(): Promise<void>;
}

/**
 * A gateway to one etcd pod through a port-forward of its own, checked to answer. An error is
 * worded for the user: a forbidden port-forward is exit 5, anything else unreachable (exit 4).
 */
export async function connectEtcdPod(ctx: RunContext, namespace: string, pod: string, opts: { timeoutMs?: number } = {}): Promise<EtcdMemberConnection> {
  const handle = await openPortForward(ctx.kube(), namespace, pod, ETCD_CLIENT_PORT, ctx.signal);
  const etcd = new EtcdGateway(`http://127.0.0.1:${handle.localPort}`, `pod/${pod}:${ETCD_CLIENT_PORT}`, ctx.signal, opts.timeoutMs);
  try {
    await etcd.status();
  } catch (e) {
    const forwardError = handle.lastError();
    etcd.close();
    await handle.close();
    if (e instanceof CliError && forwardError) {
      const forbidden = /\b403\b|forbidden/i.test(forwardError);
      throw new CliError(
        forbidden
          ? `port-forward to pod "${pod}" is forbidden: the command needs "create" on "pods/portforward" in namespace "${namespace}"`
          : `cannot reach etcd (pod/${pod}:${ETCD_CLIENT_PORT}): ${forwardError}`,
        forbidden ? ExitCode.FORBIDDEN : ExitCode.UNREACHABLE,
      );
    }
    throw e;
  }
  return {
    pod,
    etcd,
    close: async () => {
      etcd.close();
      await handle.close();
    },
  };
}

/** Opens a port-forward to the release's etcd and checks that its gateway answers. */
export async function connectReleaseEtcd(ctx: RunContext, r: Release, rootPathOverride?: string): Promise<ReleaseEtcd> {
  const kube = ctx.kube();
  const selector = etcdSelector(r.method, r.name);
  const { rootPath, from } = rootPathOverride ? { rootPath: rootPathOverride, from: 'the command line' } : await releaseRootPath(ctx, r);
  let pod: string;
  try {
    pod = await pickReadyPod(kube, r.namespace, selector, 'etcd');
  } catch (e) {
    if (!(e instanceof CliError) || e.exitCode !== ExitCode.PRECONDITION) throw e;
    const why = externalEtcd(r) ? 'the release uses an external etcd, which a port-forward cannot reach' : e.message.replace(/^no etcd pod/, 'no etcd pod');
    throw new CliError(`cannot reach the etcd of release "${r.name}": ${why}`, ExitCode.UNREACHABLE, `see "kubectl get pods -n ${r.namespace} -l ${selector}"`);
  }
  let member: EtcdMemberConnection;
  try {
    member = await connectEtcdPod(ctx, r.namespace, pod);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    if (e.exitCode === ExitCode.FORBIDDEN) throw e;
    const message = e.message.startsWith('cannot reach etcd (')
      ? e.message.replace('cannot reach etcd ', `cannot reach the etcd of release "${r.name}" `)
      : `cannot reach the etcd of release "${r.name}": ${e.message}`;
    throw new CliError(message, e.exitCode, e.hint);
  }
  const etcd = member.etcd;
  ctx.log.debug(1, `etcd of release "${r.name}": pod/${pod}:${ETCD_CLIENT_PORT} through port-forward, root path "${rootPath}" (${from})`);
  return {
    etcd,
    rootPath,
    rootPathFrom: from,
    pod,
    close: () => member.close(),
  };
}
