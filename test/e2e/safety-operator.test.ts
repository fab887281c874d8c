/**
 * Operator pulsar-upgrade: a run that stops between the deletion-policy patch and the deletion
 * puts the policies back (a later `kubectl delete milvus` would wipe Pulsar otherwise), and the
 * recreated resource carries none of the operator's annotations.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, kubectl, kubectlJson, newNamespace, run, runPlugin } from './harness.js';

const spec = {
  mode: 'cluster',
  components: { image: 'milvusdb/milvus:v2.4.5' },
  dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2', deletionPolicy: 'Retain', values: { bookkeeper: { replicaCount: 1 }, zookeeper: { replicaCount: 1 } } } } },
};

interface Milvus {
  metadata: { annotations?: Record<string, string> };
  spec: { dependencies: { pulsar: { inCluster: { deletionPolicy?: string; pvcDeletion?: boolean } } } };
}

describe('safety: Operator pulsar-upgrade', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-op');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['docs'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await createOperatorMilvus(ns, 'op', spec);
    await kubectl(['annotate', 'milvus', 'op', '-n', ns, 'milvus.io/dependency-values-merged=true', 'team=search']);
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('a run that fails after the policy patch and before the deletion puts the policies back', async () => {
    sim.sim.failOn({ on: 'persist', kind: 'status' });
    try {
      const r = await runPlugin(['pulsar-upgrade', 'op', '-n', ns, '-y']);
      expect(r.code, r.stderr).toBe(10);
      expect(r.stderr).toContain('deletion policies of milvus/op put back as they were');
      const m = await kubectlJson<Milvus>(['get', 'milvus', 'op', '-n', ns]);
      expect(m.spec.dependencies.pulsar.inCluster.deletionPolicy).toBe('Retain');
      expect(m.spec.dependencies.pulsar.inCluster.pvcDeletion).toBeUndefined();
    } finally {
      sim.sim.clearFailures();
    }
  });

  it('a recreated resource the API server would refuse stops the run in preflight, before anything changes (exit 7)', async () => {
    // An admission policy of the cluster (as a platform team sets them) that refuses in-cluster Pulsar v3 here.
    const policy = `km-no-pulsar-v3-${ns}`;
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicy',
            metadata: { name: policy },
            spec: {
              failurePolicy: 'Fail',
              matchConstraints: { resourceRules: [{ apiGroups: ['milvus.io'], apiVersions: ['*'], operations: ['CREATE'], resources: ['milvuses'] }] },
              validations: [{ expression: "!has(object.spec.dependencies.pulsar) || !has(object.spec.dependencies.pulsar.inCluster) || !has(object.spec.dependencies.pulsar.inCluster.chartVersion) || object.spec.dependencies.pulsar.inCluster.chartVersion != 'pulsar-v3'", message: 'in-cluster Pulsar v3 is not allowed in this namespace' }],
            },
          },
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicyBinding',
            metadata: { name: policy },
            spec: { policyName: policy, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
          },
        ],
      }),
    });
    // The API server applies a policy (and its removal) once it has loaded it: a plain server-side
    // dry run of a Pulsar v3 resource tells when it does.
    const probe = JSON.stringify({ apiVersion: 'milvus.io/v1beta1', kind: 'Milvus', metadata: { name: 'probe', namespace: ns }, spec: { dependencies: { pulsar: { inCluster: { chartVersion: 'pulsar-v3' } } } } });
    const untilPolicy = async (refusing: boolean) => {
      for (let i = 0; i < 60; i++) {
        const d = await run('kubectl', ['create', '--dry-run=server', '-f', '-'], { input: probe });
        if (refusing ? d.code !== 0 && d.stderr.includes('not allowed in this namespace') : d.code === 0) return;
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    try {
      const before = await kubectlJson<Milvus & { metadata: { uid: string; resourceVersion: string } }>(['get', 'milvus', 'op', '-n', ns]);
      await untilPolicy(true);
      const persists = sim.control.requestsTo('/api/v1/persist').length;
      const r = await runPlugin(['pulsar-upgrade', 'op', '-n', ns, '-y', '--restart', '--backup-dir', mkdtempSync(join(tmpdir(), 'km-safe-op-'))]);
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toContain('the recreated milvus/op would be refused (server-side dry run of the create)');
      expect(r.stderr).toContain('in-cluster Pulsar v3 is not allowed in this namespace');
      // Nothing changed: same object, same policies, no flush or stop was attempted.
      const after = await kubectlJson<Milvus & { metadata: { uid: string; resourceVersion: string } }>(['get', 'milvus', 'op', '-n', ns]);
      expect(after.metadata.uid).toBe(before.metadata.uid);
      expect(after.spec.dependencies.pulsar.inCluster).toEqual(before.spec.dependencies.pulsar.inCluster);
      expect(sim.control.requestsTo('/api/v1/persist')).toHaveLength(persists);
    } finally {
      await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy, '--ignore-not-found']);
      // Gone for the API server too before the next test recreates for real.
      await untilPolicy(false);
    }
  });

  it('a refused delete of the resource stops nothing: Pulsar\'s deletion policies are put back at once and the way back printed is the revert patch, never a recreate', async () => {
    // An admission policy refusing to delete Milvus resources in this namespace (as a platform team sets them).
    const policy = `km-no-delete-${ns}`;
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicy',
            metadata: { name: policy },
            spec: {
              failurePolicy: 'Fail',
              matchConstraints: { resourceRules: [{ apiGroups: ['milvus.io'], apiVersions: ['*'], operations: ['DELETE'], resources: ['milvuses'] }] },
              validations: [{ expression: 'false', message: 'deleting a Milvus resource is not allowed in this namespace' }],
            },
          },
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicyBinding',
            metadata: { name: policy },
            spec: { policyName: policy, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
          },
        ],
      }),
    });
    // Loaded once a server-side dry run of the delete is refused (and, after its removal, allowed).
    const untilPolicy = async (refusing: boolean) => {
      for (let i = 0; i < 60; i++) {
        const d = await run('kubectl', ['delete', 'milvus', 'op', '-n', ns, '--dry-run=server']);
        if (refusing ? d.code !== 0 && d.stderr.includes('not allowed in this namespace') : d.code === 0) return;
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    try {
      await untilPolicy(true);
      const before = await kubectlJson<Milvus & { metadata: { uid: string } }>(['get', 'milvus', 'op', '-n', ns]);
      const r = await runPlugin(['pulsar-upgrade', 'op', '-n', ns, '-y', '--restart', '--backup-dir', mkdtempSync(join(tmpdir(), 'km-safe-op-'))]);
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toContain('deleting a Milvus resource is not allowed in this namespace');
      expect(r.stderr).toContain('deletion policies of milvus/op put back as they were');
      // The resource runs on, as it was: same object, Pulsar kept with its volumes.
      const m = await kubectlJson<Milvus & { metadata: { uid: string; deletionTimestamp?: string } }>(['get', 'milvus', 'op', '-n', ns]);
      expect(m.metadata.uid).toBe(before.metadata.uid);
      expect(m.metadata.deletionTimestamp).toBeUndefined();
      expect(m.spec.dependencies.pulsar.inCluster.deletionPolicy).toBe('Retain');
      expect(m.spec.dependencies.pulsar.inCluster.pvcDeletion).toBeUndefined();
      // The way back is the revert patch; a recreate would follow a deletion that never happened.
      expect(r.stderr).toContain(`kubectl patch milvus op -n ${ns} --type merge -p`);
      expect(r.stderr).not.toContain('kubectl create -f');
    } finally {
      await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy, '--ignore-not-found']);
      await untilPolicy(false);
    }
  });

  it('the plan lists the dropped Pulsar values; the recreated resource has no operator annotations', async () => {
    const plan = await runPlugin(['pulsar-upgrade', 'op', '-n', ns, '--dry-run', '--restart']);
    expect(plan.code, plan.stderr).toBe(0);
    // The operator merges the chart's defaults into the values too: the user's own are among the dropped.
    expect(plan.stderr).toMatch(/Pulsar v2 chart values dropped \(they do not apply to the v3 chart\): [^\n]*\bbookkeeper\.replicaCount\b[^\n]*\bzookeeper\.replicaCount\b/);
    const backupDir = mkdtempSync(join(tmpdir(), 'km-safe-op-'));
    const r = await runPlugin(['pulsar-upgrade', 'op', '-n', ns, '-y', '--restart', '--backup-dir', backupDir]);
    expect(r.code, r.stderr).toBe(0);
    // What the plugin created carries none of the operator's annotations (the real operator then
    // merges the Pulsar v3 chart's defaults and annotates the new resource itself).
    const created = yaml.load(readFileSync(join(backupDir, 'milvus-pulsarv3.yaml'), 'utf8')) as Milvus;
    expect(created.metadata.annotations?.['milvus.io/dependency-values-merged']).toBeUndefined();
    expect(created.metadata.annotations?.team).toBe('search');
    const m = await kubectlJson<Milvus>(['get', 'milvus', 'op', '-n', ns]);
    expect(m.metadata.annotations?.team).toBe('search');
    // The recreated resource keeps the user's own policy, not the one set for the deletion.
    expect(m.spec.dependencies.pulsar.inCluster.deletionPolicy).toBe('Retain');
  });
});
