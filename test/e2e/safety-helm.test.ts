/**
 * Fault tests of the Helm pulsar-upgrade's data-loss paths (issue: nothing lost when a procedure is
 * interrupted, resumed, raced or hit by a transient error). Each case fails on the code before its
 * fix: a transient `helm status` failure read as "already uninstalled", a KUBECONFIG list handed to
 * helm as one path.
 */
import { chmodSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { BIN, CHART, KUBECONFIG, assertTestbed, deleteNamespace, forwardNamespaceTo, helm, installHelmRelease, kubectl, kubectlJson, newNamespace, run, runPlugin, waitReady } from './harness.js';

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

/** A helm whose uninstall does the work, then reports its --wait as timed out. */
function helmUninstallTimesOut(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-helm-'));
  const bin = join(dir, 'helm');
  writeFileSync(
    bin,
    `#!/bin/sh\nif [ "$1" = uninstall ]; then '${join(BIN, 'helm')}' "$@" >/dev/null 2>&1; echo 'Error: uninstallation completed with 1 error(s): timed out waiting for the condition' >&2; exit 1; fi\nexec '${join(BIN, 'helm')}' "$@"\n`,
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

  it('--as and --as-group reach helm: helm acts as the impersonated user and group, not as the kubeconfig\'s own identity', async () => {
    // The kubeconfig's own identity (a service account) may only impersonate; the impersonated
    // group may do everything. A helm that is not given both --kube-as-user and --kube-as-group
    // runs as the service account (or as the user without the group) and is refused.
    const id = ns;
    await kubectl(['create', 'serviceaccount', 'km-impersonator', '-n', ns]);
    await kubectl(['create', 'clusterrole', `km-impersonate-${id}`, '--verb=impersonate', '--resource=users,groups']);
    await kubectl(['create', 'clusterrolebinding', `km-impersonate-${id}`, `--clusterrole=km-impersonate-${id}`, `--serviceaccount=${ns}:km-impersonator`]);
    await kubectl(['create', 'clusterrolebinding', `km-admins-${id}`, '--clusterrole=cluster-admin', `--group=km-admins-${id}`]);
    try {
      const token = (await kubectl(['create', 'token', 'km-impersonator', '-n', ns, '--duration', '10m'])).trim();
      const server = (await kubectl(['config', 'view', '--minify', '--raw', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
      const ca = (await kubectl(['config', 'view', '--minify', '--flatten', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}'])).trim();
      const dir = mkdtempSync(join(tmpdir(), 'km-kc-'));
      const kc = join(dir, 'impersonator.yaml');
      writeFileSync(kc, `apiVersion: v1\nkind: Config\ncurrent-context: imp\nclusters:\n- name: bed\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${ca}\ncontexts:\n- name: imp\n  context:\n    cluster: bed\n    user: imp\nusers:\n- name: imp\n  user:\n    token: ${token}\n`, { mode: 0o600 });
      const args = ['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', CHART, '--kubeconfig', kc];
      const bare = await runPlugin(args);
      expect(bare.code, bare.stderr).not.toBe(0);
      expect(bare.stderr).toContain(`system:serviceaccount:${ns}:km-impersonator`);
      const r = await runPlugin([...args, '--as', 'km-someone', '--as-group', `km-admins-${id}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('helm uninstall rel');
      // The token never shows in what the plugin prints.
      expect(r.stderr + r.stdout + bare.stderr).not.toContain(token);
    } finally {
      await kubectl(['delete', 'clusterrolebinding', `km-impersonate-${id}`, `km-admins-${id}`, '--ignore-not-found']);
      await kubectl(['delete', 'clusterrole', `km-impersonate-${id}`, '--ignore-not-found']);
    }
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

  it('two fresh starts at the same instant: exactly one proceeds, the other is refused naming it (exit 7)', async () => {
    sim.sim.insert('default', 'books');
    sim.sim.setFlushDelay(4000);
    try {
      const base = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--timeout', '30s', '--restart'];
      const env = { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'flush' };
      const [a, b] = await Promise.all([
        runPlugin([...base, '--backup-dir', mkdtempSync(join(tmpdir(), 'km-backup-'))], { env }),
        runPlugin([...base, '--backup-dir', mkdtempSync(join(tmpdir(), 'km-backup-'))], { env }),
      ]);
      const codes = [a.code, b.code].sort((x, y) => x - y);
      expect(codes, `${a.stderr}\n---\n${b.stderr}`).toEqual([7, 130]);
      const refused = a.code === 7 ? a : b;
      expect(refused.stderr).toMatch(/another pulsar-upgrade of release "rel" is running \(configmap\/kubectl-milvus-pulsar-upgrade-rel, held by .* pid \d+ run [0-9a-f]{8}/);
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

/** The test chart as another chart version shipping another Milvus image (and, optionally, renamed etcd claims). */
async function chartVariant(dir: string, version: string, milvusTag: string, etcdClaim = 'data'): Promise<string> {
  const src = join(mkdtempSync(join(tmpdir(), 'km-chartsrc-')), 'milvus');
  cpSync(CHART, src, { recursive: true });
  const chartYaml = join(src, 'Chart.yaml');
  writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace(/^version: .*$/m, `version: ${version}`).replace(/^appVersion: .*$/m, `appVersion: "${milvusTag.replace(/^v/, '')}"`));
  const values = join(src, 'values.yaml');
  writeFileSync(values, readFileSync(values, 'utf8').replace(/^(\s+tag: )v2\.4\.5$/m, `$1${milvusTag}`));
  const deps = join(src, 'templates', 'deps.yaml');
  writeFileSync(deps, readFileSync(deps, 'utf8').replace('- metadata: {name: data}', `- metadata: {name: ${etcdClaim}}`));
  await helm(['package', src, '-d', dir]);
  return src;
}

describe('safety: the Helm reinstall brings back the same chart, Milvus and data volumes', () => {
  let ns: string;
  let sim: RunningSim;
  let server: Server;
  let repo: string;
  let renamedClaims: string;
  beforeAll(async () => {
    assertTestbed();
    const dir = mkdtempSync(join(tmpdir(), 'km-repo-'));
    await chartVariant(dir, '4.2.30', 'v2.4.5');
    await chartVariant(dir, '4.2.40', 'v2.5.4');
    renamedClaims = await chartVariant(mkdtempSync(join(tmpdir(), 'km-renamed-')), '4.2.30', 'v2.4.5', 'etcd-data');
    server = createServer((req, res) => {
      try {
        res.end(readFileSync(join(dir, (req.url ?? '/').split('?')[0]!.replace(/^\/+/, ''))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    await helm(['repo', 'index', dir, '--url', `http://127.0.0.1:${port}`]);
    repo = `kmsafe${port}`;
    await helm(['repo', 'add', repo, `http://127.0.0.1:${port}`]);
    ns = await newNamespace('safe-chart');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await helm(['install', 'rel', `${repo}/milvus`, '--version', '4.2.30', '-n', ns, '--wait', '--timeout', '3m']);
  });
  afterAll(async () => {
    await sim?.close();
    if (repo) await helm(['repo', 'remove', repo]).catch(() => undefined);
    server?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('a reinstall whose render names other etcd volumes is refused before anything changes (exit 7)', async () => {
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', renamedClaims]);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('would not reuse the data volumes (etcd volumes: now data-rel-etcd-0, after the reinstall etcd-data-rel-etcd-0)');
  });

  it('a chart version that changes Milvus is refused unless asked', async () => {
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', `${repo}/milvus`, '--chart-version', '4.2.40']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('would change Milvus from 2.4.5 to 2.5.4');
    const asked = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', `${repo}/milvus`, '--chart-version', '4.2.40', '--allow-milvus-version-change']);
    expect(asked.code, asked.stderr).toBe(0);
    expect(asked.stderr).toContain('Milvus 2.4.5 -> 2.5.4');
  });

  it('values starting with "-" are refused as --chart/--chart-version (exit 2)', async () => {
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart=--post-renderer=/bin/sh']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('would be read by helm as a flag');
  });

  it('without --chart-version the reinstall pins the release\'s own chart version, not the newest in the repository', async () => {
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const plan = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', `${repo}/milvus`]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toContain(`helm upgrade --install rel ${repo}/milvus --version 4.2.30`);
    const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', `${repo}/milvus`, '--backup-dir', backupDir]);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(await helm(['list', '-n', ns, '-o', 'json'])) as Array<{ name: string; chart: string; status: string }>;
    expect(list.find((x) => x.name === 'rel')).toMatchObject({ chart: 'milvus-4.2.30', status: 'deployed' });
    const proxy = await kubectlJson<{ spec: { template: { spec: { containers: Array<{ image: string }> } } } }>(['get', 'deploy', 'rel-milvus-proxy', '-n', ns]);
    expect(proxy.spec.template.spec.containers[0]!.image).toBe('milvusdb/milvus:v2.4.5');
  });
});

describe('safety: success is claimed only with the data back', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-verify');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['books', 'films'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'dc');
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('verify fails (exit 10) when a collection seen before the stop is not listed after the reinstall', async () => {
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const args = ['pulsar-upgrade', 'dc', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--timeout', '60s'];
    const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'install' } });
    expect(first.code, first.stderr).toBe(130);
    sim.sim.dropCollection('default', 'films');
    const r = await runPlugin([...args, '--resume']);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain('1 collection(s) seen before the stop are missing after the upgrade: default.films');
  });
});

describe('safety: a stop that timed out after the cluster did the work', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-halfstop');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'half');
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('--resume finishes from what the cluster shows: no second flush of a Milvus that is gone, the volumes under the first run\'s license', async () => {
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const args = ['pulsar-upgrade', 'half', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir];
    const first = await runPlugin(args, { env: { HELM_BIN: helmUninstallTimesOut() } });
    expect(first.code, first.stderr).toBe(9);
    expect(first.stderr).toContain('helm uninstall failed: Error: uninstallation completed with 1 error(s): timed out waiting for the condition');
    const r = await runPlugin([...args, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('not flushed again: the release is already uninstalled');
    expect(await pvcNames(ns, 'app=pulsar,release=half')).toEqual([]);
    expect(await pvcNames(ns, 'app=pulsarv3,release=half')).toHaveLength(3);
  });
});

describe('safety: a lost checkpoint does not hide the backups', () => {
  let ns: string;
  let sim: RunningSim;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-lost');
    sim = await startMilvusSim({ version: '2.4', databases: { default: ['books'] }, flushAfterPolls: 1 });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await forwardNamespaceTo(ns, sim.port, 19530);
    await installHelmRelease(ns, 'lost');
  });
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('with the release gone and no checkpoint, --resume names the backup secret and the restore steps (exit 6)', async () => {
    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const args = ['pulsar-upgrade', 'lost', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir];
    const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'uninstall' } });
    expect(first.code, first.stderr).toBe(130);
    await run('kubectl', ['delete', 'configmap', 'kubectl-milvus-pulsar-upgrade-lost', '-n', ns]);
    const r = await runPlugin([...args, '--resume']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toContain('no checkpoint is left, but its backup secret/kubectl-milvus-backup-pulsar-upgrade-lost');
    expect(r.stderr).toMatch(new RegExp(`kubectl get secret kubectl-milvus-backup-pulsar-upgrade-lost -n ${ns} -o jsonpath='\\{\\.data\\.\\d{8}T\\d{9}Z\\\\\\.values-pulsarv3\\\\\\.yaml\\}' \\| base64 -d > values-pulsarv3\\.yaml`));
    expect(r.stderr).toContain(`helm upgrade --install lost <chart>`);
  });
});

describe('safety: helm\'s latest revision against its last deployed one', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-rev');
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('a failed revision 2 over a deployed revision 1: status names both, and pulsar-upgrade saves and renders revision 1\'s values, by number', async () => {
    await installHelmRelease(ns, 'rel');
    // Revision 2 fails (its --wait runs out at once) with a broken image; the Deployments are rolled back by hand.
    const failed = await run('helm', ['upgrade', 'rel', CHART, '-n', ns, '--reuse-values', '--set', 'image.all.tag=v2.4.6-broken', '--wait', '--timeout', '1ms']);
    expect(failed.code, failed.stderr).not.toBe(0);
    const history = JSON.parse(await helm(['history', 'rel', '-n', ns, '-o', 'json'])) as Array<{ revision: number; status: string }>;
    expect(history.map((h) => [h.revision, h.status])).toEqual([[1, 'deployed'], [2, 'failed']]);
    const deps = (await kubectl(['get', 'deploy', '-n', ns, '-l', 'app.kubernetes.io/instance=rel', '-o', 'name'])).trim().split('\n');
    for (const d of deps) await kubectl(['rollout', 'undo', d, '-n', ns]);
    await waitReady(ns, { selector: 'app.kubernetes.io/instance=rel' });

    const st = await runPlugin(['status', 'rel', '-n', ns]);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain('revision 2, failed (last deployed: 1)');

    const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
    const plan = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '--dry-run', '--chart', CHART, '--backup-dir', backupDir]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toContain('Helm release "rel" revision 2 is failed: the values of the deployed revision 1 are saved and reinstalled');
    expect(plan.stderr).toContain(`helm get values rel --revision 1 -n ${ns} -o yaml`);
    expect(plan.stderr).toContain(`helm get manifest rel --revision 1 -n ${ns}`);
    expect(plan.stderr).toContain('Milvus 2.4.5 -> 2.4.5');
    expect(plan.stderr).not.toContain('2.4.6');
  });
});
