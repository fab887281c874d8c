/**
 * `backup restore-meta`: puts a verified snapshot back into the release's etcd. Refused while
 * Milvus is not stopped — a Deployment wanting or having replicas, on the Operator a resource
 * asking for replicas, any Milvus pod (Terminating included), any live session key under
 * `<root>/meta/session/` — and for a file that is not a snapshot, is damaged, or belongs to
 * another release or root path. Steps on the engine: a snapshot of what is there now, then the
 * keys of Milvus's own sub-trees (`<root>/kv/`, `<root>/meta/`) are deleted and the snapshot's
 * written (transactions of at most 128 puts), then etcd is verified against the snapshot's hash.
 * Nothing else under the root path (a nested root path of another Milvus) is touched.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { failedError, preconditionError } from '../errors.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { SPEC_FIELD } from '../kube/milvus-resource.js';
import { discoverRelease } from '../release/discover.js';
import { componentLabelKey, MILVUS_COMPONENTS } from '../release/labels.js';
import type { ComponentName, Release } from '../release/types.js';
import { connectReleaseEtcd } from './connect.js';
import type { EtcdGateway } from './etcd.js';
import { checkSnapshotBelongs, hashEtcdTrees, leased, milvusTrees, readSnapshot } from './snapshot.js';
import { metaBackupStep, type MetaBackupState } from './step.js';

export const RESTORE_PROCEDURE = 'restore-meta';
const MAX_TXN_OPS = 128;
const MAX_TXN_BYTES = 1 << 20;

export interface RestoreOptions {
  release: string;
  namespace: string;
  from: string;
  /** Directory for the snapshot taken before restoring. */
  dir?: string | undefined;
  /** --root-path: the etcd root path when the release's configuration does not tell it. */
  rootPath?: string | undefined;
}

export interface RestoreState extends MetaBackupState {
  from: string;
  sha256: string;
  keys: number;
  prefix: string;
  deleted?: number;
  restored?: number;
}

/** What shows whether Milvus still runs, read right before a decision. */
export interface StopFacts {
  /** Milvus component pods of the release, Terminating ones included. */
  pods: Array<{ name: string; terminating: boolean }>;
  /** Keys with a lease under `<root>/meta/session/`: a Milvus process still registered. */
  sessions: string[];
}

/** Why Milvus of the release is not stopped (empty when it is). */
export function notStopped(r: Release, facts: StopFacts): string[] {
  const why: string[] = [];
  for (const c of [...r.components, ...r.idleComponents]) {
    if (c.replicas > 0 || c.readyReplicas > 0) why.push(`${c.name} ${c.readyReplicas}/${c.replicas}`);
  }
  if (r.method === 'operator') {
    const spec = (r.operator?.resource.spec?.components ?? {}) as Record<string, { replicas?: number } | undefined>;
    for (const c of r.components) {
      const key = SPEC_FIELD[c.component];
      const wanted = spec[key]?.replicas;
      // Unset is the operator's default of 1: it scales the Deployment back up.
      if (wanted !== 0) why.push(`milvus/${r.name} spec.components.${key}.replicas ${wanted ?? 'unset (1)'}`);
    }
  }
  for (const p of facts.pods) why.push(`pod/${p.name}${p.terminating ? ' (Terminating)' : ''}`);
  for (const s of facts.sessions) why.push(`live session ${s}`);
  return [...new Set(why)];
}

/** The merge patch that stops an Operator release through its resource (as MilvusUpgrade does). */
export function operatorStopPatch(r: Release): string {
  const keys = [...new Set([...r.components, ...r.idleComponents].map((c) => SPEC_FIELD[c.component]))];
  return JSON.stringify({ spec: { components: Object.fromEntries(keys.map((k) => [k, { replicas: 0 }])) } });
}

/** Refuses unless Milvus of the release is stopped: nothing runs, nothing will start, no session is alive. */
export function assertMilvusStopped(r: Release, facts: StopFacts = { pods: [], sessions: [] }): void {
  const why = notStopped(r, facts);
  if (why.length === 0) return;
  const onlySessions = why.every((w) => w.startsWith('live session '));
  const wait = 'wait until no Milvus pod is left and its sessions expired (about a minute), then retry';
  const hint = onlySessions
    ? 'a session expires about a minute after its process stopped: retry then'
    : r.method === 'operator'
      ? `stop it through the resource (the operator scales Deployments back): kubectl patch milvus ${r.name} -n ${r.namespace} --type merge -p '${operatorStopPatch(r)}', then ${wait}`
      : `scale every Milvus Deployment of the release to 0 (kubectl scale deploy -n ${r.namespace} -l ${r.workloadSelector} --replicas=0), then ${wait}`;
  throw preconditionError(`Milvus of release "${r.name}" is running (${why.join(', ')}): metadata is restored only while no Milvus pod runs and no Milvus session is alive`, hint);
}

/** The release's Milvus pods (Terminating ones too) and live session keys, as they are now. */
export async function readStopFacts(ctx: RunContext, r: Release, etcd: EtcdGateway, prefix: string): Promise<StopFacts> {
  const kube = ctx.kube();
  const list = await kube.listAll<V1Pod>({ verb: 'list', resource: 'pods', namespace: r.namespace }, (o) => kube.core.listNamespacedPod({ namespace: r.namespace, ...o }), {
    labelSelector: r.workloadSelector,
  });
  const key = componentLabelKey(r.method);
  const pods = list
    .filter((p) => (MILVUS_COMPONENTS as readonly string[]).includes(p.metadata?.labels?.[key] ?? ''))
    .map((p) => ({ name: p.metadata?.name ?? '', terminating: Boolean(p.metadata?.deletionTimestamp) }));
  const sessions: string[] = [];
  for await (const page of etcd.rangePrefix(Buffer.from(`${prefix}meta/session/`, 'utf8'))) {
    for (const kv of page.kvs) if (leased(kv)) sessions.push(Buffer.from(kv.key, 'base64').toString('utf8'));
  }
  return { pods, sessions };
}

export async function restoreMetaProcedure(ctx: RunContext, o: RestoreOptions): Promise<ProcedureDefinition<RestoreState>> {
  const snap = await readSnapshot(o.from);
  const trees = milvusTrees(snap.prefix);
  /** Re-reads the release and its etcd, checks the snapshot belongs and Milvus is stopped; the caller closes the connection. */
  const checked = async () => {
    const r = await discoverRelease(ctx.kube(), o.release, o.namespace);
    const conn = await connectReleaseEtcd(ctx, r, o.rootPath);
    try {
      checkSnapshotBelongs(snap, r.name, r.namespace, conn.rootPath);
      assertMilvusStopped(r, await readStopFacts(ctx, r, conn.etcd, snap.prefix));
      return conn;
    } catch (e) {
      await conn.close();
      throw e;
    }
  };
  return {
    name: RESTORE_PROCEDURE,
    release: o.release,
    namespace: o.namespace,
    params: { from: snap.file, sha256: snap.sha256 },
    initialState: { from: snap.file, sha256: snap.sha256, keys: snap.keys, prefix: snap.prefix },
    confirmQuestion: `Every etcd key under ${trees.map((t) => `"${t}"`).join(' and ')} will be replaced by the ${snap.keys} keys of the snapshot taken ${snap.createdAt} (revision ${snap.revision}).`,
    async preflight() {
      await (await checked()).close();
    },
    // Once the deletion began: the way back to what was there before.
    restoreCommands: (s) =>
      s.metaSnapshot && s.deleted !== undefined
        ? [
            `${ctx.commandPrefix} backup restore-meta ${o.release} -n ${o.namespace} --from ${s.metaSnapshot}${o.rootPath ? ` --root-path ${o.rootPath}` : ''} --restart --yes   (the metadata as it was before this restore, ${s.metaSnapshot})`,
          ]
        : [],
    steps: [
      metaBackupStep<RestoreState>(ctx, { release: o.release, namespace: o.namespace, dir: o.dir, rootPath: o.rootPath, allowEmpty: true }),
      {
        id: 'restore',
        title: `Replace the etcd keys under ${trees.map((t) => `"${t}"`).join(' and ')} with the snapshot's ${snap.keys} keys`,
        destructive: true,
        plan: (s) => [
          `re-check that Milvus is stopped: no Deployment or resource asking for replicas, no Milvus pod (Terminating included), no live session under "${s.prefix}meta/session/"`,
          ...milvusTrees(s.prefix).map((t) => `etcd DeleteRange "${t}" .. (every key under it; nothing else under "${s.prefix}")`),
          `etcd Txn puts of the ${s.keys} keys of ${s.from}, at most ${MAX_TXN_OPS} per transaction`,
        ],
        async run({ state, log, checkpoint }) {
          const conn = await checked();
          try {
            // Read the whole file once more before deleting anything: it may have changed since the plan.
            const again = await readSnapshot(state.from);
            if (again.sha256 !== state.sha256) throw failedError(`${state.from} changed since the plan (sha256 ${again.sha256}): nothing was deleted`);
            state.deleted = 0;
            for (const t of milvusTrees(state.prefix)) state.deleted += await conn.etcd.deletePrefix(Buffer.from(t, 'utf8'));
            await checkpoint();
            log(`${state.deleted} key(s) deleted under ${milvusTrees(state.prefix).map((t) => `"${t}"`).join(' and ')}`);
            let batch: Array<{ key: string; value: string }> = [];
            let bytes = 0;
            let put = 0;
            const flush = async () => {
              await conn.etcd.putAll(batch);
              put += batch.length;
              batch = [];
              bytes = 0;
            };
            await readSnapshot(state.from, async (key, value) => {
              if (batch.length >= MAX_TXN_OPS || bytes + key.length + value.length > MAX_TXN_BYTES) await flush();
              batch.push({ key, value });
              bytes += key.length + value.length;
            });
            await flush();
            state.restored = put;
            log(`${put} key(s) written`);
          } finally {
            await conn.close();
          }
        },
      },
      {
        id: 'verify',
        title: "Verify etcd against the snapshot's key count and sha256",
        plan: (s) => [`read every key under ${milvusTrees(s.prefix).map((t) => `"${t}"`).join(' and ')} and compare with ${s.keys} keys, sha256 ${s.sha256}`],
        async run({ state, log }) {
          const r = await discoverRelease(ctx.kube(), o.release, o.namespace);
          const conn = await connectReleaseEtcd(ctx, r, o.rootPath);
          try {
            const now = await hashEtcdTrees(conn.etcd, state.prefix);
            if (now.keys !== state.keys || now.sha256 !== state.sha256) {
              throw failedError(`etcd holds ${now.keys} keys with sha256 ${now.sha256} under ${milvusTrees(state.prefix).join(' and ')}, the snapshot ${state.keys} with ${state.sha256}`);
            }
            log(`${now.keys} keys, sha256 ${now.sha256}: identical to the snapshot`);
          } finally {
            await conn.close();
          }
        },
      },
    ],
  };
}
