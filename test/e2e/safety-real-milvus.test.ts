/**
 * Fault tests where the data matters, against a real Milvus 2.3.5 standalone server routed behind
 * the release's pods. The proof of loss is the real server's: stop it, delete its message queue
 * (rocksmq, the analogue of the Pulsar volumes the plugin deletes), start it and count the rows.
 * Rows not flushed before the stop are gone then; the server comes back with the flushed ones.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, CHART, assertTestbed, deleteNamespace, helm, installHelmRelease, kubectlJson, newNamespace, runPlugin, waitReady } from './harness.js';
import { countRows, routeNamespaceTo, startRealMilvus, writeData, type RealMilvus } from './real-milvus.js';

async function pvcNames(ns: string, selector: string): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'pvc', '-n', ns, '-l', selector]);
  return list.items.map((i) => i.metadata.name).sort();
}

/** A helm whose first `uninstall` fails before doing anything (as a refused or unreachable API would); the real helm otherwise. */
function helmFailingUninstallOnce(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-helm-'));
  const bin = join(dir, 'helm');
  const once = join(dir, 'failed-once');
  writeFileSync(
    bin,
    `#!/bin/sh\nif [ "$1" = uninstall ] && [ ! -e '${once}' ]; then : > '${once}'; echo 'Error: failed to delete release: rel' >&2; exit 1; fi\nexec '${join(BIN, 'helm')}' "$@"\n`,
  );
  chmodSync(bin, 0o755);
  return bin;
}

/** What the Pulsar volume deletion does to unflushed rows, on the real server: they are gone. */
async function loseMessageQueue(m: RealMilvus): Promise<void> {
  await m.stop();
  rmSync(m.mqDir, { recursive: true, force: true });
  await m.start();
}

describe('safety with a real Milvus 2.3.5', () => {
  let m: RealMilvus;
  beforeAll(async () => {
    assertTestbed();
    m = await startRealMilvus({ version: '2.3.5' });
  });
  afterAll(async () => {
    await m?.stop({ remove: true });
  });

  it('rows written between an interrupted run and its --resume are flushed again before the uninstall', async () => {
    const ns = await newNamespace('safe-stale');
    try {
      await routeNamespaceTo(ns, m);
      await installHelmRelease(ns, 'rel');
      await writeData(m, { default: { stale: 100 } });
      const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
      const args = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--database', 'default'];
      const first = await runPlugin(args, { env: { KUBECTL_MILVUS_TEST_INTERRUPT_AFTER: 'flush' } });
      expect(first.code, first.stderr).toBe(130);
      // The writers were not all stopped: 50 more rows after the interrupted run's flush.
      await writeData(m, { default: { stale: 50 } }, 100);
      const resumed = await runPlugin([...args, '--resume']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(await pvcNames(ns, 'app=pulsar,release=rel')).toEqual([]);
      await loseMessageQueue(m);
      expect(await countRows(m, 'default', 'stale')).toBe(150);
      expect(resumed.stderr).toMatch(/\[\d\/7\] Flush all data from Pulsar to object storage and verify it \.\.\. done/);
    } finally {
      await deleteNamespace(ns);
    }
  });

  it('a failed uninstall licenses nothing: the release uninstalled by hand later keeps its Pulsar volumes (exit 7) until it is back on Pulsar v2 and flushed, and every row survives', async () => {
    const ns = await newNamespace('safe-nostop');
    try {
      await routeNamespaceTo(ns, m);
      await installHelmRelease(ns, 'rel');
      await writeData(m, { default: { late: 100 } });
      const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
      const args = ['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--database', 'default'];
      const first = await runPlugin(args, { env: { HELM_BIN: helmFailingUninstallOnce() } });
      expect(first.code, first.stderr).toBe(10);
      expect(first.stderr).toContain('helm uninstall failed');
      // The release kept serving: 50 rows land after the flush, then someone uninstalls it by hand.
      expect(await helm(['status', 'rel', '-n', ns])).toContain('STATUS: deployed');
      await writeData(m, { default: { late: 50 } }, 100);
      await helm(['uninstall', 'rel', '-n', ns, '--wait']);
      const resumed = await runPlugin([...args, '--resume']);
      expect(resumed.code, resumed.stderr).toBe(7);
      expect(resumed.stderr).toContain('release "rel" is gone, but no stop by this tool right after a verified flush is on record');
      expect(resumed.stderr).toContain(`helm upgrade --install rel ${CHART} --version 4.2.30 -n ${ns} -f ${join(backupDir, 'values.yaml')} --wait`);
      expect(await pvcNames(ns, 'app=pulsar,release=rel')).toHaveLength(3);
      // The way back it names: the release again on Pulsar v2 from the backup, then --resume flushes before the stop.
      await helm(['upgrade', '--install', 'rel', CHART, '--version', '4.2.30', '-n', ns, '-f', join(backupDir, 'values.yaml'), '--wait', '--timeout', '3m']);
      await waitReady(ns, { selector: 'app.kubernetes.io/instance=rel' });
      const again = await runPlugin([...args, '--resume']);
      expect(again.code, again.stderr).toBe(0);
      expect(await pvcNames(ns, 'app=pulsar,release=rel')).toEqual([]);
      await loseMessageQueue(m);
      expect(await countRows(m, 'default', 'late')).toBe(150);
    } finally {
      await deleteNamespace(ns);
    }
  });

  it('a writer never stopped: the second flush right before the stop finds its rows, and nothing is stopped (exit 7), --yes or not', async () => {
    const ns = await newNamespace('safe-writer');
    let writing = true;
    let acked = 0;
    const writer = (async () => {
      while (writing) {
        await writeData(m, { default: { busy: 20 } }, 10_000 + acked);
        acked += 20;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await routeNamespaceTo(ns, m);
      await installHelmRelease(ns, 'rel');
      const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
      const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--database', 'default']);
      writing = false;
      await writer;
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toContain('Warning: Milvus will be stopped and its Pulsar v2 volumes deleted. Stop every client that writes to Milvus first');
      expect(r.stderr).toMatch(/clients still write to Milvus: default\.busy \(\d+ new segments?\) received rows after the verified flush; nothing was stopped/);
      expect(await helm(['status', 'rel', '-n', ns])).toContain('STATUS: deployed');
      expect(await pvcNames(ns, 'app=pulsar,release=rel')).toHaveLength(3);
      expect(acked).toBeGreaterThan(0);
    } finally {
      writing = false;
      await writer.catch(() => undefined);
      await deleteNamespace(ns);
    }
  });
});

describe('safety with a real Milvus 2.2.16', () => {
  let m: RealMilvus;
  beforeAll(async () => {
    assertTestbed();
    m = await startRealMilvus({ version: '2.2.16' });
  });
  afterAll(async () => {
    await m?.stop({ remove: true });
  });

  it('an idle release passes the second flush (2.2 lists no segment as newly sealed) and every row survives', async () => {
    const ns = await newNamespace('safe-idle22');
    try {
      await routeNamespaceTo(ns, m);
      await installHelmRelease(ns, 'rel');
      await writeData(m, { default: { idle: 120 } });
      const backupDir = mkdtempSync(join(tmpdir(), 'km-backup-'));
      const r = await runPlugin(['pulsar-upgrade', 'rel', '-n', ns, '-y', '--chart', CHART, '--backup-dir', backupDir, '--database', 'default']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('a second flush right before the stop sealed nothing new');
      expect(r.stderr).toContain('collection(s) of default are back');
      await loseMessageQueue(m);
      expect(await countRows(m, 'default', 'idle')).toBe(120);
    } finally {
      await deleteNamespace(ns);
    }
  });
});
