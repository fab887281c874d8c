import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testbedCluster, TESTBED_DIR } from '../../testbed/cluster.mjs';
import { testbedNotice } from '../support/testbed-notice.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** What `node testbed/run.mjs env` says the bed's kubeconfig is (it reads nothing of the bed). */
function runMjsKubeconfig(env: NodeJS.ProcessEnv): string {
  const out = execFileSync(process.execPath, [join(ROOT, 'testbed', 'run.mjs'), 'env'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return /^KUBECONFIG=(.*)$/m.exec(out)![1]!;
}

describe('TESTBED_CLUSTER: one rule for testbed/run.mjs and the e2e harness', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('the harness talks to the bed run.mjs manages, for the default and for a second cluster', async () => {
    for (const name of ['', 'second-bed']) {
      vi.stubEnv('TESTBED_CLUSTER', name);
      vi.resetModules();
      const harness = await import('../e2e/harness.js');
      expect(harness.KUBECONFIG).toBe(runMjsKubeconfig({ TESTBED_CLUSTER: name }));
    }
    expect(runMjsKubeconfig({ TESTBED_CLUSTER: 'second-bed' })).toBe(join(ROOT, '.testbed', 'kubeconfig-second-bed'));
  });

  it('names the default bed kubectl-milvus, and refuses a name that is not a DNS label', () => {
    expect(testbedCluster({})).toEqual({ name: 'kubectl-milvus', suffix: '', kubeconfig: join(TESTBED_DIR, 'kubeconfig') });
    expect(testbedCluster({ TESTBED_CLUSTER: 'b2' })).toEqual({ name: 'b2', suffix: '-b2', kubeconfig: join(TESTBED_DIR, 'kubeconfig-b2') });
    expect(() => testbedCluster({ TESTBED_CLUSTER: '../x' })).toThrow(/not a valid cluster name/);
  });
});

describe('npm test by hand: the notice that the bed still runs', () => {
  it('names the bed and the command that stops it, after a run with e2e files while the bed is up', () => {
    const name = `notice-${process.pid}`;
    const { kubeconfig } = testbedCluster({ TESTBED_CLUSTER: name });
    writeFileSync(kubeconfig, 'apiVersion: v1\n');
    try {
      expect(testbedNotice(true, { TESTBED_CLUSTER: name })).toBe(
        `The test bed (cluster ${name}: kube-apiserver, etcd, KWOK, the Milvus Operator) is still running; stop it with: TESTBED_CLUSTER=${name} npm run testbed -- down`,
      );
      // Unit tests alone say nothing about the bed.
      expect(testbedNotice(false, { TESTBED_CLUSTER: name })).toBeUndefined();
    } finally {
      rmSync(kubeconfig, { force: true });
    }
    // A bed that is not up: nothing to stop.
    expect(testbedNotice(true, { TESTBED_CLUSTER: name })).toBeUndefined();
  });
});
