/**
 * The Operator pulsar-upgrade needs operator >= 1.1.2 for Pulsar v3. A version it cannot read (no
 * leave to list Deployments cluster-wide, none in milvus-operator) is no evidence of a good one:
 * it refuses before anything changes (exit 7), as `upgrade` does, on every run and every resume.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { operatorPulsarUpgrade } from '../../src/pulsar-upgrade/operator-procedure.js';
import { readOperatorVersion } from '../../src/release/operator-version.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

let server: Server | undefined;
afterEach(() => server?.close());

const deployment = (image: string) => ({
  metadata: { name: 'milvus-operator', namespace: 'milvus-operator' },
  spec: { template: { spec: { containers: [{ name: 'kube-rbac-proxy', image: 'quay.io/brancz/kube-rbac-proxy:v0.13.1' }, { name: 'manager', image }] } } },
});

/** An API server where the operator's Deployment is listed cluster-wide (list), read in its namespace (read), or neither (a number: that status). */
async function kubeWith(opts: { list?: unknown[] | number; read?: unknown | number }) {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    const answer = (v: unknown, ok: (x: unknown) => unknown) => {
      if (typeof v === 'number' || v === undefined) {
        const code = typeof v === 'number' ? v : 404;
        res.statusCode = code;
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message: code === 403 ? 'deployments.apps is forbidden' : 'not found' }));
      } else res.end(JSON.stringify(ok(v)));
    };
    if (req.url?.startsWith('/apis/apps/v1/deployments')) answer(opts.list, (items) => ({ kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: {}, items }));
    else if (req.url?.startsWith('/apis/apps/v1/namespaces/milvus-operator/deployments/milvus-operator')) answer(opts.read, (d) => ({ kind: 'Deployment', apiVersion: 'apps/v1', ...(d as object) }));
    else answer(404, (x) => x);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return kubeForFixture(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`);
}

const opts = { release: 'op', namespace: 'ns', chart: 'zilliztech/milvus', chartVersion: undefined, backupDir: '/tmp/x', timeoutMs: 1000, flushTimeoutMs: 1000, databases: [] };

async function preflightError(kube: Awaited<ReturnType<typeof kubeWith>>): Promise<CliError | undefined> {
  const { ctx } = testContext({ kube });
  const def = operatorPulsarUpgrade(ctx, opts, undefined);
  return def.preflight(structuredClone(def.initialState), new Set()).then(
    () => undefined,
    (e: unknown) => e as CliError,
  );
}

describe('the operator version pulsar-upgrade rests on', () => {
  it('unreadable (no leave to list or read it): refused before anything, exit 7, naming why', async () => {
    const e = await preflightError(await kubeWith({ list: 403, read: 403 }));
    expect(e?.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e?.message).toContain('cannot tell the Milvus Operator version');
  });
  it('an image without a version tag: refused the same way', async () => {
    const e = await preflightError(await kubeWith({ list: [deployment('milvusdb/milvus-operator:latest')] }));
    expect(e?.message).toContain('cannot tell the Milvus Operator version');
  });
  it('too old: refused naming the version', async () => {
    const e = await preflightError(await kubeWith({ list: [deployment('milvusdb/milvus-operator:v1.0.9')] }));
    expect(e?.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e?.message).toContain('Milvus Operator 1.0.9 cannot run Pulsar v3');
  });
  it('read from the manager container, cluster-wide or, without that leave, in milvus-operator', async () => {
    expect(await readOperatorVersion(testContext({ kube: await kubeWith({ list: [deployment('milvusdb/milvus-operator:v1.3.7')] }) }).ctx)).toBe('1.3.7');
    server?.close();
    expect(await readOperatorVersion(testContext({ kube: await kubeWith({ list: 403, read: deployment('milvusdb/milvus-operator:v1.2.0') }) }).ctx)).toBe('1.2.0');
  });
});
