/**
 * vitest globalSetup: after a run that used the test bed, say that the bed is still running and
 * how to stop it. `npm test` starts the bed (run.mjs ensure) and leaves it up for the next run;
 * without this line, whoever ran it by hand would not know that a control plane, etcd, KWOK and
 * the Milvus Operator keep running on the machine. (.ci/run stops it itself.)
 */
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { testbedCluster } from '../../testbed/cluster.mjs';

/** The line to print after a run, or undefined when no e2e file ran or the bed is not up. */
export function testbedNotice(ranE2e: boolean, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!ranE2e) return undefined;
  const cluster = testbedCluster(env);
  if (!existsSync(cluster.kubeconfig)) return undefined;
  const prefix = env.TESTBED_CLUSTER ? `TESTBED_CLUSTER=${cluster.name} ` : '';
  return `The test bed (cluster ${cluster.name}: kube-apiserver, etcd, KWOK, the Milvus Operator) is still running; stop it with: ${prefix}npm run testbed -- down`;
}

export default function setup(project: TestProject): () => void {
  return () => {
    const ranE2e = project.vitest.state.getFiles().some((f) => f.projectName?.startsWith('e2e') ?? false);
    const line = testbedNotice(ranE2e);
    if (line) process.stderr.write(`\n${line}\n`);
  };
}
