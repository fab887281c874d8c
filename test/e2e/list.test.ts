/**
 * list (and health without a release) on the test bed: a Helm cluster release, a Helm standalone
 * release and an Operator release of the real Milvus Operator in two namespaces; the same bed
 * under two context names plus a context that hangs; a ServiceAccount that may only read its own
 * namespace.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMilvusSim, type RunningSim } from '../../testbed/milvus-sim/sim.js';
import {
  KUBECONFIG,
  assertTestbed,
  createOperatorMilvus,
  deleteNamespace,
  forwardNamespaceTo,
  installHelmRelease,
  kubectl,
  newNamespace,
  runPlugin,
  serviceAccountKubeconfig,
} from './harness.js';

interface Item {
  context?: string;
  namespace: string;
  name: string;
  method: string;
  installedBy: string;
  mode: string;
  version: string | null;
  mq: string;
  ready: string;
  next: { action: string } | null;
}

describe('list', () => {
  let ns1: string;
  let ns2: string;
  let sim: RunningSim;
  let hung: Server;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    assertTestbed();
    [ns1, ns2, sim] = await Promise.all([newNamespace('list'), newNamespace('list'), startMilvusSim({ version: '2.4' })]);
    await forwardNamespaceTo(ns2, sim.port, 9091);
    await Promise.all([
      installHelmRelease(ns1, 'vdb'),
      installHelmRelease(ns2, 'small', { 'cluster.enabled': false, 'pulsar.enabled': false }),
      createOperatorMilvus(ns2, 'op', { mode: 'standalone', components: { image: 'milvusdb/milvus:v2.4.5' }, dependencies: { msgStreamType: 'rocksmq' } }),
    ]);
    hung = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  }, 400_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    hung?.close();
    await sim?.close();
    for (const ns of [ns1, ns2]) if (ns) await deleteNamespace(ns);
  });

  const mine = (items: Item[]) => items.filter((i) => i.namespace === ns1 || i.namespace === ns2).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));

  it('-A: Helm and Operator releases with what their pods run, queue, readiness and what to do next; status agrees', async () => {
    const r = await runPlugin(['list', '-A', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const items = mine(JSON.parse(r.stdout).items as Item[]);
    const byName = Object.fromEntries(items.map((i) => [i.name, i]));
    expect(Object.keys(byName).sort()).toEqual(['op', 'small', 'vdb']);
    expect(byName.vdb).toMatchObject({ namespace: ns1, method: 'helm', installedBy: 'milvus-4.2.30', mode: 'cluster', version: '2.4.5', mq: 'pulsar-v2', next: { action: 'pulsar-upgrade' } });
    expect(byName.small).toMatchObject({ namespace: ns2, method: 'helm', mode: 'standalone', version: '2.4.5', mq: 'rocksmq', ready: '1/1' });
    expect(byName.op).toMatchObject({ namespace: ns2, method: 'operator', installedBy: 'operator', mode: 'standalone', version: '2.4.5', mq: 'rocksmq' });
    // One discovery for list and status: the same facts.
    const st = JSON.parse((await runPlugin(['status', 'vdb', '-n', ns1, '-o', 'json'])).stdout);
    expect([st.mode, st.running, st.components.length]).toEqual([byName.vdb!.mode, byName.vdb!.version, Number(byName.vdb!.ready.split('/')[1])]);
    const table = await runPlugin(['list', '-A']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+METHOD\s+MODE\s+VERSION\s+MQ\s+READY\s+NEXT\s+AGE$/);
    expect(table.stdout).toMatch(new RegExp(`^${ns1}\\s+vdb\\s+milvus-4\\.2\\.30\\s+cluster\\s+2\\.4\\.5\\s+pulsar-v2\\s+\\d+/\\d+\\s+pulsar-upgrade\\s+\\S+$`, 'm'));
  });

  it('-n: that namespace only', async () => {
    const r = await runPlugin(['list', '-n', ns2, '-o', 'name']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('release/op\nrelease/small\n');
  });

  it('three contexts (the bed twice, one that hangs): the bed prints under both names, the hung one is named, exit 4', async () => {
    const bed = yaml.load(readFileSync(KUBECONFIG, 'utf8')) as { clusters: object[]; users: Array<{ name: string }>; contexts: Array<{ context: { cluster: string; user: string } }> };
    const ctx0 = bed.contexts[0]!.context;
    const file = join(mkdtempSync(join(tmpdir(), 'km-list-')), 'config');
    writeFileSync(
      file,
      yaml.dump({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'bed-a',
        clusters: [...bed.clusters, { name: 'hung', cluster: { server: `http://127.0.0.1:${(hung.address() as { port: number }).port}` } }],
        users: bed.users,
        contexts: [{ name: 'bed-a', context: ctx0 }, { name: 'bed-b', context: ctx0 }, { name: 'hung', context: { cluster: 'hung', user: ctx0.user } }],
      }),
      { mode: 0o600 },
    );
    const r = await runPlugin(['list', '-n', ns2, '--context', 'bed-a,hung,bed-b', '--request-timeout', '5s'], { env: { KUBECONFIG: file } });
    expect(r.code).toBe(4);
    expect(r.stdout.split('\n')[0]).toMatch(/^CONTEXT\s+NAMESPACE\s+NAME/);
    expect(r.stdout.split('\n').filter((l) => l.trim()).slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      `bed-a ${ns2} op`,
      `bed-a ${ns2} small`,
      `bed-b ${ns2} op`,
      `bed-b ${ns2} small`,
    ]);
    expect(r.stderr).toMatch(/^error: context "hung": the server did not answer within --request-timeout/m);
  });

  it('a user who may read one namespace: -A falls back to it and says so (exit 5); without -A exit 0', async () => {
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'milvus-reader', namespace: ns2 },
      rules: [
        { apiGroups: [''], resources: ['pods', 'secrets', 'configmaps'], verbs: ['get', 'list'] },
        { apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets'], verbs: ['get', 'list'] },
        { apiGroups: ['milvus.io'], resources: ['milvuses'], verbs: ['get', 'list'] },
      ],
    };
    await kubectl(['create', '-f', '-'], { input: JSON.stringify(role) });
    const kc = await serviceAccountKubeconfig(ns2, 'reader', { namespace: ns2 });
    await kubectl(['create', 'rolebinding', 'reader', '-n', ns2, '--role', 'milvus-reader', `--serviceaccount=${ns2}:reader`]);
    const r = await runPlugin(['list', '-A', '-o', 'name'], { env: { KUBECONFIG: kc } });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('release/op\nrelease/small\n');
    expect(r.stderr).toMatch(new RegExp(`Warning: cannot list across namespaces in context "sa" .*showing namespace "${ns2}" only`));
    const plain = await runPlugin(['list', '-o', 'name'], { env: { KUBECONFIG: kc } });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toBe('release/op\nrelease/small\n');
  });

  it('health of a namespace: a line per release with its worst check; -o json with every check; exit 12 only on a critical one', async () => {
    const r = await runPlugin(['health', '-n', ns2, '-o', 'json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.kind).toBe('HealthList');
    expect(doc.items.map((h: { release: string }) => h.release).sort()).toEqual(['op', 'small']);
    for (const h of doc.items) expect(h.checks.map((c: { check: string }) => c.check)).toEqual(expect.arrayContaining(['components', 'versions', 'healthz/standalone', 'volumes']));
    expect(r.code).toBe(doc.items.some((h: { status: string }) => h.status === 'critical') ? 12 : 0);
    const table = await runPlugin(['health', '-n', ns2]);
    expect(table.code).toBe(r.code);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+STATUS\s+OK\s+WARNING\s+CRITICAL\s+WORST$/);
    expect(lines.slice(1, 3).map((l) => l.split(/\s+/)[1]).sort()).toEqual(['op', 'small']);
    expect(lines.at(-1)).toMatch(/^2 release\(s\): \d+ ok, \d+ warning, \d+ critical$/);
  });
});
