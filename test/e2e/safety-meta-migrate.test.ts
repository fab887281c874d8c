/**
 * meta-migrate's backups: one per run, named and recorded in the checkpoint; a migrate after a
 * migrate -> rollback cycle takes a new backup instead of reusing the old one (whose metadata is
 * older than what Milvus ran since); the backup pod refuses to write over an existing file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertTestbed, deleteNamespace, installHelmRelease, kubectlJson, newNamespace, runPlugin } from './harness.js';

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
