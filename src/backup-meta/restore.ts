/**
 * `backup restore-meta`: puts a verified snapshot back into the release's etcd. Refused while
 * any Milvus component of the release runs or is scaled above zero, for a file that is not a
 * snapshot, is damaged, or belongs to another release or root path. Steps on the engine: a
 * snapshot of what is there now, then delete the keys under the root path and write the
 * snapshot's (transactions of at most 128 puts), then verify etcd against the snapshot's hash.
 */
import type { RunContext } from '../cli/context.js';
import { failedError, preconditionError } from '../errors.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { connectReleaseEtcd } from './connect.js';
import { checkSnapshotBelongs, hashEtcdPrefix, readSnapshot } from './snapshot.js';
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
}

export interface RestoreState extends MetaBackupState {
  from: string;
  sha256: string;
  keys: number;
  prefix: string;
  deleted?: number;
  restored?: number;
}

/** Refuses while any Milvus component of the release has replicas wanted or ready. */
export function assertMilvusStopped(r: Release): void {
  const running = r.components.filter((c) => c.replicas > 0 || c.readyReplicas > 0);
  if (running.length > 0) {
    throw preconditionError(
      `Milvus of release "${r.name}" is running (${running.map((c) => `${c.name} ${c.readyReplicas}/${c.replicas}`).join(', ')}): metadata is restored only while every component is stopped`,
      `scale every Milvus Deployment of the release to 0 (kubectl scale deploy -n ${r.namespace} -l ${r.workloadSelector} --replicas=0), wait until no pod runs, then retry`,
    );
  }
}

export async function restoreMetaProcedure(ctx: RunContext, o: RestoreOptions): Promise<ProcedureDefinition<RestoreState>> {
  const snap = await readSnapshot(o.from);
  return {
    name: RESTORE_PROCEDURE,
    release: o.release,
    namespace: o.namespace,
    params: { from: snap.file, sha256: snap.sha256 },
    initialState: { from: snap.file, sha256: snap.sha256, keys: snap.keys, prefix: snap.prefix },
    confirmQuestion: `Every etcd key under "${snap.prefix}" will be replaced by the ${snap.keys} keys of the snapshot taken ${snap.createdAt} (revision ${snap.revision}).`,
    async preflight() {
      const r = await discoverRelease(ctx.kube(), o.release, o.namespace);
      const conn = await connectReleaseEtcd(ctx, r);
      await conn.close();
      checkSnapshotBelongs(snap, r.name, r.namespace, conn.rootPath);
      assertMilvusStopped(r);
    },
    steps: [
      metaBackupStep<RestoreState>(ctx, { release: o.release, namespace: o.namespace, dir: o.dir }),
      {
        id: 'restore',
        title: `Replace the etcd keys under "${snap.prefix}" with the snapshot's ${snap.keys} keys`,
        destructive: true,
        plan: (s) => [
          `re-check that no Milvus component runs`,
          `etcd DeleteRange "${s.prefix}" .. (every key under the prefix)`,
          `etcd Txn puts of the ${s.keys} keys of ${s.from}, at most ${MAX_TXN_OPS} per transaction`,
        ],
        async run({ state, log, checkpoint }) {
          const r = await discoverRelease(ctx.kube(), o.release, o.namespace);
          assertMilvusStopped(r);
          const conn = await connectReleaseEtcd(ctx, r);
          try {
            checkSnapshotBelongs(snap, r.name, r.namespace, conn.rootPath);
            // Read the whole file once more before deleting anything: it may have changed since the plan.
            const again = await readSnapshot(state.from);
            if (again.sha256 !== state.sha256) throw failedError(`${state.from} changed since the plan (sha256 ${again.sha256}): nothing was deleted`);
            state.deleted = await conn.etcd.deletePrefix(Buffer.from(state.prefix, 'utf8'));
            await checkpoint();
            log(`${state.deleted} key(s) deleted under "${state.prefix}"`);
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
        plan: (s) => [`read every key under "${s.prefix}" and compare with ${s.keys} keys, sha256 ${s.sha256}`],
        async run({ state, log }) {
          const r = await discoverRelease(ctx.kube(), o.release, o.namespace);
          const conn = await connectReleaseEtcd(ctx, r);
          try {
            const now = await hashEtcdPrefix(conn.etcd, state.prefix);
            if (now.keys !== state.keys || now.sha256 !== state.sha256) {
              throw failedError(`etcd holds ${now.keys} keys with sha256 ${now.sha256} under "${state.prefix}", the snapshot ${state.keys} with ${state.sha256}`);
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
