/**
 * The real Milvus standalone server (PyPI's `milvus` wheels, "Embedded Milvus": the real server
 * binary and its libraries) for e2e tests. `testbed/real-milvus-install.sh` (run by
 * testbed/build.sh) installs each version of MILVUS_REAL_VERSIONS (testbed/versions.env) into
 * .testbed/milvus-<version>/ and unpacks the server into its server/bin.
 *
 * The server is started directly (`milvus run standalone`, not the Python wrapper), with a config
 * written from the wheel's own template, so that every port is one picked free here: gRPC 19530,
 * the management port 9091 (METRICS_PORT), the internal coordinator ports and the embedded etcd
 * (client and peer, through an etcd config file). Many servers run at once on the machine.
 *
 * Writing data goes through the official Node SDK (@zilliz/milvus2-sdk-node), see writeData.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { request } from 'node:http';
import { join } from 'node:path';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { forwardReleasePods, kubectl, run, ROOT } from './harness.js';

/** The versions testbed/versions.env pins (MILVUS_REAL_VERSIONS). */
export function realMilvusVersions(): string[] {
  const env = readFileSync(join(ROOT, 'testbed', 'versions.env'), 'utf8');
  const m = /^MILVUS_REAL_VERSIONS="?([^"\n]*)"?$/m.exec(env);
  if (!m) throw new Error('testbed/versions.env has no MILVUS_REAL_VERSIONS');
  return m[1]!.trim().split(/\s+/);
}

export function realMilvusHome(version: string): string {
  return join(ROOT, '.testbed', `milvus-${version}`);
}

/** Throws unless the version is installed (node testbed/run.mjs ensure runs the install). */
export function assertRealMilvus(version: string): void {
  const bin = join(realMilvusHome(version), 'server', 'bin', 'milvus');
  if (!existsSync(bin)) throw new Error(`real Milvus ${version} is not installed (${bin}): run "node testbed/run.mjs ensure"`);
}

function wheelData(version: string): string {
  const lib = join(realMilvusHome(version), 'lib');
  const py = readdirSync(lib).find((d) => d.startsWith('python'));
  if (!py) throw new Error(`no python lib dir in ${lib}`);
  return join(lib, py, 'site-packages', 'milvus', 'data');
}

/**
 * The band of ports servers here are given: below the kernel's ephemeral range, so that no
 * outgoing connection (or its TIME_WAIT, for a minute) takes one while a server is down for a
 * restart. Milvus 2.2 does not fail then: it quietly listens on another port, and the tests
 * talked to a port nobody served. Each vitest worker has a slot of its own in the band.
 */
function portBand(): { from: number; to: number } {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual default
  }
  const slots = 8;
  const size = 1200;
  const base = low - slots * size;
  if (base < 1024) return { from: 0, to: 0 };
  const slot = Number(process.env.VITEST_POOL_ID ?? process.pid) % slots;
  return { from: base + slot * size, to: base + (slot + 1) * size };
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    // On every address, as Milvus listens.
    s.listen(port, () => s.close(() => resolve(true)));
  });
}

/**
 * A TCP port free right now, from this worker's slot of portBand() (the OS picks one where the
 * kernel leaves no band); never one handed out before here.
 */
const handedOut = new Set<number>();
const band = portBand();
let nextInBand = band.from + Math.floor(Math.random() * (band.to - band.from));
export async function freePort(): Promise<number> {
  for (let tried = 0; band.to > band.from && tried < band.to - band.from; tried++) {
    const port = nextInBand;
    nextInBand = nextInBand + 1 >= band.to ? band.from : nextInBand + 1;
    if (!handedOut.has(port) && (await canListen(port))) {
      handedOut.add(port);
      return port;
    }
  }
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** True when something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Ports in the wheel's config template (`{{ name(int): default }}`) we always choose. */
const TEMPLATE_PORTS = [
  'etcd_port',
  'root_coord_port',
  'proxy_port',
  'proxy_internal_port',
  'query_coord_port',
  'query_node_port',
  'index_coord_port',
  'index_node_port',
  'data_coord_port',
  'data_node_port',
] as const;

export interface RealMilvusPorts {
  grpc: number;
  mgmt: number;
  etcdClient: number;
  etcdPeer: number;
  internal: Record<string, number>;
}

export interface RealMilvusOptions {
  version: string;
  /** Reuse this data dir (default: a fresh one under .testbed/real-milvus-data, removed by stop({ remove: true })). */
  dataDir?: string;
  /** Use this etcd (host:port) instead of the embedded one; `etcdRootPath` keeps instances apart. */
  etcdExternal?: string;
  etcdRootPath?: string;
  /** How many starts to try before giving up (the embedded server sometimes panics at start). */
  attempts?: number;
  /** Per start: how long to wait until persist works. */
  startTimeoutMs?: number;
  /** Authentication on (common.security.authorizationEnabled): the user root, password Milvus. */
  auth?: boolean;
}

/** Milvus's built-in user, for servers started with auth. */
export const ROOT_USER = { username: 'root', password: 'Milvus' } as const;

export interface StartOptions {
  /**
   * Wait until a persist through the management API succeeds (default). false: only until
   * /healthz answers OK, e.g. to flush inside the window right after a restart where persist
   * still fails.
   */
  waitPersist?: boolean;
}

export interface RealMilvus {
  version: string;
  grpcPort: number;
  mgmtPort: number;
  /** The embedded etcd's client port (undefined with etcdExternal). */
  etcdPort: number | undefined;
  dataDir: string;
  /** The server's pid (the milvus process itself). */
  readonly pid: number;
  /** Where the rocksmq message queue keeps its data (the analogue of the Pulsar volumes). */
  readonly mqDir: string;
  /** Where flushed insert binlogs are written: <data>/insert_log/<collection>/... */
  readonly insertLogDir: string;
  /** "127.0.0.1:<grpcPort>" */
  readonly address: string;
  /** Whether authentication is on (then clients log in as ROOT_USER). */
  readonly auth: boolean;
  /**
   * SIGTERM (what the wheel's own wrapper sends; 2.3.5 ignores SIGINT), then SIGKILL after
   * `graceMs` (default 15 s). remove: also delete the data dir.
   */
  stop(opts?: { remove?: boolean; graceMs?: number; signal?: NodeJS.Signals }): Promise<void>;
  /** stop(), then start on the same data dir and ports. */
  restart(opts?: StartOptions): Promise<void>;
  /** start again after stop() (same data dir and ports). */
  start(opts?: StartOptions): Promise<void>;
  /** The last lines of the server's logs, for failure messages. */
  logTail(lines?: number): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function httpGet(port: number, method: string, path: string, body?: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, timeout: timeoutMs, agent: false, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The config the server reads: the wheel's template with our ports and directories filled in. */
function writeConfig(opts: RealMilvusOptions, dataDir: string, ports: RealMilvusPorts): string {
  const data = wheelData(opts.version);
  const storage = join(dataDir, 'data');
  const logs = join(dataDir, 'logs');
  const configs = join(dataDir, 'configs');
  for (const d of [storage, logs, configs, join(dataDir, 'run')]) mkdirSync(d, { recursive: true });
  const values: Record<string, string | number> = {
    ...ports.internal,
    etcd_port: ports.etcdClient,
    proxy_port: ports.grpc,
    etcd_log_path: join(logs, 'etcd.log'),
    system_log_path: logs,
    etcd_data_dir: join(storage, 'etcd.data'),
    local_storage_dir: storage,
    rocksmq_data_dir: join(storage, 'rocksmq'),
    // 2.2's template spells it so.
    rocketmq_data_dir: join(storage, 'rocksmq'),
    system_log_level: 'info',
    authorization_enabled: opts.auth ? 'true' : 'false',
  };
  let text = readFileSync(join(data, 'config.yaml.template'), 'utf8').replace(/\{\{([^}]*)\}\}/g, (_all, inner: string) => {
    const [head, ...rest] = inner.split(':');
    const key = head!.trim().replace(/\(.*\)$/, '').trim();
    if (key in values) return String(values[key]);
    const dflt = rest.join(':').trim();
    return dflt;
  });
  if (opts.etcdExternal) {
    text = text.replace(/^(etcd:\n(?:.*\n)*?\s+embed:\s*)true/m, '$1false');
    // endpoints: a list (2.2) or a scalar (2.3).
    text = text.replace(/^(etcd:\n\s+endpoints:)\s*(?:\n\s+- )?localhost:\d+/m, `$1 ${opts.etcdExternal}`);
    text = text.replace(/^(etcd:\n(?:.*\n)*?\s+rootPath:)\s*by-dev/m, `$1 ${opts.etcdRootPath ?? 'by-dev'}`);
  } else {
    // The embedded etcd listens where its config file says (client and peer ports).
    const etcdConfig = join(configs, 'embed-etcd.yaml');
    writeFileSync(
      etcdConfig,
      [
        'name: milvus-embedded',
        `data-dir: ${join(storage, 'etcd.data')}`,
        `listen-client-urls: http://127.0.0.1:${ports.etcdClient}`,
        `advertise-client-urls: http://127.0.0.1:${ports.etcdClient}`,
        `listen-peer-urls: http://127.0.0.1:${ports.etcdPeer}`,
        `initial-advertise-peer-urls: http://127.0.0.1:${ports.etcdPeer}`,
        `initial-cluster: milvus-embedded=http://127.0.0.1:${ports.etcdPeer}`,
        'initial-cluster-state: new',
        '',
      ].join('\n'),
    );
    text = text.replace(/^etcd:\n/m, `etcd:\n  config:\n    path: ${etcdConfig}\n`);
    if (!text.includes(`localhost:${ports.etcdClient}`)) throw new Error('the config template has no etcd endpoint to set');
  }
  writeFileSync(join(configs, 'milvus.yaml'), text);
  // 2.3's wheel ships a glog.conf for the C++ core; 2.2's does not.
  if (existsSync(join(data, 'glog.conf'))) writeFileSync(join(configs, 'glog.conf'), readFileSync(join(data, 'glog.conf')));
  return configs;
}

async function pickPorts(): Promise<RealMilvusPorts> {
  const internal: Record<string, number> = {};
  for (const k of TEMPLATE_PORTS) if (k !== 'etcd_port' && k !== 'proxy_port') internal[k] = await freePort();
  return { grpc: await freePort(), mgmt: await freePort(), etcdClient: await freePort(), etcdPeer: await freePort(), internal };
}

/**
 * Starts a real Milvus standalone server on loopback and waits until persist works (or /healthz
 * only, with waitPersist false). Retries a start that fails: a fresh data dir is wiped and new
 * ports are picked before the next try.
 */
export async function startRealMilvus(opts: RealMilvusOptions): Promise<RealMilvus> {
  assertRealMilvus(opts.version);
  const fresh = opts.dataDir === undefined || !existsSync(join(opts.dataDir, 'configs'));
  // Under this checkout's .testbed (git-ignored), not the shared temp dir: several checkouts run
  // servers on one machine, and each one's leftovers are its own to clean.
  const dataRoot = join(ROOT, '.testbed', 'real-milvus-data');
  mkdirSync(dataRoot, { recursive: true });
  const dataDir = opts.dataDir ?? mkdtempSync(join(dataRoot, `${opts.version}-`));
  const bin = join(realMilvusHome(opts.version), 'server', 'bin');
  let ports = await pickPorts();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const log = (line: string) => appendFileSync(join(dataDir, 'harness.log'), `${new Date().toISOString()} ${line}\n`);

  const spawnOnce = () => {
    const configs = writeConfig(opts, dataDir, ports);
    const out = openSync(join(dataDir, 'logs', 'milvus-stdout.log'), 'a');
    const err = openSync(join(dataDir, 'logs', 'milvus-stderr.log'), 'a');
    const c = spawn(join(bin, 'milvus'), ['run', 'standalone'], {
      cwd: dataDir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? dataDir,
        DEPLOY_MODE: 'STANDALONE',
        METRICS_PORT: String(ports.mgmt),
        MILVUS_RUN_DIR: join(dataDir, 'run'),
        MILVUSCONF: `${configs}/`,
        LD_LIBRARY_PATH: bin,
      },
      stdio: ['ignore', out, err],
    });
    closeSync(out);
    closeSync(err);
    running.add(c);
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    void exited.then(() => running.delete(c));
    log(`started pid ${c.pid} grpc ${ports.grpc} mgmt ${ports.mgmt} etcd ${ports.etcdClient}`);
    child = c;
    return c;
  };

  const isAlive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

  const stopChild = async (graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || !isAlive(c)) return;
    c.kill(signal);
    const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      c.kill('SIGKILL');
      await exited;
    }
    log(`stopped pid ${c.pid}${done ? '' : ' (killed)'}`);
  };

  const waitUp = async (c: ChildProcess, waitPersist: boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let healthy = false;
    let last = '';
    while (Date.now() < deadline) {
      if (!isAlive(c)) throw new Error(`Milvus ${opts.version} exited (${c.exitCode ?? c.signalCode}) while starting`);
      try {
        if (!healthy) {
          const h = await httpGet(ports.mgmt, 'GET', '/healthz');
          healthy = h.status === 200 && h.body.includes('OK');
          last = `healthz ${h.status} ${h.body.slice(0, 80)}`;
        }
        // /healthz says nothing of the gRPC port: Milvus 2.2 moves to another port when its own is taken.
        if (healthy && !(await accepts(ports.grpc))) {
          last = `healthz OK but nothing accepts on the gRPC port ${ports.grpc}`;
          healthy = false;
        }
        if (healthy && !waitPersist) return;
        if (healthy && (await persistWorks(opts.version, ports, opts.auth ?? false, (s) => (last = s)))) return;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(500);
    }
    throw new Error(`Milvus ${opts.version} not ready within ${timeoutMs / 1000}s (last: ${last})`);
  };

  const start = async (s: StartOptions = {}, firstStart = false) => {
    const attempts = opts.attempts ?? 3;
    let lastError: unknown;
    for (let i = 1; i <= attempts; i++) {
      const c = spawnOnce();
      try {
        await waitUp(c, s.waitPersist ?? true, opts.startTimeoutMs ?? 120_000);
        return;
      } catch (e) {
        lastError = e;
        log(`start ${i} failed: ${(e as Error).message}`);
        await stopChild(2000);
        // A fresh data dir holds nothing worth keeping; a second try must not trip on its leftovers.
        if (firstStart && fresh) {
          for (const d of ['data', 'run']) rmSync(join(dataDir, d), { recursive: true, force: true });
          ports = await pickPorts();
        }
      }
    }
    throw new Error(`${(lastError as Error).message}\n--- log tail ---\n${tail(dataDir, 30)}`);
  };

  await start({}, true);

  const handle: RealMilvus = {
    version: opts.version,
    get grpcPort() {
      return ports.grpc;
    },
    get mgmtPort() {
      return ports.mgmt;
    },
    get etcdPort() {
      return opts.etcdExternal ? undefined : ports.etcdClient;
    },
    dataDir,
    get pid() {
      return child?.pid ?? -1;
    },
    mqDir: join(dataDir, 'data', 'rocksmq'),
    insertLogDir: join(dataDir, 'data', 'insert_log'),
    get address() {
      return `127.0.0.1:${ports.grpc}`;
    },
    auth: opts.auth ?? false,
    async stop(o = {}) {
      await stopChild(o.graceMs, o.signal);
      if (o.remove) rmSync(dataDir, { recursive: true, force: true });
    },
    async start(s = {}) {
      if (child && isAlive(child)) throw new Error('already running');
      await start(s);
    },
    async restart(s = {}) {
      await stopChild();
      await start(s);
    },
    logTail: (lines = 30) => tail(dataDir, lines),
  };
  return handle;
}

function tail(dataDir: string, lines: number): string {
  const parts: string[] = [];
  const harnessLog = join(dataDir, 'harness.log');
  if (existsSync(harnessLog)) parts.push(`[harness.log]\n${readFileSync(harnessLog, 'utf8').split('\n').slice(-lines).join('\n')}`);
  for (const f of ['milvus-stderr.log', 'milvus-stdout.log']) {
    const p = join(dataDir, 'logs', f);
    if (existsSync(p)) parts.push(`[${f}]\n${readFileSync(p, 'utf8').split('\n').slice(-lines).join('\n')}`);
  }
  return parts.join('\n');
}

const PROBE = 'harness_persist_probe';

/**
 * True once a persist of a (probe) collection succeeds: the datanode is registered and flushes.
 * The probe collection is dropped again, so the server holds only what the test writes.
 */
async function persistWorks(version: string, ports: RealMilvusPorts, auth: boolean, note: (s: string) => void): Promise<boolean> {
  const client = new MilvusClient({ address: `127.0.0.1:${ports.grpc}`, timeout: 10_000, logLevel: 'error', ...(auth ? ROOT_USER : {}) });
  try {
    const has = await client.hasCollection({ collection_name: PROBE });
    if (!has.value) {
      const c = await client.createCollection({ collection_name: PROBE, fields: vectorFields(), shards_num: 1 } as never);
      if (c.error_code !== 'Success') {
        note(`create probe: ${c.reason}`);
        return false;
      }
    }
    const r = await httpGet(ports.mgmt, 'POST', '/api/v1/persist', JSON.stringify({ collection_names: [PROBE] }));
    note(`persist probe (${version}): ${r.status} ${r.body.slice(0, 160)}`);
    const ok = r.status === 200 && !/"error_code"|"code"/.test(r.body.replace(/"status":\{\}/, ''));
    if (ok) await client.dropCollection({ collection_name: PROBE });
    return ok;
  } finally {
    client.closeConnection();
  }
}

// ---------------------------------------------------------------------------------------------
// Writing data through the real client
// ---------------------------------------------------------------------------------------------

export const DIM = 8;

function vectorFields() {
  return [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
    { name: 'vec', data_type: DataType.FloatVector, dim: DIM },
  ];
}

/** database -> collection -> number of rows to insert. The default database is "default". */
export type DataSpec = Record<string, Record<string, number>>;

export function client(m: Pick<RealMilvus, 'address'> & { auth?: boolean }, database = 'default'): MilvusClient {
  return new MilvusClient({ address: m.address, timeout: 60_000, logLevel: 'error', ...(database !== 'default' ? { database } : {}), ...(m.auth ? ROOT_USER : {}) });
}

function check(what: string, r: { error_code?: unknown; reason?: unknown; status?: { error_code?: unknown; reason?: unknown } }): void {
  const s = r.status ?? r;
  if (s.error_code !== undefined && s.error_code !== 'Success' && s.error_code !== 0) {
    throw new Error(`${what}: ${String(s.error_code)} ${String(s.reason ?? '')}`);
  }
}

/**
 * Creates the databases and collections and inserts rows with ids firstId..firstId+n-1, without
 * any flush by the client: the rows sit in growing segments, in the message queue. Returns the
 * number of rows inserted per "db.collection".
 */
export async function writeData(m: Pick<RealMilvus, 'address'> & { auth?: boolean }, spec: DataSpec, firstId = 0): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const root = client(m);
  try {
    const dbs = (await root.listDatabases()).db_names;
    for (const db of Object.keys(spec)) {
      if (db !== 'default' && !dbs.includes(db)) check(`create database ${db}`, await root.createDatabase({ db_name: db }));
    }
  } finally {
    root.closeConnection();
  }
  for (const [db, collections] of Object.entries(spec)) {
    const c = client(m, db);
    try {
      for (const [name, rows] of Object.entries(collections)) {
        if (!(await c.hasCollection({ collection_name: name })).value) {
          check(`create ${db}.${name}`, await c.createCollection({ collection_name: name, fields: vectorFields(), shards_num: 1 } as never));
        }
        for (let at = 0; at < rows; at += 1000) {
          const n = Math.min(1000, rows - at);
          const data = Array.from({ length: n }, (_, i) => ({ id: firstId + at + i, vec: Array.from({ length: DIM }, (_v, j) => ((firstId + at + i) * 7 + j) % 97 / 97) }));
          const r = await c.insert({ collection_name: name, data });
          check(`insert into ${db}.${name}`, r);
        }
        counts.set(`${db}.${name}`, rows);
      }
    } finally {
      c.closeConnection();
    }
  }
  return counts;
}

/** Every primary key of a collection, read after building an index and loading it (Strong consistency). */
/**
 * Loads a collection, again while the server answers with an error within `ms`: right after a
 * restart (the server is up once /healthz says so) its query node may not have registered yet,
 * and 2.3.5 then fails the load with "unrecoverable error" although nothing is wrong with the
 * data. A load that never succeeds fails with its last error.
 */
async function loadWithin(c: ReturnType<typeof client>, db: string, collection: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    let failure: unknown;
    try {
      check(`load ${db}.${collection}`, await c.loadCollectionSync({ collection_name: collection }));
      return;
    } catch (e) {
      failure = e;
    }
    if (Date.now() > deadline) throw failure;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export async function countRows(m: Pick<RealMilvus, 'address'> & { auth?: boolean }, db: string, collection: string): Promise<number> {
  const c = client(m, db);
  try {
    const idx = await c.describeIndex({ collection_name: collection });
    if (idx.status.error_code !== 'Success') {
      check(`index ${db}.${collection}`, await c.createIndex({ collection_name: collection, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2', params: {} } as never));
    }
    await loadWithin(c, db, collection, 90_000);
    const ids = new Set<string>();
    // Pages of primary keys by range: query's result size is capped (16384 by default).
    for (let from = 0; ; from += 10_000) {
      const r = await c.query({ collection_name: collection, expr: `id >= ${from} && id < ${from + 10_000}`, output_fields: ['id'], consistency_level: 'Strong' } as never);
      check(`query ${db}.${collection}`, r);
      for (const row of r.data as Array<{ id: string | number }>) ids.add(String(row.id));
      if (r.data.length === 0 && from > 0) {
        // Stop after the first empty page past the data.
        const more = await c.query({ collection_name: collection, expr: `id >= ${from}`, output_fields: ['id'], limit: 1, consistency_level: 'Strong' } as never);
        if (more.data.length === 0) break;
      }
    }
    await c.releaseCollection({ collection_name: collection });
    return ids.size;
  } finally {
    c.closeConnection();
  }
}

/** Databases the server lists (gRPC ListDatabases). */
export async function listDatabases(m: Pick<RealMilvus, 'address'> & { auth?: boolean }): Promise<string[]> {
  const c = client(m);
  try {
    return (await c.listDatabases()).db_names;
  } finally {
    c.closeConnection();
  }
}

export async function dropCollection(m: Pick<RealMilvus, 'address'> & { auth?: boolean }, db: string, collection: string): Promise<void> {
  const c = client(m, db);
  try {
    check(`drop ${db}.${collection}`, await c.dropCollection({ collection_name: collection }));
  } finally {
    c.closeConnection();
  }
}

/** Segment directories with flushed insert binlogs: <insert_log>/<collection id>/<partition>/<segment>. */
export function flushedSegmentDirs(m: Pick<RealMilvus, 'insertLogDir'>): string[] {
  if (!existsSync(m.insertLogDir)) return [];
  const out: string[] = [];
  for (const coll of readdirSync(m.insertLogDir)) {
    for (const part of readdirSync(join(m.insertLogDir, coll))) {
      for (const seg of readdirSync(join(m.insertLogDir, coll, part))) out.push(`${coll}/${part}/${seg}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Routing the release's pods to the server (KWOK port-forward rules)
// ---------------------------------------------------------------------------------------------

const forwards = (m: Pick<RealMilvus, 'mgmtPort' | 'grpcPort'>) => [
  { ports: [9091], target: { port: m.mgmtPort, address: '127.0.0.1' } },
  { ports: [19530], target: { port: m.grpcPort, address: '127.0.0.1' } },
];

/**
 * The release's current proxy (or standalone) pods forward 9091 to the server's management port
 * and 19530 to its gRPC port. Pods created later are not covered: see routeNamespaceTo.
 */
export async function routeReleaseTo(ns: string, release: string, m: Pick<RealMilvus, 'mgmtPort' | 'grpcPort'>): Promise<string[]> {
  return forwardReleasePods(ns, release, forwards(m));
}

/** Every pod of the namespace, now and later, forwards 9091 and 19530 to the server. */
export async function routeNamespaceTo(ns: string, m: Pick<RealMilvus, 'mgmtPort' | 'grpcPort'>): Promise<void> {
  const name = `ns-${ns}-real-milvus`;
  const manifest = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterPortForward',
    metadata: { name },
    spec: { selector: { matchNamespaces: [ns] }, forwards: forwards(m) },
  };
  await run('kubectl', ['delete', 'clusterportforward', name, '--ignore-not-found']);
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
}
