/**
 * The stop Milvus Operator v1.3.7 leaves undone (src/meta-migrate/operator-stop.ts): a dependency
 * probe failed just before the MilvusUpgrade stopped Milvus, so the reconcile that saw the stop
 * scaled nothing, the status syncer then removed the dependency conditions of the stopping
 * resource, and the MilvusUpgrade waits in OldVersionStopping for good with Milvus still serving.
 *
 * The fixture API server holds that world as the real operator leaves it (standalone 2.1.4:
 * spec.components.standalone.replicas 0, status Stopped with only MilvusReady/MilvusUpdated left,
 * observedGeneration current, the operator's Deployment still at 1), plus an "operator" that goes on
 * once every Deployment of the instance is at 0, as isMilvusStopped does.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { operatorMetaMigrate, type OperatorMetaMigrateState } from '../../src/meta-migrate/operator-procedure.js';
import { dependenciesNotReady, specStopping, stalledStop } from '../../src/meta-migrate/operator-stop.js';
import type { Release } from '../../src/release/types.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

const UPGRADE = 'old-upgrade-2-2-0';
const DEPLOYMENT = 'old-milvus-standalone';
const RUN_ID = 'feedc0de';

let server: Server | undefined;
afterEach(() => server?.close());

const operatorLabels = (component: string) => ({
  'app.kubernetes.io/component': component,
  'app.kubernetes.io/instance': 'old',
  'app.kubernetes.io/managed-by': 'milvus-operator',
  'app.kubernetes.io/name': 'milvus',
});

/** The Milvus resource once the stop began and the status syncer dropped the dependency conditions. */
function stoppingMilvus(o: { observedGeneration?: number; dependencies?: 'removed' | 'ready' } = {}) {
  const conditions: Array<Record<string, string>> = [
    { type: 'MilvusReady', status: 'False', reason: 'MilvusStopping', message: 'All Milvus components are stopped' },
    { type: 'MilvusUpdated', status: 'True', reason: 'MilvusComponentsUpdated', message: 'Milvus components are all updated' },
  ];
  if (o.dependencies === 'ready') {
    for (const type of ['EtcdReady', 'StorageReady', 'MsgStreamReady']) conditions.push({ type, status: 'True', reason: `${type.replace('Ready', '')}Ready` });
  }
  return {
    apiVersion: 'milvus.io/v1beta1',
    kind: 'Milvus',
    metadata: { name: 'old', namespace: 'ns', generation: 4, finalizers: ['milvus.milvus.io/finalizer'] },
    spec: {
      mode: 'standalone',
      components: { image: 'milvusdb/milvus:v2.1.4', imageUpdateMode: 'rollingUpgrade', standalone: { replicas: 0 } },
      dependencies: { etcd: { inCluster: { deletionPolicy: 'Retain' } }, storage: { inCluster: { deletionPolicy: 'Retain' } }, msgStreamType: 'rocksmq' },
    },
    status: { status: 'Stopped', observedGeneration: o.observedGeneration ?? 4, conditions },
  };
}

interface Deploy {
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion: string; generation: number };
  spec: { replicas: number };
}

interface World {
  milvus: ReturnType<typeof stoppingMilvus>;
  deployments: Deploy[];
  upgrade: { metadata: Record<string, unknown>; spec: Record<string, unknown>; status: Record<string, unknown> };
  /** Patches the API server took, by Deployment. */
  patches: Array<{ name: string; body: { metadata?: { resourceVersion?: string }; spec?: { replicas?: number } } }>;
  /** No MilvusUpgrade yet (a fresh run). */
  upgradeAbsent?: boolean;
  /** A write to this Deployment right after the Nth list of Deployments (a 409 for a scale made at the version read before). */
  touch?: { name: string; afterList: number };
}

function world(o: { observedGeneration?: number; dependencies?: 'removed' | 'ready'; foreign?: boolean } = {}): World {
  const deployments: Deploy[] = [{ metadata: { name: DEPLOYMENT, namespace: 'ns', labels: operatorLabels('standalone'), resourceVersion: '100', generation: 3 }, spec: { replicas: 1 } }];
  if (o.foreign) deployments.push({ metadata: { name: 'old-sidecar', namespace: 'ns', labels: { 'app.kubernetes.io/instance': 'old' }, resourceVersion: '120', generation: 1 }, spec: { replicas: 1 } });
  return {
    milvus: stoppingMilvus(o),
    deployments,
    upgrade: {
      metadata: { name: UPGRADE, namespace: 'ns', labels: { 'kubectl-milvus.io/run': RUN_ID }, resourceVersion: '50' },
      spec: { milvus: { name: 'old' }, operation: 'upgrade', sourceVersion: 'v2.1.4', targetVersion: 'v2.2.0', backupPVC: 'milvus-meta-migration-backup-old-feedc0de' },
      status: {
        state: 'OldVersionStopping',
        sourceImage: 'milvusdb/milvus:v2.1.4',
        replicasBeforeUpgrade: { standalone: 1 },
        conditions: [{ type: 'Upgraded', status: 'False', reason: 'OldVersionStopping' }],
      },
    },
    patches: [],
  };
}

async function body(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : undefined;
}

/** The API server of the world; the "operator" moves the MilvusUpgrade on once every Deployment of the instance is at 0. */
async function serve(w: World): Promise<string> {
  let rv = 200;
  let lists = 0;
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, obj: unknown) => {
      res.statusCode = code;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(obj));
    };
    if (url.searchParams.get('watch') === 'true') {
      // A watch that sees no event before it ends: the follower lists again.
      res.writeHead(200, { 'content-type': 'application/json' });
      setTimeout(() => res.end(), 50);
      return;
    }
    const p = url.pathname;
    if (req.method === 'GET' && p === '/apis/milvus.io/v1beta1/namespaces/ns/milvusupgrades') {
      if (w.deployments.every((d) => d.spec.replicas === 0) && w.upgrade.status.state === 'OldVersionStopping') {
        w.upgrade.status = { ...w.upgrade.status, state: 'Succeeded', metaBackuped: true, backupPVC: w.upgrade.spec.backupPVC };
      }
      if (w.deployments.every((d) => d.spec.replicas === 0) && w.upgrade.status.state === 'RollbackNewVersionStopping') {
        w.upgrade.status = { ...w.upgrade.status, state: 'RollbackedSucceeded' };
      }
      return send(200, { kind: 'MilvusUpgradeList', apiVersion: 'milvus.io/v1beta1', metadata: { resourceVersion: String(rv++) }, items: [w.upgrade] });
    }
    if (req.method === 'GET' && p === `/apis/milvus.io/v1beta1/namespaces/ns/milvusupgrades/${UPGRADE}` && !w.upgradeAbsent) return send(200, w.upgrade);
    if (req.method === 'GET' && p === '/apis/milvus.io/v1beta1/namespaces/ns/milvuses/old') return send(200, w.milvus);
    if (req.method === 'GET' && p === '/apis/apps/v1/namespaces/ns/deployments') {
      const sel = url.searchParams.get('labelSelector');
      const items = w.deployments.filter((d) => sel === 'app.kubernetes.io/instance=old' && d.metadata.labels['app.kubernetes.io/instance'] === 'old');
      send(200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: String(rv++) }, items: structuredClone(items) });
      lists++;
      const touched = w.deployments.find((d) => d.metadata.name === w.touch?.name);
      if (touched && lists === w.touch?.afterList) touched.metadata.resourceVersion = String(rv++);
      return;
    }
    const patch = /^\/apis\/apps\/v1\/namespaces\/ns\/deployments\/([^/]+)$/.exec(p);
    if (req.method === 'PATCH' && patch) {
      const d = w.deployments.find((x) => x.metadata.name === patch[1]);
      const b = await body(req);
      w.patches.push({ name: patch[1]!, body: b });
      if (!d) return send(404, { kind: 'Status', code: 404, message: 'not found' });
      if (b?.metadata?.resourceVersion && b.metadata.resourceVersion !== d.metadata.resourceVersion) {
        return send(409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified; please apply your changes to the latest version and try again' });
      }
      if (b?.spec?.replicas !== undefined) d.spec.replicas = b.spec.replicas;
      d.metadata.resourceVersion = String(rv++);
      return send(200, { kind: 'Deployment', apiVersion: 'apps/v1', ...d });
    }
    send(404, { kind: 'Status', code: 404, message: `${req.method} ${req.url} not in the fixture` });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const release = (conditions?: Array<{ type: string; status: string; message?: string }>) =>
  ({
    name: 'old',
    namespace: 'ns',
    method: 'operator',
    mode: 'standalone',
    milvusVersion: '2.1.4',
    components: [{ component: 'standalone', name: DEPLOYMENT, image: 'milvusdb/milvus:v2.1.4', version: '2.1.4', replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 }],
    idleComponents: [],
    operator: { status: 'Healthy', resource: { metadata: { name: 'old' }, spec: { components: { image: 'milvusdb/milvus:v2.1.4' } }, status: { status: 'Healthy', conditions } } },
  }) as unknown as Release;
const opts = { operation: 'migrate' as const, sourceVersion: '2.1.4', targetVersion: '2.2.0', rootPath: undefined, image: undefined, migrationImage: 'milvusdb/meta-migration:v2.2.0', storageClass: undefined, etcdEndpoints: undefined, sessionWaitMs: 0, timeoutMs: 3000, deletePods: false };
const fast = { lookMs: 0, confirmMs: 0, watchSeconds: 1 };

/** Runs the follow step of a run that created the MilvusUpgrade; its log lines and its error, if any. */
async function follow(w: World, timeoutMs = 3000, operation: 'migrate' | 'rollback' = 'migrate'): Promise<{ lines: string[]; error?: CliError; state: OperatorMetaMigrateState; checkpoints: number }> {
  const { ctx } = testContext({ kube: kubeForFixture(await serve(w)) });
  const def = operatorMetaMigrate(ctx, release(), { ...opts, timeoutMs, operation }, fast);
  const state = { ...structuredClone(def.initialState), runId: RUN_ID, backupPvc: 'milvus-meta-migration-backup-old-feedc0de' };
  const step = def.steps.find((s) => s.id === 'follow-upgrade')!;
  const lines: string[] = [];
  let checkpoints = 0;
  const error = await step
    .run({ ctx, state, log: (m) => lines.push(m), checkpoint: async () => void checkpoints++, invocation: 'i', resumedAfterStart: false, runId: RUN_ID })
    .then(
      () => undefined,
      (e: unknown) => e as CliError,
    );
  return { lines, state, checkpoints, ...(error ? { error } : {}) };
}

describe('a MilvusUpgrade whose stop Milvus Operator leaves undone', () => {
  it('is named in one line, the stop is done as the operator would (the Deployment read, then scaled to 0 at that version), and the upgrade is followed to its end', async () => {
    const w = world();
    const r = await follow(w);
    expect(r.error, r.error?.message).toBeUndefined();
    const named = r.lines.filter((l) => l.includes('is stuck stopping'));
    expect(named).toHaveLength(1);
    expect(named[0]).toContain('milvus/old is stuck stopping (OldVersionStopping)');
    expect(named[0]).toContain('EtcdReady, StorageReady, MsgStreamReady are not True');
    expect(named[0]).toContain(`deployment/${DEPLOYMENT} (1)`);
    expect(named[0]).toContain("the plugin does the operator's stop (scale to 0) if it still holds");
    expect(w.patches).toEqual([{ name: DEPLOYMENT, body: { metadata: { resourceVersion: '100' }, spec: { replicas: 0 } } }]);
    expect(r.state.stoppedForOperator).toEqual([DEPLOYMENT]);
    expect(r.checkpoints).toBe(1);
    expect(r.state.finalState).toBe('Succeeded');
    expect(r.lines.some((l) => l.startsWith('state Succeeded'))).toBe(true);
  });

  it('the same on the rollback path: a stop left undone in RollbackNewVersionStopping is done, and the rollback is followed to RollbackedSucceeded', async () => {
    const w = world();
    // The migration succeeded; the switch to rollback stopped the spec again while a probe had just failed.
    w.upgrade.spec.operation = 'rollback';
    w.upgrade.status = { ...w.upgrade.status, state: 'RollbackNewVersionStopping', isRollbacking: true, metaBackuped: true };
    const r = await follow(w, 3000, 'rollback');
    expect(r.error, r.error?.message).toBeUndefined();
    expect(r.lines.some((l) => l.startsWith('milvus/old is stuck stopping (RollbackNewVersionStopping)'))).toBe(true);
    expect(w.patches.map((p) => p.name)).toEqual([DEPLOYMENT]);
    expect(r.state.finalState).toBe('RollbackedSucceeded');
  });

  it('a Deployment changed between the look and the scale is not overwritten (409): it is read again and scaled at its new version', async () => {
    const w = world();
    // Listed once to see the stall, once more right before the scale: the write lands between that read and the scale.
    w.touch = { name: DEPLOYMENT, afterList: 2 };
    const r = await follow(w);
    expect(r.error, r.error?.message).toBeUndefined();
    expect(w.patches.map((p) => p.body.metadata?.resourceVersion)).toHaveLength(2);
    expect(w.patches[0]!.body.metadata?.resourceVersion).not.toBe(w.patches[1]!.body.metadata?.resourceVersion);
    expect(r.lines).toContain(`deployment/${DEPLOYMENT} changed since it was read: looking again`);
    expect(w.deployments[0]!.spec.replicas).toBe(0);
  });

  it('while the reconciler has not observed the stop (observedGeneration behind), nothing is scaled; the timeout (exit 9) names the stall and the way out', async () => {
    const w = world({ observedGeneration: 3 });
    const r = await follow(w, 1500);
    expect(w.patches).toEqual([]);
    expect(r.error?.exitCode).toBe(ExitCode.TIMEOUT);
    expect(r.error?.message).toContain('waiting for milvusupgrade/old-upgrade-2-2-0 to finish: milvus/old is stuck stopping');
    expect(r.error?.hint).toContain(`kubectl scale deployment ${DEPLOYMENT} -n ns --replicas=0`);
    expect(r.lines.filter((l) => l.includes('has not observed the stop yet'))).toHaveLength(1);
  });

  it('with every dependency condition True the operator does its own stop: the plugin scales nothing and claims no stall', async () => {
    const w = world({ dependencies: 'ready' });
    const r = await follow(w, 1500);
    expect(w.patches).toEqual([]);
    expect(r.error?.exitCode).toBe(ExitCode.TIMEOUT);
    expect(r.error?.message).toContain('state OldVersionStopping');
    expect(r.lines.some((l) => l.includes('stuck'))).toBe(false);
  });

  it('a Deployment of the instance that is not the operator\'s keeps the operator waiting too: exit 10 naming it and the remedy, nothing scaled', async () => {
    const w = world({ foreign: true });
    const r = await follow(w);
    expect(w.patches).toEqual([]);
    expect(r.error?.exitCode).toBe(ExitCode.FAILED);
    expect(r.error?.message).toContain("deployment/old-sidecar (not the operator's)");
    expect(r.error?.hint).toContain('old-sidecar carries app.kubernetes.io/instance=old without being Milvus Operator');
    expect(r.error?.hint).toContain('persistentvolumeclaim/milvus-meta-migration-backup-old-feedc0de is kept');
  });

  it('the plan says what the step may scale, and the step asks for the confirmation', async () => {
    const { ctx } = testContext({ kube: kubeForFixture('http://127.0.0.1:1') });
    const step = operatorMetaMigrate(ctx, release(), opts).steps.find((s) => s.id === 'follow-upgrade')!;
    expect(step.destructive).toBe(true);
    expect(step.plan(operatorMetaMigrate(ctx, release(), opts).initialState).join('\n')).toContain(`kubectl scale deployment ${DEPLOYMENT} -n ns --replicas=0`);
  });
});

describe('before the MilvusUpgrade is created', () => {
  it('a dependency condition not True (the operator would never scale Milvus) is refused, exit 7, naming it', async () => {
    const w = world();
    w.upgradeAbsent = true;
    const { ctx } = testContext({ kube: kubeForFixture(await serve(w)) });
    const conditions = [
      { type: 'EtcdReady', status: 'True' },
      { type: 'StorageReady', status: 'False', message: 'All Storage endpoints are unhealthy' },
      { type: 'MsgStreamReady', status: 'True' },
    ];
    const def = operatorMetaMigrate(ctx, release(conditions), opts);
    const e = (await def.preflight(def.initialState, new Set()).catch((x: unknown) => x)) as CliError;
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toContain('milvus/old reports StorageReady "All Storage endpoints are unhealthy"');
  });
});

describe('the stalled stop, from the objects alone', () => {
  const deploy = (name: string, replicas: number, labels = operatorLabels('proxy')) => ({ metadata: { name, labels, resourceVersion: '1' }, spec: { replicas } }) as never;
  const cluster = (components: Record<string, unknown>, conditions: Array<{ type: string; status: string }> = []) =>
    ({ metadata: { name: 'old', generation: 2 }, spec: { mode: 'cluster', components }, status: { observedGeneration: 2, conditions } }) as never;

  it('a spec is stopped when every component present is at 0, and never in manual mode', () => {
    expect(specStopping({ components: { mixCoord: { replicas: 0 }, proxy: { replicas: 0 }, dataNode: { replicas: 0 }, queryNode: { replicas: 0 }, indexNode: { replicas: 0 }, standalone: { replicas: 0 } } })).toBe(true);
    expect(specStopping({ components: { mixCoord: { replicas: 0 }, proxy: { replicas: 1 }, standalone: { replicas: 0 } } })).toBe(false);
    expect(specStopping({ components: { enableManualMode: true, standalone: { replicas: 0 } } })).toBe(false);
    expect(specStopping({ components: { image: 'x' } })).toBe(false);
  });

  it('the dependency gate is open only with all three conditions True; a removed one counts as not True', () => {
    expect(dependenciesNotReady([{ type: 'EtcdReady', status: 'True' }, { type: 'StorageReady', status: 'True' }, { type: 'MsgStreamReady', status: 'True' }])).toEqual([]);
    expect(dependenciesNotReady([{ type: 'EtcdReady', status: 'False' }, { type: 'MsgStreamReady', status: 'True' }])).toEqual(['EtcdReady', 'StorageReady']);
  });

  it('only a stopping MilvusUpgrade over a stopped spec with the gate closed and Deployments up is a stalled stop', () => {
    const stopped = { mixCoord: { replicas: 0 }, proxy: { replicas: 0 }, standalone: { replicas: 0 } };
    const up = [deploy('old-milvus-proxy', 2), deploy('old-milvus-standalone', 0, operatorLabels('standalone'))];
    expect(stalledStop('OldVersionStopping', cluster(stopped), up)?.running).toEqual([{ name: 'old-milvus-proxy', replicas: 2, resourceVersion: '1' }]);
    expect(stalledStop('RollbackNewVersionStopping', cluster(stopped), up)?.state).toBe('RollbackNewVersionStopping');
    expect(stalledStop('BackupMeta', cluster(stopped), up)).toBeUndefined();
    expect(stalledStop('OldVersionStopping', cluster({ ...stopped, proxy: { replicas: 1 } }), up)).toBeUndefined();
    expect(stalledStop('OldVersionStopping', cluster(stopped), [deploy('old-milvus-proxy', 0)])).toBeUndefined();
    const ready = ['EtcdReady', 'StorageReady', 'MsgStreamReady'].map((type) => ({ type, status: 'True' }));
    expect(stalledStop('OldVersionStopping', cluster(stopped, ready), up)).toBeUndefined();
  });
});
