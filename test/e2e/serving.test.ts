/**
 * The after-hop serving check (servingProbe) on the real test bed, in-process: a Helm release on
 * Milvus 2.6 (mixcoord, streaming nodes) whose pods' 9091 and 19530 the namespace's KWOK
 * port-forward rules route to the 2.6 simulator. Proves the real endpoints: release discovery,
 * pods listed by the Deployments' selectors, port-forwards to the mixcoord pod and to each proxy
 * pod, gRPC through the release transport, streaming node pods matched to mixcoord's list by IP.
 */
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/cli/app.js';
import type { RunContext } from '../../src/cli/context.js';
import { Kube } from '../../src/kube/client.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { REMEDY, servingProbe } from '../../src/milvus/serving.js';
import { discoverRelease } from '../../src/release/discover.js';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, deleteNamespace, forwardNamespaceTo, installHelmRelease, KUBECONFIG, kubectlJson, newNamespace } from './harness.js';

function bedContext(): RunContext {
  const globals = { kubeconfig: KUBECONFIG, output: 'table' as const, requestTimeoutMs: 30_000, verbose: 0, color: false };
  const base = makeContext({ stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]), env: {}, interactive: false, host: 'kubectl' }, globals);
  const kube = new Kube(loadKubeConfig(globals, {}), 30_000);
  return { ...base, kube: () => kube };
}

describe('servingProbe against a 2.6 release on the bed', () => {
  let ns: string;
  let sim: RunningSim;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('serving');
    sim = await startMilvusSim({ version: '2.6', databases: { default: ['a', 'b'] }, loaded: ['default.a'] });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'r', {
      'image.all.tag': 'v2.6.24',
      'mixCoordinator.enabled': true,
      'rootCoordinator.enabled': false,
      'dataCoordinator.enabled': false,
      'queryCoordinator.enabled': false,
      'indexCoordinator.enabled': false,
      'indexNode.enabled': false,
      'streaming.enabled': true,
      'streamingNode.replicas': 2,
    });
  }, 240_000);
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('baseline, then verify: ok when every streaming node pod is registered; names the one that is not, with its remedy', async () => {
    const pods = await kubectlJson<{ items: Array<{ metadata: { name: string }; status: { podIP?: string } }> }>(['get', 'pods', '-n', ns, '-l', 'component=streamingnode']);
    expect(pods.items).toHaveLength(2);
    const [first, second] = pods.items.map((p) => ({ name: p.metadata.name, ip: p.status.podIP! }));
    sim.control.addStreamingNode(`${first!.ip}:22222`);
    const late = sim.control.addStreamingNode(`${second!.ip}:22222`);
    sim.control.setStreamingNode(late.id, { registered: false });

    const ctx = bedContext();
    const release = await discoverRelease(ctx.kube(), 'r', ns);
    const baseline = await servingProbe.baseline(ctx, release);
    expect(baseline.loaded).toEqual(['default/a']);

    const bad = await servingProbe.verify(ctx, release, baseline, { timeoutSeconds: 2 });
    expect(bad.ok).toBe(false);
    expect(bad.problems).toEqual([
      { component: `streamingnode pod/${second!.name}`, what: `not registered: mixcoord's /management/streaming/nodes does not list ${second!.ip}`, remedy: REMEDY.register },
    ]);

    sim.control.setStreamingNode(late.id, { registered: true });
    const progress: string[] = [];
    const good = await servingProbe.verify(ctx, release, baseline, { timeoutSeconds: 30, onProgress: (m) => progress.push(m) });
    expect(good, progress.join('\n')).toEqual({ ok: true, problems: [] });
    // mixcoord's 9091 and the proxies' were asked, and one FlushAll went through the proxies.
    expect(sim.control.requestsTo('/management/streaming/nodes').length).toBeGreaterThanOrEqual(2);
    expect(sim.control.requestsTo('/healthz').length).toBeGreaterThanOrEqual(1);
    expect(sim.control.requests.filter((r) => r.path.endsWith('/FlushAll'))).toHaveLength(1);
  }, 120_000);
});
