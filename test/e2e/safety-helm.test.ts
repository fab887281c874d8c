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
import { BIN, CHART, KUBECONFIG, assertTestbed, deleteNamespace, forwardNamespaceTo, helm, installHelmRelease, kubectlJson, newNamespace, runPlugin } from './harness.js';

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
});
