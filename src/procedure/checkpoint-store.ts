/**
 * Where the engine keeps a procedure's progress: the seam between the engine and the cluster.
 * `configMapCheckpointStore` is the shipped one (a ConfigMap in the release's namespace, created
 * with a 409 on an existing one and replaced only at the resourceVersion last read, so two runs
 * never overwrite each other's progress); unit tests use `memoryCheckpointStore`.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { isConflict } from '../kube/errors.js';

export const MANAGED_BY = 'kubectl-milvus';
export const LABEL_RELEASE = 'kubectl-milvus.io/release';
export const LABEL_PROCEDURE = 'kubectl-milvus.io/procedure';

export interface StartedRecord {
  id: string;
  at: string;
  /** The invocation that started it. */
  invocation: string;
}

export interface Checkpoint<S> {
  version: 1;
  procedure: string;
  params: Record<string, string>;
  startedAt: string;
  updatedAt: string;
  finished: boolean;
  completed: Array<{ id: string; durationMs: number; finishedAt: string; invocation?: string }>;
  /** The step running, or that was running when the run stopped: recorded BEFORE it starts. */
  started?: StartedRecord | undefined;
  /** Who wrote it last (user@host pid, invocation). */
  holder?: string | undefined;
  state: S;
}

export interface StoredCheckpoint<S> {
  checkpoint: Checkpoint<S>;
  /** Opaque revision (the ConfigMap's resourceVersion): an update must name the one it read. */
  revision: string;
}

/** The checkpoint changed (or appeared) since it was read: another run is at work. */
export class CheckpointConflict extends Error {
  constructor(readonly holder: string | undefined) {
    super('the checkpoint was changed by another run');
  }
}

export interface CheckpointStore {
  /** What the user can look at: "configmap/<name>". */
  readonly ref: string;
  read<S>(): Promise<StoredCheckpoint<S> | undefined>;
  /** Creates it; CheckpointConflict when one exists. Returns the new revision. */
  create<S>(cp: Checkpoint<S>): Promise<string>;
  /** Replaces revision `revision`; CheckpointConflict when it is no longer the current one. */
  update<S>(cp: Checkpoint<S>, revision: string): Promise<string>;
}

export function configMapCheckpointStore(ctx: RunContext, where: { namespace: string; name: string; release: string; procedure: string }): CheckpointStore {
  const { namespace, name } = where;
  const body = (cp: Checkpoint<unknown>, resourceVersion?: string): V1ConfigMap => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: where.release, [LABEL_PROCEDURE]: where.procedure },
      annotations: { 'kubectl-milvus.io/description': `progress of "kubectl milvus ${where.procedure} ${where.release}"; delete it only after the procedure finished` },
    },
    data: { 'checkpoint.json': JSON.stringify(cp, null, 2) },
  });
  const holderOf = async (): Promise<string | undefined> => {
    try {
      return (await store.read())?.checkpoint.holder;
    } catch {
      return undefined;
    }
  };
  const store: CheckpointStore = {
    ref: `configmap/${name}`,
    async read<S>() {
      const kube = ctx.kube();
      const cm = await kube.getIfExists({ verb: 'get', resource: 'configmaps', namespace, name }, () => kube.core.readNamespacedConfigMap({ name, namespace }));
      const raw = cm?.data?.['checkpoint.json'];
      if (!raw) return undefined;
      return { checkpoint: JSON.parse(raw) as Checkpoint<S>, revision: cm!.metadata?.resourceVersion ?? '' };
    },
    async create(cp) {
      const kube = ctx.kube();
      try {
        const made = await kube.call({ verb: 'create', resource: 'configmaps', namespace, name }, async () => {
          try {
            return await kube.core.createNamespacedConfigMap({ namespace, body: body(cp) });
          } catch (e) {
            if (isConflict(e)) throw new CheckpointConflict(undefined);
            throw e;
          }
        });
        return made.metadata?.resourceVersion ?? '';
      } catch (e) {
        if (e instanceof CheckpointConflict) throw new CheckpointConflict(await holderOf());
        throw e;
      }
    },
    async update(cp, revision) {
      const kube = ctx.kube();
      try {
        const made = await kube.call({ verb: 'update', resource: 'configmaps', namespace, name }, async () => {
          try {
            return await kube.core.replaceNamespacedConfigMap({ name, namespace, body: body(cp, revision) });
          } catch (e) {
            // 409: another writer since our read; 404: someone deleted it under us.
            if (isConflict(e) || (e as { code?: number }).code === 404) throw new CheckpointConflict(undefined);
            throw e;
          }
        });
        return made.metadata?.resourceVersion ?? '';
      } catch (e) {
        if (e instanceof CheckpointConflict) throw new CheckpointConflict(await holderOf());
        throw e;
      }
    },
  };
  return store;
}

/** An in-memory store with the same revision semantics (unit tests, and dry runs of tests). */
export function memoryCheckpointStore(initial?: Checkpoint<unknown>): CheckpointStore & { current(): Checkpoint<unknown> | undefined; writes: number } {
  let cur: { cp: string; rev: number } | undefined = initial ? { cp: JSON.stringify(initial), rev: 1 } : undefined;
  const s = {
    ref: 'configmap/memory',
    writes: 0,
    current: () => (cur ? (JSON.parse(cur.cp) as Checkpoint<unknown>) : undefined),
    async read<S>() {
      return cur ? { checkpoint: JSON.parse(cur.cp) as Checkpoint<S>, revision: String(cur.rev) } : undefined;
    },
    async create(cp: Checkpoint<unknown>) {
      if (cur) throw new CheckpointConflict((JSON.parse(cur.cp) as Checkpoint<unknown>).holder);
      cur = { cp: JSON.stringify(cp), rev: 1 };
      s.writes++;
      return '1';
    },
    async update(cp: Checkpoint<unknown>, revision: string) {
      if (!cur || String(cur.rev) !== revision) throw new CheckpointConflict(cur ? (JSON.parse(cur.cp) as Checkpoint<unknown>).holder : undefined);
      cur = { cp: JSON.stringify(cp), rev: cur.rev + 1 };
      s.writes++;
      return String(cur.rev);
    },
  };
  return s;
}
