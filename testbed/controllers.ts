/**
 * The test bed's background controllers, started by `node testbed/run.mjs up` as one process
 * (pid in .testbed/controllers.pid, log in .testbed/controllers.log) and stopped by `down`:
 * - the dependency gateway for the real Milvus Operator (operator-deps/gateway.ts), when run.mjs
 *   passes TESTBED_OPERATOR_HOSTS and TESTBED_OPERATOR_ETCD;
 * - the fault controller for metadata-migration pods (faults/controller.ts).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { startFaultController } from './faults/controller.js';
import { startDependencyGateway } from './operator-deps/gateway.js';

const kc = new KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG!);
const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
const parts: Array<{ stop(): Promise<void> }> = [startFaultController(kc, log)];
const hostsFile = process.env.TESTBED_OPERATOR_HOSTS;
const etcd = process.env.TESTBED_OPERATOR_ETCD;
if (hostsFile && etcd) parts.push(startDependencyGateway(kc, log, { hostsFile, etcd }));
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.all(parts.map((p) => p.stop()));
  log('controllers stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('unhandledRejection', (e) => log(`unhandled: ${(e as Error)?.stack ?? e}`));
