import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { EtcdGateway, RangePage } from '../../src/backup-meta/etcd.js';
import { prefixEnd } from '../../src/backup-meta/etcd.js';
import { checkSnapshotBelongs, readSnapshot, writeSnapshot } from '../../src/backup-meta/snapshot.js';
import { assertMilvusStopped } from '../../src/backup-meta/restore.js';
import { toBackupOptions } from '../../src/commands/backup.js';
import { CliError, ExitCode } from '../../src/errors.js';
import type { Release } from '../../src/release/types.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Pages as the etcd gateway returns them (the gateway itself is exercised against a real etcd in the e2e suite). */
function pages(kvs: Array<{ k: string; v: string; lease?: string }>, pageSize = 2): EtcdGateway {
  return {
    async *rangePrefix(): AsyncGenerator<RangePage> {
      for (let i = 0; i < kvs.length; i += pageSize) {
        yield { revision: '42', more: i + pageSize < kvs.length, kvs: kvs.slice(i, i + pageSize).map((x) => ({ key: b64(x.k), value: b64(x.v), ...(x.lease ? { lease: x.lease } : {}) })) };
      }
    },
  } as unknown as EtcdGateway;
}

const header = { release: 'r', namespace: 'ns', method: 'helm', rootPath: 'by-dev', prefix: 'by-dev/', etcdVersion: '3.5.5', milvusVersion: '2.3.5', createdAt: '2026-01-01T00:00:00Z', source: 'pod/r-etcd-0:2379' };
const KVS = [
  { k: 'by-dev/kv/gid/timestamp', v: '\u0000\u0001binary' },
  { k: 'by-dev/meta/root-coord/database/db-info/1', v: '{"name":"default"}' },
  { k: 'by-dev/meta/session/querynode-3', v: '{"ServerName":"querynode"}', lease: '7587' },
  { k: 'by-dev/meta/root-coord/collection/1/444', v: 'collection proto' },
  { k: 'by-dev/meta/empty', v: '' },
];

async function snapshot(dir: string, name = 's.meta.jsonl.gz') {
  return writeSnapshot(pages(KVS), join(dir, name), header);
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
    expect(seen).toEqual(KVS.filter((x) => !x.lease).map((x) => `${x.k}=${x.v}`));
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
  const release = (replicas: number, ready: number) =>
    ({ name: 'r', namespace: 'ns', workloadSelector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=milvus', components: [{ name: 'r-milvus-standalone', replicas, readyReplicas: ready }] }) as unknown as Release;
  it('refuses while any component wants or has ready replicas', () => {
    expect(() => assertMilvusStopped(release(0, 0))).not.toThrow();
    expect(() => assertMilvusStopped(release(1, 0))).toThrow(/is running \(r-milvus-standalone 0\/1\)/);
    expect(() => assertMilvusStopped(release(0, 1))).toThrow(CliError);
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
