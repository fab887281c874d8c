import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, redactManifest } from '../../src/report/redact.js';
import { secretNamesOf } from '../../src/report/secret-refs.js';
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

  it('Pulsar token auth: authParams (plain token:..., JSON, k:v pairs) in values, a ConfigMap file and Operator spec.config; the bare token scrubbed from logs', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtaWx2dXMifQ.c2lnbmF0dXJlLXBsYW50ZWQ';
    const r = new Redactor('hidden');
    const values = r.value({ externalPulsar: { enabled: true, host: 'pulsar.example', authPlugin: 'org.apache.pulsar.client.impl.auth.AuthenticationToken', authParams: `token:${jwt}` } });
    expect(values.externalPulsar).toEqual({ enabled: true, host: 'pulsar.example', authPlugin: 'org.apache.pulsar.client.impl.auth.AuthenticationToken', authParams: REDACTED });
    const cm = r.value({ data: { 'user.yaml': 'pulsar:\n  authPlugin: token\n  authParams: \'{"token":"json-token-planted-77"}\'\n  address: pulsar\n' } });
    expect(cm.data['user.yaml']).not.toContain('json-token-planted-77');
    expect(cm.data['user.yaml']).toContain('authParams: <redacted>');
    expect(cm.data['user.yaml']).toContain('address: pulsar');
    const cr = r.value({ spec: { config: { pulsar: { authPlugin: 'org.apache.pulsar.client.impl.auth.AuthenticationTls', authParams: 'tlsCertFile:/certs/client.pem,tlsKeyFile:/certs/client-key.pem' } } } });
    expect(cr.spec.config.pulsar.authParams).toBe(REDACTED);
    expect(cr.spec.config.pulsar.authPlugin).toBe('org.apache.pulsar.client.impl.auth.AuthenticationTls');
    // The token alone (a log line, an event) and the JSON one are scrubbed where they stand.
    expect(r.scrub(`client token=${jwt} ok; json-token-planted-77.`)).toBe(`client token=${REDACTED} ok; ${REDACTED}.`);
    // An env pair named like the setting.
    expect(r.value([{ name: 'PULSAR_AUTH_PARAMS', value: 'token:env-token-planted-88' }])[0]!.value).toBe(REDACTED);
  });

  it('credentials by their shape: URL and DSN passwords, password= pairs, PEM blocks; the user part stays', () => {
    const r = new Redactor('hidden');
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0planted\n-----END RSA PRIVATE KEY-----';
    const out = r.value({
      etcd: { endpoints: ['http://root:url-pw-planted-1@etcd:2379', 'http://etcd-1:2379'] },
      externalMysql: { address: 'milvus:dsn-pw-planted-2@tcp(mysql:3306)/milvus_meta' },
      connection: 'Host=pg;Username=milvus;Password=conn-pw-planted-3;Database=m',
      extraConfigFiles: { 'tls.yaml': `tls:\n  serverPemPath: /certs/server.pem\n  inline: |\n    ${pem.replace(/\n/g, '\n    ')}\n` },
      webhook: 'https://hooks.example/notify?token=query-token-planted-4&channel=ops',
    });
    const text = JSON.stringify(out);
    for (const p of ['url-pw-planted-1', 'dsn-pw-planted-2', 'conn-pw-planted-3', 'MIIEpAIBAAKCAQEA0planted', 'query-token-planted-4']) expect(text, p).not.toContain(p);
    expect(out.etcd.endpoints).toEqual([`http://root:${REDACTED}@etcd:2379`, 'http://etcd-1:2379']);
    expect(out.externalMysql.address).toBe(`milvus:${REDACTED}@tcp(mysql:3306)/milvus_meta`);
    expect(out.connection).toBe(`Host=pg;Username=milvus;Password=${REDACTED};Database=m`);
    expect(out.webhook).toBe(`https://hooks.example/notify?token=${REDACTED}&channel=ops`);
    expect(out.extraConfigFiles['tls.yaml']).toContain('serverPemPath: /certs/server.pem');
    expect(r.scrub('dialing with url-pw-planted-1')).toBe(`dialing with ${REDACTED}`);
  });

  it('usernames are no secrets, and a scrubbed value never erases a key, an image or part of a word', () => {
    const r = new Redactor('hidden');
    const values = r.value({ externalKafka: { enabled: true, brokerList: 'kafka:9092', securityProtocol: 'SASL_SSL', sasl: { mechanisms: 'PLAIN', username: 'milvus', password: 'kafka-sasl-planted-9' } } });
    expect(values.externalKafka.sasl).toEqual({ mechanisms: 'PLAIN', username: 'milvus', password: REDACTED });
    const cm = r.value({ 'user.yaml': 'kafka:\n  saslUsername: milvus\n  saslMechanisms: PLAIN\n  saslPassword: kafka-sasl-planted-9\n' });
    expect(cm['user.yaml']).toBe('kafka:\n  saslUsername: milvus\n  saslMechanisms: PLAIN\n  saslPassword: <redacted>\n');
    // A Secret's username and the names of Secrets a pod references are no secrets either.
    r.secret({ data: { username: Buffer.from('milvus').toString('base64'), password: Buffer.from('kafka-sasl-planted-9').toString('base64') } });
    const pod = r.value({ spec: { containers: [{ name: 'proxy', image: 'milvusdb/milvus:v2.4.5', env: [{ name: 'SASL_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-creds', key: 'password' } } }] }], volumes: [{ name: 'tls', secret: { secretName: 'milvus-tls' } }] } });
    expect(pod.spec.containers[0]!.env[0]!.valueFrom.secretKeyRef).toEqual({ name: 'kafka-creds', key: 'password' });
    expect(pod.spec.volumes[0]!.secret.secretName).toBe('milvus-tls');
    expect(r.found).toEqual(new Set(['kafka-sasl-planted-9']));
    const status = { name: 'rel', milvusVersion: '2.4.5', components: [{ component: 'proxy', deployment: 'rel-milvus-proxy', image: 'milvusdb/milvus:v2.4.5' }] };
    expect(r.scrubDoc(status)).toEqual(status);
    // A password that is an ordinary word: scrubbed where it stands as a value, never in keys, images or longer names.
    const w = new Redactor('hidden');
    w.remember('milvus');
    expect(w.scrubDoc({ milvusVersion: '2.4.5', image: 'milvusdb/milvus:v2.4.5', name: 'rel-milvus-proxy', password: 'milvus', note: 'login milvus failed' })).toEqual({
      milvusVersion: '2.4.5',
      image: 'milvusdb/milvus:v2.4.5',
      name: 'rel-milvus-proxy',
      password: REDACTED,
      note: `login ${REDACTED} failed`,
    });
    expect(w.scrub('pulled milvusdb/milvus-operator, user milvus.')).toBe(`pulled milvusdb/milvus-operator, user ${REDACTED}.`);
  });

  it('Secret values: trailing newlines, docker configs and configuration files inside give up their credentials', () => {
    const r = new Redactor('hidden');
    const docker = JSON.stringify({ auths: { 'registry.example': { username: 'milvus', password: 'registry-pw-planted', auth: Buffer.from('milvus:registry-pw-planted').toString('base64') } } });
    r.secret({
      data: {
        password: Buffer.from('echoed-pw-planted\n').toString('base64'),
        '.dockerconfigjson': Buffer.from(docker).toString('base64'),
        'user.yaml': Buffer.from('minio:\n  secretAccessKey: file-key-planted\n').toString('base64'),
      },
    });
    expect(r.scrub('login echoed-pw-planted, pull with registry-pw-planted, s3 key file-key-planted')).toBe(`login ${REDACTED}, pull with ${REDACTED}, s3 key ${REDACTED}`);
    expect(r.scrub('user milvus')).toBe('user milvus');
  });

  it('the Secrets a pod spec uses by name: env, envFrom, secret and projected volumes, image pull secrets', () => {
    expect(
      secretNamesOf({
        containers: [{ name: 'c', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'env-ref', key: 'k' } } }, { name: 'B', value: 'x' }], envFrom: [{ secretRef: { name: 'env-from' } }, { configMapRef: { name: 'cm' } }] }],
        initContainers: [{ name: 'i', env: [{ name: 'C', valueFrom: { secretKeyRef: { name: 'init-ref', key: 'k' } } }] }],
        volumes: [{ name: 'v', secret: { secretName: 'vol' } }, { name: 'p', projected: { sources: [{ secret: { name: 'projected' } }, { configMap: { name: 'cm2' } }] } }],
        imagePullSecrets: [{ name: 'pull' }],
      }).sort(),
    ).toEqual(['env-from', 'env-ref', 'init-ref', 'projected', 'pull', 'vol']);
    expect(secretNamesOf(undefined)).toEqual([]);
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
