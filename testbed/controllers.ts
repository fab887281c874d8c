/**
 * The test bed's background controllers, started by `node testbed/run.mjs up` as one process
 * (pid in .testbed/controllers.pid, log in .testbed/controllers.log) and stopped by `down`:
 * - the Milvus Operator SIMULATOR (operator-sim/operator.ts);
 * - the fault controller for metadata-migration pods (faults/controller.ts).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { startFaultController } from './faults/controller.js';
import { startOperatorSim } from './operator-sim/operator.js';

const kc = new KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG!);
const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
const operator = startOperatorSim(kc, log);
const faults = startFaultController(kc, log);
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.all([operator.stop(), faults.stop()]);
  log('controllers stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('unhandledRejection', (e) => log(`unhandled: ${(e as Error)?.stack ?? e}`));
