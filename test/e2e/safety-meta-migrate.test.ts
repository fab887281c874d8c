/**
 * meta-migrate's backups: one per run, named and recorded in the checkpoint; a migrate after a
 * migrate -> rollback cycle takes a new backup instead of reusing the old one (whose metadata is
 * older than what Milvus ran since); the backup pod refuses to write over an existing file.
 *
 * And on the REAL Milvus Operator: a dependency probe that fails just before the MilvusUpgrade
 * stops Milvus leaves the stop undone for good (the operator scales nothing without its dependency
 * conditions and drops them once the resource is stopping); the plugin names that and does the stop.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minioAnswer } from '../../testbed/operator-deps/gateway.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, installHelmRelease, kubectl, kubectlJson, newNamespace, pluginCommand, runPlugin, testbedEnv } from './harness.js';

const base = ['-s', '2.1.4', '-t', '2.2.0', '--session-wait', '1s', '--timeout', '90s', '-y'];
const CONFIG = 'milvus-meta-migration-config-cyc';

async function configMap(ns: string, name: string) {
  return kubectlJson<{ metadata: { annotations?: Record<string, string> }; data: Record<string, string> }>(['get', 'configmap', name, '-n', ns]);
}

describe('safety: meta-migrate backups', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('safe-meta');
    await installHelmRelease(ns, 'cyc', { 'image.all.tag': 'v2.1.4' });
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('a migrate after a migrate -> rollback cycle takes its own backup, recorded in the checkpoint; the pod never overwrites a file', async () => {
    const first = await runPlugin(['meta-migrate', 'cyc', '-n', ns, ...base]);
    expect(first.code, first.stderr).toBe(0);
    const firstFile = (await configMap(ns, CONFIG)).metadata.annotations?.['kubectl-milvus.io/backup-file'];
    expect(firstFile).toMatch(/^\/milvus\/data\/migration-[0-9a-f]{8}-1\.bak$/);
    const back = await runPlugin(['meta-migrate', 'cyc', '-n', ns, ...base, '--operation', 'rollback']);
    expect(back.code, back.stderr).toBe(0);
    expect((await configMap(ns, CONFIG)).data['rollback.yaml']).toContain(`backupFilePath: ${firstFile}`);
    // Milvus ran on 2.1.4 again after the rollback: the first backup is older than its last start.
    const again = await runPlugin(['meta-migrate', 'cyc', '-n', ns, ...base]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`the finished backup ${firstFile} of an earlier run`);
    expect(again.stderr).toContain('is not reused: taking a new one');
    const cm = await configMap(ns, CONFIG);
    const secondFile = cm.metadata.annotations?.['kubectl-milvus.io/backup-file'];
    expect(secondFile).toMatch(/^\/milvus\/data\/migration-[0-9a-f]{8}-1\.bak$/);
    expect(secondFile).not.toBe(firstFile);
    expect(cm.data['rollback.yaml']).toContain(`backupFilePath: ${secondFile}`);
    const cp = JSON.parse((await configMap(ns, 'kubectl-milvus-meta-migrate-cyc')).data['checkpoint.json']!) as { state: { backupFile: string } };
    expect(cp.state.backupFile).toBe(secondFile);
    const pod = await kubectlJson<{ spec: { containers: Array<{ args: string[] }> } }>(['get', 'pod', 'milvus-meta-migration-backup-cyc', '-n', ns]);
    expect(pod.spec.containers[0]!.args[1]).toContain(`if [ -e '${secondFile}' ]; then echo 'kubectl-milvus: ${secondFile} exists: a backup is never overwritten' >&2; exit 17; fi;`);
  });
});

/** A MinIO endpoint of this test that the operator's storage probe reaches (madmin ServerInfo), and that can be made to fail. */
async function switchableMinio(): Promise<{ server: Server; port: number; fail(on: boolean): void }> {
  let failing = false;
  const server = createServer((req, res) => {
    req.resume();
    if (failing) {
      res.writeHead(503, { 'Content-Type': 'application/xml' });
      return res.end('<Error><Code>ServiceUnavailable</Code></Error>');
    }
    const a = minioAnswer(req.method ?? 'GET', req.url ?? '/');
    res.writeHead(a.status, { 'Content-Type': a.type, 'Content-Length': Buffer.byteLength(a.body) });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, fail: (on) => void (failing = on) };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe('safety: meta-migrate on the real operator, a dependency probe failing just before the stop', () => {
  let ns: string;
  let minio: Awaited<ReturnType<typeof switchableMinio>>;
  beforeAll(async () => {
    assertTestbed();
    minio = await switchableMinio();
    ns = await newNamespace('safe-stall');
    await kubectl(['create', 'secret', 'generic', 'stall-minio', '-n', ns, '--from-literal=accesskey=minioadmin', '--from-literal=secretkey=minioadmin']);
    await createOperatorMilvus(ns, 'stall', {
      mode: 'standalone',
      components: { image: 'milvusdb/milvus:v2.1.4' },
      dependencies: { storage: { external: true, type: 'MinIO', endpoint: `127.0.0.1:${minio.port}`, secretRef: 'stall-minio' } },
    });
  }, 400_000);
  afterAll(async () => {
    minio?.server.close();
    if (ns) await deleteNamespace(ns);
  });

  it('the stop the operator leaves undone is named and done by the plugin, and the migration ends on 2.2.0', async () => {
    const p = pluginCommand();
    const child = spawn(p.cmd, [...p.args, 'meta-migrate', 'stall', '-n', ns, '-s', '2.1.4', '-t', '2.2.0', '--timeout', '6m'], { env: testbedEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    const killer = setTimeout(() => child.kill('SIGKILL'), 840_000);
    try {
      // The preflight saw every dependency condition True; the plan says what the stop may need.
      await until('the confirmation prompt', async () => (stderr.includes('Do you want to continue?') ? true : undefined), 120_000);
      expect(stderr).toContain('kubectl scale deployment stall-milvus-standalone -n');
      // While the plan is read, the operator's storage probe fails once (the endpoint answers 503).
      minio.fail(true);
      await until(
        'StorageReady False',
        async () => {
          const m = await kubectlJson<{ status: { conditions?: Array<{ type: string; status: string }> } }>(['get', 'milvus', 'stall', '-n', ns]);
          return m.status.conditions?.some((c) => c.type === 'StorageReady' && c.status === 'False') ? true : undefined;
        },
        150_000,
      );
      child.stdin.end('y\n');
      // The MilvusUpgrade has stopped the spec; the dependency is healthy again from here on.
      await until(
        'the stop in the Milvus spec',
        async () => {
          const m = await kubectlJson<{ spec: { components: { standalone?: { replicas?: number } } } }>(['get', 'milvus', 'stall', '-n', ns]);
          return m.spec.components.standalone?.replicas === 0 ? true : undefined;
        },
        120_000,
      );
      minio.fail(false);
      const code = await exited;
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('milvus/stall is stuck stopping (OldVersionStopping)');
      expect(stderr).toContain('deployment/stall-milvus-standalone scaled from 1 to 0');
      const cp = JSON.parse((await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'kubectl-milvus-meta-migrate-stall', '-n', ns])).data['checkpoint.json']!) as {
        state: { stoppedForOperator?: string[]; finalState?: string };
      };
      expect(cp.state.stoppedForOperator).toEqual(['stall-milvus-standalone']);
      expect(cp.state.finalState).toBe('Succeeded');
      const m = await kubectlJson<{ spec: { components: { image: string } }; status: { status: string } }>(['get', 'milvus', 'stall', '-n', ns]);
      expect(m.spec.components.image).toBe('milvusdb/milvus:v2.2.0');
      expect(m.status.status).toBe('Healthy');
    } finally {
      clearTimeout(killer);
      minio.fail(false);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 900_000);
});
