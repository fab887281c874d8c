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
 *
 * Sturdy under load, because a probe the operator sees fail just before a MilvusUpgrade stops
 * Milvus leaves that stop undone for good (src/meta-migrate/operator-stop.ts):
 * - the hosts file only grows while the gateway runs: a Service's line is appended once and kept
 *   after the Service is gone, and a Service added again gets its old address back. A reader (the
 *   operator's Go resolver re-reads the file when it changes) never sees a live name missing, as
 *   it could while the file was rewritten in place (truncated, then written); the writes are
 *   asynchronous, so a slow disk never holds up the answers;
 * - MinIO answers close their connection (no idle keep-alive connection that the operator's HTTP
 *   client could reuse just as the gateway closes it); relayed etcd connections send at once
 *   (no Nagle delay);
 * - a self-check asks every kind of answer what the operator asks, every 30 s, and logs one that is
 *   slow or fails (controllers.log), so a flap has evidence.
 */
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
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

const HOSTS_HEADER = '# written by testbed/operator-deps/gateway.ts\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n';

/**
 * The operator's hosts file, append-only while the gateway runs: written whole once at start, then
 * one line appended per newly addressed Service; addresses are kept per Service for good, so a
 * Service added again resolves where it did.
 */
export class HostsFile {
  private readonly addresses = new Map<string, string>();
  private readonly lines = new Set<string>();
  private writes: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly log: Log,
  ) {
    // In place (same inode): the file is bind-mounted over the operator's /etc/hosts.
    writeFileSync(path, HOSTS_HEADER);
  }

  /** The address a Service had before, if any. */
  addressOf(key: string): string | undefined {
    return this.addresses.get(key);
  }

  /** Records the Service's address and appends its names (once); resolves when the line is on disk. */
  add(key: string, address: string, names: string[]): Promise<void> {
    this.addresses.set(key, address);
    const line = `${address} ${names.join(' ')}\n`;
    if (this.lines.has(line)) return this.writes;
    this.lines.add(line);
    this.writes = this.writes.then(() => appendFile(this.path, line)).catch((e: unknown) => this.log(`gateway: hosts file: ${(e as Error).message}`));
    return this.writes;
  }

  /** Every write so far is on disk. */
  flushed(): Promise<void> {
    return this.writes;
  }
}

function makeServer(kind: Kind, opts: GatewayOptions): Server | HttpServer {
  if (kind === 'minio') {
    return createHttpServer((req, res) => {
      req.resume();
      const a = minioAnswer(req.method ?? 'GET', req.url ?? '/');
      res.writeHead(a.status, { 'Content-Type': a.type, 'Content-Length': Buffer.byteLength(a.body), Connection: 'close' });
      res.end(a.body);
    });
  }
  if (kind === 'etcd') {
    const [host, port] = [opts.etcd.slice(0, opts.etcd.lastIndexOf(':')), Number(opts.etcd.slice(opts.etcd.lastIndexOf(':') + 1))];
    return createServer((client: Socket) => {
      const upstream = connect(port, host);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
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

/** How often each kind of answer is checked the operator's way, and what counts as slow (the operator allows 5 s per try). */
const SELF_CHECK_MS = 30_000;
const SLOW_MS = 1000;
const CHECK_TIMEOUT_MS = 5000;

/** One answer asked what the operator asks of it: etcd's AlarmList (through the relay, a raft round in the real etcd), MinIO's admin info, a Pulsar TCP dial. */
export function checkAnswer(kind: Kind, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000}s`)), CHECK_TIMEOUT_MS);
    let settled = false;
    const done = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve();
    };
    if (kind === 'pulsar') {
      const s = connect(6650, address, () => {
        s.destroy();
        done();
      });
      s.on('error', (e) => done(e));
      return;
    }
    const body = kind === 'etcd' ? '{"action":"GET"}' : '';
    const req = httpRequest(
      { host: address, port: kind === 'etcd' ? 2379 : 9000, method: kind === 'etcd' ? 'POST' : 'GET', path: kind === 'etcd' ? '/v3/maintenance/alarm' : '/minio/admin/v3/info', headers: { 'Content-Length': Buffer.byteLength(body), Connection: 'close' } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? done() : done(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', (e) => done(e));
      },
    );
    req.on('error', (e) => done(e));
    req.end(body);
  });
}

export function startDependencyGateway(kc: KubeConfig, log: Log, opts: GatewayOptions): { stop(): Promise<void>; settled(): Promise<void> } {
  const core = kc.makeApiClient(CoreV1Api);
  const entries = new Map<string, Entry & { kind: Kind }>();
  const pending = new Map<string, Promise<void>>();
  // 127.X.Y.Z with X chosen at random per gateway: independent of other beds on the machine.
  const base = 64 + Math.floor(Math.random() * 160);
  let next = 1;
  let stopped = false;
  const hosts = new HostsFile(opts.hostsFile, log);

  async function listenAll(kind: Kind, address: string): Promise<Array<Server | HttpServer> | undefined> {
    const servers: Array<Server | HttpServer> = [];
    try {
      for (const port of PORTS[kind]) {
        const s = makeServer(kind, opts);
        await listen(s, address, port);
        servers.push(s);
      }
      return servers;
    } catch {
      for (const s of servers) s.close();
      return undefined;
    }
  }

  async function add(svc: V1Service) {
    const kind = svc.metadata?.annotations?.[LOOPBACK_ANNOTATION] as Kind | undefined;
    if (!kind || !(kind in PORTS) || svc.metadata?.deletionTimestamp) return;
    const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
    if (entries.has(key)) return;
    const names = serviceNames(svc);
    // A Service seen before gets its address back: its names in the hosts file still point there.
    const before = hosts.addressOf(key);
    const candidates = function* () {
      if (before) yield before;
      for (let attempt = 0; attempt < 50; attempt++) {
        const n = next++;
        yield `127.${base}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      }
    };
    for (const address of candidates()) {
      if (stopped) return;
      const servers = await listenAll(kind, address);
      if (!servers) continue;
      entries.set(key, { key, kind, address, names, servers });
      await hosts.add(key, address, names);
      log(`gateway: ${kind} ${key} on ${address}${address === before ? ' (its address before)' : ''}`);
      return;
    }
    log(`gateway: no free loopback address for ${key}`);
  }

  function remove(svc: V1Service) {
    const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
    const e = entries.get(key);
    if (!e) return;
    entries.delete(key);
    // Its hosts line stays (the file only grows); nothing answers there until the Service comes back.
    for (const s of e.servers) s.close();
  }

  const enqueue = (svc: V1Service, work: () => Promise<void> | void) => {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const p = (pending.get(key) ?? Promise.resolve()).then(work).catch((e) => log(`gateway: ${key}: ${(e as Error).message}`));
    pending.set(key, p);
  };
  const inf = makeInformer<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  inf.on('add', (svc) => enqueue(svc, () => add(svc)));
  inf.on('update', (svc) => enqueue(svc, () => add(svc)));
  inf.on('delete', (svc) => enqueue(svc, () => remove(svc)));
  inf.on('error', (e) => {
    log(`gateway watch: ${(e as Error)?.message ?? e}; restarting`);
    setTimeout(() => void inf.start().catch(() => undefined), 1000);
  });
  void inf.start().catch((e) => log(`gateway watch start: ${(e as Error).message}`));

  // The self-check: one answer of each kind, the operator's way; only what is slow or failing is logged.
  const selfCheck = setInterval(() => {
    const one = new Map<Kind, Entry & { kind: Kind }>();
    for (const e of entries.values()) if (!one.has(e.kind)) one.set(e.kind, e);
    for (const e of one.values()) {
      const t0 = Date.now();
      checkAnswer(e.kind, e.address).then(
        () => {
          const ms = Date.now() - t0;
          if (ms > SLOW_MS) log(`gateway check: ${e.kind} ${e.key} on ${e.address} answered in ${ms} ms (slow: the operator allows 5 s a try)`);
        },
        (err: unknown) => log(`gateway check: ${e.kind} ${e.key} on ${e.address} failed after ${Date.now() - t0} ms: ${(err as Error).message}`),
      );
    }
  }, SELF_CHECK_MS);
  selfCheck.unref();

  log(`dependency gateway started (hosts ${opts.hostsFile}, etcd ${opts.etcd}, addresses 127.${base}.*)`);
  return {
    async stop() {
      stopped = true;
      clearInterval(selfCheck);
      await inf.stop().catch(() => undefined);
      for (const e of entries.values()) for (const s of e.servers) s.close();
    },
    /** Every Service event seen so far is handled and its hosts line written. */
    async settled() {
      await Promise.all(pending.values());
      await hosts.flushed();
    },
  };
}
