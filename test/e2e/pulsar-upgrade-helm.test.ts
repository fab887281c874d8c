import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { backupRunFiles,
  CHART,
  assertTestbed,
  deleteNamespace,
  forwardNamespaceTo,
  helm,
  installHelmRelease,
  kubectl,
  kubectlJson,
  newNamespace,
  removeForward,
  runPlugin,
  snapshotObjects,
} from './harness.js';

const STEPS = ['meta-backup', 'backup-values', 'flush', 'uninstall', 'delete-pulsar-v2-volumes', 'install', 'verify'];

async function pvcNames(ns: string, selector: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'pvc', '-n', ns, '-l', selector]);
  return list.items.map((i) => i.metadata.name).sort();
}

async function setup(prefix: string, releases: string[], set: Record<string, string | number | boolean> = {}): Promise<{ ns: string; sim: RunningSim }> {
  const ns = await newNamespace(prefix);
  const sim = await startMilvusSim({ version: '2.4', databases: { default: ['books'] }, flushAfterPolls: 1 });
  await forwardNamespaceTo(ns, sim.port, 9091);
  await forwardNamespaceTo(ns, sim.port, 19530);
  await Promise.all(releases.map((r, i) => installHelmRelease(ns, r, i === 0 ? set : {})));
  return { ns, sim };
}

async function teardown(ns: string | undefined, sim: RunningSim | undefined) {
  await sim?.close();
  // deleteNamespace also removes the namespace's port-forward rules.
  if (ns) await deleteNamespace(ns);
}

describe('pulsar-upgrade on a Helm release', () => {
  let ns: string;
  let sim: RunningSim;
  const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));

  beforeAll(async () => {
    assertTestbed();
    ({ ns, sim } = await setup('pu-helm', ['my-release', 'my-release-2'], { 'dataNode.replicas': 2 }));
  });
  afterAll(() => teardown(ns, sim));

  it('--dry-run prints the complete plan and changes nothing', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '--dry-run', '--chart', CHART]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Plan for "pulsar-upgrade" of release "my-release"');
    for (const s of ['Flush all data', 'Save the Helm values', 'helm uninstall my-release', 'Install the release again with Pulsar v3']) expect(r.stderr).toContain(s);
    expect(r.stderr).toContain(`kubectl delete persistentvolumeclaim/my-release-pulsar-bookie-journal-my-release-pulsar-bookie-0 -n ${ns}`);
    expect(r.stderr).not.toContain('my-release-2-pulsar');
    expect(r.stderr).toContain('Dry run: nothing was changed.');
    expect(await snapshotObjects(ns)).toEqual(before);
    expect(sim.sim.requests.some((q) => q.path === '/api/v1/persist')).toBe(false);
  });

  it('a declined confirmation changes nothing (exit 8)', async () => {
    const before = await snapshotObjects(ns);
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '--chart', CHART], { input: 'n\n' });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('Stop every client that writes to Milvus first');
    expect(r.stderr).toContain('Do you want to continue? (y/N)');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('refuses a chart without a working Pulsar v3 before touching anything (exit 7)', async () => {
    const old = mkdtempSync(join(tmpdir(), 'km-oldchart-'));
    await helm(['package', CHART, '--version', '4.2.20', '-d', old]);
    const before = await snapshotObjects(ns);
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--chart', join(old, 'milvus-4.2.20.tgz')]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('cannot install Pulsar v3 reliably: use chart >= 4.2.29');
    expect(await snapshotObjects(ns)).toEqual(before);
  });

  it('a failed flush aborts before anything is deleted (exit 10)', async () => {
    sim.sim.insert('default', 'books');
    sim.sim.failOn({ on: 'persist', kind: 'status', times: 1 });
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir]);
    expect(r.code).toBe(10);
    expect(r.stderr).toContain('step "Flush all data from Pulsar to object storage and verify it" failed: Milvus answered POST /api/v1/persist');
    expect(r.stderr).toContain('--resume');
    expect(await pvcNames(ns, 'app=pulsar,release=my-release')).toHaveLength(3);
    expect(await helm(['status', 'my-release', '-n', ns])).toContain('STATUS: deployed');
    // Without --resume or --restart the unfinished run is not silently redone.
    const again = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--chart', CHART]);
    expect(again.code).toBe(7);
    expect(again.stderr).toContain('pass --resume to continue it, or --restart to start over');
    // A proxy that cannot list its databases gives no verified flush: nothing is deleted.
    await removeForward(ns, 19530);
    const unlisted = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--resume', '--chart', CHART, '--backup-dir', backupDir]);
    await forwardNamespaceTo(ns, sim.port, 19530);
    expect(unlisted.code).toBe(4);
    expect(unlisted.stderr).toContain('cannot reach Milvus over gRPC on port 19530');
    expect(await pvcNames(ns, 'app=pulsar,release=my-release')).toHaveLength(3);
    // status tells the on-call engineer about the unfinished run first.
    const st = JSON.parse((await runPlugin(['status', 'my-release', '-n', ns, '-o', 'json'])).stdout);
    expect(st.risks[0]).toContain('an interrupted pulsar-upgrade is recorded in configmap/kubectl-milvus-pulsar-upgrade-my-release (steps done: meta-backup, backup-values)');
  });

  it('upgrades to Pulsar v3, deleting only this release\'s Pulsar v2 volumes', async () => {
    const neighbour = await snapshotObjects(ns).then((objs) => objs.filter((o) => o.name.startsWith('my-release-2')));
    const neighbourPvcs = await pvcNames(ns, 'release=my-release-2');
    const r = await runPlugin(['pulsar-upgrade', 'my-release', '-n', ns, '-y', '--resume', '--chart', CHART, '--backup-dir', backupDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Release "my-release" now runs on Pulsar v3');
    // The failed run above took the metadata snapshot and saved the values; every later step runs here.
    expect(r.stderr).toContain(`2 of ${STEPS.length} steps already done`);
    for (const [i, s] of STEPS.entries()) if (i > 1) expect(r.stderr).toContain(`[${i + 1}/${STEPS.length}]`), void s;
    expect(await pvcNames(ns, 'app=pulsar,release=my-release')).toEqual([]);
    expect(await pvcNames(ns, 'app=pulsarv3,release=my-release')).toHaveLength(3);
    // etcd and MinIO data stayed.
    expect(await pvcNames(ns, 'app.kubernetes.io/instance=my-release,app.kubernetes.io/name=etcd')).toEqual(['data-my-release-etcd-0']);
    expect(await pvcNames(ns, 'app=minio,release=my-release')).toEqual(['my-release-minio']);
    // The release with the prefix-sharing name is untouched.
    expect(await pvcNames(ns, 'release=my-release-2')).toEqual(neighbourPvcs);
    const after = (await snapshotObjects(ns)).filter((o) => o.name.startsWith('my-release-2') && o.kind !== 'Pod');
    expect(after).toEqual(neighbour.filter((o) => o.kind !== 'Pod'));
    // Backups: local files and the Secret.
    expect(readFileSync(join(backupDir, 'values.yaml'), 'utf8')).toBe('dataNode:\n  replicas: 2\n');
    // Every other user value was kept through the reinstall.
    const dn = await kubectlJson<{ spec: { replicas: number } }>(['get', 'deploy', 'my-release-milvus-datanode', '-n', ns]);
    expect(dn.spec.replicas).toBe(2);
    expect(existsSync(join(backupDir, 'manifest.yaml'))).toBe(true);
    const secret = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'kubectl-milvus-backup-pulsar-upgrade-my-release', '-n', ns]);
    expect(backupRunFiles(secret.data)['values-pulsarv3.yaml']).toContain('pulsarv3:\n  enabled: true');
    const status = JSON.parse((await runPlugin(['status', 'my-release', '-n', ns, '-o', 'json'])).stdout);
    expect(status.messageQueue).toBe('Pulsar v3');
    expect(status.healthy).toBe(true);
  });
});

describe('pulsar-upgrade interrupted after every step', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ({ ns, sim } = await setup('pu-resume', ['rel']));
  });
  afterAll(() => teardown(ns, sim));

  it('continues with --resume from the right step each time and loses nothing', async () => {
    sim.sim.insert('default', 'books');
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    for (const [i, step] of STEPS.slice(0, -1).entries()) {
      const args = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, ...(i > 0 ? ['--resume'] : [])];
      const r = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step } });
      expect(r.code, `${step}: ${r.stderr}`).toBe(130);
      expect(r.stderr).toContain(`interrupted: progress is saved in configmap/kubectl-milvus-pulsar-upgrade-rel`);
      const cp = JSON.parse(
        (await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'kubectl-milvus-pulsar-upgrade-rel', '-n', ns])).data['checkpoint.json']!,
      );
      expect(cp.completed.map((c: { id: string }) => c.id)).toEqual(STEPS.slice(0, i + 1));
      // The flush is repeated by the resume that uninstalls: it counts as done only in its own run.
      if (i > 0) expect(r.stderr).toContain(`${step === 'uninstall' ? i - 1 : i} of ${STEPS.length} steps already done`);
    }
    // After the uninstall the release exists only in our backups; the dry run still explains what is left.
    const plan = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--resume', '--dry-run', '--chart', CHART]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toMatch(/Delete the Pulsar v2 volumes of this release \(done, skipped\)/);
    const last = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--resume', '--chart', CHART, '--backup-dir', backupDir]);
    expect(last.code, last.stderr).toBe(0);
    expect(await pvcNames(ns, 'app=pulsarv3,release=rel')).toHaveLength(3);
    expect(await pvcNames(ns, 'app=pulsar,release=rel')).toEqual([]);
    expect(await kubectl(['get', 'deploy', '-n', ns, '-l', 'app.kubernetes.io/instance=rel,app.kubernetes.io/name=milvus', '-o', 'name'])).toContain('rel-milvus-proxy');
    // The flush ran in the run interrupted after it and again in the resume that uninstalled
    // (the flush licensing the stop is that run's own), plus that run's second persist proving no
    // writer was left; never after the stop.
    expect(sim.sim.requests.filter((q) => q.path === '/api/v1/persist')).toHaveLength(3);
  });
});
