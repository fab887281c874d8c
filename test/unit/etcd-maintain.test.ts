import { describe, expect, it } from 'vitest';
import { toEtcdMaintainOptions } from '../../src/commands/etcd-maintain.js';
import { assertBelowQuota, maintainSummary } from '../../src/etcd/maintain.js';
import { defragOrder, type LiveMember } from '../../src/etcd/members.js';
import { ExitCode } from '../../src/errors.js';

const MiB = 1024 ** 2;
const m = (pod: string, memberId: string, leader: string, dbSize = 10 * MiB, quota = 2 * 1024 * MiB): LiveMember => ({
  pod,
  status: { version: '3.4.23', memberId, revision: '100', dbSize, dbSizeInUse: dbSize / 2, leader, raftIndex: '9', errors: [] },
  quota: { bytes: quota, from: 'ETCD_QUOTA_BACKEND_BYTES' },
});

describe('etcd-maintain', () => {
  it('defragments the followers first (by name) and the leader last', () => {
    expect(defragOrder([m('r-etcd-0', '11', '22'), m('r-etcd-1', '22', '22'), m('r-etcd-2', '33', '22')])).toEqual(['r-etcd-0', 'r-etcd-2', 'r-etcd-1']);
    expect(defragOrder([m('r-etcd-0', '11', '11'), m('r-etcd-1', '22', '11')])).toEqual(['r-etcd-1', 'r-etcd-0']);
    expect(defragOrder([m('r-etcd-0', '11', '11')])).toEqual(['r-etcd-0']);
  });

  it('does not disarm NOSPACE while a member still holds its quota: the data itself does not fit (exit 10, naming it)', () => {
    expect(() => assertBelowQuota([m('r-etcd-0', '1', '1', 3 * MiB, 4 * MiB)])).not.toThrow();
    let err: unknown;
    try {
      assertBelowQuota([m('r-etcd-0', '1', '1', 3 * MiB, 4 * MiB), m('r-etcd-1', '2', '1', 4 * MiB, 4 * MiB)]);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ exitCode: ExitCode.FAILED });
    expect((err as Error).message).toMatch(/^after compact and defragment pod\/r-etcd-1 still holds 4\.0 MiB of its quota 4\.0 MiB \(ETCD_QUOTA_BACKEND_BYTES\): the data itself does not fit/);
  });

  it('parses its flags with no I/O: a bad --timeout is a usage error', () => {
    const base = { release: 'r', 'dry-run': false, yes: true, resume: false, restart: false, 'backup-dir': undefined, timeout: '5m' };
    expect(toEtcdMaintainOptions(base)).toMatchObject({ release: 'r', timeoutMs: 300_000, run: { yes: true } });
    expect(() => toEtcdMaintainOptions({ ...base, timeout: '0s' })).toThrow(/--timeout must be greater than 0/);
    expect(() => toEtcdMaintainOptions({ ...base, release: 'Bad_Name' })).toThrow();
  });

  it('summarizes each member with its size before and after and the time it was blocked', () => {
    expect(maintainSummary({ before: { b: 2, a: 4 }, after: { a: 1, b: 1 }, blockedMs: { a: 120 }, disarmed: [] })).toEqual([
      { member: 'a', before: 4, after: 1, blockedMs: 120 },
      { member: 'b', before: 2, after: 1, blockedMs: undefined },
    ]);
  });
});
