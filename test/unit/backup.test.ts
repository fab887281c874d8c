import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreSteps, writeExclusive } from '../../src/backup/backup.js';
import { ExitCode } from '../../src/errors.js';
import { secretsApi } from './secrets-fixture.js';

describe('backup files', () => {
  it('are created exclusively: the same content again is fine, other content is refused and the file kept', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'km-bk-')), 'values.yaml');
    writeExclusive(f, 'a: 1\n');
    writeExclusive(f, 'a: 1\n');
    expect(() => writeExclusive(f, 'a: 2\n')).toThrow(expect.objectContaining({ exitCode: ExitCode.PRECONDITION }));
    expect(readFileSync(f, 'utf8')).toBe('a: 1\n');
    writeFileSync(f + '.x', 'other');
    expect(() => writeExclusive(f + '.x', 'new')).toThrow('is never overwritten');
  });

  it('restore steps read the right key of the secret', () => {
    const steps = restoreSteps({ secret: 'kubectl-milvus-backup-pulsar-upgrade-r', procedure: 'pulsar-upgrade', keys: ['manifest.yaml', 'values-pulsarv3.yaml', 'values.yaml'], createdAt: undefined }, 'ns', 'r');
    expect(steps[0]).toBe(`kubectl get secret kubectl-milvus-backup-pulsar-upgrade-r -n ns -o jsonpath='{.data.values-pulsarv3\\.yaml}' | base64 -d > values-pulsarv3.yaml`);
    expect(steps[1]).toContain('helm upgrade --install r <chart>');
  });
});

/** An API fixture that keeps Secrets of namespace "ns" in memory (create 409 on an existing one, replace only at the version read). */

describe('the in-cluster backup Secret', () => {
  it("keeps every run's files under keys of that run: a later run never replaces an earlier run's key", async () => {
    const { saveBackup, readBackup } = await import('../../src/backup/backup.js');
    const api = await secretsApi();
    try {
      const where = (runId: string) => ({ namespace: 'ns', release: 'r', procedure: 'upgrade', dir: mkdtempSync(join(tmpdir(), 'km-bk-')), runId });
      const first = await saveBackup(api.ctx, where('20260101T000000000Z'), { 'hop-1-values.yaml': 'image: v2.4.5\n' });
      // The same run repeating its step after an interruption: the same content is kept.
      await saveBackup(api.ctx, where('20260101T000000000Z'), { 'hop-1-values.yaml': 'image: v2.4.5\n' });
      // A later run saves the same file name with the values of its own start.
      await saveBackup(api.ctx, where('20260202T000000000Z'), { 'hop-1-values.yaml': 'image: v2.4.6\n' });
      expect(api.keys(first.secret)).toEqual(['20260101T000000000Z.hop-1-values.yaml', '20260202T000000000Z.hop-1-values.yaml']);
      expect(api.value(first.secret, '20260101T000000000Z.hop-1-values.yaml')).toBe('image: v2.4.5\n');
      // The newest run's files are what a resumed run reads.
      expect(await readBackup(api.ctx, 'ns', first.secret)).toEqual({ 'hop-1-values.yaml': 'image: v2.4.6\n' });
      // One run's key with other content is refused, never replaced.
      const err = await saveBackup(api.ctx, where('20260202T000000000Z'), { 'hop-1-values.yaml': 'image: v9\n' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ exitCode: ExitCode.PRECONDITION, message: expect.stringContaining('a backup key is never replaced') });
      expect(api.value(first.secret, '20260202T000000000Z.hop-1-values.yaml')).toBe('image: v2.4.6\n');
    } finally {
      api.close();
    }
  });

  it('restore steps of a run read that run\'s key', () => {
    const steps = restoreSteps({ secret: 's', procedure: 'pulsar-upgrade', runId: '20260101T000000000Z', keys: ['manifest.yaml', 'values.yaml'], createdAt: undefined }, 'ns', 'r');
    expect(steps[0]).toBe(`kubectl get secret s -n ns -o jsonpath='{.data.20260101T000000000Z\\.values\\.yaml}' | base64 -d > values.yaml`);
  });
});
