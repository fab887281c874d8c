/**
 * The dependency gateway of the test bed: makes the real Milvus Operator's dependency probes
 * succeed for the in-cluster etcd, MinIO and Pulsar it installs from the bed-written charts
 * (../operator-charts), although those run as KWOK pods with no process and no network behind
 * them.
 *
 * The operator runs out of the cluster in a private mount namespace whose /etc/hosts is the
 * bed's hosts file (run.mjs). For every Service annotated
 * `testbed.kubectl-milvus.io/loopback: etcd|minio|pulsar` this gateway
 * - picks a loopback address of its own (127.X.Y.Z; other processes on the machine bind
 *   127.0.0.1, and an address already taken is skipped),
 * - writes the Service's DNS names (`<svc>.<ns>`, `.svc`, `.svc.cluster.local`, and for an etcd
 *   headless Service the pod names `<sts>-N.<svc>.<ns>`) into that hosts file, and
 * - answers on that address what the probe needs:
 *   - etcd :2379 — a TCP relay to a REAL etcd (a second Debian etcd on loopback started by run.mjs;
 *     the probe's client Get and AlarmList are real gRPC calls);
 *   - MinIO :9000 — a small bed-written HTTP endpoint: `GET /minio/admin/v3/info` (madmin
 *     ServerInfo; one server `online`) and S3 `GetBucketLocation` (no MinIO can run here);
 *   - Pulsar :6650/:8080 — accepts TCP connections: with `spec.config.pulsar.authPlugin` set the
 *     operator's Pulsar probe is a TCP dial (pkg/external/pulsar.go), so tests set it.
 * Nothing else reaches these addresses: the plugin talks to Milvus through KWOK port-forward.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { CoreV1Api, type KubeConfig, makeInformer, type V1Service } from '@kubernetes/client-node';

export const LOOPBACK_ANNOTATION = 'testbed.kubectl-milvus.io/loopback';
/** On an etcd headless Service: the StatefulSet whose pod names resolve through it. */
export const PODS_ANNOTATION = 'testbed.kubectl-milvus.io/pods';
type Kind = 'etcd' | 'minio' | 'pulsar';
type Log = (m: string) => void;

export interface GatewayOptions {
  /** The hosts file bind-mounted over /etc/hosts of the operator (rewritten in place). */
  hostsFile: string;
  /** host:port of the real etcd that answers for every in-cluster etcd. */
  etcd: string;
}

interface Entry {
  key: string;
  address: string;
  names: string[];
  servers: Array<Server | HttpServer>;
}

const PORTS: Record<Kind, number[]> = { etcd: [2379], minio: [9000], pulsar: [6650, 8080] };
const MAX_ETCD_PODS = 9;

/** DNS names of a Service (and of the pods behind an etcd headless Service). */
export function serviceNames(svc: V1Service): string[] {
  const ns = svc.metadata!.namespace!;
  const name = svc.metadata!.name!;
  const fq = (host: string) => [`${host}.${ns}`, `${host}.${ns}.svc`, `${host}.${ns}.svc.cluster.local`];
  const names = fq(name);
  const pods = svc.metadata?.annotations?.[PODS_ANNOTATION];
  if (pods) for (let i = 0; i < MAX_ETCD_PODS; i++) names.push(...fq(`${pods}-${i}.${name}`));
  return names;
}

/** madmin ServerInfo (GET /minio/admin/v3/info) and S3 GetBucketLocation answers. */
export function minioAnswer(method: string, url: string): { status: number; type: string; body: string } {
  const path = url.split('?')[0] ?? '/';
  if (method === 'GET' && path.startsWith('/minio/admin/') && path.endsWith('/info')) {
    const body = {
      mode: 'online',
      deploymentID: 'testbed',
      servers: [{ state: 'online', endpoint: 'testbed', uptime: 1, version: 'RELEASE.2023-03-20T20-16-18Z', drives: [{ state: 'ok' }] }],
    };
    return { status: 200, type: 'application/json', body: JSON.stringify(body) };
  }
  if (method === 'GET' && url.includes('location')) {
    return {
      status: 200,
      type: 'application/xml',
      body: '<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>',
    };
  }
  return { status: 200, type: 'application/xml', body: '' };
}

function listen(server: Server | HttpServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(port, address, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function makeServer(kind: Kind, opts: GatewayOptions): Server | HttpServer {
  if (kind === 'minio') {
    return createHttpServer((req, res) => {
      req.resume();
      const a = minioAnswer(req.method ?? 'GET', req.url ?? '/');
      res.writeHead(a.status, { 'Content-Type': a.type, 'Content-Length': Buffer.byteLength(a.body) });
      res.end(a.body);
    });
  }
  if (kind === 'etcd') {
    const [host, port] = [opts.etcd.slice(0, opts.etcd.lastIndexOf(':')), Number(opts.etcd.slice(opts.etcd.lastIndexOf(':') + 1))];
    return createServer((client: Socket) => {
      const upstream = connect(port, host);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
  }
  // Pulsar: a TCP dial is the probe; hold the connection briefly, then close it.
  return createServer((s: Socket) => {
    s.on('error', () => undefined);
    s.resume();
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

export function startDependencyGateway(kc: KubeConfig, log: Log, opts: GatewayOptions): { stop(): Promise<void> } {
  const core = kc.makeApiClient(CoreV1Api);
  const entries = new Map<string, Entry>();
  const pending = new Map<string, Promise<void>>();
  // 127.X.Y.Z with X chosen at random per gateway: independent of other beds on the machine.
  const base = 64 + Math.floor(Math.random() * 160);
  let next = 1;
  let stopped = false;

  function writeHosts() {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const e of [...entries.values()].sort((a, b) => a.key.localeCompare(b.key))) lines.push(`${e.address} ${e.names.join(' ')}`);
    // In place (same inode): the file is bind-mounted over the operator's /etc/hosts.
    writeFileSync(opts.hostsFile, `# written by testbed/operator-deps/gateway.ts\n${lines.join('\n')}\n`);
  }

  async function add(svc: V1Service) {
    const kind = svc.metadata?.annotations?.[LOOPBACK_ANNOTATION] as Kind | undefined;
    if (!kind || !(kind in PORTS) || svc.metadata?.deletionTimestamp) return;
    const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
    if (entries.has(key)) return;
    for (let attempt = 0; attempt < 50 && !stopped; attempt++) {
      const n = next++;
      const address = `127.${base}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      const servers: Array<Server | HttpServer> = [];
      try {
        for (const port of PORTS[kind]) {
          const s = makeServer(kind, opts);
          await listen(s, address, port);
          servers.push(s);
        }
      } catch {
        for (const s of servers) s.close();
        continue;
      }
      entries.set(key, { key, address, names: serviceNames(svc), servers });
      writeHosts();
      log(`gateway: ${kind} ${key} on ${address}`);
      return;
    }
    log(`gateway: no free loopback address for ${key}`);
  }

  function remove(svc: V1Service) {
    const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
    const e = entries.get(key);
    if (!e) return;
    entries.delete(key);
    for (const s of e.servers) s.close();
    writeHosts();
  }

  const onAdd = (svc: V1Service) => {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const p = (pending.get(key) ?? Promise.resolve()).then(() => add(svc)).catch((e) => log(`gateway: ${key}: ${(e as Error).message}`));
    pending.set(key, p);
  };
  const inf = makeInformer<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  inf.on('add', onAdd);
  inf.on('update', onAdd);
  inf.on('delete', (svc) => {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const p = (pending.get(key) ?? Promise.resolve()).then(() => remove(svc));
    pending.set(key, p);
  });
  inf.on('error', (e) => {
    log(`gateway watch: ${(e as Error)?.message ?? e}; restarting`);
    setTimeout(() => void inf.start().catch(() => undefined), 1000);
  });
  writeHosts();
  void inf.start().catch((e) => log(`gateway watch start: ${(e as Error).message}`));
  log(`dependency gateway started (hosts ${opts.hostsFile}, etcd ${opts.etcd}, addresses 127.${base}.*)`);
  return {
    async stop() {
      stopped = true;
      await inf.stop().catch(() => undefined);
      for (const e of entries.values()) for (const s of e.servers) s.close();
    },
  };
}
