/**
 * `backup meta` and `backup list`: a verified snapshot of the keys under the release's etcd root
 * path in a local file (mode 0600, in a directory of mode 0700), and the list of such files.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError, usageError } from '../errors.js';
import type { Release } from '../release/types.js';
import { connectReleaseEtcd } from './connect.js';
import type { EtcdGateway } from './etcd.js';
import { milvusTrees, readSnapshot, writeSnapshot, type SnapshotInfo } from './snapshot.js';

export const SNAPSHOT_SUFFIX = '.meta.jsonl.gz';

/** ./kubectl-milvus-backup/NS/RELEASE/meta: where snapshots go unless the user says otherwise. */
export function defaultMetaDir(namespace: string, release: string): string {
  return resolve('kubectl-milvus-backup', namespace, release, 'meta');
}

/** RELEASE.TIME.meta.jsonl.gz (a dot after the name: "my-release" never reads as "my-release-2..."). */
export function snapshotFileName(release: string, now: Date): string {
  return `${release}.${now.toISOString().replace(/[:.]/g, '-')}${SNAPSHOT_SUFFIX}`;
}

export interface SnapshotTarget {
  /** An exact file; refused if it exists. */
  file?: string | undefined;
  /** A directory for a generated name (default: defaultMetaDir). */
  dir?: string | undefined;
  /** The etcd root path, when the command was given one (default: the release's configuration). */
  rootPath?: string | undefined;
  /** Keep a snapshot with no Milvus metadata (restore-meta's snapshot of what it replaces). */
  allowEmpty?: boolean | undefined;
}

/**
 * Refuses a snapshot with no Milvus metadata: it would be recorded as the backup of a release
 * whose metadata it does not hold (a wrong root path). Names the root paths etcd does hold.
 */
export async function noMilvusMetadataError(etcd: EtcdGateway, rootPath: string, from: string): Promise<CliError> {
  const { prefixes, more } = await etcd.topLevelPrefixes();
  const held = prefixes.map((p) => p.replace(/\/$/, ''));
  return preconditionError(
    `no Milvus metadata under "${rootPath}/" (no key under ${milvusTrees(`${rootPath}/`).map((t) => `"${t}"`).join(' or ')}; root path from ${from}): an empty snapshot is no backup; ` +
      (held.length ? `etcd holds keys under ${held.map((p) => `"${p}"`).join(', ')}${more ? ' and more' : ''}` : 'etcd holds no keys at all'),
    `pass the release's etcd root path with --root-path${held.length ? ` (one of ${held.join(', ')}, or a path below one)` : ''}, or --skip-meta-backup to go on without a snapshot`,
  );
}

export function targetFile(ctx: RunContext, release: Release, t: SnapshotTarget): string {
  if (t.file) return resolve(t.file);
  return join(resolve(t.dir ?? defaultMetaDir(release.namespace, release.name)), snapshotFileName(release.name, ctx.now()));
}

export async function takeMetaSnapshot(ctx: RunContext, release: Release, t: SnapshotTarget): Promise<SnapshotInfo> {
  const file = targetFile(ctx, release, t);
  if (existsSync(file)) throw usageError(`${file} exists: a snapshot never overwrites a file; choose another name`);
  const conn = await connectReleaseEtcd(ctx, release, t.rootPath);
  try {
    const status = await conn.etcd.status();
    const dir = dirname(file);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const prefix = `${conn.rootPath}/`;
    ctx.log.info(`Reading the etcd keys under "${prefix}" of release "${release.name}" (${milvusTrees(prefix).join(', ')}; pod/${conn.pod}, etcd ${status.version}) ...`);
    let last = 0;
    const info = await writeSnapshot(
      conn.etcd,
      file,
      {
        release: release.name,
        namespace: release.namespace,
        method: release.method,
        rootPath: conn.rootPath,
        etcdVersion: status.version,
        milvusVersion: release.milvusVersion,
        createdAt: ctx.now().toISOString(),
        source: `pod/${conn.pod}:2379`,
      },
      (n) => {
        if (n - last >= 20_000) {
          last = n;
          ctx.log.info(`  ${n} keys read ...`);
        }
      },
    );
    chmodSync(info.file, 0o600);
    if (info.keys === 0) {
      if (!t.allowEmpty) {
        rmSync(info.file, { force: true });
        throw await noMilvusMetadataError(conn.etcd, conn.rootPath, conn.rootPathFrom);
      }
      ctx.log.warn(`no Milvus metadata under "${prefix}": the snapshot is empty`);
    }
    ctx.log.info(`Snapshot ${info.file}: ${info.keys} keys at revision ${info.revision}, sha256 ${info.sha256} (verified).`);
    return info;
  } finally {
    await conn.close();
  }
}

export interface ListedSnapshot {
  file: string;
  info: SnapshotInfo | undefined;
  /** Why the file is not a usable snapshot of this release. */
  problem: string | undefined;
}

/** Every snapshot file in `dir` (default: the release's default directory), each verified. */
export async function listMetaSnapshots(release: { name: string; namespace: string }, dir: string | undefined): Promise<{ dir: string; items: ListedSnapshot[] }> {
  const where = resolve(dir ?? defaultMetaDir(release.namespace, release.name));
  if (!existsSync(where)) return { dir: where, items: [] };
  let names: string[];
  try {
    names = readdirSync(where).filter((n) => n.endsWith(SNAPSHOT_SUFFIX)).sort();
  } catch (e) {
    throw new CliError(`cannot read ${where}: ${(e as Error).message}`, ExitCode.PRECONDITION);
  }
  const items: ListedSnapshot[] = [];
  for (const n of names) {
    const file = join(where, n);
    try {
      const info = await readSnapshot(file);
      const other = info.release !== release.name || info.namespace !== release.namespace;
      items.push({ file, info, problem: other ? `belongs to ${info.namespace}/${info.release}` : undefined });
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      items.push({ file, info: undefined, problem: e.message.replace(`${file} `, '').replace(/^is not a metadata snapshot of kubectl-milvus: /, 'not a snapshot: ') });
    }
  }
  return { dir: where, items };
}
