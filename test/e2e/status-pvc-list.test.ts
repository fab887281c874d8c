import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertTestbed,
  deleteNamespace,
  installHelmRelease,
  kubectl,
  newNamespace,
  runPlugin,
  serviceAccountKubeconfig,
} from './harness.js';

describe('status and pvc-list on Helm releases', () => {
  let ns: string;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('status');
    // Two releases whose names share a prefix, in cluster and standalone mode.
    await Promise.all([
      installHelmRelease(ns, 'my-release'),
      installHelmRelease(ns, 'my-release-2', { 'cluster.enabled': false, 'standalone.messageQueue': 'pulsar', 'pulsar.enabled': false, 'pulsarv3.enabled': true }),
    ]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('status describes a cluster-mode Helm release with Pulsar v2', async () => {
    const r = await runPlugin(['status', 'my-release', '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.installedBy).toMatch(/^Helm \(chart milvus-4\.2\.30, revision 1, deployed\)$/);
    expect(s.mode).toBe('cluster');
    expect(s.milvusVersion).toBe('2.4.5');
    expect(s.messageQueue).toBe('Pulsar v2');
    expect(s.pulsar.selector).toBe('app=pulsar,release=my-release');
    expect(s.components.map((c: { component: string }) => c.component)).toEqual(['proxy', 'mixcoord', 'querynode', 'datanode', 'indexnode']);
    expect(s.components.every((c: { deployment: string }) => c.deployment.startsWith('my-release-milvus-'))).toBe(true);
    expect(s.healthy).toBe(true);
    expect(s.procedures.find((p: { procedure: string }) => p.procedure === 'pulsar-upgrade').applies).toBe(true);
    expect(s.risks.some((x: string) => x.includes('only by the chart default'))).toBe(true);
    // Nothing of the release with the longer, prefix-sharing name.
    expect(JSON.stringify(s)).not.toContain('my-release-2');
  });

  it('status describes a standalone release with Pulsar v3 as a readable screen', async () => {
    const r = await runPlugin(['status', 'my-release-2', '-n', ns]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Name: +my-release-2$/m);
    expect(r.stdout).toMatch(/^Mode: +standalone$/m);
    expect(r.stdout).toMatch(/^Message queue: +Pulsar v3 \(app=pulsarv3,release=my-release-2;/m);
    expect(r.stdout).toContain('deployment/my-release-2-milvus-standalone');
    expect(r.stdout).toMatch(/^COMPONENT +DEPLOYMENT +READY +UP-TO-DATE +AVAILABLE +IMAGE$/m);
    expect(r.stdout).toMatch(/^standalone +my-release-2-milvus-standalone +1\/1 +1 +1 +milvusdb\/milvus:v2\.4\.5$/m);
    expect(r.stdout).toMatch(/^pulsar-upgrade +no +message queue is Pulsar v3$/m);
    for (const line of r.stdout.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('pvc-list shows exactly the release Pulsar PVCs with their PVs', async () => {
    const r = await runPlugin(['pvc-list', 'my-release', '-n', ns]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +STATUS +VOLUME +CAPACITY +ACCESS MODES +STORAGECLASS +RECLAIM POLICY +COMPONENT +AGE$/);
    const names = lines.slice(1).map((l) => l.split(/\s+/)[0]);
    expect(names).toEqual([
      'my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0',
      'my-release-pulsar-bookie-ledgers-my-release-pulsar-bookie-0',
      'my-release-pulsar-zookeeper-data-my-release-pulsar-zookeeper-0',
    ]);
    expect(lines[1]).toMatch(/ Bound +pvc-[0-9a-f-]+ +1Gi +RWO +standard +Delete +bookie journal +\d+s$/);
    expect(lines[3]).toContain(' zookeeper ');
  });

  it('pvc-list -o name feeds kubectl, and --all-components adds etcd, MinIO and Milvus volumes', async () => {
    const byName = await runPlugin(['pvc-list', 'my-release-2', '-n', ns, '-o', 'name']);
    expect(byName.code, byName.stderr).toBe(0);
    expect(byName.stdout).toBe(
      [
        'persistentvolumeclaim/my-release-2-pulsarv3-bookie-journal-my-release-2-pulsarv3-bookie-0',
        'persistentvolumeclaim/my-release-2-pulsarv3-bookie-ledgers-my-release-2-pulsarv3-bookie-0',
        'persistentvolumeclaim/my-release-2-pulsarv3-zookeeper-data-my-release-2-pulsarv3-zookeeper-0',
        '',
      ].join('\n'),
    );
    // The names really are objects kubectl can address.
    const got = await kubectl(['get', '-n', ns, ...byName.stdout.trim().split('\n'), '-o', 'name']);
    expect(got).toBe(byName.stdout);

    const all = await runPlugin(['pvc-list', 'my-release-2', '-n', ns, '--all-components', '-o', 'json']);
    expect(all.code, all.stderr).toBe(0);
    const doc = JSON.parse(all.stdout);
    expect(doc.kind).toBe('List');
    const names = doc.items.map((i: { metadata: { name: string } }) => i.metadata.name);
    expect(names).toContain('data-my-release-2-etcd-0');
    expect(names).toContain('my-release-2-minio');
    expect(names).toContain('my-release-2-milvus');
    expect(names.some((n: string) => n.startsWith('my-release-pulsar') || n === 'my-release-minio')).toBe(false);
  });

  it('uses the context namespace when -n is not given', async () => {
    const kc = await serviceAccountKubeconfig(ns, 'viewer', { namespace: ns });
    await kubectl(['create', 'rolebinding', 'viewer-view', '--clusterrole=view', `--serviceaccount=${ns}:viewer`, '-n', ns]);
    // "view" cannot read Secrets, so grant what release discovery needs on Helm records.
    await kubectl(['create', 'role', 'helm-records', '--verb=get,list', '--resource=secrets', '-n', ns]);
    await kubectl(['create', 'rolebinding', 'viewer-helm', '--role=helm-records', `--serviceaccount=${ns}:viewer`, '-n', ns]);
    const r = await runPlugin(['pvc-list', 'my-release', '--kubeconfig', kc]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0');
    // The view role cannot list PVs: reclaim policies are unknown, said once on stderr.
    expect(r.stderr).toContain('cannot list persistentvolumes');
    expect(r.stdout).toContain('<unknown>');
  });

  it('works with an exec credential plugin, as on EKS/GKE/AKS', async () => {
    const kc = await serviceAccountKubeconfig(ns, 'exec-user', { namespace: ns, exec: true });
    await kubectl(['create', 'rolebinding', 'exec-user-view', '--clusterrole=view', `--serviceaccount=${ns}:exec-user`, '-n', ns]);
    await kubectl(['create', 'rolebinding', 'exec-user-helm', '--role=helm-records', `--serviceaccount=${ns}:exec-user`, '-n', ns]);
    const r = await runPlugin(['status', 'my-release', '--kubeconfig', kc, '-o', 'yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('name: my-release\n');
  });

  it('says which verb and resource RBAC forbids, with exit code 5', async () => {
    const kc = await serviceAccountKubeconfig(ns, 'nobody');
    const r = await runPlugin(['status', 'my-release', '-n', ns, '--kubeconfig', kc]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error: secrets is forbidden: User "system:serviceaccount:[^"]+:nobody" cannot list resource "secrets" in API group "" in the namespace "[^"]+"\n/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports an unknown release and an unknown namespace with exit code 6', async () => {
    const missing = await runPlugin(['status', 'no-such-release', '-n', ns]);
    expect(missing.code).toBe(6);
    expect(missing.stderr).toContain(`error: release "no-such-release" not found in namespace "${ns}"`);
    const noNs = await runPlugin(['pvc-list', 'my-release', '-n', 'no-such-namespace-x']);
    expect(noNs.code).toBe(6);
    expect(noNs.stderr).toBe('error: namespaces "no-such-namespace-x" not found\n');
  });

  it('in helm plugin mode takes the namespace from HELM_NAMESPACE', async () => {
    const r = await runPlugin(['pvc-list', 'my-release', '-o', 'name'], { env: { HELM_PLUGIN_NAME: 'milvus', HELM_NAMESPACE: ns } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('persistentvolumeclaim/my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0');
  });
});
