/**
 * Fault tests of the Helm pulsar-upgrade's data-loss paths (issue: nothing lost when a procedure is
 * interrupted, resumed, raced or hit by a transient error). Each case fails on the code before its
 * fix: a transient `helm status` failure read as "already uninstalled", a KUBECONFIG list handed to
 * helm as one path.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { BIN, CHART, KUBECONFIG, assertTestbed, deleteNamespace, forwardNamespaceTo, helm, installHelmRelease, kubectlJson, newNamespace, run, runPlugin } from './harness.js';

async function pvcNames(ns: string, selector: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'pvc', '-n', ns, '-l', selector]);
  return list.items.map((i) => i.metadata.name).sort();
}

/** A helm that answers `status` as an unreachable API server would, and is the real helm otherwise. */
function helmFailingStatus(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-helm-'));
  const bin = join(dir, 'helm');
  writeFileSync(
    bin,
    `#!/bin/sh\nif [ "$1" = status ]; then echo 'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused' >&2; exit 1; fi\nexec '${join(BIN, 'helm')}' "$@"\n`,
  );
  chmodSync(bin, 0o755);
  return bin;
}

/** A helm whose install/upgrade --wait runs out of time at once: the record is left "failed". */
function helmFailingInstall(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-helm-'));
  const bin = join(dir, 'helm');
  writeFileSync(
    bin,
    `#!/bin/sh\ncase "$1" in install|upgrade) exec '${join(BIN, 'helm')}' "$@" --timeout 1ms ;; esac\nexec '${join(BIN, 'helm')}' "$@"\n`,
  );
  chmodSync(bin, 0o755);
  return bin;
}

describe('safety: Helm pulsar-upgrade', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-helm');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'rel');
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('a KUBECONFIG of several files reaches helm merged, as kubectl reads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-kc-'));
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'apiVersion: v1\nkind: Config\nclusters:\n- name: elsewhere\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: elsewhere\n  context:\n    cluster: elsewhere\n    user: nobody\nusers:\n- name: nobody\n  user: {}\n');
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', CHART], { env: { KUBECONFIG: `${other}:${KUBECONFIG}` } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('helm uninstall rel');
  });

  it('a helm status that cannot be read is not "already uninstalled": nothing is deleted (exit 4)', async () => {
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--timeout', '30s'], { env: { HELM_BIN: helmFailingStatus() } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('cannot read the state of Helm release "rel"');
    expect(r.stderr).toContain('not evidence that the release is gone');
    expect(await pvcNames(ns, 'app=pulsar,release=rel')).toHaveLength(3);
    expect(await helm(['status', 'rel', '-n', ns])).toContain('STATUS: deployed');
  });

  it('two runs on one release: the second is refused naming the live holder, --restart too (exit 7)', async () => {
    sim.sim.insert('default', 'books');
    sim.sim.setFlushDelay(8000);
    try {
      const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
      const base = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--timeout', '30s'];
      const first = runPlugin([...base, '--restart'], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'flush' } });
      // Wait until the first run holds the release.
      for (let i = 0; i < 100; i++) {
        const l = await run('kubectl', ['get', 'lease', 'kubectl-milvus-pulsar-upgrade-rel', '-n', ns, '-o', 'jsonpath={.spec.holderIdentity}'], {});
        if (l.code === 0 && l.stdout.includes(' run ')) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const holder = (await run('kubectl', ['get', 'lease', 'kubectl-milvus-pulsar-upgrade-rel', '-n', ns, '-o', 'jsonpath={.spec.holderIdentity}'])).stdout;
      expect(holder).toMatch(/@.* pid \d+ run [0-9a-f]{8}$/);
      const second = await runPlugin([...base, '--resume']);
      expect(second.code, second.stderr).toBe(7);
      expect(second.stderr).toContain(`is running (configmap/kubectl-milvus-pulsar-upgrade-rel, held by ${holder}`);
      const restart = await runPlugin([...base, '--restart']);
      expect(restart.code, restart.stderr).toBe(7);
      expect(restart.stderr).toContain(holder);
      const a = await first;
      expect(a.code, a.stderr).toBe(130);
      // The finished (interrupted) run released its hold: the lease is gone.
      expect((await run('kubectl', ['get', 'lease', 'kubectl-milvus-pulsar-upgrade-rel', '-n', ns])).code).not.toBe(0);
      expect(await pvcNames(ns, 'app=pulsar,release=rel')).toHaveLength(3);
    } finally {
      sim.sim.setFlushDelay(0);
    }
  });

  it('an install that failed half-way is finished by --resume (helm upgrade --install), and the failure names the restore command', async () => {
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const base = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir];
    const failed = await runPlugin([...base, '--restart'], { env: { HELM_BIN: helmFailingInstall() } });
    expect(failed.code, failed.stderr).toBe(9);
    expect(failed.stderr).toContain('step "Install the release again with Pulsar v3" failed');
    expect(failed.stderr).toContain(`helm upgrade --install rel ${CHART}`);
    expect(failed.stderr).toContain(`-f ${join(backupDir, 'values-pulsarv3.yaml')}`);
    expect(await helm(['status', 'rel', '-n', ns])).toContain('STATUS: failed');
    const resumed = await runPlugin([...base, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('installing over it with helm upgrade --install');
    expect(await helm(['status', 'rel', '-n', ns])).toContain('STATUS: deployed');
    expect(await pvcNames(ns, 'app=pulsarv3,release=rel')).toHaveLength(3);
  });
});
