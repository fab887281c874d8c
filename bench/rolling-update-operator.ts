/**
 * rolling_update_operator_overhead_s: on the test bed, a rolling update of a cluster-mode Milvus
 * Operator release by the REAL operator (five serving components: indexnode, mixcoord, querynode,
 * datanode, proxy), the plugin's wall time minus the operator's own rollout, divided by the
 * number of components. The operator's rollout is observed here, independently of the plugin, by
 * polling the API server every 250 ms: from the moment the Milvus resource's generation changes (the plugin's
 * patch) until the resource reports Healthy + MilvusUpdated for that generation and every serving
 * Deployment has rolled out on the new image, whichever comes last. What remains is the plugin's
 * own cost: start-up, discovery, preflight, checkpoints and how quickly it notices the end.
 * Prints nothing on stdout; returns seconds.
 */
import { spawn } from 'node:child_process';
import { AppsV1Api, CustomObjectsApi, KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { createOperatorMilvus, deleteNamespace, KUBECONFIG, newNamespace, PLUGIN, testbedEnv } from '../test/e2e/harness.js';

const OLD = 'milvusdb/milvus:v2.5.4';
const NEW = 'milvusdb/milvus:v2.5.5';

interface MilvusObj {
  metadata: { generation?: number };
  status?: { status?: string; observedGeneration?: number; conditions?: Array<{ type: string; status: string }> };
}

function deploymentDone(d: V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  if (want === 0) return true;
  const st = d.status ?? {};
  return (
    d.spec?.template?.spec?.containers?.[0]?.image === NEW &&
    (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (st.updatedReplicas ?? 0) >= want &&
    (st.availableReplicas ?? 0) >= want &&
    (st.replicas ?? 0) <= want
  );
}

export async function measureOperatorRollingUpdateOverhead(): Promise<{ perComponentS: number; components: number; wallS: number; operatorS: number }> {
  const ns = await newNamespace('bench-op');
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const aborts: Array<{ abort(): void }> = [];
  try {
    await createOperatorMilvus(ns, 'bench', { mode: 'cluster', components: { image: OLD } });
    let baseGeneration: number | undefined;
    let patchedAt: number | undefined;
    let milvusDoneAt: number | undefined;
    let deploymentsDoneAt: number | undefined;
    let deployments: V1Deployment[] = [];
    // Polled (every 250 ms) rather than watched: a watch may end mid-rollout without a word.
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    let polling = true;
    const poll = async () => {
      while (polling) {
        const [m, ds] = await Promise.all([
          custom.getNamespacedCustomObject({ group: 'milvus.io', version: 'v1beta1', namespace: ns, plural: 'milvuses', name: 'bench' }) as Promise<MilvusObj>,
          apps.listNamespacedDeployment({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=bench' }),
        ]).catch(() => [undefined, undefined] as const);
        const now = Date.now();
        if (m && ds) {
          const gen = m.metadata.generation ?? 0;
          if (baseGeneration === undefined) baseGeneration = gen;
          if (patchedAt === undefined && gen > baseGeneration) patchedAt = now;
          const updated = m.status?.conditions?.find((c) => c.type === 'MilvusUpdated')?.status === 'True';
          if (patchedAt !== undefined && milvusDoneAt === undefined && m.status?.status === 'Healthy' && updated && (m.status.observedGeneration ?? 0) >= gen) milvusDoneAt = now;
          deployments = ds.items;
          if (patchedAt !== undefined && deploymentsDoneAt === undefined && deployments.length > 0 && deployments.every(deploymentDone)) deploymentsDoneAt = now;
        }
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    const polled = poll();
    aborts.push({ abort: () => (polling = false) });
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(PLUGIN, ['rolling-update', 'bench', '-n', ns, '--image', NEW, '--timeout', '5m', '-y', '-o', 'json'], { env: testbedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b) => (stdout += b));
      child.stderr.on('data', (b) => (stderr += b));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    const wallMs = Date.now() - t0;
    if (r.code !== 0) throw new Error(`rolling-update failed (exit ${r.code}): ${r.stderr}`);
    // The plugin may see the last change up to one poll before this process does.
    for (let i = 0; i < 150 && (milvusDoneAt === undefined || deploymentsDoneAt === undefined); i++) await new Promise((res) => setTimeout(res, 100));
    if (patchedAt === undefined || milvusDoneAt === undefined || deploymentsDoneAt === undefined) {
      const behind = deployments.filter((d) => !deploymentDone(d)).map((d) => d.metadata?.name);
      throw new Error(`the operator's rollout was not observed to its end (patch seen: ${patchedAt !== undefined}, Milvus updated: ${milvusDoneAt !== undefined}, Deployments behind: ${behind.join(', ') || 'none'})`);
    }
    const summary = JSON.parse(r.stdout) as { state: { results: Array<{ status: string }> } };
    const components = summary.state.results.filter((x) => x.status === 'updated').length;
    if (components === 0) throw new Error('rolling-update reported no component');
    polling = false;
    await polled;
    const operatorMs = Math.max(milvusDoneAt, deploymentsDoneAt) - patchedAt;
    return { perComponentS: (wallMs - operatorMs) / 1000 / components, components, wallS: wallMs / 1000, operatorS: operatorMs / 1000 };
  } finally {
    for (const a of aborts) a.abort();
    await deleteNamespace(ns);
  }
}
