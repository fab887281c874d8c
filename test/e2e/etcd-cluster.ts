/**
 * A real etcd cluster of several members for the e2e tests of etcd-maintain: Debian's etcd from
 * the test bed, each member on free 127.0.0.1 ports with its own data directory, started through
 * the same watchdog as the private etcd (it goes when the test process goes). Tests route each
 * etcd pod's 2379 to its member with forwardPodTo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdGateway } from '../../src/backup-meta/etcd.js';
import { freePort, WATCHDOG } from './backup-meta-etcd.js';
import { BIN, kubectl, run } from './harness.js';

export interface EtcdClusterMember {
  name: string;
  port: number;
  gw: EtcdGateway;
}

export interface EtcdCluster {
  members: EtcdClusterMember[];
  /** The member the cluster elected (its name), as the members report it. */
  leader(): Promise<string>;
  close(): Promise<void>;
  kill(): void;
}

export async function startEtcdCluster(size: number, args: string[] = []): Promise<EtcdCluster> {
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i}`);
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]!.peer}`).join(',');
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const members: EtcdClusterMember[] = [];
  for (const [i, name] of names.entries()) {
    const { client, peer } = ports[i]!;
    const dir = mkdtempSync(join(tmpdir(), 'km-etcdc-'));
    dirs.push(dir);
    const url = `http://127.0.0.1:${client}`;
    children.push(
      spawn(
        process.execPath,
        [
          '-e', WATCHDOG, join(BIN, 'etcd'),
          '--name', name, '--data-dir', dir,
          '--listen-client-urls', url, '--advertise-client-urls', url,
          '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
          '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `km-${ports[0]!.client}`,
          ...args,
        ],
        { stdio: ['pipe', 'ignore', 'ignore'] },
      ),
    );
    members.push({ name, port: client, gw: new EtcdGateway(url, `etcd member ${name}`) });
  }
  const kill = () => {
    for (const m of members) m.gw.close();
    for (const c of children) c.kill('SIGTERM');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const statuses = await Promise.all(members.map((m) => m.gw.memberStatus().catch(() => undefined)));
    if (statuses.every((s) => s && s.leader !== '0')) break;
    if (Date.now() > deadline) {
      kill();
      throw new Error('the etcd cluster did not elect a leader within 30s');
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    members,
    async leader() {
      const statuses = await Promise.all(members.map((m) => m.gw.memberStatus()));
      const id = statuses[0]!.leader;
      return members[statuses.findIndex((s) => s.memberId === id)]!.name;
    },
    kill,
    async close() {
      for (const m of members) m.gw.close();
      await Promise.all(
        children.map((c) => {
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          return Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        }),
      );
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Port `podPort` of one pod goes to a loopback port (a KWOK PortForward of the pod; it wins over namespace rules). */
export async function forwardPodTo(ns: string, pod: string, port: number, podPort = 2379): Promise<void> {
  const manifest = { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'PortForward', metadata: { name: pod, namespace: ns }, spec: { forwards: [{ ports: [podPort], target: { port, address: '127.0.0.1' } }] } };
  await run('kubectl', ['delete', 'portforward', pod, '-n', ns, '--ignore-not-found']);
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
}
