import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { alarmsCheck, DEFAULT_QUOTA_BYTES, etcdChecks, leaderCheck, memberQuota, memberSpaceCheck, type EtcdFacts, type EtcdMemberFact } from '../../src/health/etcd-checks.js';
import type { MemberStatus } from '../../src/backup-meta/etcd.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
// What etcd 3.4.23's gateway answers (read from the real server: ids are decimal strings).
const status = (o: Partial<MemberStatus> = {}): MemberStatus => ({
  version: '3.4.23',
  memberId: '13668033151171901709',
  revision: '41',
  dbSize: 100 * MiB,
  dbSizeInUse: 90 * MiB,
  leader: '13668033151171901709',
  raftIndex: '46',
  errors: [],
  ...o,
});
const member = (name: string, s: Partial<MemberStatus> | undefined, quota = DEFAULT_QUOTA_BYTES): EtcdMemberFact => ({
  name: `pod/${name}`,
  quota: { bytes: quota, from: "etcd's default" },
  ...(s ? { status: status(s) } : { error: 'cannot reach etcd (pod/x:2379): connection refused' }),
});
const pod = (container: { command?: string[]; args?: string[]; env?: Array<{ name: string; value?: string; valueFrom?: object }> }): V1Pod => ({
  metadata: { name: 'r-etcd-0' },
  spec: { containers: [{ name: 'etcd', image: 'docker.io/milvusdb/etcd:3.5.16', ...container }] },
});

describe('etcd quota of a member', () => {
  it('reads --quota-backend-bytes from the flags (both spellings, or inside a shell script), else ETCD_QUOTA_BACKEND_BYTES, else 2 GiB', () => {
    expect(memberQuota(pod({ command: ['etcd', '--quota-backend-bytes=8589934592'] }))).toMatchObject({ bytes: 8 * GiB, from: '--quota-backend-bytes' });
    expect(memberQuota(pod({ args: ['--quota-backend-bytes', '4294967296'] })).bytes).toBe(4 * GiB);
    expect(memberQuota(pod({ command: ['/bin/sh', '-c', 'exec etcd --name x --quota-backend-bytes=1048576'] })).bytes).toBe(MiB);
    // Bitnami's chart passes it in the environment (the Milvus chart sets 4 GiB there).
    expect(memberQuota(pod({ env: [{ name: 'ETCD_QUOTA_BACKEND_BYTES', value: '4294967296' }] }))).toMatchObject({ bytes: 4 * GiB, from: 'ETCD_QUOTA_BACKEND_BYTES' });
    // A flag wins over the environment, as in etcd.
    expect(memberQuota(pod({ args: ['--quota-backend-bytes=1048576'], env: [{ name: 'ETCD_QUOTA_BACKEND_BYTES', value: '4294967296' }] })).bytes).toBe(MiB);
    expect(memberQuota(pod({}))).toMatchObject({ bytes: 2 * GiB, from: "etcd's default" });
    expect(memberQuota(pod({ env: [{ name: 'ETCD_QUOTA_BACKEND_BYTES', value: '0' }] })).bytes).toBe(2 * GiB);
    expect(memberQuota(pod({ env: [{ name: 'ETCD_QUOTA_BACKEND_BYTES', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] })).from).toMatch(/default assumed/);
  });
});

describe('etcd space of a member', () => {
  it('ok below 70 % with little free space; warning at 70 %; critical at 90 %', () => {
    expect(memberSpaceCheck(member('r-etcd-0', { dbSize: 100 * MiB })).status).toBe('ok');
    const warn = memberSpaceCheck(member('r-etcd-0', { dbSize: 1434 * MiB, dbSizeInUse: 1400 * MiB }));
    expect(warn).toMatchObject({ check: 'etcd/r-etcd-0', status: 'warning' });
    expect(warn.detail).toMatch(/^db 1\.4 GiB of quota 2\.0 GiB \(70%, quota from etcd's default\), in use 1\.4 GiB, raft index 46, etcd 3\.4\.23: over 70% of its quota/);
    const crit = memberSpaceCheck(member('r-etcd-0', { dbSize: 1844 * MiB, dbSizeInUse: 1800 * MiB }));
    expect(crit.status).toBe('critical');
    expect(crit.detail).toContain('etcd-maintain');
    // The quota of the member counts, not the default.
    expect(memberSpaceCheck(member('r-etcd-0', { dbSize: 4 * MiB, dbSizeInUse: 4 * MiB }, 4 * MiB)).status).toBe('critical');
  });

  it('warns when more than half of the file is free space (a defragment returns it)', () => {
    const c = memberSpaceCheck(member('r-etcd-0', { dbSize: 400 * MiB, dbSizeInUse: 150 * MiB }));
    expect(c.status).toBe('warning');
    expect(c.detail).toContain('250.0 MiB of the file is free space');
    expect(memberSpaceCheck(member('r-etcd-0', { dbSize: 400 * MiB, dbSizeInUse: 200 * MiB })).status).toBe('ok');
  });

  it('a member that could not be asked is a warning, never ok', () => {
    const c = memberSpaceCheck(member('r-etcd-1', undefined));
    expect(c).toMatchObject({ check: 'etcd/r-etcd-1', status: 'warning' });
    expect(c.detail).toMatch(/^not checked: cannot reach etcd/);
  });
});

describe('etcd alarms and leader', () => {
  const facts = (members: EtcdMemberFact[], alarms?: EtcdFacts['alarms']): EtcdFacts => ({ source: 'pods', members, ...(alarms ? { alarms } : { alarmsError: 'no member answered' }) });

  it('NOSPACE is critical and names the member; no alarm is ok; an unread list a warning', () => {
    const m = [member('r-etcd-0', { errors: ['memberID:13668033151171901709 alarm:NOSPACE '] })];
    const c = alarmsCheck(facts(m, [{ memberId: '13668033151171901709', alarm: 'NOSPACE' }]));
    expect(c.status).toBe('critical');
    expect(c.detail).toMatch(/^NOSPACE on pod\/r-etcd-0: etcd refuses every write/);
    expect(alarmsCheck(facts(m, [])).status).toBe('ok');
    expect(alarmsCheck(facts(m)).status).toBe('warning');
    // The alarm is not graded twice: the member's own check stays about its space.
    expect(memberSpaceCheck(m[0]!).status).toBe('ok');
  });

  it('members that disagree on the leader, or see none, are critical', () => {
    const a = member('r-etcd-0', { memberId: '1', leader: '1' });
    const b = member('r-etcd-1', { memberId: '2', leader: '1' });
    const c = member('r-etcd-2', { memberId: '3', leader: '3' });
    expect(leaderCheck(facts([a, b]))).toMatchObject({ status: 'ok', detail: '2 member(s) follow pod/r-etcd-0' });
    const split = leaderCheck(facts([a, b, c]));
    expect(split.status).toBe('critical');
    expect(split.detail).toBe('members disagree on the leader: pod/r-etcd-0 follows pod/r-etcd-0, pod/r-etcd-1 follows pod/r-etcd-0, pod/r-etcd-2 follows pod/r-etcd-2');
    expect(leaderCheck(facts([member('r-etcd-0', { leader: '0' })])).status).toBe('critical');
  });

  it('an external etcd that does not answer is one warning; no etcd at all adds nothing (the dependency check says so)', () => {
    expect(etcdChecks({ source: 'external', members: [], unreachable: 'external etcd etcd.db:2379 does not answer from here' })).toEqual([
      { check: 'etcd-external', status: 'warning', detail: 'not checked: external etcd etcd.db:2379 does not answer from here' },
    ]);
    expect(etcdChecks({ source: 'none', members: [] })).toEqual([]);
    expect(etcdChecks(facts([member('r-etcd-0', {})], [])).map((c) => c.check)).toEqual(['etcd/r-etcd-0', 'etcd-alarms', 'etcd-leader']);
  });
});

describe('etcd in report', () => {
  it('stores each member (status or why not), the alarms and the graded checks', async () => {
    const { etcdReportDoc } = await import('../../src/report/etcd.js');
    const doc = etcdReportDoc({ source: 'pods', members: [member('r-etcd-0', {}), member('r-etcd-1', undefined)], alarms: [{ memberId: '13668033151171901709', alarm: 'NOSPACE' }] });
    expect(doc.members[0]).toMatchObject({ name: 'pod/r-etcd-0', status: { dbSize: 100 * MiB, leader: '13668033151171901709' } });
    expect(doc.members[1]).toMatchObject({ name: 'pod/r-etcd-1', error: expect.stringMatching(/^cannot reach etcd/) });
    expect(doc.alarms).toEqual([{ memberId: '13668033151171901709', alarm: 'NOSPACE' }]);
    expect(doc.checks.find((c) => c.check === 'etcd-alarms')?.status).toBe('critical');
  });
});
