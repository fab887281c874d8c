import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { readFileSync, readlinkSync } from 'node:fs';
import { holderOf, leaseLock, procProcessTable, type HolderProcess } from '../../src/procedure/lease.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

const NOW = new Date('2026-12-03T05:00:00Z');
const HOLDER_PROCESS_ANNOTATION = 'kubectl-milvus.io/holder-process';

/** A process's record read from /proc here, independently of the code under test. */
function processRecord(pid = process.pid): HolderProcess {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return {
    bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    pidNamespace: readlinkSync('/proc/self/ns/pid'),
    pid,
    startTicks: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!,
  };
}

function lease(identity: string, renewedAgoS: number, proc?: HolderProcess | string): V1Lease {
  const renew = new Date(NOW.getTime() - renewedAgoS * 1000).toISOString();
  return {
    metadata: {
      name: 'kubectl-milvus-upgrade-rel',
      namespace: 'ns',
      resourceVersion: '41',
      ...(proc ? { annotations: { [HOLDER_PROCESS_ANNOTATION]: typeof proc === 'string' ? proc : JSON.stringify(proc) } } : {}),
    },
    spec: { holderIdentity: identity, leaseDurationSeconds: 60, acquireTime: renew as never, renewTime: renew as never },
  };
}

/** A real child process of this test, its record while it runs, and a way to end it (reaped: gone). */
async function childProcess(): Promise<{ record: HolderProcess; end(): Promise<void> }> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const record = processRecord(child.pid!);
  return {
    record,
    end: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

describe('lease holder on this machine: its process decides at once', () => {
  it('a holder whose process has ended is dead at once, though its heartbeat is 5 s old', async () => {
    const c = await childProcess();
    const l = lease('alice@host pid 1 run abcd1234', 5, c.record);
    expect(holderOf(l, NOW)).toMatchObject({ live: true });
    await c.end();
    expect(holderOf(l, NOW)).toEqual({ identity: 'alice@host pid 1 run abcd1234', renewedAt: new Date(NOW.getTime() - 5000).toISOString(), live: false, processGone: true });
  });

  it('a pid that now belongs to another process (another start time) is a dead holder', () => {
    const me = processRecord();
    expect(holderOf(lease('a@h pid 1 run x', 5, { ...me, startTicks: String(Number(me.startTicks) + 1) }), NOW)).toMatchObject({ live: false, processGone: true });
    expect(holderOf(lease('a@h pid 1 run x', 5, me), NOW)).toMatchObject({ live: true });
  });

  it('another boot, another pid namespace, no record or an unreadable one: the heartbeat decides', async () => {
    const c = await childProcess();
    await c.end();
    for (const proc of [{ ...c.record, bootId: 'another-boot' }, { ...c.record, pidNamespace: 'pid:[1]' }, undefined, '{not json', JSON.stringify({ pid: c.record.pid })]) {
      expect(holderOf(lease('b@h pid 2 run y', 5, proc), NOW), JSON.stringify(proc)).toMatchObject({ live: true });
      expect(holderOf(lease('b@h pid 2 run y', 61, proc), NOW)).toMatchObject({ live: false });
    }
    // A process table that cannot answer is no evidence either.
    expect(holderOf(lease('b@h pid 2 run y', 5, c.record), NOW, { self: () => undefined, state: () => 'unknown' })).toMatchObject({ live: true });
    expect(procProcessTable.state({ ...c.record, bootId: 'another-boot' })).toBe('unknown');
  });

  it('--resume takes over at once from a run of this machine that died (kill -9), writing its own process record', async () => {
    const c = await childProcess();
    await c.end();
    let stored: V1Lease = lease('alice@host pid 9 run dead0000', 3, c.record);
    const writes: V1Lease[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.method === 'GET') return res.end(JSON.stringify(stored));
        if (req.method === 'PUT') {
          const l = JSON.parse(body) as V1Lease;
          writes.push(l);
          stored = { ...l, metadata: { ...l.metadata, resourceVersion: '42' } };
          return res.end(JSON.stringify(stored));
        }
        res.statusCode = 405;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { ctx } = testContext({ kube: kubeForFixture(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) });
      const lock = leaseLock({ ...ctx, now: () => NOW }, { namespace: 'ns', name: 'kubectl-milvus-upgrade-rel', release: 'rel', procedure: 'upgrade' });
      expect(await lock.acquire('bob@host pid 10 run 1111aaaa')).toEqual({ ok: true });
      expect(writes).toHaveLength(1);
      expect(writes[0]!.metadata?.resourceVersion).toBe('41');
      expect(writes[0]!.spec?.holderIdentity).toBe('bob@host pid 10 run 1111aaaa');
      expect(JSON.parse(writes[0]!.metadata!.annotations![HOLDER_PROCESS_ANNOTATION]!)).toEqual(processRecord());
    } finally {
      server.close();
    }
  });

  it('a live run of this machine keeps its hold: the next run is refused, naming it', async () => {
    const c = await childProcess();
    try {
      const server = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(lease('alice@host pid 9 run live0000', 3, c.record)));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const { ctx } = testContext({ kube: kubeForFixture(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) });
        const lock = leaseLock({ ...ctx, now: () => NOW }, { namespace: 'ns', name: 'kubectl-milvus-upgrade-rel', release: 'rel', procedure: 'upgrade' });
        expect(await lock.acquire('bob@host pid 10 run 1111aaaa')).toMatchObject({ ok: false, holder: { identity: 'alice@host pid 9 run live0000', live: true } });
      } finally {
        server.close();
      }
    } finally {
      await c.end();
    }
  });
});
