// Which test bed a command or a test talks to: one rule for testbed/run.mjs and the e2e harness.
// TESTBED_CLUSTER=<name> names a second, independent bed (its own kubeconfig, controllers and
// ports) beside the default one, e.g. to try the bed's own lifecycle while tests use the default.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_CLUSTER = 'kubectl-milvus';
/** The checkout's test bed directory (git-ignored). */
export const TESTBED_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '.testbed');

/** The bed named by TESTBED_CLUSTER (or the default): its name, file suffix and kubeconfig. */
export function testbedCluster(env = process.env) {
  const name = env.TESTBED_CLUSTER || DEFAULT_CLUSTER;
  // It names files and kwokctl's cluster directory: a DNS label, nothing that walks the tree.
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
    throw new Error(`TESTBED_CLUSTER="${name}" is not a valid cluster name (lower-case letters, digits and '-')`);
  }
  const suffix = name === DEFAULT_CLUSTER ? '' : `-${name}`;
  return { name, suffix, kubeconfig: join(TESTBED_DIR, `kubeconfig${suffix}`) };
}
