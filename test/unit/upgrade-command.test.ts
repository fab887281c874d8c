/** `upgrade` flag parsing and validation (toOptions: no I/O), as a table. */
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/errors.js';
import { toOptions } from '../../src/commands/upgrade.js';

const base = { release: 'r', chart: 'zilliztech/milvus', timeout: '10m', 'flush-timeout': '30m', 'serving-timeout': '10m', 'session-wait': '75s', 'migration-image': 'milvusdb/meta-migration:v2.2.0-bugfix-20230112', 'dry-run': false, yes: false, resume: false, restart: false };

describe('upgrade toOptions', () => {
  it('parses durations and keeps the plan flags as given', () => {
    const o = toOptions({ ...base, to: 'v2.6.5', 'chart-version': '5.0.22', image: 'registry.local/milvus', timeout: '2m', 'session-wait': '1s', yes: true });
    expect(o.flags).toEqual({ to: 'v2.6.5', chartVersion: '5.0.22', image: 'registry.local/milvus' });
    expect([o.timeoutMs, o.sessionWaitMs, o.flushTimeoutMs]).toEqual([120_000, 1000, 1_800_000]);
    expect(o.run).toEqual({ dryRun: false, yes: true, resume: false, restart: false });
  });
  it.each([
    [{ to: undefined }, /--to is required/],
    [{ to: '2.6.5', release: 'Bad_Name' }, /invalid release name/],
    [{ to: '2.6.5', timeout: '0s' }, /--timeout must be greater than 0/],
    [{ to: '2.6.5', timeout: 'soon' }, /invalid --timeout "soon"/],
    [{ to: '2.6.5', 'serving-timeout': '0s' }, /--serving-timeout must be at least 1s/],
    [{ to: '2.6.5', resume: true, restart: true }, /--resume and --restart exclude each other/],
    [{ to: '2.6.5', image: 'Milvus:latest!' }, /invalid --image/],
    [{ to: '2.6.5', 'milvus-secret': 'Bad_Secret' }, /--milvus-secret: "Bad_Secret" is not a valid Secret name/],
  ])('%o is refused with exit 2', (extra, message) => {
    let err: unknown;
    try {
      toOptions({ ...base, ...extra } as Parameters<typeof toOptions>[0]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toMatch(message);
  });
});
