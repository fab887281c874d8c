/**
 * meta-migrate re-checks, on every run, what its remaining steps rest on: a resumed Operator run
 * after its MilvusUpgrade was created still refuses a Milvus on a version that is neither the
 * source nor the target (no "a step is done, so skip the checks"), and accepts the target or a
 * stopping release, which is where the operator takes it. Against a FIXTURE API server that has no
 * MilvusUpgrade (the one of this run was deleted).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError } from '../../src/errors.js';
import { operatorMetaMigrate } from '../../src/meta-migrate/operator-procedure.js';
import type { Release } from '../../src/release/types.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

let server: Server | undefined;
afterEach(() => server?.close());

async function emptyApi(): Promise<string> {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: 'Status', code: 404, message: `${req.method} ${req.url} not in the fixture` }));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const release = (version: string, status: string) =>
  ({ name: 'old', namespace: 'ns', method: 'operator', milvusVersion: version, components: [], operator: { status, resource: { spec: { components: { image: `milvusdb/milvus:v${version}` } } } } }) as unknown as Release;
const opts = { operation: 'migrate' as const, sourceVersion: '2.1.4', targetVersion: '2.2.0', rootPath: undefined, image: undefined, migrationImage: 'milvusdb/meta-migration:v2.2.0', storageClass: undefined, etcdEndpoints: undefined, sessionWaitMs: 0, timeoutMs: 1000, deletePods: false };
const begun = new Set(['backup-volume', 'create-upgrade']);

describe('a resumed Operator meta-migrate re-checks the release', () => {
  it('a Milvus on neither the source nor the target version is refused (exit 7)', async () => {
    const { ctx } = testContext({ kube: kubeForFixture(await emptyApi()) });
    const def = operatorMetaMigrate(ctx, release('2.0.5', 'Healthy'), opts);
    const e = (await def.preflight(def.initialState, begun).catch((x: unknown) => x)) as CliError;
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(7);
    expect(e.message).toContain('milvus/old runs 2.0.5, but --source-version is 2.1.4');
  });

  it('the target version, or a release the operator is stopping, is what a resumed run expects', async () => {
    const { ctx } = testContext({ kube: kubeForFixture(await emptyApi()) });
    for (const r of [release('2.2.0', 'Unhealthy'), release('2.1.4', 'Stopped')]) {
      const def = operatorMetaMigrate(ctx, r, opts);
      await def.preflight(def.initialState, begun);
    }
  });
});
