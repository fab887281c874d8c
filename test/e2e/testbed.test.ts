/**
 * Smoke tests of the test bed itself: the Milvus-shaped chart, volumes, port-forward, and the fault
 * injection the other e2e tests rely on (the real Milvus Operator of the bed: operator.test.ts).
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  assertTestbed,
  BIN,
  CHART,
  deleteNamespace,
  forwardNamespaceTo,
  forwardReleaseTo,
  helm,
  installHelmRelease,
  KUBECONFIG,
  kubectl,
  kubectlJson,
  newNamespace,
  notReady,
  packageChart,
  run,
  setFaults,
  testbedEnv,
  waitReady,
} from './harness.js';

type K8sObject = { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string }; spec?: any; status?: any };
const list = async (ns: string, kinds: string, selector?: string) => (await kubectlJson<{ items: K8sObject[] }>(['get', kinds, '-n', ns, ...(selector ? ['-l', selector] : [])])).items;
const names = (items: K8sObject[]) => items.map((i) => i.metadata.name).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
  }
}

/** A local HTTP server standing in for the Milvus management API. */
async function localServer(body: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ body, path: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** `kubectl port-forward pod/POD :9091`: the local port kubectl picked, and a way to stop it. */
async function kubectlPortForward(ns: string, pod: string): Promise<{ port: number; stop: () => void }> {
  const pf = spawn('kubectl', ['port-forward', '-n', ns, `pod/${pod}`, ':9091'], { env: testbedEnv() });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      pf.stdout.on('data', (d) => {
        out += d;
        const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 9091/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      pf.on('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}`)));
    });
    return { port, stop: () => pf.kill() };
  } catch (e) {
    pf.kill();
    throw e;
  }
}

describe('test bed: the Milvus-shaped Helm chart', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('tb-helm');
    await Promise.all([
      installHelmRelease(ns, 'my-release'),
      installHelmRelease(ns, 'milvus-solo', { cluster: { enabled: false }, pulsar: { enabled: false }, 'pulsarv3.enabled': true }),
    ]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('cluster mode: Deployments <release>-milvus-<component> with the chart labels, Recreate coordinators', async () => {
    const deps = await list(ns, 'deployments', 'app.kubernetes.io/instance=my-release,app.kubernetes.io/name=milvus');
    expect(names(deps)).toEqual(['my-release-milvus-datanode', 'my-release-milvus-indexnode', 'my-release-milvus-mixcoord', 'my-release-milvus-proxy', 'my-release-milvus-querynode']);
    for (const d of deps) {
      const component = d.metadata.name.replace('my-release-milvus-', '');
      expect(d.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'milvus',
        'app.kubernetes.io/instance': 'my-release',
        component,
        'app.kubernetes.io/version': '2.4.5',
        'helm.sh/chart': 'milvus-4.2.30',
        'app.kubernetes.io/managed-by': 'Helm',
      });
      const c = d.spec.template.spec.containers[0];
      expect(c.name).toBe(component);
      expect(c.image).toBe('milvusdb/milvus:v2.4.5');
      expect(c.ports).toContainEqual({ name: 'metrics', containerPort: 9091, protocol: 'TCP' });
      expect(d.spec.strategy.type).toBe(component === 'mixcoord' ? 'Recreate' : 'RollingUpdate');
      expect(d.status.readyReplicas).toBe(1);
    }
    const svc = (await kubectlJson<K8sObject>(['get', 'service', 'my-release-milvus', '-n', ns])).spec;
    expect(svc.selector).toEqual({ 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'my-release', component: 'proxy' });
    expect(svc.ports.map((p: { name: string; port: number }) => `${p.name}:${p.port}`)).toEqual(['milvus:19530', 'metrics:9091']);
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'my-release-milvus', '-n', ns]);
    expect(Object.keys(cm.data).sort()).toEqual(['default.yaml', 'user.yaml']);
    expect(cm.data['default.yaml']).toContain('address: my-release-pulsar-proxy');
  });

  it('cluster mode: etcd, MinIO and Pulsar v2 with the real names, labels and bound PVCs', async () => {
    const etcd = await kubectlJson<K8sObject>(['get', 'statefulset', 'my-release-etcd', '-n', ns]);
    expect(etcd.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/instance': 'my-release' });
    const bookie = await kubectlJson<K8sObject>(['get', 'statefulset', 'my-release-pulsar-bookie', '-n', ns]);
    expect(bookie.metadata.labels).toMatchObject({ app: 'pulsar', release: 'my-release', component: 'bookie', chart: 'pulsar-2.7.8' });
    expect(names(await list(ns, 'statefulsets', 'app=pulsar,release=my-release'))).toEqual([
      'my-release-pulsar-bookie',
      'my-release-pulsar-broker',
      'my-release-pulsar-proxy',
      'my-release-pulsar-zookeeper',
    ]);
    const pulsarPvcs = await list(ns, 'pvc', 'app=pulsar,release=my-release');
    expect(names(pulsarPvcs)).toEqual([
      'my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0',
      'my-release-pulsar-bookie-ledgers-my-release-pulsar-bookie-0',
      'my-release-pulsar-zookeeper-data-my-release-pulsar-zookeeper-0',
    ]);
    expect(pulsarPvcs.find((p) => p.metadata.name.includes('journal'))!.metadata.labels).toEqual({ app: 'pulsar', release: 'my-release', component: 'bookie' });
    const all = await list(ns, 'pvc');
    expect(names(all)).toEqual(expect.arrayContaining(['data-my-release-etcd-0', 'my-release-minio', 'milvus-solo']));
    expect(all.find((p) => p.metadata.name === 'my-release-minio')!.metadata.annotations).toMatchObject({ 'helm.sh/resource-policy': 'keep' });
    await until('every PVC bound', async () => (await list(ns, 'pvc')).every((p) => p.status.phase === 'Bound'));
    const pv = await kubectlJson<K8sObject>(['get', 'pv', (await list(ns, 'pvc')).find((p) => p.metadata.name === 'data-my-release-etcd-0')!.spec.volumeName]);
    expect(pv.spec.persistentVolumeReclaimPolicy).toBe('Delete');
    expect(pv.spec.storageClassName).toBe('standard');
  });

  it('standalone mode: fullname is the release name when it contains "milvus"; Recreate; Pulsar v3 names', async () => {
    const deps = await list(ns, 'deployments', 'app.kubernetes.io/instance=milvus-solo,app.kubernetes.io/name=milvus');
    expect(names(deps)).toEqual(['milvus-solo-standalone']);
    expect(deps[0]!.spec.strategy.type).toBe('Recreate');
    expect(deps[0]!.metadata.labels!.component).toBe('standalone');
    const bookie = await kubectlJson<K8sObject>(['get', 'statefulset', 'milvus-solo-pulsarv3-bookie', '-n', ns]);
    expect(bookie.metadata.labels).toMatchObject({ app: 'pulsarv3', release: 'milvus-solo', component: 'bookie', chart: 'pulsar-3.3.0' });
    expect(names(await list(ns, 'pvc', 'app=pulsarv3,release=milvus-solo'))).toEqual([
      'milvus-solo-pulsarv3-bookie-journal-milvus-solo-pulsarv3-bookie-0',
      'milvus-solo-pulsarv3-bookie-ledgers-milvus-solo-pulsarv3-bookie-0',
      'milvus-solo-pulsarv3-zookeeper-data-milvus-solo-pulsarv3-zookeeper-0',
    ]);
    expect(await list(ns, 'statefulsets', 'app=pulsar,release=milvus-solo')).toEqual([]);
  });

  it('other topologies render with the real names: separate coordinators (active-standby), streaming nodes', async () => {
    const render = async (sets: string[]) => {
      const out = await helm(['template', 'rel', CHART, ...sets.flatMap((s) => ['--set', s])]);
      return out.split('\n---').filter((d) => d.includes('kind: Deployment') && d.includes('name: rel-milvus-')).map((d) => ({ name: /\n {2}name: (\S+)/.exec(d)![1]!, strategy: /type: (Recreate|RollingUpdate)/.exec(d)![1]! }));
    };
    const separate = await render(['mixCoordinator.enabled=false', 'rootCoordinator.enabled=true', 'dataCoordinator.enabled=true', 'queryCoordinator.enabled=true', 'indexCoordinator.enabled=true', 'queryCoordinator.activeStandby.enabled=true']);
    expect(Object.fromEntries(separate.filter((d) => /coord/.test(d.name)).map((d) => [d.name, d.strategy]))).toEqual({
      'rel-milvus-rootcoord': 'Recreate',
      'rel-milvus-datacoord': 'Recreate',
      'rel-milvus-querycoord': 'RollingUpdate',
      'rel-milvus-indexcoord': 'Recreate',
    });
    const streaming = await render(['streaming.enabled=true']);
    expect(streaming.map((d) => d.name).sort()).toEqual(['rel-milvus-datanode', 'rel-milvus-mixcoord', 'rel-milvus-proxy', 'rel-milvus-querynode', 'rel-milvus-streamingnode']);
  });

  it('packageChart: an older chart version has no pulsarv3 key', async () => {
    const old = await packageChart('4.2.20');
    const values = await helm(['show', 'values', old]);
    expect(values).not.toContain('pulsarv3');
    expect(await helm(['show', 'chart', old])).toContain('version: 4.2.20');
    const rendered = await helm(['template', 'rel', old, '--set', 'pulsarv3.enabled=true']);
    expect(rendered).not.toContain('pulsarv3');
    expect(await helm(['show', 'values', await packageChart('4.2.29')])).toContain('pulsarv3');
  });

  it('helm uninstall keeps the PVC annotated helm.sh/resource-policy: keep', async () => {
    const r = await run(join(BIN, 'helm'), ['uninstall', 'milvus-solo', '-n', ns, '--wait'], { env: testbedEnv() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('These resources were kept due to the resource policy:');
    expect(r.stdout).toContain('[PersistentVolumeClaim] milvus-solo');
    expect(names(await list(ns, 'pvc'))).toContain('milvus-solo');
  });
});

describe('test bed: broken images, volumes and port-forward', () => {
  let ns: string;
  let target: { server: Server; port: number };
  let other: { server: Server; port: number };
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('tb-bed');
    target = await localServer('my-release');
    other = await localServer('namespace');
    await installHelmRelease(ns, 'my-release', { cluster: { enabled: false }, pulsar: { enabled: false }, 'etcd.enabled': false, 'minio.enabled': false });
  });
  afterAll(async () => {
    target?.server.close();
    other?.server.close();
    if (ns) await deleteNamespace(ns);
  });

  it('a pod of an image ending in -broken never gets ready; its rollout runs into the progress deadline', async () => {
    await installHelmRelease(ns, 'broken', { 'image.all.tag': 'v2.4.6-broken', cluster: { enabled: false }, pulsar: { enabled: false }, 'etcd.enabled': false, 'minio.enabled': false }, undefined, { wait: false });
    await kubectl(['patch', 'deployment', 'broken-milvus-standalone', '-n', ns, '--type', 'merge', '-p', '{"spec":{"progressDeadlineSeconds":3}}']);
    const pod = await until('the broken pod to be pulled', async () => {
      const pods = await list(ns, 'pods', 'app.kubernetes.io/instance=broken');
      return pods.find((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull');
    });
    expect(pod.status.phase).toBe('Pending');
    const d = await until('ProgressDeadlineExceeded', async () => {
      const dep = await kubectlJson<K8sObject>(['get', 'deployment', 'broken-milvus-standalone', '-n', ns]);
      return dep.status?.conditions?.some((c: { reason: string }) => c.reason === 'ProgressDeadlineExceeded') && dep;
    });
    expect(d.status.readyReplicas ?? 0).toBe(0);
    expect(await notReady(ns, 'app.kubernetes.io/instance=broken')).toEqual(['deployment/broken-milvus-standalone (0/1)']);
    await expect(waitReady(ns, { selector: 'app.kubernetes.io/instance=broken', timeoutMs: 2000 })).rejects.toThrow(/not ready/);
  });

  it('PVCs bind to provisioned PVs; Delete and Retain reclaim policies behave like a real provisioner', async () => {
    const pvc = (name: string, sc?: string) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace: ns },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...(sc ? { storageClassName: sc } : {}) },
    });
    await kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pvc('gone'), pvc('kept', 'retained')] }) });
    const bound = await until('both PVCs bound', async () => {
      const items = (await list(ns, 'pvc')).filter((p) => ['gone', 'kept'].includes(p.metadata.name));
      return items.length === 2 && items.every((p) => p.status.phase === 'Bound') && Object.fromEntries(items.map((p) => [p.metadata.name, p.spec.volumeName as string]));
    });
    expect((await kubectlJson<K8sObject>(['get', 'pv', bound.kept!])).spec.persistentVolumeReclaimPolicy).toBe('Retain');
    await kubectl(['delete', 'pvc', 'gone', 'kept', '-n', ns, '--wait']);
    await until('the Delete PV to go', async () => (await run('kubectl', ['get', 'pv', bound.gone!])).code !== 0);
    const kept = await until('the Retain PV to be released', async () => {
      const pv = await kubectlJson<K8sObject>(['get', 'pv', bound.kept!]);
      return pv.status.phase === 'Released' && pv;
    });
    expect(kept.spec.claimRef.name).toBe('kept');
    await kubectl(['delete', 'pv', bound.kept!]);
  });

  it('port-forward to the proxy pod reaches a local server, with kubectl and with @kubernetes/client-node', async () => {
    await forwardNamespaceTo(ns, other.port);
    const pods = await forwardReleaseTo(ns, 'my-release', target.port);
    expect(pods).toHaveLength(1);
    const pod = pods[0]!;
    expect(pod).toMatch(/^my-release-milvus-standalone-/);

    // kubectl port-forward
    const pf = await kubectlPortForward(ns, pod);
    try {
      const local = pf.port;
      const r = await fetch(`http://127.0.0.1:${local}/api/v1/health`);
      expect(await r.json()).toEqual({ body: 'my-release', path: '/api/v1/health' });
    } finally {
      pf.stop();
    }

    // @kubernetes/client-node PortForward, as the plugin does it
    const kc = new KubeConfig();
    kc.loadFromFile(KUBECONFIG);
    const forward = new PortForward(kc);
    const tcp = createTcpServer((socket) => {
      void forward.portForward(ns, pod, [9091], socket, null, socket).catch(() => socket.destroy());
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    try {
      const r = await fetch(`http://127.0.0.1:${(tcp.address() as AddressInfo).port}/api/v1/collections`, { headers: { connection: 'close' } });
      expect(await r.json()).toEqual({ body: 'my-release', path: '/api/v1/collections' });
    } finally {
      tcp.close();
    }

    // Pods without a rule of their own follow the namespace rule.
    await installHelmRelease(ns, 'second', { cluster: { enabled: false }, pulsar: { enabled: false }, 'etcd.enabled': false, 'minio.enabled': false });
    const second = (await list(ns, 'pods', 'app.kubernetes.io/instance=second'))[0]!.metadata.name;
    const pf2 = await kubectlPortForward(ns, second);
    try {
      const local = pf2.port;
      expect(await (await fetch(`http://127.0.0.1:${local}/x`)).json()).toEqual({ body: 'namespace', path: '/x' });
    } finally {
      pf2.stop();
    }
  });
});

describe('test bed: fault injection for metadata-migration pods', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('tb-faults');
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  const migrationPod = (name: string, image = 'milvusdb/meta-migration:v2.2.0') => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { restartPolicy: 'Never', containers: [{ name: 'meta-migration', image, command: ['/bin/sh'], args: ['-c', '/milvus/bin/meta-migration -config=/milvus/configs/meta/migration.yaml'] }] },
  });
  const phase = async (name: string) => (await kubectlJson<K8sObject>(['get', 'pod', name, '-n', ns])).status?.phase as string | undefined;
  const finished = (name: string) => until(`pod ${name} to finish`, async () => {
    const p = await phase(name);
    return (p === 'Succeeded' || p === 'Failed') && p;
  }, 30_000);

  it('succeed by default, fail by image tag, and as the namespace ConfigMap testbed-faults says', async () => {
    await kubectl(['create', '-f', '-'], { input: JSON.stringify(migrationPod('milvus-meta-migration-backup-a')) });
    await kubectl(['create', '-f', '-'], { input: JSON.stringify(migrationPod('milvus-meta-migration-b', 'milvusdb/meta-migration:v2.2.0-fail')) });
    expect(await finished('milvus-meta-migration-backup-a')).toBe('Succeeded');
    expect(await finished('milvus-meta-migration-b')).toBe('Failed');
    const failed = await kubectlJson<K8sObject>(['get', 'pod', 'milvus-meta-migration-b', '-n', ns]);
    expect(failed.status.containerStatuses[0].state.terminated.exitCode).toBe(1);

    await setFaults(ns, { 'meta-migration': 'fail', 'meta-migration.backup': 'succeed', 'meta-migration.rollback': 'hang', 'meta-migration.retry': 'fail-once' });
    for (const n of ['milvus-meta-migration-c', 'milvus-meta-migration-backup-c', 'milvus-meta-migration-rollback-c', 'retry-1']) {
      await kubectl(['create', '-f', '-'], { input: JSON.stringify(migrationPod(n)) });
    }
    expect(await finished('milvus-meta-migration-c')).toBe('Failed');
    expect(await finished('milvus-meta-migration-backup-c')).toBe('Succeeded');
    expect(await finished('retry-1')).toBe('Failed');
    await kubectl(['create', '-f', '-'], { input: JSON.stringify(migrationPod('retry-2')) });
    expect(await finished('retry-2')).toBe('Succeeded');
    await sleep(3000);
    expect(await phase('milvus-meta-migration-rollback-c')).toBe('Running');
    const hanging = await kubectlJson<K8sObject>(['get', 'pod', 'milvus-meta-migration-rollback-c', '-n', ns]);
    expect(hanging.metadata.annotations!['testbed.kubectl-milvus.io/fault']).toBe('hang');
  });
});

describe('test bed: run.mjs and the Node runtime', () => {
  it('refuses a Node older than the pinned runtime, saying how to start it', async (ctx) => {
    const pinned = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node as string;
    // The machine's own node, outside the project's node_modules (older on the project machine).
    const found = (process.env.PATH ?? '').split(':').filter((d) => d && !d.includes('node_modules')).map((d) => join(d, 'node')).find((p) => existsSync(p));
    const version = found ? (await run(found, ['--version'], { env: process.env })).stdout.trim().replace(/^v/, '') : '';
    const [have, want] = [version, pinned].map((v) => v.split('.').map(Number));
    const i = have!.findIndex((n, k) => n !== want![k]);
    if (!found || i < 0 || have![i]! > want![i]!) return ctx.skip();
    const r = await run(found, [join(ROOT, 'testbed', 'run.mjs'), 'status'], { env: process.env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: the test bed needs Node ${pinned} (the project's pinned runtime), but Node ${version} is running`);
    expect(r.stderr).toContain('npm run testbed -- status');
  });

  it('down stops every process of a bed, one whose pid file was lost included, and says that none is left', async () => {
    // A second bed of its own (TESTBED_CLUSTER), so the shared one keeps running.
    const name = `down-${process.pid}`;
    const env = { ...process.env, TESTBED_CLUSTER: name };
    const runMjs = (command: string) => run(process.execPath, [join(ROOT, 'testbed', 'run.mjs'), command], { env, timeoutMs: 240_000 });
    // Running, not a zombie waiting for whoever adopted it to reap it.
    const running = (pid: number) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    const clusterProcesses = () =>
      readdirSync('/proc')
        .filter((e) => /^\d+$/.test(e))
        .filter((pid) => {
          try {
            return running(Number(pid)) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`/clusters/${name}/`);
          } catch {
            return false;
          }
        });
    try {
      const up = await runMjs('up');
      expect(up.code, up.stderr).toBe(0);
      expect(clusterProcesses().length).toBeGreaterThan(0);
      // The operator's pid file lost (deleted, or overwritten by a failed start): down must still stop it.
      const pidFile = join(ROOT, '.testbed', `operator-${name}.pid`);
      const operatorPid = Number(readFileSync(pidFile, 'utf8'));
      expect(running(operatorPid)).toBe(true);
      rmSync(pidFile);
      const down = await runMjs('down');
      expect(down.code, down.stderr).toBe(0);
      expect(down.stderr).toContain(`stopping 1 process(es) of the bed that outlived their pid files: ${operatorPid}`);
      expect(down.stderr).toContain(`down: no process of the bed ${name} is left`);
      expect(running(operatorPid)).toBe(false);
      expect(clusterProcesses()).toEqual([]);
    } finally {
      await runMjs('down');
      // The second bed's logs, state and data (named after it) go with it.
      for (const f of readdirSync(join(ROOT, '.testbed'))) if (f.endsWith(`-${name}`) || f.includes(`-${name}.`)) rmSync(join(ROOT, '.testbed', f), { recursive: true, force: true });
    }
  }, 300_000);
});
