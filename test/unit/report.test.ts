import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, redactManifest } from '../../src/report/redact.js';
import { TarGzWriter } from '../../src/report/tar.js';
import { belongsToRelease } from '../../src/report/collect.js';
import { toReportOptions } from '../../src/commands/report.js';
import { CliError, ExitCode } from '../../src/errors.js';

const base = { release: 'my-release', logs: false, secrets: 'hidden', health: true };

describe('report options', () => {
  it('accepts hidden, off and all; a misspelled --secrets is a usage error', () => {
    expect(toReportOptions({ ...base }).secrets).toBe('hidden');
    expect(toReportOptions({ ...base, secrets: 'all' }).secrets).toBe('all');
    try {
      toReportOptions({ ...base, secrets: 'hiden' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CliError);
      expect((e as CliError).exitCode).toBe(ExitCode.USAGE);
      expect((e as CliError).message).toBe('invalid argument "hiden" for "--secrets" flag: use hidden, off or all');
    }
  });
  it('--since needs --logs and a duration', () => {
    expect(() => toReportOptions({ ...base, since: '1h' })).toThrow(/--since applies to logs/);
    expect(toReportOptions({ ...base, logs: true, since: '1h30m' }).sinceMs).toBe(5_400_000);
    expect(() => toReportOptions({ ...base, logs: true, since: 'soon' })).toThrow(/invalid --since/);
  });
});

describe('redaction', () => {
  it('hides password-like settings in nested values, env pairs and config files inside strings', () => {
    const r = new Redactor('hidden');
    const values = {
      minio: { accessKey: 'minioadmin', secretKey: 'S3cr3t-minio-key', persistence: { size: '1Gi' } },
      etcd: { auth: { rbac: { rootPassword: 'etcd-root-pw-42', enabled: true } } },
      extraEnv: [{ name: 'MINIO_SECRET_KEY', value: 'env-secret-777' }, { name: 'LOG_LEVEL', value: 'debug' }],
      extraConfigFiles: { 'user.yaml': 'minio:\n  secretAccessKey: from-config-file-99\n  address: minio\n' },
      token: 1234567,
    };
    const out = r.value(values);
    const text = JSON.stringify(out);
    for (const s of ['S3cr3t-minio-key', 'etcd-root-pw-42', 'env-secret-777', 'from-config-file-99', 'minioadmin', '1234567']) expect(text).not.toContain(s);
    expect(out.minio.persistence.size).toBe('1Gi');
    expect(out.etcd.auth.rbac.enabled).toBe(true);
    expect(out.extraEnv[1]!.value).toBe('debug');
    expect(out.minio.secretKey).toBe(REDACTED);
    expect(out.extraConfigFiles['user.yaml']).toContain('address: minio');
    // The input is not changed.
    expect(values.minio.secretKey).toBe('S3cr3t-minio-key');
  });

  it('Secrets: hidden keeps keys, off leaves them out, all keeps values; values are scrubbed elsewhere, base64 too', () => {
    const secret = { metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"aHVudGVyMjI="}}' } }, data: { password: Buffer.from('hunter22').toString('base64') } };
    const hidden = new Redactor('hidden');
    expect(hidden.secret(secret)).toEqual({ metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': REDACTED } }, data: { password: REDACTED } });
    expect(hidden.scrub('log: connecting with hunter22 and aHVudGVyMjI=')).toBe(`log: connecting with ${REDACTED} and ${REDACTED}`);
    const off = new Redactor('off');
    expect(off.secret(secret)).toBeUndefined();
    expect(off.scrub('hunter22')).toBe(REDACTED);
    const all = new Redactor('all');
    expect(all.secret(secret)).toBe(secret);
    expect(all.scrub('hunter22')).toBe('hunter22');
    expect(all.value({ password: 'x1234' })).toEqual({ password: 'x1234' });
  });

  it('scrubs short values only when they were held under a password-like key; keeps dates', () => {
    const r = new Redactor('hidden');
    r.secret({ data: { username: Buffer.from('milvus').toString('base64'), password: Buffer.from('pw12').toString('base64'), 'ca.crt': Buffer.from('-----BEGIN CERT-----').toString('base64') } });
    expect(r.scrub('pod my-release-milvus-proxy uses pw12 and -----BEGIN CERT-----')).toBe(`pod my-release-milvus-proxy uses ${REDACTED} and ${REDACTED}`);
    expect(r.value({ metadata: { creationTimestamp: new Date('2026-01-02T03:04:05Z') } })).toEqual({ metadata: { creationTimestamp: '2026-01-02T03:04:05.000Z' } });
  });

  it('redacts a Helm manifest document by document', () => {
    const r = new Redactor('hidden');
    const manifest = [
      'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  secretKey: ' + Buffer.from('manifest-secret-1').toString('base64'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        env:\n        - {name: ETCD_ROOT_PASSWORD, value: manifest-pw-2}',
    ].join('\n---\n');
    const out = redactManifest(r, manifest);
    expect(out).not.toContain('manifest-pw-2');
    expect(out).not.toContain(Buffer.from('manifest-secret-1').toString('base64'));
    expect(out).toContain('secretKey: <redacted>');
    expect(out).toContain('name: ETCD_ROOT_PASSWORD');
  });

  it('selects objects by release labels, never by name prefix', () => {
    expect(belongsToRelease({ 'app.kubernetes.io/instance': 'my-release' }, 'my-release')).toBe(true);
    expect(belongsToRelease({ app: 'pulsar', release: 'my-release' }, 'my-release')).toBe(true);
    expect(belongsToRelease({ 'app.kubernetes.io/instance': 'my-release-etcd' }, 'my-release')).toBe(true);
    expect(belongsToRelease({ 'app.kubernetes.io/instance': 'my-release-2' }, 'my-release')).toBe(false);
    expect(belongsToRelease(undefined, 'my-release')).toBe(false);
  });
});

describe('tar.gz writer', () => {
  it('writes an archive tar reads back, long names included, with mode 0600, and never overwrites', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-tar-'));
    const file = join(dir, 'a.tar.gz');
    const w = new TarGzWriter(file, new Date('2026-01-01T00:00:00Z'));
    const long = `r-report/logs/${'p'.repeat(90)}/${'c'.repeat(60)}.previous.log`;
    await w.add('r-report/version.txt', 'kubectl-milvus 0.1.0\n');
    await w.add(long, 'x'.repeat(1000));
    await w.add('r-report/empty', '');
    await w.finish();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const list = execFileSync('tar', ['tzf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(list).toEqual(['r-report/version.txt', long, 'r-report/empty']);
    execFileSync('tar', ['xzf', file, '-C', dir]);
    expect(readFileSync(join(dir, 'r-report/version.txt'), 'utf8')).toBe('kubectl-milvus 0.1.0\n');
    expect(readFileSync(join(dir, long), 'utf8')).toBe('x'.repeat(1000));
    writeFileSync(join(dir, 'exists.tar.gz'), 'keep');
    expect(() => new TarGzWriter(join(dir, 'exists.tar.gz'), new Date())).toThrow(/EEXIST/);
    expect(readFileSync(join(dir, 'exists.tar.gz'), 'utf8')).toBe('keep');
  });
});
