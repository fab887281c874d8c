/**
 * The fleet read's list pages through node:https (Kube.rawListPage → directGet), against a real
 * TLS server with certificates made by openssl: the kubeconfig's CA is the one trusted, its
 * token and impersonation are sent, a gzip answer is decoded, pages share one connection, and an
 * answer other than 2xx or a certificate the CA did not sign become the usual kubectl-worded
 * errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { Kube } from '../../src/kube/client.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'km-direct-'));

/** A self-signed certificate for 127.0.0.1 (its own CA), as files in `dir`. */
function certificate(name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

interface Seen {
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

let server: Server;
let port: number;
let serverCert: { cert: string; key: string };
let otherCa: { cert: string; key: string };
const seen: Seen[] = [];
let connections = 0;

beforeAll(async () => {
  serverCert = certificate('server');
  otherCa = certificate('other');
  server = createServer({ cert: serverCert.cert, key: serverCert.key }, (req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (req.url?.startsWith('/api/v1/secrets')) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'secrets is forbidden: User "jane" cannot list resource "secrets"' }));
      return;
    }
    const page = new URL(req.url ?? '/', 'https://x').searchParams.get('continue');
    const body = JSON.stringify({ kind: 'PodList', metadata: page ? {} : { continue: 'p2' }, items: [{ metadata: { name: page ? 'b' : 'a', namespace: 'ns' } }] });
    const gz = /gzip/.test(String(req.headers['accept-encoding']));
    res.writeHead(200, { 'content-type': 'application/json', ...(gz ? { 'content-encoding': 'gzip' } : {}) });
    res.end(gz ? gzipSync(body) : body);
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function kubeTrusting(ca: string): Kube {
  const f = join(dir, `config-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    f,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: c',
      'clusters:',
      '- name: k',
      '  cluster:',
      `    server: https://127.0.0.1:${port}`,
      `    certificate-authority-data: ${Buffer.from(ca).toString('base64')}`,
      'contexts:',
      '- name: c',
      '  context: {cluster: k, user: u}',
      'users:',
      '- name: u',
      '  user: {token: direct-test-token}',
      '',
    ].join('\n'),
  );
  return new Kube(loadKubeConfig({ kubeconfig: f, as: 'jane', asGroups: ['ops'] }, {}));
}

describe('list pages through node:https', () => {
  it('trusts the kubeconfig CA, sends token and impersonation, decodes gzip, and pages share one connection', async () => {
    const kube = kubeTrusting(serverCert.cert);
    seen.length = 0;
    const before = connections;
    const names: string[] = [];
    await kube.eachPage({ verb: 'list', resource: 'pods' }, (o) => kube.rawListPage('/api/v1/pods', o), { labelSelector: 'app.kubernetes.io/name=milvus', limit: 1 }, (items: Array<{ metadata: { name: string } }>) => names.push(...items.map((i) => i.metadata.name)));
    expect(names).toEqual(['a', 'b']);
    expect(seen.map((s) => s.url)).toEqual(['/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dmilvus&limit=1', '/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dmilvus&limit=1&continue=p2']);
    for (const s of seen) {
      expect(s.headers.authorization).toBe('Bearer direct-test-token');
      expect(s.headers['impersonate-user']).toBe('jane');
      expect(s.headers['impersonate-group']).toBe('ops');
      expect(s.headers['accept-encoding']).toBe('gzip');
    }
    expect(connections - before).toBe(1);
  });

  it('an answer other than 2xx is the kubectl-worded error of its status', async () => {
    const kube = kubeTrusting(serverCert.cert);
    const e = await kube.call({ verb: 'list', resource: 'secrets' }, () => kube.rawListPage('/api/v1/secrets', {})).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.FORBIDDEN);
    expect((e as CliError).message).toContain('cannot list resource "secrets"');
  });

  it('a server certificate the kubeconfig CA did not sign is refused: unable to connect, nothing read', async () => {
    const kube = kubeTrusting(otherCa.cert);
    const e = await kube.call({ verb: 'list', resource: 'pods' }, () => kube.rawListPage('/api/v1/pods', {})).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.UNREACHABLE);
    expect((e as CliError).message).toMatch(/unable to connect to the server at https:\/\/127\.0\.0\.1:\d+: .*(self[- ]signed|certificate)/i);
  });
});
