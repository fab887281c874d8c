/**
 * rolling-update against the test bed's real API server, controllers and scheduler (KWOK nodes):
 * Helm releases of every topology, Operator releases, failures and resumes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupRunFiles,
  CHART,
  assertTestbed,
  deleteNamespace,
  helm,
  installHelmRelease,
  kubectl,
  kubectlJson,
  newNamespace,
  run,
  runPlugin,
  snapshotObjects,
  interruptWhen,
} from './harness.js';


interface Deploy {
  metadata: { name: string; labels: Record<string, string> };
  spec: { minReadySeconds?: number; strategy: { type: string }; template: { spec: { containers: Array<{ name: string; image: string }> } } };
}

async function images(ns: string, release: string): Promise<Record<string, string>> {
  const list = await kubectlJson<{ items: Deploy[] }>(['get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`]);
  return Object.fromEntries(list.items.map((d) => [d.metadata.name, d.spec.template.spec.containers[0]!.image]));
}

/**
 * Checks what Kubernetes itself saw: a ReplicaSet running `image` exists for every component, and
 * their creation times (second resolution) never go backwards along `order`.
 */
async function expectRolloutOrder(ns: string, release: string, image: string, order: string[]): Promise<void> {
  const list = await kubectlJson<{ items: Array<{ metadata: { creationTimestamp: string; labels: Record<string, string> }; spec: { template: { spec: { containers: Array<{ image: string }> } } } }> }>([
    'get', 'replicasets', '-n', ns, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus`,
  ]);
  const created = new Map<string, number>();
  for (const rs of list.items.filter((x) => x.spec.template.spec.containers[0]!.image === image)) {
    created.set(rs.metadata.labels.component ?? rs.metadata.labels['app.kubernetes.io/component']!, Date.parse(rs.metadata.creationTimestamp));
  }
  expect([...created.keys()].sort()).toEqual([...order].sort());
  for (let i = 1; i < order.length; i++) {
    expect(created.get(order[i]!)!, `${order[i]} created before ${order[i - 1]}`).toBeGreaterThanOrEqual(created.get(order[i - 1]!)!);
  }
}

const stepsDone = (stderr: string, verb: string) => [...stderr.matchAll(new RegExp(`^\\[\\d+/\\d+\\] ${verb} (\\w+) .* done`, 'gm'))].map((m) => m[1]);
const NEW = 'milvusdb/milvus:v2.4.6';
const tableComponents = (stdout: string) => stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
const OLD = 'milvusdb/milvus:v2.4.5';

describe('rolling-update on a Helm release (mixcoord topology, chart >= 4.2.4)', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling');
    await Promise.all([installHelmRelease(ns, 'my-release', { 'attu.enabled': true }), installHelmRelease(ns, 'my-release-2')]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('--dry-run shows the order, every patch and the ConfigMap edit, and changes nothing', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', NEW, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect([...r.stderr.matchAll(/^\d+\. Update (\w+) /gm)].map((m) => m[1])).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(r.stderr).toContain('configmap/my-release-milvus key user.yaml: enableActiveStandby: true');
    expect(r.stderr).toContain('mixCoordinator.activeStandby.enabled=true in your values');
    expect(r.stderr).toContain(`kubectl patch deployment/my-release-milvus-mixcoord -n ${ns} --type strategic`);
    expect(r.stderr).not.toContain('attu');
    expect(r.stderr).not.toContain('my-release-2');
    expect(r.stderr).toContain('Dry run: nothing was changed.');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses a missing or untagged image and an accidental downgrade before changing anything', async () => {
    const before = await snapshotObjects(ns);
    const noImage = await runPlugin(['rolling-update', 'my-release', '-n', ns]);
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toContain('--image is required');
    const untagged = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus']);
    expect(untagged.code).toBe(2);
    const down = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.1', '-y']);
    expect(down.code).toBe(7);
    expect(down.stderr).toContain('pass --mode downgrade');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('a bad image stops at the first rollout with the undo command; after undoing, a run with a good image updates every component in order', async () => {
    const r = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6-broken', '--timeout', '8s', '--coordinator-min-ready', '0s', '-y', '-o', 'json']);
    expect(r.code, r.stderr).toBe(9);
    // With -o json a machine reader still gets the run's summary on stdout: what is done, what failed.
    const stopped = JSON.parse(r.stdout) as { completed: boolean; steps: Array<{ id: string; status: string }>; error: { exitCode: number; message: string; hint: string } };
    expect(stopped.completed).toBe(false);
    expect(stopped.steps.filter((s) => s.status === 'failed').map((s) => s.id)).toEqual([expect.stringContaining('indexnode')]);
    expect(stopped.steps.filter((s) => s.status === 'done').map((s) => s.id)).toContain('meta-backup');
    expect(stopped.error).toMatchObject({ exitCode: 9, message: expect.stringContaining('rollout of indexnode') });
    expect(stopped.error.hint).toContain(`kubectl rollout undo deployment/my-release-milvus-indexnode -n ${ns}`);
    expect(r.stderr).toContain('rollout of indexnode (deployment/my-release-milvus-indexnode) to milvusdb/milvus:v2.4.6-broken failed: timed out');
    expect(r.stderr).toContain('ErrImagePull'); // the pod's own reason
    expect(r.stderr).toContain('mixcoord, querynode, datanode, proxy still run the old image');
    expect(r.stderr).toContain(`kubectl rollout undo deployment/my-release-milvus-indexnode -n ${ns}`);
    expect(r.stderr).toContain('--resume');
    const after = await images(ns, 'my-release');
    expect(after['my-release-milvus-indexnode']).toBe('milvusdb/milvus:v2.4.6-broken');
    expect(after['my-release-milvus-proxy']).toBe(OLD); // nothing after the failure
    // The operator follows the hint, then runs again with a good image.
    await kubectl(['rollout', 'undo', 'deployment/my-release-milvus-indexnode', '-n', ns]);
    await kubectl(['rollout', 'status', 'deployment/my-release-milvus-indexnode', '-n', ns, '--timeout=60s']);
    const other = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', NEW, '-y', '--resume']);
    expect(other.code).toBe(7);
    expect(other.stderr).toContain('cannot resume with different parameters: image: checkpoint "milvusdb/milvus:v2.4.6-broken", now "milvusdb/milvus:v2.4.6"');

    const ok = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', NEW, '--coordinator-min-ready', '2s', '-y', '--restart']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(stepsDone(ok.stderr, 'Update')).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    // Kubernetes saw the new ReplicaSets created in that order, one component after the other.
    await expectRolloutOrder(ns, 'my-release', NEW, ['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    // Live progress: component, old -> new image, replicas, elapsed.
    expect(ok.stderr).toMatch(/mixcoord: milvusdb\/milvus:v2\.4\.5 -> v2\.4\.6 {2}updated \d\/1 {2}available \d\/1 {2}[\d.]+m?s/);
    expect(ok.stderr).toContain('patched images are reverted by the next "helm upgrade" of my-release');
    const imgs = await images(ns, 'my-release');
    for (const c of ['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']) expect(imgs[`my-release-milvus-${c}`]).toBe(NEW);
    expect(imgs['my-release-milvus-attu']).toBe('zilliz/attu:v2.4.0'); // never touched
    expect(Object.values(await images(ns, 'my-release-2')).every((i) => i === OLD)).toBe(true); // the neighbour release neither
    const mix = await kubectlJson<Deploy>(['get', 'deploy', 'my-release-milvus-mixcoord', '-n', ns]);
    expect(mix.spec.strategy.type).toBe('RollingUpdate');
    expect(mix.spec.minReadySeconds).toBe(2);
    expect(mix.metadata.labels['app.kubernetes.io/version']).toBe('2.4.6');
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'my-release-milvus', '-n', ns]);
    expect(cm.data['user.yaml']).toContain('# user configuration\nrootCoord:\n  enableActiveStandby: true');
    const backup = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'kubectl-milvus-backup-rolling-update-my-release', '-n', ns]);
    expect(backupRunFiles(backup.data)['configmap-my-release-milvus.yaml']).not.toContain('enableActiveStandby: true\nqueryCoord');
    expect(ok.stdout).toMatch(/^COMPONENT +DEPLOYMENT +FROM +TO +STATUS +DURATION$/m);
    expect(ok.stdout).toMatch(/^mixcoord +my-release-milvus-mixcoord +milvusdb\/milvus:v2\.4\.5 +milvusdb\/milvus:v2\.4\.6 +updated +/m);
  });
});

describe('rolling-update: a stalled rollout, fixed, then --resume', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling-quota');
    await installHelmRelease(ns, 'stall');
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('stops when no new pod can be created, and continues from that component once the cause is removed', async () => {
    // A pod quota equal to what runs now: the surge pod of the first rollout cannot be created.
    const pods = (await kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', ns])).items.length;
    await kubectl(['create', 'quota', 'pods', '-n', ns, `--hard=pods=${pods}`]);
    await waitForQuota(ns);
    const r = await runPlugin(['rolling-update', 'stall', '-n', ns, '--image', NEW, '--timeout', '8s', '--coordinator-min-ready', '0s', '-y']);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toContain('rollout of indexnode (deployment/stall-milvus-indexnode)');
    expect(r.stderr).toContain(`kubectl milvus rolling-update stall -n ${ns} --image ${NEW} --mode rolling --resume`);
    await kubectl(['delete', 'quota', 'pods', '-n', ns]);
    const resumed = await runPlugin(['rolling-update', 'stall', '-n', ns, '--image', NEW, '--timeout', '60s', '--coordinator-min-ready', '0s', '-y', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('2 of 7 steps already done'); // meta-backup, active-standby; indexnode runs again
    expect(stepsDone(resumed.stderr, 'Update')).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(Object.values(await images(ns, 'stall')).every((i) => i === NEW)).toBe(true);
    expect(resumed.stdout).toMatch(/^indexnode +stall-milvus-indexnode +milvusdb\/milvus:v2\.4\.5 +milvusdb\/milvus:v2\.4\.6 +updated/m);
  });
});

async function waitForQuota(ns: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const r = await run('kubectl', ['get', 'quota', 'pods', '-n', ns, '-o', 'jsonpath={.status.used.pods}']);
    if (r.code === 0 && r.stdout !== '') return;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error('the quota controller did not count the pods');
}

describe('rolling-update on other Helm topologies', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling-topo');
    await Promise.all([
      // A release name containing "milvus": the chart's fullname (and ConfigMap) is the release name.
      installHelmRelease(ns, 'milvus-prod', {
        'mixCoordinator.enabled': false,
        'rootCoordinator.enabled': true,
        'dataCoordinator.enabled': true,
        'queryCoordinator.enabled': true,
        'indexCoordinator.enabled': true,
        'image.all.tag': 'v2.3.21',
      }),
      installHelmRelease(ns, 'streaming', { 'streaming.enabled': true, 'image.all.tag': 'v2.6.0' }),
      installHelmRelease(ns, 'alone', { 'cluster.enabled': false, 'standalone.messageQueue': 'pulsar' }),
      installHelmRelease(ns, 'rocks', { 'cluster.enabled': false, 'pulsar.enabled': false }),
    ]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('separate coordinators: every component in the operator order, the ConfigMap named after the release', async () => {
    const r = await runPlugin(['rolling-update', 'milvus-prod', '-n', ns, '--image', 'milvusdb/milvus:v2.3.22', '--coordinator-min-ready', '0s', '-y']);
    expect(r.code, r.stderr).toBe(0);
    const order = ['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'querynode', 'datanode', 'proxy'];
    expect(stepsDone(r.stderr, 'Update')).toEqual(order);
    await expectRolloutOrder(ns, 'milvus-prod', 'milvusdb/milvus:v2.3.22', order);
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'milvus-prod', '-n', ns]);
    expect(cm.data['user.yaml']).toContain('indexCoord:\n  enableActiveStandby: true');
    for (const c of ['rootcoord', 'datacoord', 'indexcoord', 'querycoord']) {
      expect((await kubectlJson<Deploy>(['get', 'deploy', `milvus-prod-${c}`, '-n', ns])).spec.strategy.type).toBe('RollingUpdate');
    }
  });

  it('streaming (2.6): mixcoord and streamingnode are updated too', async () => {
    const r = await runPlugin(['rolling-update', 'streaming', '-n', ns, '--image', 'milvusdb/milvus:v2.6.1', '--coordinator-min-ready', '0s', '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(stepsDone(r.stderr, 'Update')).toEqual(['mixcoord', 'streamingnode', 'querynode', 'datanode', 'proxy']);
    expect(Object.values(await images(ns, 'streaming')).every((i) => i === 'milvusdb/milvus:v2.6.1')).toBe(true);
  });

  it('standalone keeps its Recreate strategy; standalone with rocksmq is refused untouched', async () => {
    const r = await runPlugin(['rolling-update', 'alone', '-n', ns, '--image', NEW, '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(stepsDone(r.stderr, 'Update')).toEqual(['standalone']);
    const d = await kubectlJson<Deploy>(['get', 'deploy', 'alone-milvus-standalone', '-n', ns]);
    expect(d.spec.strategy.type).toBe('Recreate');
    expect(d.spec.template.spec.containers[0]!.image).toBe(NEW);

    const before = await snapshotObjects(ns);
    const rocks = await runPlugin(['rolling-update', 'rocks', '-n', ns, '--image', NEW, '-y']);
    expect(rocks.code).toBe(7);
    expect(rocks.stderr).toContain('standalone Milvus with rocksmq cannot roll');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses a 2.1.x release and names meta-migrate', async () => {
    await installHelmRelease(ns, 'legacy', { 'image.all.tag': 'v2.1.4' });
    const r = await runPlugin(['rolling-update', 'legacy', '-n', ns, '--image', 'milvusdb/milvus:v2.2.0', '-y']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('Milvus 2.1.4 is 2.1.x');
    expect(r.stderr).toContain(`kubectl milvus meta-migrate legacy -n ${ns} --source-version 2.1.4 --target-version 2.2.x`);
  });
});

describe('rolling-update through helm, and after an interruption', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling-helm');
    await Promise.all([installHelmRelease(ns, 'durable'), installHelmRelease(ns, 'paused')]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('--via-helm keeps the new image in the release values and watches every component in order', async () => {
    const r = await runPlugin(['rolling-update', 'durable', '-n', ns, '--image', NEW, '--via-helm', '--chart', CHART, '-y']);
    expect(r.code, r.stderr).toBe(0);
    expect(stepsDone(r.stderr, 'Watch')).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(r.stderr).not.toContain('reverted by the next "helm upgrade"');
    const values = await helm(['get', 'values', 'durable', '-n', ns, '-o', 'json']);
    expect(JSON.parse(values)).toMatchObject({ image: { all: { repository: 'milvusdb/milvus', tag: 'v2.4.6' } }, mixCoordinator: { activeStandby: { enabled: true } } });
    expect(Object.values(await images(ns, 'durable')).every((i) => i === NEW)).toBe(true);
  });

  it('continues with --resume after an interruption between components', async () => {
    const first = await runPlugin(['rolling-update', 'paused', '-n', ns, '--image', NEW, '--coordinator-min-ready', '0s', '-y'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'update-paused-milvus-mixcoord' } });
    expect(first.code, first.stderr).toBe(130);
    const mid = await images(ns, 'paused');
    expect(mid['paused-milvus-mixcoord']).toBe(NEW);
    expect(mid['paused-milvus-proxy']).toBe(OLD);
    const r = await runPlugin(['rolling-update', 'paused', '-n', ns, '--image', NEW, '--coordinator-min-ready', '0s', '-y', '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('4 of 7 steps already done');
    expect(stepsDone(r.stderr, 'Update')).toEqual(['querynode', 'datanode', 'proxy']);
    expect(Object.values(await images(ns, 'paused')).every((i) => i === NEW)).toBe(true);
    // The summary keeps the images from before the first run, also for components done before the interruption.
    expect(r.stdout).toMatch(/^querynode +paused-milvus-querynode +milvusdb\/milvus:v2\.4\.5 +milvusdb\/milvus:v2\.4\.6 +updated/m);
  });
});

describe('rolling-update interrupted by Ctrl-C in the middle of a rollout', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling-int');
    await installHelmRelease(ns, 'ctrlc');
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('Ctrl-C while mixcoord rolls (minReadySeconds 6): exit 130 with the checkpoint; --resume finishes every component', async () => {
    const args = ['rolling-update', 'ctrlc', '-n', ns, '--image', NEW, '--coordinator-min-ready', '6s', '-y'];
    const r = await interruptWhen(args, /mixcoord: milvusdb\/milvus:v2\.4\.5 -> v2\.4\.6/);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted: progress is saved in configmap/kubectl-milvus-rolling-update-ctrlc');
    const mid = await images(ns, 'ctrlc');
    expect(mid['ctrlc-milvus-proxy']).toBe(OLD);
    const resumed = await runPlugin([...args, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('3 of 7 steps already done'); // meta-backup, active-standby, indexnode
    expect(stepsDone(resumed.stderr, 'Update')).toEqual(['mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(Object.values(await images(ns, 'ctrlc')).every((i) => i === NEW)).toBe(true);
  });
});
