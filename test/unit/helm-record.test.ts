/**
 * readHelmRelease against an HTTP API fixture: Secrets first, then Helm's ConfigMap driver. A
 * ConfigMap list the user may not make (403) reads on without it; any other failure is thrown,
 * never read as "Helm has no record of the release".
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { readHelmRelease } from '../../src/release/helm-secret.js';
import { kubeForFixture } from './fixture-kube.js';

let server: Server | undefined;
afterEach(() => server?.close());

const helmText = (version: number, status: string) => gzipSync(Buffer.from(JSON.stringify({ name: 'r', namespace: 'ns', version, info: { status }, chart: { metadata: { name: 'milvus', version: '4.2.8' } }, config: {} }))).toString('base64');

async function kubeWith(configmaps: number | unknown[]) {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url?.startsWith('/api/v1/namespaces/ns/secrets')) {
      res.end(JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [] }));
    } else if (req.url?.startsWith('/api/v1/namespaces/ns/configmaps') && Array.isArray(configmaps)) {
      res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: {}, items: configmaps }));
    } else {
      const code = typeof configmaps === 'number' ? configmaps : 404;
      res.statusCode = code;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message: code === 403 ? 'configmaps is forbidden' : 'etcdserver: leader changed' }));
    }
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return kubeForFixture(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`);
}

describe('readHelmRelease (Helm ConfigMap driver)', () => {
  const cm = (v: number, status: string) => ({ metadata: { name: `sh.helm.release.v1.r.v${v}` }, data: { release: helmText(v, status) } });
  it('answers with the latest revision, as helm does, and names the last deployed one beside it', async () => {
    // A failed upgrade (revision 3) over a deployed revision 2: helm status and helm get answer with 3.
    const found = await readHelmRelease(await kubeWith([cm(1, 'superseded'), cm(2, 'deployed'), cm(3, 'failed')]), 'ns', 'r');
    expect(found).toMatchObject({ storage: 'configmap', objectName: 'sh.helm.release.v1.r.v3', record: { version: 3, info: { status: 'failed' } } });
    expect(found?.lastDeployed).toMatchObject({ objectName: 'sh.helm.release.v1.r.v2', record: { version: 2 } });
  });
  it('a pending latest revision is the answer, not hidden behind the deployed one', async () => {
    const found = await readHelmRelease(await kubeWith([cm(1, 'deployed'), cm(2, 'pending-upgrade')]), 'ns', 'r');
    expect(found?.record).toMatchObject({ version: 2, info: { status: 'pending-upgrade' } });
    expect(found?.lastDeployed?.record.version).toBe(1);
  });
  it('no deployed revision at all: the latest, and no last deployed', async () => {
    const found = await readHelmRelease(await kubeWith([cm(1, 'failed')]), 'ns', 'r');
    expect(found?.record.version).toBe(1);
    expect(found?.lastDeployed).toBeUndefined();
  });
  it('without leave to list ConfigMaps: no record there (the Secrets were read)', async () => {
    expect(await readHelmRelease(await kubeWith(403), 'ns', 'r')).toBeUndefined();
  });
  it('a failed ConfigMap list is thrown, never "no record"', async () => {
    const err = await readHelmRelease(await kubeWith(500), 'ns', 'r').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.UNREACHABLE);
  });
});
