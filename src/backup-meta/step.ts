/**
 * The metadata snapshot every destructive procedure takes first: one step for the engine that
 * names its file in the plan, takes a verified snapshot of the release's etcd keys and records the
 * file in the procedure's state. If the etcd cannot be reached the step fails (exit 4) and the
 * procedure stops before anything changed; only an explicit --skip-meta-backup skips it, and the
 * plan says so.
 */
import { join, resolve } from 'node:path';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import { defaultMetaDir, snapshotFileName, takeMetaSnapshot } from './backup.js';

export const SKIP_META_BACKUP_FLAG = 'skip-meta-backup';

export interface MetaBackupState {
  /** The snapshot this run took (absent when skipped). */
  metaSnapshot?: string;
}

export interface MetaBackupOptions {
  release: string;
  namespace: string;
  /** Directory of the snapshot file (default ./kubectl-milvus-backup/NS/RELEASE/meta). */
  dir?: string | undefined;
  /** --skip-meta-backup: the user chose to go on without a snapshot. */
  skip?: boolean | undefined;
  /** The etcd root path the command was given (e.g. meta-migrate --root-path). */
  rootPath?: string | undefined;
  /** Keep a snapshot with no Milvus metadata (restore-meta: an empty etcd has nothing to lose). */
  allowEmpty?: boolean | undefined;
}

export function metaBackupStep<S extends object>(ctx: RunContext, o: MetaBackupOptions): Step<S> {
  const file = join(resolve(o.dir ?? defaultMetaDir(o.namespace, o.release)), snapshotFileName(o.release, ctx.now()));
  return {
    id: 'meta-backup',
    title: o.skip ? 'Metadata snapshot: SKIPPED (--skip-meta-backup)' : 'Snapshot the Milvus metadata (etcd) to a local file',
    plan: () =>
      o.skip
        ? ['no snapshot of the etcd metadata is taken: --skip-meta-backup was given']
        : [
            `every etcd key under the release's root path${o.rootPath ? ` "${o.rootPath}"` : ''} in Milvus's sub-trees (kv/, meta/), through a port-forward to its etcd pod (2379), at one revision; none there: stop (exit 7)${o.allowEmpty ? ', except here: nothing to lose' : ''}`,
            `-> ${file} (mode 0600), verified by reading it back (revision, key count, sha256)`,
            `restore with "${ctx.commandPrefix} backup restore-meta ${o.release} -n ${o.namespace} --from ${file}"`,
          ],
    async run({ state, log }) {
      if (o.skip) {
        ctx.log.warn('no metadata snapshot taken (--skip-meta-backup)');
        return;
      }
      const release = await discoverRelease(ctx.kube(), o.release, o.namespace);
      try {
        const info = await takeMetaSnapshot(ctx, release, { file, rootPath: o.rootPath, allowEmpty: o.allowEmpty });
        (state as MetaBackupState).metaSnapshot = info.file;
        log(`${info.keys} keys at revision ${info.revision} in ${info.file}`);
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        const hint = e.exitCode === ExitCode.PRECONDITION && e.hint ? e.hint : `make the release's etcd reachable and rerun with --resume, or rerun with --${SKIP_META_BACKUP_FLAG} to go on without a snapshot`;
        throw new CliError(`no metadata snapshot: ${e.message}`, e.exitCode, hint, { cause: e });
      }
    },
  };
}

/**
 * The procedure with the metadata snapshot as its first step (once: a procedure that already has
 * one keeps it). The one line a destructive command needs: runProcedure(ctx, withMetaBackup(...)).
 */
export function withMetaBackup<S extends object>(ctx: RunContext, def: ProcedureDefinition<S>, o: Omit<MetaBackupOptions, 'release' | 'namespace'>): ProcedureDefinition<S> {
  if (def.steps.some((s) => s.id === 'meta-backup')) return def;
  return { ...def, steps: [metaBackupStep<S>(ctx, { release: def.release, namespace: def.namespace, ...o }), ...def.steps] };
}
