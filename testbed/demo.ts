/**
 * `npm run demo`: the newcomer's first run. On the running test bed it installs one Helm and one
 * Operator Milvus release with Pulsar v2 in namespace "demo" (reusing them when present), points
 * their proxy pods' management API at a local Milvus simulator, and runs the packaged plugin:
 * status, pvc-list, flush and pulsar-upgrade --dry-run, printing each command and its output.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startMilvusSim } from './milvus-sim/sim.js';
import { CHART, createOperatorMilvus, forwardNamespaceTo, helm, kubectl, pluginCommand, testbedEnv } from '../test/e2e/harness.js';

const NS = 'demo';

/** Runs the packaged plugin and prints the command, its output and its exit code. Asynchronous:
 * the Milvus simulator answering the plugin runs in this process. */
async function show(args: string[]): Promise<void> {
  process.stdout.write(`\n\u001b[1m$ kubectl milvus ${args.join(' ')}\u001b[0m\n`);
  const p = pluginCommand();
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn(p.cmd, [...p.args, ...args], { env: testbedEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => resolve(e.message));
    child.on('close', (c, signal) => resolve(c ?? String(signal)));
  });
  process.stdout.write(`(exit code ${code})\n`);
}

const sim = await startMilvusSim({ version: '2.4', databases: { default: ['books', 'films'], analytics: ['events'] }, flushAfterPolls: 2 });
sim.sim.insert('default', 'books');
sim.sim.insert('analytics', 'events');
await kubectl(['create', 'namespace', NS]).catch(() => undefined);
await forwardNamespaceTo(NS, sim.port, 9091);
await forwardNamespaceTo(NS, sim.port, 19530);
process.stderr.write('installing Helm release "my-release" and Operator release "vector-db" in namespace demo ...\n');
await Promise.all([
  helm(['upgrade', '--install', 'my-release', CHART, '-n', NS, '--wait', '--timeout', '3m']),
  createOperatorMilvus(NS, 'vector-db', {
    mode: 'cluster',
    components: { image: 'milvusdb/milvus:v2.4.5' },
    dependencies: { msgStreamType: 'pulsar', pulsar: { inCluster: { chartVersion: 'pulsar-v2' } } },
  }),
]);
process.stdout.write(`\nKUBECONFIG=${join(import.meta.dirname, '..', '.testbed', 'kubeconfig')}  (use it with kubectl to look around)\n`);
await show(['status', 'my-release', '-n', NS]);
await show(['pvc-list', 'my-release', '-n', NS]);
await show(['status', 'vector-db', '-n', NS]);
await show(['pvc-list', 'vector-db', '-n', NS, '-o', 'wide']);
await show(['flush', 'my-release', '-n', NS]);
await show(['pulsar-upgrade', 'my-release', '-n', NS, '--dry-run', '--chart', CHART]);
await show(['pulsar-upgrade', 'vector-db', '-n', NS, '--dry-run']);
await sim.close();
process.stdout.write('\nThe demo releases stay in namespace "demo"; "npm run testbed -- down" stops the test bed.\n');
