/**
 * What every procedure that runs helm with a values file shares: the oldest helm it accepts and
 * a private temporary values file (mode 0600, removed when the command ends, success or not).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The oldest helm the procedures accept (--reset-then-reuse-values, the Pulsar v3 chart). */
export const MIN_HELM = '3.14.0';

/** Runs `fn` with the path of a file holding `values`; the file is removed when `fn` settles. */
export function withTempValues<T>(values: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-milvus-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, values, { mode: 0o600 });
  return fn(file).finally(() => rmSync(dir, { recursive: true, force: true }));
}
