// The real-cluster test bed: `node testbed/run.mjs up|down|status|ensure|env`.
// A real kube-apiserver, kube-controller-manager and kube-scheduler (built from the Kubernetes Go
// modules by build.sh), Debian's etcd and KWOK's fake nodes, all bound to 127.0.0.1, started and
// stopped through kwokctl's binary runtime. `ensure` builds what is missing and starts the bed if
// it is not running; `up` is idempotent.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TESTBED_DIR, testbedCluster } from './cluster.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// The controllers (and tsx) need the project's pinned Node runtime: an older global `node`
// would crash them later with an obscure error, so refuse at once, saying how to start it.
const pinnedNode = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node;
const olderThan = (a, b) => {
  const [x, y] = [a, b].map((v) => v.split('.').map((n) => Number.parseInt(n, 10)));
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
  return false;
};
if (olderThan(process.versions.node, pinnedNode)) {
  process.stderr.write(
    `error: the test bed needs Node ${pinnedNode} (the project's pinned runtime), but Node ${process.versions.node} is running (${process.execPath}).\n` +
      `Start it through npm, which puts the pinned runtime first on PATH: npm run testbed -- ${process.argv[2] ?? 'status'}\n`,
  );
  process.exit(3);
}
const tb = TESTBED_DIR;
const bin = join(tb, 'bin');
const workdir = join(tb, 'work');
// TESTBED_CLUSTER runs a second, independent bed (its own kubeconfig, controllers and ports), for
// example to try the bed's own lifecycle while tests use the default one (cluster.mjs: the rule
// the e2e harness follows too).
let cluster;
try {
  cluster = testbedCluster();
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(2);
}
export const CLUSTER = cluster.name;
const suffix = cluster.suffix;
export const KUBECONFIG = cluster.kubeconfig;
const NODES = 3;
const controllersPidFile = join(tb, `controllers${suffix}.pid`);
const controllersLog = join(tb, `controllers${suffix}.log`);
// Before the controllers were one process, an operator simulator ran alone under this pid file.
const legacyPidFile = join(tb, 'operator-sim.pid');
// The real Milvus Operator (built by build.sh), run out of the cluster, and the second etcd that
// answers its etcd probes.
const operatorPidFile = join(tb, `operator${suffix}.pid`);
const operatorLog = join(tb, `operator${suffix}.log`);
const operatorDir = join(tb, `operator${suffix}`);
const operatorHosts = join(tb, `operator-hosts${suffix}`);
const operatorState = join(tb, `operator${suffix}.json`);
const opEtcdPidFile = join(tb, `operator-etcd${suffix}.pid`);
const opEtcdLog = join(tb, `operator-etcd${suffix}.log`);
const opEtcdData = join(tb, `operator-etcd${suffix}`);
const operatorConfig = join(bin, 'milvus-operator-config');

const log = (m) => process.stderr.write(`[testbed ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const env = () => ({ ...process.env, KWOK_WORKDIR: workdir, KUBECONFIG });

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { env: env(), encoding: 'utf8', ...opts });
  if (r.error) throw r.error;
  return r;
}

function must(cmd, args, opts = {}) {
  const r = run(cmd, args, opts);
  if (r.status !== 0) {
    throw new Error(`${[cmd, ...args].join(' ')} failed (${r.status}):\n${r.stderr ?? ''}${r.stdout ?? ''}`);
  }
  return r.stdout ?? '';
}

const kubectl = (args, opts) => must('kubectl', ['--kubeconfig', KUBECONFIG, ...args], opts);

function build() {
  const r = spawnSync('bash', [join(here, 'build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('building the test bed failed (see above)');
}

function clusterExists() {
  if (!existsSync(join(bin, 'kwokctl'))) return false;
  const r = run(join(bin, 'kwokctl'), ['get', 'clusters']);
  return r.status === 0 && r.stdout.split('\n').map((s) => s.trim()).includes(CLUSTER);
}

function apiReady() {
  if (!existsSync(KUBECONFIG)) return false;
  const r = run('kubectl', ['--kubeconfig', KUBECONFIG, 'get', '--raw', '/readyz', '--request-timeout', '5s']);
  return r.status === 0 && r.stdout.trim() === 'ok';
}

async function waitFor(what, check, timeoutMs = 120_000) {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function goModCache() {
  return execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
}

function kwokVersion() {
  const m = /KWOK_VERSION=(\S+)/.exec(readFileSync(join(here, 'versions.env'), 'utf8'));
  return m[1];
}

function pidAlive(file) {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

const controllersRunning = () => pidAlive(controllersPidFile) !== undefined;

/** The dependency gateway and the fault controller (testbed/controllers.ts), detached. */
function startControllers() {
  if (controllersRunning()) return;
  const out = openSync(controllersLog, 'a');
  const state = readState();
  const gateway = !state.etcdClientPort ? {} : { TESTBED_OPERATOR_HOSTS: operatorHosts, TESTBED_OPERATOR_ETCD: `127.0.0.1:${state.etcdClientPort}` };
  const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(here, 'controllers.ts')], {
    env: { ...env(), ...gateway },
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  writeFileSync(controllersPidFile, String(child.pid));
  log(`controllers started: dependency gateway and fault controller (pid ${child.pid}, log ${controllersLog})`);
}

function readState() {
  try {
    return JSON.parse(readFileSync(operatorState, 'utf8'));
  } catch {
    return {};
  }
}

/** A port free on 127.0.0.1 right now (the kernel's choice): other beds run on this machine too. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The second etcd (Debian's, on free loopback ports) that answers for every operator-installed etcd. */
async function startOperatorEtcd() {
  if (pidAlive(opEtcdPidFile) !== undefined) return;
  const client = await freePort();
  const peer = await freePort();
  rmSync(opEtcdData, { recursive: true, force: true });
  const out = openSync(opEtcdLog, 'a');
  const child = spawn(join(bin, 'etcd'), [
    '--name', 'testbed-operator-deps',
    '--data-dir', opEtcdData,
    '--listen-client-urls', `http://127.0.0.1:${client}`,
    '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `testbed-operator-deps=http://127.0.0.1:${peer}`,
  ], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(opEtcdPidFile, String(child.pid));
  writeFileSync(operatorState, JSON.stringify({ ...readState(), etcdClientPort: client }));
  await waitFor('the operator dependencies\' etcd', () => tcpOpen(client), 30_000);
  log(`etcd for the operator's dependency probes on 127.0.0.1:${client} (pid ${child.pid})`);
}

function tcpOpen(port) {
  const r = spawnSync(process.execPath, ['-e', `require('net').connect(${port},'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`]);
  return r.status === 0;
}

/**
 * The real Milvus Operator, out of the cluster: working directory .testbed/operator with
 * config/assets/templates (from its module) and config/assets/charts (operator-charts/), KUBECONFIG
 * in its environment, metrics and health probes on free loopback ports, and — in a private mount
 * namespace — /etc/hosts replaced by the dependency gateway's hosts file, so the in-cluster names
 * of the dependencies it probes resolve to the gateway's loopback addresses.
 */
async function startOperator() {
  if (pidAlive(operatorPidFile) !== undefined) return;
  const manager = join(bin, 'milvus-operator');
  rmSync(operatorDir, { recursive: true, force: true });
  mkdirSync(join(operatorDir, 'config', 'assets'), { recursive: true });
  cpSync(join(operatorConfig, 'assets', 'templates'), join(operatorDir, 'config', 'assets', 'templates'), { recursive: true });
  cpSync(join(here, 'operator-charts'), join(operatorDir, 'config', 'assets', 'charts'), { recursive: true });
  if (!existsSync(operatorHosts)) writeFileSync(operatorHosts, '127.0.0.1 localhost\n');
  const metrics = await freePort();
  const probe = await freePort();
  const out = openSync(operatorLog, 'a');
  const args = [
    '-namespace', 'milvus-operator', '-name', 'milvus-operator',
    `--metrics-bind-address=127.0.0.1:${metrics}`,
    `--health-probe-bind-address=127.0.0.1:${probe}`,
    `--work-dir=${operatorDir}/`,
  ];
  // unshare -m: a mount namespace of its own, where the bind mount of the hosts file is private.
  const child = spawn('unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'sh', operatorHosts, manager, ...args], {
    cwd: operatorDir,
    env: { ...process.env, KUBECONFIG },
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  writeFileSync(operatorPidFile, String(child.pid));
  writeFileSync(operatorState, JSON.stringify({ ...readState(), metricsPort: metrics, probePort: probe }));
  const healthy = () =>
    spawnSync(process.execPath, ['-e', `require('http').get('http://127.0.0.1:${probe}/readyz',(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`]).status === 0;
  await waitFor('the Milvus Operator to be ready', () => {
    if (pidAlive(operatorPidFile) === undefined) throw new Error(`the Milvus Operator exited at start (log ${operatorLog})`);
    return healthy();
  }, 60_000);
  log(`Milvus Operator ${operatorVersion()} started out of the cluster (pid ${child.pid}, probes 127.0.0.1:${probe}, log ${operatorLog})`);
}

function operatorVersion() {
  const m = /MILVUS_OPERATOR_VERSION=(\S+)/.exec(readFileSync(join(here, 'versions.env'), 'utf8'));
  return m[1];
}

function stopOperator() {
  stopPidFile(operatorPidFile);
  stopPidFile(opEtcdPidFile);
}

function stopPidFile(file) {
  const pid = pidAlive(file);
  if (pid !== undefined) {
    // The process group: tsx runs the controllers in a child process of its own.
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 50 && pidAlive(file) !== undefined; i++) spawnSync('sleep', ['0.1']);
    if (pidAlive(file) !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  rmSync(file, { force: true });
}

function stopControllers() {
  stopPidFile(controllersPidFile);
  stopPidFile(legacyPidFile);
}

/** Stages, StorageClasses, CRDs and the operator's Deployment: applied on every up (idempotent). */
function applyManifests() {
  // Node stages are kwok's own (shipped in its module); pod stages are the test bed's.
  const stageDir = join(goModCache(), `sigs.k8s.io/kwok@${kwokVersion()}`, 'kustomize/stage');
  kubectl([
    'apply',
    '-f', join(stageDir, 'node/fast/node-initialize.yaml'),
    '-f', join(stageDir, 'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml'),
    '-f', join(here, 'stages'),
    '-f', join(here, 'storageclass.yaml'),
    '-f', join(here, 'operator-deployment.yaml'),
  ]);
  // The operator's own CRDs (milvuses, milvusupgrades, milvusclusters), server-side: they are too
  // large for the last-applied annotation of a client-side apply.
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(operatorConfig, 'crd', 'bases')]);
}

async function up() {
  if (clusterExists() && apiReady()) {
    stopPidFile(legacyPidFile);
    applyManifests();
    await startOperatorParts();
    log('already running');
    return;
  }
  if (clusterExists()) {
    log('cluster exists but does not answer: recreating it');
    await down();
  }
  for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kwokctl', 'etcd', 'helm', 'milvus-operator']) {
    if (!existsSync(join(bin, b))) throw new Error(`missing ${join(bin, b)}: run "node testbed/run.mjs ensure" (it builds first)`);
  }
  mkdirSync(workdir, { recursive: true });
  const started = Date.now();
  const config = join(tb, `kwokctl${suffix}.yaml`);
  // Loopback only; Stage and port-forward rules are CRDs so the bed and its tests manage them
  // live; the controller-manager's hostPath provisioner gives PVCs real PVs.
  writeFileSync(
    config,
    `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
  enableCRDs: [Stage, PortForward, ClusterPortForward]
componentsPatches:
- name: kube-controller-manager
  extraArgs:
  - key: enable-hostpath-provisioner
    value: "true"
`,
  );
  rmSync(KUBECONFIG, { force: true });
  log(`creating cluster ${CLUSTER} (kube-apiserver, controller-manager, scheduler, etcd, kwok on 127.0.0.1)`);
  must(join(bin, 'kwokctl'), [
    'create', 'cluster',
    '--name', CLUSTER,
    '--runtime', 'binary',
    '--config', config,
    '--kube-apiserver-binary', join(bin, 'kube-apiserver'),
    '--kube-controller-manager-binary', join(bin, 'kube-controller-manager'),
    '--kube-scheduler-binary', join(bin, 'kube-scheduler'),
    '--kwok-controller-binary', join(bin, 'kwok'),
    '--etcd-binary', join(bin, 'etcd'),
    '--kubeconfig', KUBECONFIG,
    '--wait', '2m',
  ]);
  await waitFor('the API server', apiReady);
  applyManifests();
  must(join(bin, 'kwokctl'), ['scale', 'node', '--name', CLUSTER, '--replicas', String(NODES)]);
  kubectl(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=60s']);
  // A just-created CRD has no conditions yet, which `kubectl wait` reports as an error: retry.
  const crds = ['crd/milvuses.milvus.io', 'crd/milvusupgrades.milvus.io', 'crd/milvusclusters.milvus.io'];
  await waitFor('the Milvus CRDs', () => run('kubectl', ['--kubeconfig', KUBECONFIG, 'wait', '--for=condition=Established', ...crds, '--timeout=10s']).status === 0, 60_000);
  await startOperatorParts();
  log(`up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

/** The etcd of the dependency probes, the controllers (gateway, faults) and the real operator. */
async function startOperatorParts() {
  await startOperatorEtcd();
  startControllers();
  await startOperator();
}

/**
 * The processes of this bed still running, found in /proc rather than from pid files (a pid file
 * can be lost or stale): kwokctl's components run from the cluster's own directory, the operator
 * (its work directory) and the controllers (controllers.ts) have this bed's kubeconfig in their
 * environment, the operator's etcd keeps its data in this bed's directory. Paths are matched as written and as resolved (.testbed may
 * be a symbolic link).
 */
function leftovers() {
  const forms = (p) => {
    try {
      const resolved = join(realpathSync(dirname(p)), basename(p));
      return resolved === p ? [p] : [p, resolved];
    } catch {
      return [p]; // the directory is gone: the path as written is the only form
    }
  };
  const clusterDirs = forms(join(workdir, 'clusters', CLUSTER)).map((d) => `${d}/`);
  const dataDirs = [...forms(opEtcdData), ...forms(operatorDir)];
  const kubeconfigs = forms(KUBECONFIG).map((k) => `KUBECONFIG=${k}`);
  const found = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let args;
    let environ;
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (args.length === 0) continue;
    const mine =
      args.some((a) => clusterDirs.some((d) => a.includes(d)) || dataDirs.some((d) => a === d || a.endsWith(`=${d}`) || a.endsWith(`=${d}/`))) ||
      // Only the bed's own programs by environment: a user's shell may export this KUBECONFIG too.
      (args.some((a) => a.endsWith('/testbed/controllers.ts') || a.endsWith('/milvus-operator')) && environ.some((e) => kubeconfigs.includes(e)));
    if (mine) found.push({ pid, command: args.join(' ').slice(0, 160) });
  }
  return found;
}

async function down() {
  stopOperator();
  stopControllers();
  if (existsSync(join(bin, 'kwokctl')) && clusterExists()) {
    run(join(bin, 'kwokctl'), ['delete', 'cluster', '--name', CLUSTER]);
  }
  rmSync(KUBECONFIG, { force: true });
  // Whatever the pid files and kwokctl missed: stopped here, and the result said.
  let left = leftovers();
  if (left.length > 0) {
    log(`stopping ${left.length} process(es) of the bed that outlived their pid files: ${left.map((p) => p.pid).join(', ')}`);
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      for (const p of left) {
        try {
          process.kill(p.pid, signal);
        } catch {
          /* already gone */
        }
      }
      for (let i = 0; i < 50 && (left = leftovers()).length > 0; i++) spawnSync('sleep', ['0.1']);
      if (left.length === 0) break;
    }
  }
  if (left.length > 0) {
    throw new Error(`cluster ${CLUSTER} is down but ${left.length} of its processes still run:\n${left.map((p) => `  pid ${p.pid}: ${p.command}`).join('\n')}`);
  }
  log(`down: no process of the bed ${CLUSTER} is left`);
}

function status() {
  const exists = clusterExists();
  const ready = exists && apiReady();
  process.stdout.write(
    `cluster:    ${exists ? CLUSTER : 'none'}\n` +
      `api:        ${ready ? 'ready' : 'not ready'}\n` +
      `controllers: ${controllersRunning() ? `running (pid ${pidAlive(controllersPidFile)}, log ${controllersLog})` : 'stopped'}\n` +
      `operator:   ${pidAlive(operatorPidFile) !== undefined ? `Milvus Operator ${operatorVersion()} (pid ${pidAlive(operatorPidFile)}, log ${operatorLog})` : 'stopped'}\n` +
      `KUBECONFIG=${KUBECONFIG}\n`,
  );
  return ready;
}

const cmd = process.argv[2] ?? 'status';
try {
  switch (cmd) {
    case 'build':
      build();
      break;
    case 'ensure':
      build();
      await up();
      process.stdout.write(`KUBECONFIG=${KUBECONFIG}\n`);
      break;
    case 'up':
      await up();
      process.stdout.write(`KUBECONFIG=${KUBECONFIG}\n`);
      break;
    case 'down':
      await down();
      break;
    case 'restart-controllers':
      // After editing operator-deps/ or faults/: the cluster keeps running.
      stopControllers();
      startControllers();
      break;
    case 'restart-operator':
      // After changing operator-charts/ or the operator binary: the cluster keeps running.
      stopPidFile(operatorPidFile);
      await startOperatorParts();
      break;
    case 'status':
      process.exitCode = status() ? 0 : 1;
      break;
    case 'env':
      process.stdout.write(`KUBECONFIG=${KUBECONFIG}\nPATH=${bin}:${process.env.PATH}\n`);
      break;
    default:
      process.stderr.write('usage: node testbed/run.mjs up|down|status|ensure|env|build|restart-controllers|restart-operator\n');
      process.exitCode = 2;
  }
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`);
  process.exitCode = 1;
}
