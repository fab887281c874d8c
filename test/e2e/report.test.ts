/**
 * report on the test bed: a Helm release with known secret values planted in a Secret, in Helm
 * values (minio secretKey, etcd root password, Pulsar token authParams, a configuration file with
 * JSON authParams and Kafka SASL settings), in a container's env and in a Secret a pod uses by
 * name without a release label; none of them, nor their base64 forms, may be anywhere in the
 * archive unless --secrets all. The Kafka SASL username "milvus" is no secret: images, keys and
 * names that contain the word stay readable.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import { assertTestbed, createOperatorMilvus, deleteNamespace, forwardNamespaceTo, installHelmRelease, kubectl, newNamespace, runPlugin, waitReady } from './harness.js';

const REL = 'report-rel';
const PLANTED = [
  'PLANTED-secret-data-1',
  'PLANTED-minio-secretkey-2',
  'PLANTED-etcd-root-3',
  'PLANTED-config-file-4',
  'PLANTED-env-var-5',
  'PLANTED-pulsar-token-7',
  'PLANTED-pulsar-json-token-8',
  'PLANTED-referenced-secret-9',
  'PLANTED-kafka-sasl-11',
];
const PLANTED_CR = ['PLANTED-operator-config-6', 'PLANTED-operator-token-10'];
const forms = (s: string) => [s, Buffer.from(s).toString('base64'), Buffer.from(s).toString('base64').replace(/=+$/, '')];

function extract(file: string): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'km-report-x-'));
  execFileSync('tar', ['xzf', file, '-C', dir]);
  const out = new Map<string, string>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, `${rel}${e.name}/`);
      else out.set(`${rel}${e.name}`, readFileSync(p, 'utf8'));
    }
  };
  walk(dir, '');
  return out;
}

const leaks = (files: Map<string, string>) => [...files].flatMap(([name, text]) => PLANTED.flatMap((p) => forms(p).filter((f) => text.includes(f)).map(() => `${name}: ${p}`)));

describe('report', () => {
  let ns: string;
  let sim: RunningSim;
  let dir: string;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('report');
    dir = mkdtempSync(join(tmpdir(), 'km-report-'));
    sim = await startMilvusSim({ version: '2.4' });
    await forwardNamespaceTo(ns, sim.port, 9091);
    await installHelmRelease(ns, REL, {
      'minio.secretKey': PLANTED[1],
      etcd: { auth: { rbac: { rootPassword: PLANTED[2] } } },
      externalPulsar: { authPlugin: 'org.apache.pulsar.client.impl.auth.AuthenticationToken', authParams: `token:${PLANTED[5]}` },
      extraConfigFiles: {
        'user.yaml': [
          `minio:\n  secretAccessKey: ${PLANTED[3]}\n  useSSL: false`,
          `pulsar:\n  authPlugin: org.apache.pulsar.client.impl.auth.AuthenticationToken\n  authParams: '{"token":"${PLANTED[6]}"}'`,
          `kafka:\n  securityProtocol: SASL_PLAINTEXT\n  saslMechanisms: PLAIN\n  saslUsername: milvus\n  saslPassword: ${PLANTED[8]}\n`,
        ].join('\n'),
      },
    });
    await kubectl(['create', 'secret', 'generic', `${REL}-creds`, '-n', ns, `--from-literal=password=${PLANTED[0]}`, '--from-literal=username=milvus']);
    await kubectl(['label', 'secret', `${REL}-creds`, '-n', ns, `app.kubernetes.io/instance=${REL}`]);
    await kubectl(['create', 'secret', 'generic', 'unrelated', '-n', ns, '--from-literal=token=not-of-the-release']);
    // Created by hand, no release label, used by the proxy by name (env valueFrom secretKeyRef).
    await kubectl(['create', 'secret', 'generic', 'shared-kafka', '-n', ns, `--from-literal=sasl-password=${PLANTED[7]}`, '--from-literal=sasl-username=milvus']);
    await kubectl(['set', 'env', `deployment/${REL}-milvus-proxy`, '-n', ns, '--from=secret/shared-kafka', '--prefix=KAFKA_']);
    await kubectl(['set', 'env', `deployment/${REL}-milvus-proxy`, '-n', ns, `MINIO_SECRET_KEY=${PLANTED[4]}`, 'LOG_LEVEL=debug']);
    await waitReady(ns);
  }, 240_000);
  afterAll(async () => {
    await sim?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('writes one archive (mode 0600) with the objects, values, manifest, status and health, and none of the planted secrets', async () => {
    const file = join(dir, 'support.tar.gz');
    const r = await runPlugin(['report', REL, '-n', ns, '--logs', '--since', '1h', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${file}\n`);
    expect(r.stderr).toMatch(/^Collecting the objects of release "report-rel" in namespace "report-\w+" \.\.\.$/m);
    expect(r.stderr).toMatch(/^Collecting \d+ log\(s\) of \d+ pod\(s\) since 3600s ago \.\.\.$/m);
    expect(r.stderr).toMatch(/^Wrote .*support\.tar\.gz \(\d+ files, mode 0600, secrets hidden\)\.$/m);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const files = extract(file);
    const names = [...files.keys()];
    for (const f of ['objects/deployments.yaml', 'objects/statefulsets.yaml', 'objects/pods.yaml', 'objects/persistentvolumeclaims.yaml', 'objects/persistentvolumes.yaml', 'objects/services.yaml', 'objects/configmaps.yaml', 'objects/secrets.yaml', 'objects/events.yaml', 'helm/values.yaml', 'helm/values-computed.yaml', 'helm/manifest.yaml', 'helm/release.yaml', 'status.json', 'health.json', 'version.txt']) {
      expect(names, f).toContain(`${REL}-report/${f}`);
    }
    const get = (f: string) => files.get(`${REL}-report/${f}`)!;
    expect(leaks(files)).toEqual([]);
    // Keys stay, values go.
    expect(get('helm/values.yaml')).toMatch(/secretKey: <redacted>/);
    expect(get('helm/values.yaml')).toMatch(/rootPassword: <redacted>/);
    expect(get('objects/configmaps.yaml')).toContain('secretAccessKey: <redacted>');
    expect(get('objects/secrets.yaml')).toContain(`name: ${REL}-creds`);
    expect(get('objects/secrets.yaml')).toMatch(/password: <redacted>/);
    expect(get('objects/secrets.yaml')).not.toContain('unrelated');
    // The Secret the proxy uses by name belongs to the bundle, its values hidden.
    expect(get('objects/secrets.yaml')).toContain('name: shared-kafka');
    expect(get('objects/secrets.yaml')).toMatch(/sasl-password: <redacted>/);
    // Pulsar token auth: the setting stays, its value goes.
    expect(get('helm/values.yaml')).toMatch(/authParams: <redacted>/);
    expect(get('objects/configmaps.yaml')).toMatch(/authParams: <redacted>/);
    // The SASL username is no secret: it, images, keys and names stay readable.
    expect(get('objects/configmaps.yaml')).toContain('saslUsername: milvus');
    expect(get('objects/configmaps.yaml')).toContain('saslMechanisms: PLAIN');
    expect(get('objects/deployments.yaml')).toContain('image: milvusdb/milvus:v2.4.5');
    expect(get('objects/deployments.yaml')).toContain(`name: ${REL}-milvus-proxy`);
    expect(JSON.parse(get('status.json')).milvusVersion).toBe('2.4.5');
    expect([...files].filter(([, t]) => t.includes('<redacted>db/') || t.includes('<redacted>Version') || t.includes('-<redacted>-')).map(([n]) => n)).toEqual([]);
    expect(get('objects/deployments.yaml')).toContain('MINIO_SECRET_KEY');
    expect(get('objects/deployments.yaml')).toContain('value: debug');
    expect(get('objects/pods.yaml')).toContain(`${REL}-milvus-proxy`);
    expect(get('objects/persistentvolumeclaims.yaml')).toContain(`data-${REL}-etcd-0`);
    expect(JSON.parse(get('status.json')).name).toBe(REL);
    expect(JSON.parse(get('health.json')).checks.find((c: { check: string }) => c.check === 'healthz/proxy').status).toBe('ok');
    expect(get('version.txt')).toMatch(/^kubectl-milvus \S+ \(commit /);
    // Logs: the bed's fake kubelets serve none; each miss is said, not hidden.
    const logs = names.filter((n) => n.includes('/logs/'));
    if (logs.length === 0) expect(get('errors.txt')).toMatch(/^logs of report-rel-milvus-proxy-\S+\/proxy: /m);
  });

  it('--secrets all keeps every value (the planted ones are found then), --secrets off leaves Secrets out', async () => {
    const all = join(dir, 'all.tar.gz');
    const r = await runPlugin(['report', REL, '-n', ns, '--secrets', 'all', '--health=false', '-f', all]);
    expect(r.code, r.stderr).toBe(0);
    const found = leaks(extract(all)).map((l) => l.split(': ')[1]);
    for (const p of PLANTED) expect(found, p).toContain(p);
    const off = join(dir, 'off.tar.gz');
    const o = await runPlugin(['report', REL, '-n', ns, '--secrets', 'off', '--health=false', '-f', off]);
    expect(o.code, o.stderr).toBe(0);
    const files = extract(off);
    expect([...files.keys()]).not.toContain(`${REL}-report/objects/secrets.yaml`);
    expect([...files.keys()]).not.toContain(`${REL}-report/health.json`);
    expect(leaks(files)).toEqual([]);
  });

  it('an Operator release: the Milvus resource, its password-like config redacted', async () => {
    await createOperatorMilvus(ns, 'vector-db', {
      mode: 'standalone',
      components: { image: 'milvusdb/milvus:v2.4.5' },
      dependencies: { msgStreamType: 'rocksmq' },
      config: { minio: { secretAccessKey: PLANTED_CR[0], bucketName: 'milvus-bucket' }, pulsar: { authPlugin: 'org.apache.pulsar.client.impl.auth.AuthenticationToken', authParams: `token:${PLANTED_CR[1]}` } },
    });
    const file = join(dir, 'operator.tar.gz');
    const r = await runPlugin(['report', 'vector-db', '-n', ns, '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    const files = extract(file);
    const cr = files.get('vector-db-report/milvus/milvus.yaml')!;
    expect(cr).toContain('kind: Milvus');
    expect(cr).toContain('secretAccessKey: <redacted>');
    expect(cr).toContain('bucketName: milvus-bucket');
    expect(cr).toContain('authParams: <redacted>');
    for (const p of PLANTED_CR) expect([...files.values()].some((t) => forms(p).some((f) => t.includes(f))), p).toBe(false);
    expect(files.get('vector-db-report/objects/statefulsets.yaml')).toContain('name: vector-db-etcd');
    // Nothing of the Helm release of the namespace.
    expect(files.get('vector-db-report/objects/deployments.yaml')).not.toContain(REL);
  });

  it('bad input: a misspelled --secrets and an existing file are one-line usage errors, nothing written', async () => {
    const file = join(dir, 'never.tar.gz');
    const r = await runPlugin(['report', REL, '-n', ns, '--secrets', 'hiden', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('error: invalid argument "hiden" for "--secrets" flag: use hidden, off or all');
    expect(existsSync(file)).toBe(false);
    const taken = join(dir, 'taken.tar.gz');
    writeFileSync(taken, 'keep me');
    const e = await runPlugin(['report', REL, '-n', ns, '-f', taken]);
    expect(e.code).toBe(2);
    expect(e.stderr.split('\n')[0]).toBe(`error: ${taken} exists: the report never overwrites a file; choose another with -f`);
    expect(readFileSync(taken, 'utf8')).toBe('keep me');
  });
});
