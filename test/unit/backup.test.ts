import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreSteps, writeExclusive } from '../../src/backup/backup.js';
import { ExitCode } from '../../src/errors.js';

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
