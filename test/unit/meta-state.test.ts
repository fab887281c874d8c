/**
 * What etcd holds before a Helm meta-migrate step decides to back up or migrate: read from the
 * run's configmap annotation, else from the migration pod an earlier run left. Against an HTTP
 * API fixture: only "not found" means "the source metadata"; a failed read stops the step.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { currentMetaState } from '../../src/meta-migrate/helm-procedure.js';
import { names } from '../../src/meta-migrate/manifests.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

let server: Server | undefined;
afterEach(() => server?.close());

/** The API answers the run pod's GET with `pod` (a status code, or the pod's phase); every other path 404. */
async function ctxWithRunPod(pod: number | 'Succeeded' | 'Running') {
  const runPod = `/api/v1/namespaces/ns/pods/${names('r').pod('run')}`;
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url === runPod && typeof pod === 'string') {
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: names('r').pod('run'), namespace: 'ns' }, status: { phase: pod } }));
      return;
    }
    const code = req.url === runPod ? (pod as number) : 404;
    res.statusCode = code;
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message: code === 404 ? 'not found' : 'etcdserver: request timed out' }));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return testContext({ kube: kubeForFixture(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`) }).ctx;
}

describe('currentMetaState (Helm meta-migrate)', () => {
  it('no configmap annotation and no migration pod: the source metadata', async () => {
    expect(await currentMetaState(await ctxWithRunPod(404), 'ns', 'r')).toBe('source');
  });
  it('the migration pod of an earlier run: migrated when it succeeded, else half-done', async () => {
    expect(await currentMetaState(await ctxWithRunPod('Succeeded'), 'ns', 'r')).toBe('migrated');
    expect(await currentMetaState(await ctxWithRunPod('Running'), 'ns', 'r')).toBe('migrating');
  });
  it('a failed read of the pod is no evidence: it is thrown, never read as "the source metadata"', async () => {
    for (const code of [500, 403]) {
      const err = await currentMetaState(await ctxWithRunPod(code), 'ns', 'r').catch((e: unknown) => e);
      expect(err, `HTTP ${code}`).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(code === 403 ? ExitCode.FORBIDDEN : ExitCode.UNREACHABLE);
      server?.close();
    }
  });
});
