/**
 * Fault injection for run-to-completion pods of the metadata migration, chosen by the TEST
 * before the plugin (or the operator simulator) creates the pods.
 *
 * A test writes a ConfigMap `testbed-faults` in its namespace (harness: setFaults). This
 * controller watches pods whose first container is a metadata-migration task (container
 * `meta-migration`, as migrate.sh and kubectl-milvus name it, or `backup-meta` / `update-meta` /
 * `rollback-meta`, as Milvus Operator names it) and, as soon as such a pod is created, annotates it
 * `testbed.kubectl-milvus.io/fault: none|fail|hang`. The KWOK stages (stages/pod-ready.yaml,
 * stages/pod-complete.yaml) start such a pod only once it carries that annotation, then complete
 * it (none), fail it with exit code 1 (fail) or leave it running forever (hang).
 *
 * ConfigMap keys (all optional):
 *   meta-migration: <action>                  every migration pod of the namespace
 *   meta-migration.<name-part>: <action>      pods whose name contains <name-part>; the longest
 *                                             matching <name-part> wins over shorter ones and
 *                                             over the plain key
 * <action> is `succeed` (default), `fail`, `hang`, or `fail-once` / `fail-N` (fail the first N
 * matching pods, then succeed; the count is kept in the annotation of the ConfigMap).
 * Independently, a pod whose image tag ends in `-fail` always fails.
 */
import { CoreV1Api, type KubeConfig, makeInformer, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';

export const FAULT_ANNOTATION = 'testbed.kubectl-milvus.io/fault';
export const FAULTS_CONFIGMAP = 'testbed-faults';
export const MIGRATION_CONTAINERS = ['meta-migration', 'backup-meta', 'update-meta', 'rollback-meta'];
const COUNT_PREFIX = 'testbed.kubectl-milvus.io/failed-';

type Log = (m: string) => void;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function isMigrationPod(p: V1Pod): boolean {
  return MIGRATION_CONTAINERS.includes(p.spec?.containers?.[0]?.name ?? '');
}

/** The rule for one pod name: [matched key, action]. */
export function pickRule(data: Record<string, string>, pod: string): [string, string] | undefined {
  let best: [string, string] | undefined;
  let bestLen = -1;
  for (const [k, v] of Object.entries(data)) {
    const part = k === 'meta-migration' ? '' : k.startsWith('meta-migration.') ? k.slice('meta-migration.'.length) : undefined;
    if (part === undefined || !pod.includes(part) || part.length <= bestLen) continue;
    best = [k, v.trim()];
    bestLen = part.length;
  }
  return best;
}

export function startFaultController(kc: KubeConfig, log: Log): { stop(): Promise<void> } {
  const core = kc.makeApiClient(CoreV1Api);
  const seen = new Set<string>();

  async function decide(p: V1Pod): Promise<string> {
    const ns = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    let cm;
    try {
      cm = await core.readNamespacedConfigMap({ name: FAULTS_CONFIGMAP, namespace: ns });
    } catch (e) {
      if ((e as { code?: number }).code === 404) return 'none';
      throw e;
    }
    const rule = pickRule(cm.data ?? {}, name);
    if (!rule) return 'none';
    const [key, action] = rule;
    if (action === 'fail' || action === 'hang') return action;
    const m = /^fail-(once|\d+)$/.exec(action);
    if (m) {
      const limit = m[1] === 'once' ? 1 : Number(m[1]);
      const countKey = `${COUNT_PREFIX}${key}`;
      const done = Number(cm.metadata?.annotations?.[countKey] ?? '0');
      if (done >= limit) return 'none';
      // Optimistic concurrency on the ConfigMap: two pods never consume the same failure.
      await core.patchNamespacedConfigMap(
        { name: FAULTS_CONFIGMAP, namespace: ns, body: { metadata: { resourceVersion: cm.metadata!.resourceVersion, annotations: { [countKey]: String(done + 1) } } } },
        merge,
      );
      return 'fail';
    }
    return 'none';
  }

  async function handle(p: V1Pod) {
    if (!isMigrationPod(p) || p.metadata?.annotations?.[FAULT_ANNOTATION] || p.metadata?.deletionTimestamp) return;
    const key = `${p.metadata!.namespace}/${p.metadata!.name}/${p.metadata!.uid}`;
    if (seen.has(key)) return;
    seen.add(key);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fault = await decide(p);
        await core.patchNamespacedPod(
          { name: p.metadata!.name!, namespace: p.metadata!.namespace!, body: { metadata: { annotations: { [FAULT_ANNOTATION]: fault } } } },
          merge,
        );
        log(`fault ${fault} for pod ${p.metadata!.namespace}/${p.metadata!.name}`);
        return;
      } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === 404) return;
        if (code !== 409) log(`fault controller: pod ${key}: ${(e as Error).message.split('\n')[0]}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    seen.delete(key);
  }

  const informer = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  informer.on('add', (p) => void handle(p));
  informer.on('update', (p) => void handle(p));
  informer.on('delete', (p) => seen.delete(`${p.metadata!.namespace}/${p.metadata!.name}/${p.metadata!.uid}`));
  informer.on('error', (e) => {
    log(`fault controller watch: ${(e as Error)?.message ?? e}; restarting`);
    setTimeout(() => void informer.start().catch(() => undefined), 1000);
  });
  void informer.start();
  return { stop: () => informer.stop() };
}
