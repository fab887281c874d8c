import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHART,
  assertTestbed,
  helm,
  createOperatorMilvus,
  deleteNamespace,
  installHelmRelease,
  kubectl,
  kubectlJson,
  newNamespace,
  runPlugin,
  snapshotObjects,
} from './harness.js';

interface Deploy {
  metadata: { name: string; labels: Record<string, string> };
  spec: { strategy: { type: string }; template: { spec: { containers: Array<{ image: string }> } } };
}

async function images(ns: string, release: string): Promise<Record<string, string>> {
  const list = await kubectlJson<{ items: Deploy[] }>(['get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`]);
  return Object.fromEntries(list.items.map((d) => [d.metadata.name, d.spec.template.spec.containers[0]!.image]));
}

describe('rolling-update on a Helm release', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling');
    await installHelmRelease(ns, 'my-release', { 'attu.enabled': true });
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('--dry-run shows the order and changes nothing', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    const order = [...r.stderr.matchAll(/^\d+\. Update (\w+) /gm)].map((m) => m[1]);
    expect(order).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(r.stderr).toContain('Switch the coordinators to active-standby');
    expect(r.stderr).not.toContain('attu');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses a missing image and an accidental downgrade before changing anything', async () => {
    const noImage = await runPlugin(['rolling-update', 'my-release', '-n', ns]);
    expect(noImage.code).toBe(2);
    const down = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.1', '-y']);
    expect(down.code).toBe(7);
    expect(down.stderr).toContain('pass --mode downgrade');
  });

  it('stops at the first failed rollout with the rollback command, and a fixed rerun succeeds', async () => {
    const r = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6-broken', '--timeout', '10s', '-y']);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain('rollout of deployment/my-release-milvus-indexnode failed: timed out waiting for deployment "my-release-milvus-indexnode" to roll out');
    expect(r.stderr).toContain(`kubectl rollout undo deployment/my-release-milvus-indexnode -n ${ns}`);
    const after = await images(ns, 'my-release');
    expect(after['my-release-milvus-indexnode']).toBe('milvusdb/milvus:v2.4.6-broken');
    expect(after['my-release-milvus-proxy']).toBe('milvusdb/milvus:v2.4.5'); // nothing after the failure
    // The operator follows the hint, then plans again with a good image.
    await kubectl(['rollout', 'undo', 'deployment/my-release-milvus-indexnode', '-n', ns]);
    await kubectl(['rollout', 'status', 'deployment/my-release-milvus-indexnode', '-n', ns, '--timeout=60s']);
    const resumeOther = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y', '--resume']);
    expect(resumeOther.code).toBe(7);
    expect(resumeOther.stderr).toContain('cannot resume with different parameters: image: checkpoint "milvusdb/milvus:v2.4.6-broken", now "milvusdb/milvus:v2.4.6"');
    const ok = await runPlugin(['rolling-update', 'my-release', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y', '--restart']);
    expect(ok.code, ok.stderr).toBe(0);
    const rolled = [...ok.stderr.matchAll(/^\[\d+\/\d+\] Update (\w+) .* done/gm)].map((m) => m[1]);
    expect(rolled).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    const imgs = await images(ns, 'my-release');
    for (const c of ['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']) expect(imgs[`my-release-milvus-${c}`]).toBe('milvusdb/milvus:v2.4.6');
    expect(imgs['my-release-milvus-attu']).toBe('zilliz/attu:v2.4.0');
    const mix = await kubectlJson<Deploy>(['get', 'deploy', 'my-release-milvus-mixcoord', '-n', ns]);
    expect(mix.spec.strategy.type).toBe('RollingUpdate');
    expect(mix.metadata.labels['app.kubernetes.io/version']).toBe('2.4.6');
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'my-release-milvus', '-n', ns]);
    expect(cm.data['user.yaml']).toContain('enableActiveStandby: true');
    expect(ok.stdout).toMatch(/^COMPONENT +DEPLOYMENT +FROM +TO +DURATION$/m);
  });
});

describe('rolling-update on an Operator release', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('rolling-op');
    await createOperatorMilvus(ns, 'vdb', { mode: 'cluster', components: { image: 'milvusdb/milvus:v2.4.5' }, dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v3' } } } });
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('merge-patches the resource and follows every Deployment to the new image', async () => {
    const r = await runPlugin(['rolling-update', 'vdb', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const m = await kubectlJson<{ spec: { mode: string; components: Record<string, unknown> } }>(['get', 'milvus', 'vdb', '-n', ns]);
    expect(m.spec.components).toMatchObject({ image: 'milvusdb/milvus:v2.4.6', enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' });
    expect(m.spec.mode).toBe('cluster'); // the rest of the spec was not replaced
    const imgs = await images(ns, 'vdb');
    expect(Object.values(imgs).filter((i) => i.startsWith('milvusdb/milvus')).every((i) => i === 'milvusdb/milvus:v2.4.6')).toBe(true);
    expect(JSON.parse(r.stdout).completed).toBe(true);
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
    const r = await runPlugin(['rolling-update', 'durable', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '--via-helm', '--chart', CHART, '-y']);
    expect(r.code, r.stderr).toBe(0);
    const watched = [...r.stderr.matchAll(/^\[\d+\/\d+\] Watch (\w+) .* done/gm)].map((m) => m[1]);
    expect(watched).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    const values = await helm(['get', 'values', 'durable', '-n', ns, '-o', 'json']);
    expect(JSON.parse(values)).toMatchObject({ image: { all: { repository: 'milvusdb/milvus', tag: 'v2.4.6' } }, mixCoordinator: { activeStandby: { enabled: true } } });
    const imgs = await images(ns, 'durable');
    expect(Object.values(imgs).every((i) => i === 'milvusdb/milvus:v2.4.6')).toBe(true);
  });

  it('continues with --resume after an interruption between components', async () => {
    const first = await runPlugin(['rolling-update', 'paused', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'update-paused-milvus-mixcoord' } });
    expect(first.code, first.stderr).toBe(130);
    const mid = await images(ns, 'paused');
    expect(mid['paused-milvus-mixcoord']).toBe('milvusdb/milvus:v2.4.6');
    expect(mid['paused-milvus-proxy']).toBe('milvusdb/milvus:v2.4.5');
    const r = await runPlugin(['rolling-update', 'paused', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y', '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('3 of 6 steps already done');
    const rolled = [...r.stderr.matchAll(/^\[\d+\/\d+\] Update (\w+) .* done/gm)].map((m) => m[1]);
    expect(rolled).toEqual(['querynode', 'datanode', 'proxy']);
    expect(Object.values(await images(ns, 'paused')).every((i) => i === 'milvusdb/milvus:v2.4.6')).toBe(true);
  });
});
