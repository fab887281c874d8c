/**
 * Does the release serve again after an upgrade hop that reaches 2.6 or 3.0? (ServingProbe,
 * serving-types.ts.) What users hit after 2.5 -> 2.6 (../../shared/research/milvus-3.0.md):
 * proxies refusing writes until mixcoord and the streaming nodes restart (milvus#47806), streaming
 * nodes that never registered (milvus#42838), collections left unloaded or stuck loading
 * (milvus#44675, #43455). So `verify` checks, until all pass or the timeout ends:
 * - every streaming node pod is ready, listed by mixcoord's `GET /management/streaming/nodes`
 *   (its 9091; the address's IP is the pod's) and not suspended (frozen);
 * - every proxy pod is ready and its `/healthz` answers 200;
 * - the write path works: a gRPC FlushAll, which appends a flush message to every pchannel's WAL
 *   through the proxies (the path milvus#47806 breaks with "producer can only be created for RW
 *   channel"), answers success. It persists what the queue holds and changes no data; it is sent
 *   only once the checks above pass;
 * - every collection loaded before the hop (the baseline, gRPC GetLoadState) is loaded again.
 * A check that could not be made (an endpoint not answering) is a problem too, never a pass.
 *
 * The release is reached as the rest of the plugin reaches it: gRPC on 19530 through
 * openReleaseTransport (a port-forward to a ready proxy pod), each proxy's 9091 and mixcoord's 9091
 * by port-forwards to those pods (mixcoord's 9091 is not a Service port; no exec).
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { milvusCredentials } from '../flush/credentials.js';
import { openReleaseTransport } from '../flush/transport.js';
import { openPortForward, podReady, type PortForwardHandle } from '../kube/portforward.js';
import type { Release } from '../release/types.js';
import { MilvusGrpc, MilvusGrpcStatusError, type LoadState } from './grpc-client.js';
import { parseJson, toSmallNumber } from './json.js';
import type { ServingAccess, ServingBaseline, ServingProbe, ServingProblem, ServingVerdict, ServingWaitOptions } from './serving-types.js';
import { mapLimit } from '../util/map-limit.js';
import { sleep } from '../util/sleep.js';
import { httpSend, type HttpAnswer, type Transport } from './transport.js';

export type { ServingBaseline, ServingProbe, ServingProblem, ServingVerdict, ServingWaitOptions } from './serving-types.js';

/** One pod of a component, as the check needs it. */
export interface ServingPod {
  pod: string;
  ip: string | undefined;
  ready: boolean;
}

/**
 * How the check reaches the release. `openKubeEndpoints` is the real one; tests pass endpoints
 * backed by the simulator. Every method may throw a CliError (UNREACHABLE, ...) for "could not ask".
 */
export interface ServingEndpoints {
  /** A GET on mixcoord's management API (9091; the standalone pod in standalone mode). */
  mixcoordGet(path: string): Promise<HttpAnswer>;
  /** The streaming node pods; undefined in standalone mode (the streaming node runs inside). */
  streamingNodePods(): Promise<ServingPod[] | undefined>;
  proxyPods(): Promise<ServingPod[]>;
  /** GET /healthz on one proxy pod's 9091. */
  proxyHealthz(pod: string): Promise<HttpAnswer>;
  /** gRPC to a proxy's 19530 (opened once, reused). */
  grpc(): Promise<MilvusGrpc>;
  close(): Promise<void>;
}

export type ServingEndpointsFactory = (ctx: RunContext, release: Release, access?: ServingAccess) => Promise<ServingEndpoints>;

export interface ServingProbeOptions {
  /** Time between two rounds of checks while waiting. Default 5 s. */
  pollIntervalMs?: number;
  /** GetLoadState calls in flight at once. Default 8. */
  concurrency?: number;
}

/** The documented remedies, one line each. */
export const REMEDY = {
  restartStreaming: 'restart mixcoord, then the streaming nodes (milvus#47806: proxies refuse writes until both restarted)',
  register: 'restart mixcoord, then the streaming node pods, so that they register again (milvus#42838, #47806)',
  resume: 'resume it: PUT /management/streaming/nodes/status {"node_id":ID,"status":"active"} on mixcoord\'s 9091',
  podNotReady: 'see `kubectl describe pod` and its logs; the rollout of this hop is not finished',
  proxyUnhealthy: 'see the proxy logs; restart the proxy pods once mixcoord and the streaming nodes serve',
  noStreamingNode: 'Milvus 2.6 and later need streaming nodes: enable them (Helm streaming.enabled=true; Operator spec.components.streamingNode)',
  mixcoord: 'check the mixcoord pod (kubectl describe, logs) and restart it if it stays so',
  load: 'load the collection again (SDK load_collection / loadCollection); if it stays loading at 0 % or 50 %, release and load it again, then restart the querynodes (milvus#44675, #43455)',
  gone: 'if nobody dropped it during the hop, stop and restore the metadata snapshot taken before the hop (backup restore-meta)',
} as const;

const DEFAULT_POLL_MS = 5000;

export function createServingProbe(openEndpoints: ServingEndpointsFactory, opts: ServingProbeOptions = {}): ServingProbe {
  const concurrency = opts.concurrency ?? 8;
  return {
    async baseline(ctx, release, access) {
      const endpoints = await openEndpoints(ctx, release, access);
      try {
        const grpc = await endpoints.grpc();
        const collections = await listAllCollections(grpc);
        const states = await mapLimit(collections, concurrency, (c) => grpc.getLoadState(c.db, c.collection));
        const loaded = collections.filter((_, i) => states[i] === 'Loaded').map((c) => `${c.db}/${c.collection}`);
        return { takenAt: ctx.now().toISOString(), loaded };
      } finally {
        await endpoints.close();
      }
    },

    async verify(ctx, release, baseline, wait) {
      if (!(wait.timeoutSeconds > 0)) throw new CliError('the serving check needs a timeout greater than zero', ExitCode.USAGE);
      const signal = wait.signal ?? ctx.signal;
      const deadline = ctx.now().getTime() + wait.timeoutSeconds * 1000;
      const endpoints = await openEndpoints(ctx, release, { milvusSecret: wait.milvusSecret });
      try {
        const check = new ServingCheck(ctx, release, endpoints, baseline, concurrency);
        for (let round = 1; ; round++) {
          const problems = await check.once();
          if (problems.length === 0) {
            wait.onProgress?.(`the release serves: streaming nodes registered and writable, proxies healthy, ${baseline.loaded.length} collection(s) loaded again`);
            return { ok: true, problems: [] } satisfies ServingVerdict;
          }
          const left = Math.ceil((deadline - ctx.now().getTime()) / 1000);
          if (left <= 0) return { ok: false, problems } satisfies ServingVerdict;
          wait.onProgress?.(`waiting for the release to serve (${left}s left): ${problems.map((p) => `${p.component}: ${p.what}`).join('; ')}`);
          await sleep(Math.min(opts.pollIntervalMs ?? DEFAULT_POLL_MS, left * 1000), signal);
        }
      } finally {
        await endpoints.close();
      }
    },
  };
}

/** Every collection of every database (ListDatabases: 2.2.9+; without it, the default database is all there is). */
async function listAllCollections(grpc: MilvusGrpc): Promise<Array<{ db: string; collection: string }>> {
  const databases = (await grpc.listDatabases()) ?? ['default'];
  const out: Array<{ db: string; collection: string }> = [];
  for (const db of databases) for (const collection of await grpc.showCollections(db)) out.push({ db, collection });
  return out;
}

class ServingCheck {
  private wrote = false;

  constructor(
    private readonly ctx: RunContext,
    private readonly release: Release,
    private readonly endpoints: ServingEndpoints,
    private readonly baseline: ServingBaseline,
    private readonly concurrency: number,
  ) {}

  async once(): Promise<ServingProblem[]> {
    const problems = [...(await this.streamingNodes()), ...(await this.proxies())];
    // The write goes only to a release whose nodes and proxies look right (and only until it succeeded once).
    if (problems.length === 0 && !this.wrote) problems.push(...(await this.writePath()));
    problems.push(...(await this.collections()));
    return problems;
  }

  private async streamingNodes(): Promise<ServingProblem[]> {
    let listed: Array<{ id: number; address: string; state: string }>;
    try {
      listed = parseStreamingNodes(await this.endpoints.mixcoordGet('/management/streaming/nodes'));
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      return [{ component: 'mixcoord', what: `could not list the streaming nodes: ${(e as Error).message}`, remedy: REMEDY.mixcoord }];
    }
    const problems: ServingProblem[] = [];
    for (const n of listed.filter((x) => x.state === 'suspended')) {
      problems.push({ component: `streamingnode ${n.id} (${n.address})`, what: 'suspended (frozen): it takes no WAL channel', remedy: REMEDY.resume.replace('ID', String(n.id)) });
    }
    let pods: ServingPod[] | undefined;
    try {
      pods = await this.endpoints.streamingNodePods();
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      return [...problems, { component: 'streamingnode', what: `could not list the streaming node pods: ${(e as Error).message}`, remedy: REMEDY.podNotReady }];
    }
    if (pods === undefined) {
      // Standalone: the streaming node runs inside the one pod; it must be listed.
      if (listed.length === 0) problems.push({ component: 'streamingnode', what: 'mixcoord lists no streaming node', remedy: REMEDY.register });
      return problems;
    }
    if (pods.length === 0) return [...problems, { component: 'streamingnode', what: 'no streaming node pod runs', remedy: REMEDY.noStreamingNode }];
    const listedHosts = new Set(listed.map((n) => hostOf(n.address)));
    for (const p of pods) {
      if (!p.ready) problems.push({ component: `streamingnode pod/${p.pod}`, what: 'not ready', remedy: REMEDY.podNotReady });
      else if (!p.ip || !listedHosts.has(p.ip)) {
        problems.push({ component: `streamingnode pod/${p.pod}`, what: `not registered: mixcoord's /management/streaming/nodes does not list ${p.ip ?? 'its IP'}`, remedy: REMEDY.register });
      }
    }
    return problems;
  }

  private async proxies(): Promise<ServingProblem[]> {
    let pods: ServingPod[];
    try {
      pods = await this.endpoints.proxyPods();
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      return [{ component: 'proxy', what: `could not list the proxy pods: ${(e as Error).message}`, remedy: REMEDY.podNotReady }];
    }
    const what = this.release.mode === 'standalone' ? 'standalone' : 'proxy';
    if (pods.length === 0) return [{ component: what, what: `no ${what} pod runs`, remedy: REMEDY.podNotReady }];
    const problems: ServingProblem[] = [];
    for (const p of pods) {
      if (!p.ready) {
        problems.push({ component: `${what} pod/${p.pod}`, what: 'not ready', remedy: REMEDY.podNotReady });
        continue;
      }
      try {
        const h = await this.endpoints.proxyHealthz(p.pod);
        if (h.status !== 200) problems.push({ component: `${what} pod/${p.pod}`, what: `/healthz answers HTTP ${h.status}: ${h.body.trim().slice(0, 120)}`, remedy: REMEDY.proxyUnhealthy });
      } catch (e) {
        if (this.ctx.signal.aborted) throw e;
        problems.push({ component: `${what} pod/${p.pod}`, what: `/healthz could not be asked: ${(e as Error).message}`, remedy: REMEDY.proxyUnhealthy });
      }
    }
    return problems;
  }

  private async writePath(): Promise<ServingProblem[]> {
    try {
      const grpc = await this.endpoints.grpc();
      await grpc.flushAll();
      this.wrote = true;
      return [];
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      if (e instanceof MilvusGrpcStatusError && /RW channel|read.?only|\bro node\b/i.test(e.status.reason)) {
        return [{ component: 'streamingnode', what: `proxies refuse writes: "${e.status.reason}"`, remedy: REMEDY.restartStreaming }];
      }
      return [{ component: 'proxy', what: `a FlushAll through the proxies failed: ${(e as Error).message}`, remedy: REMEDY.restartStreaming }];
    }
  }

  private async collections(): Promise<ServingProblem[]> {
    if (this.baseline.loaded.length === 0) return [];
    let grpc: MilvusGrpc;
    try {
      grpc = await this.endpoints.grpc();
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      return [{ component: 'proxy', what: `gRPC on 19530 could not be reached to read load states: ${(e as Error).message}`, remedy: REMEDY.proxyUnhealthy }];
    }
    const wanted = this.baseline.loaded.map(splitName);
    const states = await mapLimit(wanted, this.concurrency, async (c): Promise<LoadState | Error> => {
      try {
        return await grpc.getLoadState(c.db, c.collection);
      } catch (e) {
        if (this.ctx.signal.aborted) throw e;
        return e as Error;
      }
    });
    const problems: ServingProblem[] = [];
    wanted.forEach((c, i) => {
      const s = states[i]!;
      const component = `collection ${c.db}/${c.collection}`;
      if (s instanceof Error) problems.push({ component, what: `its load state could not be read: ${s.message}`, remedy: REMEDY.load });
      else if (s === 'Loading') problems.push({ component, what: 'still loading (it was loaded before the hop)', remedy: REMEDY.load });
      else if (s === 'NotLoad') problems.push({ component, what: 'not loaded (it was loaded before the hop)', remedy: REMEDY.load });
      else if (s === 'NotExist') problems.push({ component, what: 'does not exist any more (it was loaded before the hop)', remedy: REMEDY.gone });
    });
    return problems;
  }
}

/** `{"msg":"OK","nodeInfos":[{"ID":1,"address":"ip:port","state":"active"}]}` (HandleStreamingNodes). */
export function parseStreamingNodes(answer: HttpAnswer): Array<{ id: number; address: string; state: string }> {
  if (answer.status === 404) throw new CliError('mixcoord does not serve /management/streaming/nodes (Milvus before 2.6?)', ExitCode.FAILED);
  const j = parseJson(answer.body) as { msg?: unknown; nodeInfos?: unknown } | undefined;
  if (answer.status !== 200 || !j || typeof j !== 'object') {
    throw new CliError(`/management/streaming/nodes answered HTTP ${answer.status}: ${answer.body.trim().slice(0, 160)}`, ExitCode.FAILED);
  }
  const infos = j.nodeInfos ?? [];
  if (!Array.isArray(infos)) throw new CliError('/management/streaming/nodes sent no nodeInfos list', ExitCode.FAILED);
  return infos.map((n: { ID?: unknown; address?: unknown; state?: unknown }) => ({
    id: toSmallNumber(n.ID),
    address: typeof n.address === 'string' ? n.address : '',
    state: typeof n.state === 'string' ? n.state : '',
  }));
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return (i > 0 ? address.slice(0, i) : address).replace(/^\[|\]$/g, '');
}

function splitName(full: string): { db: string; collection: string } {
  const i = full.indexOf('/');
  if (i <= 0) throw new CliError(`a serving baseline names "${full}", not "database/collection"`, ExitCode.USAGE);
  return { db: full.slice(0, i), collection: full.slice(i + 1) };
}

/** The label selector of a Deployment's pods. */
function podSelector(d: V1Deployment): string | undefined {
  const labels = d.spec?.selector?.matchLabels;
  if (!labels || Object.keys(labels).length === 0) return undefined;
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const asServingPod = (p: V1Pod): ServingPod => ({ pod: p.metadata?.name ?? '', ip: p.status?.podIP, ready: podReady(p) });

/** The real endpoints: port-forwards to the pods (opened on first use, closed by close()). */
export const openKubeEndpoints: ServingEndpointsFactory = async (ctx, release, access) => {
  const kube = ctx.kube();
  const ns = release.namespace;
  const forwards = new Map<string, Promise<PortForwardHandle>>();
  let transport: Transport | undefined;
  let grpc: MilvusGrpc | undefined;
  const listPods = (selector: string) =>
    kube.listAll({ verb: 'list', resource: 'pods', namespace: ns }, (o) => kube.core.listNamespacedPod({ namespace: ns, ...o }), { labelSelector: selector });
  const forward = (pod: string) => {
    let f = forwards.get(pod);
    if (!f) {
      f = openPortForward(kube, ns, pod, 9091, ctx.signal);
      forwards.set(pod, f);
    }
    return f;
  };
  const getOn = async (pod: string, path: string) => httpSend('127.0.0.1', (await forward(pod)).localPort, 'GET', path, undefined, ctx.signal, 15_000);
  const component = (name: 'mixcoord' | 'streamingnode' | 'standalone') => release.components.find((c) => c.component === name);
  const standalone = release.mode === 'standalone';
  return {
    async mixcoordGet(path) {
      const c = component(standalone ? 'standalone' : 'mixcoord');
      const selector = c ? podSelector(c.deployment) : undefined;
      if (!c || !selector) throw new CliError(`release "${release.name}" has no ${standalone ? 'standalone' : 'mixcoord'} Deployment`, ExitCode.PRECONDITION);
      const ready = (await listPods(selector)).filter(podReady).map((p) => p.metadata!.name!).sort();
      if (ready.length === 0) throw new CliError(`no ${c.component} pod is ready (selector ${selector})`, ExitCode.UNREACHABLE);
      return getOn(ready[0]!, path);
    },
    async streamingNodePods() {
      if (standalone) return undefined;
      const c = component('streamingnode');
      const selector = c ? podSelector(c.deployment) : undefined;
      if (!c || !selector) return [];
      return (await listPods(selector)).filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').map(asServingPod);
    },
    async proxyPods() {
      return (await listPods(release.proxyPodSelector)).filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').map(asServingPod);
    },
    proxyHealthz: (pod) => getOn(pod, '/healthz'),
    async grpc() {
      if (!grpc) {
        transport ??= await openReleaseTransport(ctx, release, 'port-forward');
        if (!transport.grpcTarget) throw new CliError('gRPC to port 19530 is not possible through this transport', ExitCode.UNREACHABLE);
        const target = await transport.grpcTarget();
        grpc = await MilvusGrpc.open(
          { ...target, describe: `${transport.describe()} port 19530` },
          { credentials: await milvusCredentials(ctx, ns, access?.milvusSecret), signal: ctx.signal },
        );
      }
      return grpc;
    },
    async close() {
      grpc?.close();
      const all = await Promise.allSettled([...forwards.values()]);
      await Promise.all(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.close()] : [])));
      await transport?.close();
    },
  };
};

/** The serving check the upgrade hops use. */
export const servingProbe: ServingProbe = createServingProbe(openKubeEndpoints);
