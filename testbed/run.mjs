// The real-cluster test bed: `node testbed/run.mjs up|down|status|ensure|env`.
// A real kube-apiserver, kube-controller-manager and kube-scheduler (built from the Kubernetes Go
// modules by build.sh), Debian's etcd and KWOK's fake nodes, all bound to 127.0.0.1, started and
// stopped through kwokctl's binary runtime. `ensure` builds what is missing and starts the bed if
// it is not running; `up` is idempotent.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tb = join(root, '.testbed');
const bin = join(tb, 'bin');
const workdir = join(tb, 'work');
// TESTBED_CLUSTER runs a second, independent bed (its own kubeconfig, controllers and ports), for
// example to try the bed's own lifecycle while tests use the default one.
export const CLUSTER = process.env.TESTBED_CLUSTER || 'kubectl-milvus';
const suffix = CLUSTER === 'kubectl-milvus' ? '' : `-${CLUSTER}`;
export const KUBECONFIG = join(tb, `kubeconfig${suffix}`);
const NODES = 3;
const controllersPidFile = join(tb, `controllers${suffix}.pid`);
const controllersLog = join(tb, `controllers${suffix}.log`);
// Before the controllers were one process, the operator simulator ran alone under this pid file.
const legacyPidFile = join(tb, 'operator-sim.pid');

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

/** The Milvus Operator simulator and the fault controller (testbed/controllers.ts), detached. */
function startControllers() {
  if (controllersRunning()) return;
  const out = openSync(controllersLog, 'a');
  const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(here, 'controllers.ts')], {
    env: env(),
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  writeFileSync(controllersPidFile, String(child.pid));
  log(`controllers started: Milvus Operator simulator and fault controller (pid ${child.pid}, log ${controllersLog})`);
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
    '-f', join(here, 'crds'),
    '-f', join(here, 'operator-sim', 'deployment.yaml'),
  ]);
}

async function up() {
  if (clusterExists() && apiReady()) {
    stopPidFile(legacyPidFile);
    applyManifests();
    startControllers();
    log('already running');
    return;
  }
  if (clusterExists()) {
    log('cluster exists but does not answer: recreating it');
    await down();
  }
  for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kwokctl', 'etcd', 'helm']) {
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
  kubectl(['wait', '--for=condition=Established', 'crd/milvuses.milvus.io', 'crd/milvusupgrades.milvus.io', '--timeout=60s']);
  startControllers();
  log(`up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

async function down() {
  stopControllers();
  if (existsSync(join(bin, 'kwokctl')) && clusterExists()) {
    run(join(bin, 'kwokctl'), ['delete', 'cluster', '--name', CLUSTER]);
  }
  rmSync(KUBECONFIG, { force: true });
  log('down');
}

function status() {
  const exists = clusterExists();
  const ready = exists && apiReady();
  process.stdout.write(
    `cluster:    ${exists ? CLUSTER : 'none'}\n` +
      `api:        ${ready ? 'ready' : 'not ready'}\n` +
      `controllers: ${controllersRunning() ? `running (pid ${pidAlive(controllersPidFile)}, log ${controllersLog})` : 'stopped'}\n` +
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
      // After editing operator-sim/ or faults/: the cluster keeps running.
      stopControllers();
      startControllers();
      break;
    case 'status':
      process.exitCode = status() ? 0 : 1;
      break;
    case 'env':
      process.stdout.write(`KUBECONFIG=${KUBECONFIG}\nPATH=${bin}:${process.env.PATH}\n`);
      break;
    default:
      process.stderr.write('usage: node testbed/run.mjs up|down|status|ensure|env|build|restart-controllers\n');
      process.exitCode = 2;
  }
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`);
  process.exitCode = 1;
}
