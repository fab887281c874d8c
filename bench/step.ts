/** One step of `npm run bench` in a process of its own (bench/runner.ts): `tsx bench/step.ts <name>`. */
import { MEASUREMENTS } from './steps.js';

const name = process.argv[2];
const step = MEASUREMENTS.find((m) => m.name === name);
if (!step) {
  process.stderr.write(`error: no bench step "${name}" (steps: ${MEASUREMENTS.map((m) => m.name).join(', ')})\n`);
  process.exit(2);
}
try {
  for (const [key, value] of await step.measure()) process.stdout.write(`${key} ${value}\n`);
  // Exit, whatever handle is left open: the harness's shared etcd stops on 'exit'.
  process.exit(0);
} catch (e) {
  process.stderr.write(`${name}: ${(e as Error).message}\n`);
  process.exit(1);
}
