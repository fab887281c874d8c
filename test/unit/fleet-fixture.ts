/**
 * An API server fixture holding many releases, for discovery at a fleet's scale: it answers
 * list and get requests of the kinds discovery reads, namespaced and across namespaces, with
 * label selectors and `limit`/`continue` pages as kube-apiserver evaluates them, and counts every
 * request. RBAC is modelled by a rule: a request `forbid` returns true for gets 403. The objects
 * are the ones a Helm install of the chart and the Milvus Operator create (labels, owner
 * references, Helm's labelled record Secrets).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { V1Deployment, V1Pod, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';
import { selectorMatches } from '../../src/release/selector.js';
import { kubeForFixture } from './fixture-kube.js';
import type { Kube } from '../../src/kube/client.js';

export interface FixtureObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** plural (deployments, pods, secrets, configmaps, replicasets, statefulsets, milvuses) -> objects. */
export type Store = Record<string, FixtureObject[]>;

export interface Request {
  method: string;
  path: string;
  namespace: string | undefined;
  plural: string;
  name: string | undefined;
  query: URLSearchParams;
}

/** Which fixtures answer at the same time: `overlapped` once two of them had a request in flight together. */
export interface Overlap {
  active: Map<string, number>;
  overlapped: boolean;
}

export interface RunningFixture {
  url: string;
  kube: Kube;
  requests: Request[];
  close(): Promise<void>;
}

const ROUTE = /^\/(?:api\/v1|apis\/apps\/v1|apis\/milvus\.io\/v1beta1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/;

export async function startFleetFixture(store: Store, opts: { forbid?: (r: Request) => boolean; fail?: (r: Request) => boolean; delayMs?: number; overlap?: Overlap; name?: string } = {}): Promise<RunningFixture> {
  const requests: Request[] = [];
  const server: Server = createServer((req, res) => {
    const ov = opts.overlap;
    if (ov) {
      ov.active.set(opts.name ?? '', (ov.active.get(opts.name ?? '') ?? 0) + 1);
      if ([...ov.active.values()].filter((n) => n > 0).length > 1) ov.overlapped = true;
      res.on('finish', () => ov.active.set(opts.name ?? '', ov.active.get(opts.name ?? '')! - 1));
    }
    if (opts.delayMs) setTimeout(() => answer(req, res), opts.delayMs);
    else answer(req, res);
  });
  const answer = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    const fail = (code: number, message: string) => {
      res.statusCode = code;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message }));
    };
    // GET /api/v1/namespaces/NAME
    const nsGet = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
    if (nsGet) {
      res.end(JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: nsGet[1] } }));
      return;
    }
    // Port-forwards are not served here: the user may not create pods/portforward.
    if (url.pathname.endsWith('/portforward')) return fail(403, 'pods "x" is forbidden: User "u" cannot create resource "pods/portforward"');
    const m = ROUTE.exec(url.pathname);
    if (!m) return fail(404, `no route ${url.pathname}`);
    const r: Request = { method: req.method ?? 'GET', path: url.pathname, namespace: m[1], plural: m[2]!, name: m[3], query: url.searchParams };
    requests.push(r);
    if (opts.forbid?.(r)) return fail(403, `${r.plural} is forbidden: User "u" cannot list resource "${r.plural}"${r.namespace ? ` in the namespace "${r.namespace}"` : ' at the cluster scope'}`);
    if (opts.fail?.(r)) return fail(500, 'etcdserver: request timed out');
    const all = store[r.plural];
    if (!all) return fail(404, 'the server could not find the requested resource');
    const inNs = all.filter((o) => r.namespace === undefined || o.metadata.namespace === r.namespace);
    if (r.name) {
      const one = inNs.find((o) => o.metadata.name === r.name);
      return one ? void res.end(JSON.stringify(one)) : fail(404, `${r.plural} "${r.name}" not found`);
    }
    const selector = url.searchParams.get('labelSelector');
    const matching = selector ? inNs.filter((o) => selectorMatches(selector, o.metadata.labels)) : inNs;
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const from = Number(url.searchParams.get('continue') ?? '0');
    const page = limit > 0 ? matching.slice(from, from + limit) : matching.slice(from);
    const next = limit > 0 && from + limit < matching.length ? String(from + limit) : undefined;
    res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: next ? { continue: next } : {}, items: page }));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kube = kubeForFixture(url);
  return { url, kube, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const image = (v: string) => `milvusdb/milvus:v${v}`;

/** A Deployment with its ReplicaSet and pods (one per entry of `pods`: the versions they run), as the controller names and links them (`<deployment>-<pod-template-hash>`). */
function workload(ns: string, name: string, labels: Record<string, string>, container: string, template: string, pods: string[], rsSuffix = 'abc', ready = true): FixtureObject[] {
  const d: V1Deployment = {
    metadata: { name, namespace: ns, labels, generation: 1, creationTimestamp: new Date('2026-11-01T00:00:00Z') },
    spec: { replicas: pods.length, selector: { matchLabels: labels }, strategy: { type: 'RollingUpdate' }, template: { metadata: { labels }, spec: { containers: [{ name: container, image: image(template) }] } } },
    status: { observedGeneration: 1, replicas: pods.length, readyReplicas: ready ? pods.length : 0, updatedReplicas: pods.filter((p) => p === template).length, availableReplicas: ready ? pods.length : 0 },
  };
  const versions = [...new Set(pods)];
  const rss: V1ReplicaSet[] = versions.map((v, i) => ({
    metadata: { name: `${name}-${rsSuffix}${i}`, namespace: ns, labels: { ...labels, 'pod-template-hash': `${rsSuffix}${i}` }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `u-${name}`, controller: true }] },
    spec: { selector: { matchLabels: labels }, template: { spec: { containers: [{ name: container, image: image(v) }] } } },
  }));
  const ps: V1Pod[] = pods.map((v, i) => ({
    metadata: { name: `${name}-${rsSuffix}${versions.indexOf(v)}-${i}`, namespace: ns, labels: { ...labels, 'pod-template-hash': `${rsSuffix}${versions.indexOf(v)}` }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-${rsSuffix}${versions.indexOf(v)}`, uid: 'x', controller: true }] },
    spec: { containers: [{ name: container, image: image(v) }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  }));
  return [{ kind: 'Deployment', ...d } as unknown as FixtureObject, ...rss.map((x) => ({ kind: 'ReplicaSet', ...x }) as unknown as FixtureObject), ...ps.map((x) => ({ kind: 'Pod', ...x }) as unknown as FixtureObject)];
}

/** Helm's record Secret of one revision (labels name/owner/status/version, base64(gzip(JSON)) in `release`). */
export function helmSecret(ns: string, name: string, version: number, status: string, values: Record<string, unknown>, chartVersion = '4.2.30', chart = 'milvus'): FixtureObject {
  const record = {
    name,
    namespace: ns,
    version,
    info: { status, first_deployed: '2026-11-01T00:00:00Z', last_deployed: '2026-11-02T00:00:00Z' },
    chart: { metadata: { name: chart, version: chartVersion, appVersion: '2.4.5' }, values: { cluster: { enabled: true }, pulsar: { enabled: true }, pulsarv3: { enabled: false } } },
    config: values,
  };
  const helmText = gzipSync(Buffer.from(JSON.stringify(record))).toString('base64');
  return {
    kind: 'Secret',
    metadata: { name: `sh.helm.release.v1.${name}.v${version}`, namespace: ns, labels: { name, owner: 'helm', status, version: String(version) } },
    type: 'helm.sh/release.v1',
    data: { release: Buffer.from(helmText).toString('base64') },
  };
}

export interface FleetShape {
  /** Releases per namespace; each namespace gets alternately Helm and Operator releases. */
  namespaces: number;
  perNamespace: number;
  /** Versions the pods of release i run (default: all 2.4.5). */
  pods?: (i: number) => { template: string; pods: string[] };
  /** Releases whose Milvus pods are not ready. */
  notReady?: (i: number) => boolean;
}

/**
 * A fleet: Helm releases (standalone on RocksMQ, values cluster.enabled=false; two revisions,
 * the latest deployed) and Operator releases (cluster mode on Pulsar v2, proxy and querynode
 * Deployments, a Pulsar StatefulSet labelled as the operator's pulsar-v2 chart labels it).
 */
export function fleetStore(shape: FleetShape): Store {
  const store: Store = { deployments: [], replicasets: [], pods: [], statefulsets: [], secrets: [], configmaps: [], milvuses: [], persistentvolumeclaims: [], persistentvolumes: [] };
  const put = (objs: FixtureObject[]) => {
    for (const o of objs) {
      const plural = { Deployment: 'deployments', ReplicaSet: 'replicasets', Pod: 'pods', StatefulSet: 'statefulsets', Secret: 'secrets', ConfigMap: 'configmaps', Milvus: 'milvuses' }[o.kind as string]!;
      const { kind: _kind, ...rest } = o;
      store[plural]!.push(rest as FixtureObject);
    }
  };
  let i = 0;
  for (let n = 0; n < shape.namespaces; n++) {
    const ns = `team-${n}`;
    for (let k = 0; k < shape.perNamespace; k++, i++) {
      const v = shape.pods?.(i) ?? { template: '2.4.5', pods: ['2.4.5'] };
      if (i % 2 === 0) {
        const name = `h${i}`;
        const labels = { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/name': 'milvus', component: 'standalone' };
        put(workload(ns, `${name}-milvus-standalone`, labels, 'standalone', v.template, v.pods, 'abc', !shape.notReady?.(i)));
        put([helmSecret(ns, name, 1, 'superseded', { cluster: { enabled: false }, pulsar: { enabled: false } }), helmSecret(ns, name, 2, 'deployed', { cluster: { enabled: false }, pulsar: { enabled: false } })]);
      } else {
        const name = `o${i}`;
        const base = { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/name': 'milvus' };
        put(workload(ns, `${name}-milvus-proxy`, { ...base, 'app.kubernetes.io/component': 'proxy' }, 'proxy', v.template, v.pods));
        put(workload(ns, `${name}-milvus-querynode`, { ...base, 'app.kubernetes.io/component': 'querynode' }, 'querynode', v.template, v.pods, 'def'));
        put([
          { kind: 'Milvus', apiVersion: 'milvus.io/v1beta1', metadata: { name, namespace: ns, creationTimestamp: '2026-11-01T00:00:00Z' }, spec: { mode: 'cluster', components: { image: image(v.template) }, dependencies: {} }, status: { status: 'Healthy' } },
          { kind: 'StatefulSet', metadata: { name: `${name}-pulsar-bookie`, namespace: ns, labels: { app: 'pulsarv2', release: `${name}-pulsar`, chart: 'pulsar-2.7.8', component: 'bookie' } }, spec: { replicas: 1, selector: { matchLabels: { app: 'pulsarv2' } }, serviceName: 'x', template: {} }, status: { replicas: 1, readyReplicas: 1 } } as unknown as FixtureObject & V1StatefulSet,
        ]);
      }
    }
    // Another chart's Helm release in every namespace: not a Milvus release.
    put([helmSecret(ns, `redis-${n}`, 1, 'deployed', {}, '18.0.0', 'redis')]);
  }
  return store;
}
