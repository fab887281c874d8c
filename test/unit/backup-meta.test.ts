import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { RangePage } from '../../src/backup-meta/etcd.js';
import { EtcdGateway, prefixEnd } from '../../src/backup-meta/etcd.js';
import { checkSnapshotBelongs, PairHash, readSnapshot, writeSnapshot } from '../../src/backup-meta/snapshot.js';
import { assertMilvusStopped, notStopped } from '../../src/backup-meta/restore.js';
import { noMilvusMetadataError } from '../../src/backup-meta/backup.js';
import { toBackupOptions } from '../../src/commands/backup.js';
import { CliError, ExitCode } from '../../src/errors.js';
import type { Release } from '../../src/release/types.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Pages as the etcd gateway returns them, for the keys under the asked prefix (the gateway itself is exercised against a real etcd in the e2e suite). */
function pages(kvs: Array<{ k: string; v: string; lease?: string }>, pageSize = 2): EtcdGateway {
  return {
    async *rangePrefix(prefix: Buffer): AsyncGenerator<RangePage> {
      const mine = kvs.filter((x) => x.k.startsWith(prefix.toString())).sort((a, b) => Buffer.compare(Buffer.from(a.k), Buffer.from(b.k)));
      for (let i = 0; i < mine.length; i += pageSize) {
        yield { revision: '42', more: i + pageSize < mine.length, kvs: mine.slice(i, i + pageSize).map((x) => ({ key: b64(x.k), value: b64(x.v), ...(x.lease ? { lease: x.lease } : {}) })) };
      }
    },
  } as unknown as EtcdGateway;
}

/** An etcd of keys in memory behind the real gateway's range logic (rangePrefix, topLevelPrefixes). */
class MemoryEtcd extends EtcdGateway {
  constructor(readonly kv: Map<string, string>) {
    super('http://127.0.0.1:1', 'memory');
  }
  override async rangePage(from: Buffer, end: Buffer, limit: number): Promise<RangePage> {
    const all = [...this.kv.keys()].map((k) => Buffer.from(k)).sort(Buffer.compare);
    const open = end.length === 1 && end[0] === 0;
    const hits = all.filter((k) => Buffer.compare(k, from) >= 0 && (open || Buffer.compare(k, end) < 0));
    return { revision: '7', more: hits.length > limit, kvs: hits.slice(0, limit).map((k) => ({ key: k.toString('base64'), value: b64(this.kv.get(k.toString())!) })) };
  }
}

const header = { release: 'r', namespace: 'ns', method: 'helm', rootPath: 'by-dev', etcdVersion: '3.5.5', milvusVersion: '2.3.5', createdAt: '2026-01-01T00:00:00Z', source: 'pod/r-etcd-0:2379' };
const KVS = [
  { k: 'by-dev/kv/gid/timestamp', v: '\u0000\u0001binary' },
  { k: 'by-dev/meta/root-coord/database/db-info/1', v: '{"name":"default"}' },
  { k: 'by-dev/meta/session/querynode-3', v: '{"ServerName":"querynode"}', lease: '7587' },
  { k: 'by-dev/meta/root-coord/collection/1/444', v: 'collection proto' },
  { k: 'by-dev/meta/empty', v: '' },
  // Another Milvus with the nested root path "by-dev/tenant-b" in the same etcd: never ours.
  { k: 'by-dev/tenant-b/meta/root-coord/database/db-info/1', v: '{"name":"theirs"}' },
  { k: 'by-dev/tenant-b/kv/gid/timestamp', v: 'theirs' },
];
const OURS = KVS.filter((x) => !x.k.startsWith('by-dev/tenant-b/'));

async function snapshot(dir: string, name = 's.meta.jsonl.gz') {
  return writeSnapshot(pages(KVS), join(dir, name), header);
}

function hashOf(prefix: string, kvs: Array<[string, string]>): string {
  const h = new PairHash(prefix);
  for (const [k, v] of kvs) h.add(Buffer.from(k), Buffer.from(v));
  return h.digest();
}

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return e instanceof CliError ? e.exitCode : String(e);
  }
};

describe('metadata snapshots', () => {
  it('writes every key but leased session keys, at one revision, mode 0600, verified on reading', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    const info = await snapshot(dir);
    expect(info.keys).toBe(4);
    expect(info.skippedLeased).toBe(1);
    expect(info.revision).toBe('42');
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(info.file).mode & 0o777).toBe(0o600);
    const seen: string[] = [];
    const again = await readSnapshot(info.file, (k, v) => void seen.push(`${Buffer.from(k, 'base64')}=${Buffer.from(v, 'base64')}`));
    expect(again.sha256).toBe(info.sha256);
    // Only Milvus's sub-trees of the root (kv/ before meta/, etcd's byte order): the nested root is not read.
    expect(seen).toEqual(OURS.filter((x) => !x.lease).sort((a, b) => (a.k < b.k ? -1 : 1)).map((x) => `${x.k}=${x.v}`));
    expect(again).toMatchObject({ version: 2, prefix: 'by-dev/', trees: ['by-dev/kv/', 'by-dev/meta/'] });
    // Same content, same hash; another value, another hash.
    const dir2 = mkdtempSync(join(tmpdir(), 'km-snap-'));
    expect((await snapshot(dir2)).sha256).toBe(info.sha256);
    const changed = await writeSnapshot(pages(KVS.map((x, i) => (i === 1 ? { ...x, v: '{"name":"other"}' } : x))), join(dir2, 'b.meta.jsonl.gz'), header);
    expect(changed.sha256).not.toBe(info.sha256);
  });

  it('refuses what is not a snapshot, a damaged or truncated one, with exit 13', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    const info = await snapshot(dir);
    const lines = gunzipSync(readFileSync(info.file)).toString('utf8').trimEnd().split('\n');
    const cases: Record<string, Buffer | string> = {
      'plain.txt': 'hello\n',
      'json.gz': gzipSync('{"a":1}\n'),
      'tampered.gz': gzipSync(lines.map((l, i) => (i === 2 ? l.replace(/"v":"[^"]*"/, `"v":"${b64('evil')}"`) : l)).join('\n') + '\n'),
      'truncated.gz': gzipSync(lines.slice(0, -1).join('\n') + '\n'),
      'dropped-record.gz': gzipSync([...lines.slice(0, 2), ...lines.slice(3)].join('\n') + '\n'),
      'cut.gz': readFileSync(info.file).subarray(0, 40),
      'outside.gz': gzipSync([lines[0], `{"k":"${b64('other/x')}","v":""}`, lines.at(-1)].join('\n') + '\n'),
      // A key of a nested root path under ours, with the count and hash made to match it.
      'nested.gz': gzipSync([lines[0], `{"k":"${b64('by-dev/tenant-b/meta/x')}","v":""}`, JSON.stringify({ end: true, keys: 1, sha256: hashOf('by-dev/', [['by-dev/tenant-b/meta/x', '']]), skippedLeased: 0 })].join('\n') + '\n'),
      // The header's prefix edited (the keys left as they are): the hash covers it.
      'prefix-edited.gz': gzipSync([lines[0]!.replace('"prefix":"by-dev/"', '"prefix":"by-dev/tenant-b/"').replace('"rootPath":"by-dev"', '"rootPath":"by-dev/tenant-b"'), ...lines.slice(1)].join('\n') + '\n'),
      'prefix-not-root.gz': gzipSync([lines[0]!.replace('"prefix":"by-dev/"', '"prefix":"by-"'), ...lines.slice(1)].join('\n') + '\n'),
    };
    for (const [name, content] of Object.entries(cases)) {
      writeFileSync(join(dir, name), content);
      expect([name, await code(readSnapshot(join(dir, name)))]).toEqual([name, ExitCode.BAD_SNAPSHOT]);
    }
    expect(await code(readSnapshot(join(dir, 'missing')))).toBe(ExitCode.BAD_SNAPSHOT);
    expect(await code(readSnapshot(dir))).toBe(ExitCode.BAD_SNAPSHOT);
  });

  it('refuses a snapshot of another release, namespace or root path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    const info = await snapshot(dir);
    expect(() => checkSnapshotBelongs(info, 'r', 'ns', 'by-dev')).not.toThrow();
    for (const [rel, ns, root] of [['r2', 'ns', 'by-dev'], ['r', 'other', 'by-dev'], ['r', 'ns', 'r']] as const) {
      try {
        checkSnapshotBelongs(info, rel, ns, root);
        expect.unreachable();
      } catch (e) {
        expect((e as CliError).exitCode).toBe(ExitCode.BAD_SNAPSHOT);
      }
    }
  });

  it('refuses a snapshot of format 1 (prefix outside the hash, every key under the root) with its own exit code, one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    const v1 = join(dir, 'v1.meta.jsonl.gz');
    const kv = ['by-dev/meta/x', 'v'] as const;
    const h = new PairHash();
    h.add(Buffer.from(kv[0]), Buffer.from(kv[1]));
    const head = { format: 'kubectl-milvus.io/meta-snapshot', version: 1, ...header, prefix: 'by-dev/', revision: '3' };
    writeFileSync(v1, gzipSync([JSON.stringify(head), JSON.stringify({ k: b64(kv[0]), v: b64(kv[1]) }), JSON.stringify({ end: true, keys: 1, sha256: h.digest(), skippedLeased: 0 })].join('\n') + '\n'));
    const err = await readSnapshot(v1).catch((e: unknown) => e as CliError);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.OLD_SNAPSHOT);
    expect((err as CliError).message).toBe(`${v1} is a snapshot of format 1, which restore-meta no longer takes: its checksum does not cover its root path and it holds keys outside Milvus's sub-trees`);
    expect(ExitCode.OLD_SNAPSHOT).not.toBe(ExitCode.BAD_SNAPSHOT);
  });

  it('a root path with no Milvus metadata is no backup: the error names the root paths etcd holds', async () => {
    const etcd = new MemoryEtcd(new Map([...KVS.map((x) => [x.k, x.v] as [string, string]), ['by-dev2/meta/x', '1'], ['loose-key', '1']]));
    expect(await etcd.topLevelPrefixes()).toEqual({ prefixes: ['by-dev/', 'by-dev2/', 'loose-key'], more: false });
    const err = await noMilvusMetadataError(etcd, 'broken', 'spec.config.etcd.rootPath');
    expect(err.exitCode).toBe(ExitCode.PRECONDITION);
    expect(err.message).toBe('no Milvus metadata under "broken/" (no key under "broken/kv/" or "broken/meta/"; root path from spec.config.etcd.rootPath): an empty snapshot is no backup; etcd holds keys under "by-dev", "by-dev2", "loose-key"');
    expect(err.hint).toContain('--root-path');
    expect(err.hint).toContain('--skip-meta-backup');
    // And a snapshot of that root path holds nothing.
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    expect((await writeSnapshot(etcd, join(dir, 'e.meta.jsonl.gz'), { ...header, rootPath: 'broken' })).keys).toBe(0);
  });

  it('a failed write leaves no file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    const failing = {
      async *rangePrefix(): AsyncGenerator<RangePage> {
        yield { revision: '1', more: true, kvs: [{ key: b64('by-dev/a'), value: b64('1') }] };
        throw new CliError('cannot reach etcd', ExitCode.UNREACHABLE);
      },
    } as unknown as EtcdGateway;
    expect(await code(writeSnapshot(failing, join(dir, 'x.meta.jsonl.gz'), header))).toBe(ExitCode.UNREACHABLE);
    expect(() => statSync(join(dir, 'x.meta.jsonl.gz'))).toThrow();
    expect(() => statSync(join(dir, 'x.meta.jsonl.gz.partial'))).toThrow();
  });

  it('prefix range ends as etcd clientv3 computes them', () => {
    expect(prefixEnd(Buffer.from('by-dev/')).toString()).toBe('by-dev0');
    expect([...prefixEnd(Buffer.from([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixEnd(Buffer.from([0xff]))]).toEqual([0]);
  });
});

describe('restore preconditions and backup options', () => {
  const comp = (component: string, name: string, replicas: number, ready: number) => ({ component, name, replicas, readyReplicas: ready });
  const release = (replicas: number, ready: number, more: Partial<Release> = {}) =>
    ({
      name: 'r',
      namespace: 'ns',
      method: 'helm',
      workloadSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus',
      components: [comp('standalone', 'r-milvus-standalone', replicas, ready)],
      idleComponents: [],
      ...more,
    }) as unknown as Release;
  const none = { pods: [], sessions: [] };
  it('refuses while any component wants or has ready replicas', () => {
    expect(() => assertMilvusStopped(release(0, 0), none)).not.toThrow();
    expect(() => assertMilvusStopped(release(1, 0), none)).toThrow(/is running \(r-milvus-standalone 0\/1\)/);
    expect(() => assertMilvusStopped(release(0, 1), none)).toThrow(CliError);
  });
  it('replicas 0 is not stopped: a Terminating pod or a live session refuses', () => {
    // Scaled to 0 a moment ago: the pod is still terminating, its session still registered.
    expect(notStopped(release(0, 0), { pods: [{ name: 'r-milvus-standalone-5d9c-x1', terminating: true }], sessions: [] })).toEqual(['pod/r-milvus-standalone-5d9c-x1 (Terminating)']);
    expect(() => assertMilvusStopped(release(0, 0), { pods: [{ name: 'r-milvus-standalone-5d9c-x1', terminating: true }], sessions: [] })).toThrow(/pod\/r-milvus-standalone-5d9c-x1 \(Terminating\)/);
    // The pod is gone, the session lives on until its lease expires.
    const err = (() => {
      try {
        assertMilvusStopped(release(0, 0), { pods: [], sessions: ['by-dev/meta/session/rootcoord'] });
      } catch (e) {
        return e as CliError;
      }
    })();
    expect(err?.exitCode).toBe(ExitCode.PRECONDITION);
    expect(err?.message).toContain('live session by-dev/meta/session/rootcoord');
    expect(err?.hint).toBe('a session expires about a minute after its process stopped: retry then');
  });
  it('on the Operator, Deployments scaled to 0 under a resource that asks for replicas are not stopped; the hint stops it through the resource', () => {
    const op = (components: Record<string, unknown>) =>
      release(0, 0, {
        method: 'operator',
        components: [comp('proxy', 'r-milvus-proxy', 0, 0), comp('querynode', 'r-milvus-querynode-0', 0, 0)] as unknown as Release['components'],
        idleComponents: [comp('standalone', 'r-milvus-standalone', 0, 0)] as unknown as Release['components'],
        operator: { status: 'Healthy', resource: { metadata: { name: 'r' }, spec: { mode: 'cluster', components } } },
      });
    const scaled = op({ proxy: { replicas: 1 } });
    expect(notStopped(scaled, none)).toEqual(['milvus/r spec.components.proxy.replicas 1', 'milvus/r spec.components.queryNode.replicas unset (1)']);
    try {
      assertMilvusStopped(scaled, none);
      expect.unreachable();
    } catch (e) {
      expect((e as CliError).hint).toContain(`kubectl patch milvus r -n ns --type merge -p '{"spec":{"components":{"proxy":{"replicas":0},"queryNode":{"replicas":0},"standalone":{"replicas":0}}}}'`);
      expect((e as CliError).hint).not.toContain('kubectl scale');
    }
    expect(() => assertMilvusStopped(op({ proxy: { replicas: 0 }, queryNode: { replicas: 0 } }), none)).not.toThrow();
  });
  const args = { action: 'meta', release: 'r', 'dry-run': false, yes: false, resume: false, restart: false };
  it('parses actions and refuses flags of other actions', () => {
    expect(toBackupOptions({ ...args })).toEqual({ action: 'meta', release: 'r', file: undefined, dir: undefined });
    expect(() => toBackupOptions({ ...args, action: 'restore' })).toThrow(/unknown backup action "restore"/);
    expect(() => toBackupOptions({ ...args, action: 'restore-meta' })).toThrow(/needs --from FILE/);
    expect(() => toBackupOptions({ ...args, from: 'x' })).toThrow(/--from does not apply to "backup meta"/);
    expect(() => toBackupOptions({ ...args, yes: true })).toThrow(/--yes does not apply/);
    expect(() => toBackupOptions({ ...args, file: 'a', dir: 'b' })).toThrow(/exclude each other/);
    expect(() => toBackupOptions({ ...args, action: 'restore-meta', from: 'x', resume: true, restart: true })).toThrow(/exclude each other/);
    expect(toBackupOptions({ ...args, action: 'restore-meta', from: 'x', yes: true })).toMatchObject({ action: 'restore-meta', from: 'x', run: { yes: true } });
    expect(toBackupOptions({ ...args, 'root-path': 'tenant-a/milvus' })).toMatchObject({ action: 'meta', rootPath: 'tenant-a/milvus' });
    expect(toBackupOptions({ ...args, action: 'restore-meta', from: 'x', 'root-path': 'r1' })).toMatchObject({ rootPath: 'r1' });
    expect(() => toBackupOptions({ ...args, action: 'list', 'root-path': 'r1' })).toThrow(/--root-path does not apply to "backup list"/);
    for (const bad of ['', 'by-dev/', '/by-dev']) expect(() => toBackupOptions({ ...args, 'root-path': bad })).toThrow(/invalid --root-path/);
  });
});

describe('the snapshot hash', () => {
  it('hashes base64 text exactly as the decoded bytes, padding or not', async () => {
    const { PairHash, base64Length } = await import('../../src/backup-meta/snapshot.js');
    for (const s of ['', 'a', 'ab', 'abc', 'abcd', '\u0000\u00ff binary']) expect(base64Length(b64(s))).toBe(Buffer.byteLength(s));
    const a = new PairHash();
    const b = new PairHash();
    for (const [k, v] of [['by-dev/x', ''], ['by-dev/y', 'ab'], ['by-dev/z', 'abc\u0000']]) {
      a.add(Buffer.from(k!), Buffer.from(v!));
      b.addBase64(b64(k!), b64(v!));
    }
    expect(b.digest()).toBe(a.digest());
  });
});

describe('the metadata snapshot step of the changing commands', () => {
  it('comes first, once, names its file in the plan, and shows an explicit opt-out', async () => {
    const { withMetaBackup } = await import('../../src/backup-meta/step.js');
    const { testContext } = await import('./test-context.js');
    const { ctx } = testContext();
    const def = { name: 'rolling-update', release: 'r', namespace: 'ns', params: {}, initialState: {}, preflight: async () => {}, steps: [{ id: 'update', title: 'Update', plan: () => [], run: async () => {} }] };
    const wrapped = withMetaBackup(ctx, def, { dir: '/backups/r' });
    expect(wrapped.steps.map((s) => s.id)).toEqual(['meta-backup', 'update']);
    expect(withMetaBackup(ctx, wrapped, {}).steps.map((s) => s.id)).toEqual(['meta-backup', 'update']);
    const plan = wrapped.steps[0]!.plan({});
    expect(plan[1]).toMatch(/^-> \/backups\/r\/r\.\d{4}-\d\d-\d\dT[\d-]+Z\.meta\.jsonl\.gz \(mode 0600\), verified by reading it back/);
    expect(plan[2]).toMatch(/^restore with "kubectl milvus backup restore-meta r -n ns --from \/backups\/r\/r\..*\.meta\.jsonl\.gz"$/);
    const skipped = withMetaBackup(ctx, def, { skip: true }).steps[0]!;
    expect(skipped.title).toBe('Metadata snapshot: SKIPPED (--skip-meta-backup)');
    expect(skipped.plan({})).toEqual(['no snapshot of the etcd metadata is taken: --skip-meta-backup was given']);
    expect(def.steps).toHaveLength(1);
  });
});

describe('a restore that fails between the deletion and the writes', () => {
  it('names the snapshot taken before it and the command that puts it back', async () => {
    const { restoreMetaProcedure } = await import('../../src/backup-meta/restore.js');
    const { testContext } = await import('./test-context.js');
    const { ctx } = testContext();
    const dir = mkdtempSync(join(tmpdir(), 'km-snap-'));
    const info = await snapshot(dir);
    const def = await restoreMetaProcedure(ctx, { release: 'r', namespace: 'ns', from: info.file });
    const state = { ...def.initialState, metaSnapshot: '/backups/r.before.meta.jsonl.gz' };
    // Nothing deleted yet (the re-check refused): nothing to put back.
    expect(def.restoreCommands!(state, new Set(['meta-backup']))).toEqual([]);
    expect(def.restoreCommands!({ ...state, deleted: 1502 }, new Set(['meta-backup']))).toEqual([
      'kubectl milvus backup restore-meta r -n ns --from /backups/r.before.meta.jsonl.gz --restart --yes   (the metadata as it was before this restore, /backups/r.before.meta.jsonl.gz)',
    ]);
  });
});
