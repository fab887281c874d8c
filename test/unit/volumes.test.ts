/** Pulsar volume deletion against an API fixture: a Retain PV goes only while bound to the deleted claim. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { deletePulsarVolumes } from '../../src/pulsar-upgrade/volumes.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

interface Api {
  url: string;
  deleted: string[];
  close(): Promise<void>;
}

async function api(pvClaimUid: string): Promise<Api> {
  const deleted: string[] = [];
  let pvcGone = false;
  let pvGone = false;
  const notFound = (res: ServerResponse) => {
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' }));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    const url = req.url ?? '';
    if (url.startsWith('/api/v1/namespaces/ns/persistentvolumeclaims/data-0')) {
      if (req.method === 'DELETE') {
        deleted.push('pvc/data-0');
        pvcGone = true;
        return res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success' }));
      }
      return pvcGone ? notFound(res) : res.end(JSON.stringify({ kind: 'PersistentVolumeClaim', apiVersion: 'v1', metadata: { name: 'data-0', uid: 'pvc-uid-1' } }));
    }
    if (url.startsWith('/api/v1/persistentvolumes/pv-1')) {
      if (req.method === 'DELETE') {
        deleted.push('pv/pv-1');
        pvGone = true;
        return res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success' }));
      }
      return pvGone
        ? notFound(res)
        : res.end(JSON.stringify({ kind: 'PersistentVolume', apiVersion: 'v1', metadata: { name: 'pv-1', uid: 'pv-uid' }, spec: { persistentVolumeReclaimPolicy: 'Retain', claimRef: { namespace: 'ns', name: 'data-0', uid: pvClaimUid } } }));
    }
    notFound(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, deleted, close: () => new Promise((r) => server.close(() => r())) };
}

let open: Api | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

describe('Pulsar volume deletion', () => {
  const table: Array<[string, string, string[]]> = [
    ['PV still claimed by the deleted PVC: deleted', 'pvc-uid-1', ['pvc/data-0', 'pv/pv-1']],
    ['PV bound to another claim since: kept', 'someone-else', ['pvc/data-0']],
  ];
  for (const [what, claimUid, want] of table) {
    it(what, async () => {
      open = await api(claimUid);
      const { ctx } = testContext({ kube: kubeForFixture(open.url) });
      const logs: string[] = [];
      await deletePulsarVolumes(ctx, 'ns', [{ pvc: 'data-0', pvcUid: 'pvc-uid-1', pv: 'pv-1', reclaimPolicy: 'Retain' }], (m) => logs.push(m), 5_000);
      expect(open.deleted).toEqual(want);
      if (want.length === 1) expect(logs.join('\n')).toContain('kept persistentvolume/pv-1: its claim is ns/data-0 uid someone-else');
    });
  }
});
