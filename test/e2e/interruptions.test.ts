import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertTestbed, deleteNamespace, installHelmRelease, kubectlJson, newNamespace, runPlugin } from './harness.js';

async function checkpointSteps(ns: string, name: string): Promise<string[]> {
  const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', name, '-n', ns]);
  return (JSON.parse(cm.data['checkpoint.json']!) as { completed: Array<{ id: string }> }).completed.map((c) => c.id);
}

async function images(ns: string, release: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ spec: { replicas: number; template: { spec: { containers: Array<{ image: string }> } } } }> }>([
    'get', 'deploy', '-n', ns, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/name=milvus`,
  ]);
  return list.items.map((d) => `${d.spec.template.spec.containers[0]!.image}x${d.spec.replicas}`);
}

/** Runs the command interrupted after each step in turn, resuming every time, then to the end. */
async function interruptEveryStep(args: string[], steps: string[], ns: string, checkpoint: string) {
  for (const [i, step] of steps.entries()) {
    const r = await runPlugin([...args, ...(i > 0 ? ['--resume'] : [])], { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: step } });
    expect(r.code, `${step}: ${r.stderr}`).toBe(130);
    expect(await checkpointSteps(ns, checkpoint)).toEqual(steps.slice(0, i + 1));
  }
  const last = await runPlugin([...args, '--resume']);
  expect(last.code, last.stderr).toBe(0);
}

describe('changing commands interrupted after every step', () => {
  let ns: string;
  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('interrupt');
    await Promise.all([installHelmRelease(ns, 'mm', { 'image.all.tag': 'v2.1.4' }), installHelmRelease(ns, 'ru')]);
  });
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('meta-migrate resumes from every step and ends migrated with the recorded replicas', async () => {
    const steps = ['meta-backup', 'record-replicas', 'stop', 'wait-sessions', 'prepare', 'backup', 'migrate', 'start'];
    await interruptEveryStep(['meta-migrate', 'mm', '-n', ns, '-s', '2.1.4', '-t', '2.2.0', '--session-wait', '1s', '--timeout', '2m', '-y'], steps, ns, 'kubectl-milvus-meta-migrate-mm');
    expect((await images(ns, 'mm')).every((i) => i === 'milvusdb/milvus:v2.2.0x1')).toBe(true);
    // The backup ran once: its pod was never replaced by the resumes.
    const pod = await kubectlJson<{ status: { phase: string } }>(['get', 'pod', 'milvus-meta-migration-backup-mm', '-n', ns]);
    expect(pod.status.phase).toBe('Succeeded');
  });

  it('rolling-update resumes from every component', async () => {
    const steps = ['meta-backup', 'active-standby', 'update-ru-milvus-indexnode', 'update-ru-milvus-mixcoord', 'update-ru-milvus-querynode', 'update-ru-milvus-datanode'];
    await interruptEveryStep(['rolling-update', 'ru', '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '-y'], steps, ns, 'kubectl-milvus-rolling-update-ru');
    expect((await images(ns, 'ru')).every((i) => i === 'milvusdb/milvus:v2.4.6x1')).toBe(true);
  });
});
