/**
 * Rollout status by kubectl's rules on sample Deployment objects, and the list-then-watch wait
 * against a FIXTURE API server: an HTTP server that answers the Deployment list and streams watch
 * events the test pushes (or ends the watch, as the API server does on its timeout). The real API
 * server and controllers are exercised by test/e2e/rolling-update.test.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import type { Kube } from '../../src/kube/client.js';
import { deploymentRolloutStatus, describePodProblems, rolledOutWithImage, waitForRollout } from '../../src/kube/rollout.js';
import { kubeForFixture } from './fixture-kube.js';

const dep = (gen: number, status: V1Deployment['status'], replicas = 2, image = 'milvusdb/milvus:v2.4.6'): V1Deployment => ({
  metadata: { name: 'x', namespace: 'ns', generation: gen, resourceVersion: String(gen * 10) },
  spec: { replicas, selector: { matchLabels: { app: 'x' } }, template: { spec: { containers: [{ name: 'proxy', image }] } } },
  status,
});

describe("kubectl's rollout status rules", () => {
  it('waits for the spec change to be observed before anything else counts', () => {
    // Even a status that looks finished (and a stale deadline condition) belongs to the old generation.
    const s = deploymentRolloutStatus(dep(3, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }));
    expect(s).toEqual({ done: false, message: 'Waiting for deployment spec update to be observed...' });
  });
  it('counts updated replicas, then old replicas pending termination, then available ones', () => {
    expect(deploymentRolloutStatus(dep(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 2 })).message).toBe(
      'Waiting for deployment "x" rollout to finish: 1 out of 2 new replicas have been updated...',
    );
    expect(deploymentRolloutStatus(dep(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 })).message).toBe(
      'Waiting for deployment "x" rollout to finish: 1 old replicas are pending termination...',
    );
    expect(deploymentRolloutStatus(dep(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 })).message).toBe(
      'Waiting for deployment "x" rollout to finish: 1 of 2 updated replicas are available...',
    );
    expect(deploymentRolloutStatus(dep(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }))).toEqual({
      done: true,
      message: 'deployment "x" successfully rolled out',
    });
  });
  it('treats ProgressDeadlineExceeded of the observed generation as a failure', () => {
    const s = deploymentRolloutStatus(dep(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "x-1" has timed out progressing.' }] }));
    expect(s.failed).toBe('deployment "x" exceeded its progress deadline');
    expect(s.done).toBe(false);
  });
  it('a scaled-to-zero Deployment is rolled out; rolledOutWithImage also needs the image', () => {
    expect(deploymentRolloutStatus(dep(1, { observedGeneration: 1 }, 0)).done).toBe(true);
    const d = dep(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }, 2, 'milvusdb/milvus:v2.4.5');
    expect(rolledOutWithImage(d, 'milvusdb/milvus:v2.4.6')).toBe(false);
    expect(rolledOutWithImage(d, 'milvusdb/milvus:v2.4.5')).toBe(true);
  });
  it('names the pods’ own reasons for not becoming ready', () => {
    const pods: V1Pod[] = [
      { metadata: { name: 'x-1' }, status: { containerStatuses: [{ name: 'proxy', image: 'milvusdb/milvus:v2.4.6-broken', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'pull failed' } } }] } },
      { metadata: { name: 'x-2' }, status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available' }] } },
      { metadata: { name: 'x-3' }, status: { containerStatuses: [{ name: 'proxy', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] } },
    ];
    expect(describePodProblems(pods)).toEqual([
      'pod/x-1: container "proxy" ErrImagePull (pull failed) [milvusdb/milvus:v2.4.6-broken]',
      'pod/x-2: Unschedulable (0/3 nodes are available)',
    ]);
  });
});

interface Fixture {
  url: string;
  current: V1Deployment | undefined;
  lists: number;
  watches: string[];
  push(type: string, d: V1Deployment): void;
  endWatches(): void;
  close(): Promise<void>;
}

/** FIXTURE API server: GET deployments (list or watch=true), GET one deployment, GET pods. */
async function fixture(initial: V1Deployment | undefined): Promise<Fixture> {
  const open = new Set<ServerResponse>();
  const f: Fixture = {
    url: '',
    current: initial,
    lists: 0,
    watches: [],
    push(type, d) {
      f.current = type === 'DELETED' ? undefined : d;
      for (const res of open) res.write(`${JSON.stringify({ type, object: d })}\n`);
    },
    endWatches() {
      for (const res of open) res.end();
      open.clear();
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (u.pathname === '/apis/apps/v1/namespaces/ns/deployments') {
      if (u.searchParams.get('watch') === 'true') {
        f.watches.push(`${u.searchParams.get('fieldSelector')} rv=${u.searchParams.get('resourceVersion')} timeout=${u.searchParams.get('timeoutSeconds')}`);
        res.writeHead(200);
        open.add(res);
        req.on('close', () => open.delete(res));
        return;
      }
      f.lists++;
      res.end(JSON.stringify({ kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: String(100 + f.lists) }, items: f.current ? [f.current] : [] }));
      return;
    }
    if (u.pathname === '/apis/apps/v1/namespaces/ns/deployments/x' && f.current) {
      res.end(JSON.stringify({ kind: 'Deployment', apiVersion: 'apps/v1', ...f.current }));
      return;
    }
    if (u.pathname === '/api/v1/namespaces/ns/pods') {
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'x-new' }, status: { containerStatuses: [{ name: 'proxy', image: 'bad', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }] } }] }));
      return;
    }
    res.writeHead(404);
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  f.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return f;
}

const kubeFor = (f: Fixture): Kube => kubeForFixture(f.url);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};
async function setup(initial: V1Deployment | undefined) {
  const f = await fixture(initial);
  cleanups.push(async () => {
    f.endWatches();
    await f.close();
  });
  return { f, kube: kubeFor(f) };
}

describe('waitForRollout: list, then watch from the list resourceVersion', () => {
  it('follows watch events to completion, reporting every status it sees', async () => {
    const { f, kube } = await setup(dep(2, { observedGeneration: 1, replicas: 2, updatedReplicas: 0 }));
    const seen: string[] = [];
    const p = waitForRollout(kube, 'ns', 'x', { timeoutMs: 5000, signal: new AbortController().signal, onUpdate: (_d, s) => seen.push(s.message) });
    await until(() => f.watches.length === 1);
    expect(f.watches[0]).toMatch(/^metadata\.name=x rv=101 timeout=\d+$/);
    f.push('MODIFIED', dep(2, { observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 1 }));
    f.push('MODIFIED', dep(2, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }));
    const d = await p;
    expect(d.status?.availableReplicas).toBe(2);
    expect(seen).toEqual([
      'Waiting for deployment spec update to be observed...',
      'Waiting for deployment "x" rollout to finish: 1 out of 2 new replicas have been updated...',
      'deployment "x" successfully rolled out',
    ]);
    expect(f.lists).toBe(1); // no polling: one list, then the watch
  });

  it('lists again when the watch ends, and sees a change made in between', async () => {
    const { f, kube } = await setup(dep(2, { observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1 }));
    const p = waitForRollout(kube, 'ns', 'x', { timeoutMs: 5000, signal: new AbortController().signal });
    await until(() => f.watches.length === 1);
    f.current = dep(2, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }); // no event
    f.endWatches();
    await p;
    expect(f.lists).toBe(2);
  });

  it('waits for the image too, when asked', async () => {
    const { f, kube } = await setup(dep(1, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }, 2, 'milvusdb/milvus:v2.4.5'));
    const p = waitForRollout(kube, 'ns', 'x', { timeoutMs: 5000, signal: new AbortController().signal, image: 'milvusdb/milvus:v2.4.6', container: 'proxy' });
    await until(() => f.watches.length === 1);
    f.push('MODIFIED', dep(2, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }));
    expect((await p).metadata?.generation).toBe(2);
  });

  it('fails on ProgressDeadlineExceeded, naming the pods’ reasons', async () => {
    const { f, kube } = await setup(dep(2, { observedGeneration: 2, replicas: 3, updatedReplicas: 1 }));
    const p = waitForRollout(kube, 'ns', 'x', { timeoutMs: 5000, signal: new AbortController().signal });
    await until(() => f.watches.length === 1);
    f.push('MODIFIED', dep(2, { observedGeneration: 2, replicas: 3, updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }));
    const e = (await p.catch((x: unknown) => x)) as CliError;
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(ExitCode.FAILED);
    expect(e.message).toBe('deployment "x" exceeded its progress deadline; pod/x-new: container "proxy" ImagePullBackOff [bad]');
  });

  it('times out with the last status line', async () => {
    const { kube } = await setup(dep(2, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 }));
    const t0 = Date.now();
    const e = (await waitForRollout(kube, 'ns', 'x', { timeoutMs: 600, signal: new AbortController().signal }).catch((x: unknown) => x)) as CliError;
    expect(e.exitCode).toBe(ExitCode.TIMEOUT);
    expect(e.message).toContain('timed out after 600ms waiting for deployment "x" to roll out: Waiting for deployment "x" rollout to finish: 1 of 2 updated replicas are available...');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('fails when the Deployment is deleted, and stops on abort', async () => {
    const { f, kube } = await setup(dep(2, { observedGeneration: 1 }));
    const p = waitForRollout(kube, 'ns', 'x', { timeoutMs: 5000, signal: new AbortController().signal });
    await until(() => f.watches.length === 1);
    f.push('DELETED', dep(2, {}));
    const e = (await p.catch((x: unknown) => x)) as CliError;
    expect(e.exitCode).toBe(ExitCode.FAILED);
    expect(e.message).toContain('deployment "x" was deleted while waiting for its rollout');

    f.current = dep(2, { observedGeneration: 1 });
    const ac = new AbortController();
    const q = waitForRollout(kube, 'ns', 'x', { timeoutMs: 5000, signal: ac.signal });
    await until(() => f.watches.length === 2);
    ac.abort(new Error('interrupted'));
    await expect(q).rejects.toThrow('interrupted');
  });
});
