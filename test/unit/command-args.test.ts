/**
 * The argument types derived from the flag tables (defineCommand / FlagArgs), checked by tsc, and
 * pulsar-upgrade's toPulsarUpgradeOptions (no I/O) as a table.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { CommandArgs } from '../../src/cli/command.js';
import type { FlagArgs, FlagSpec } from '../../src/cli/flags.js';
import { flushCommand } from '../../src/commands/flush.js';
import { toPulsarUpgradeOptions } from '../../src/commands/pulsar-upgrade.js';
import { CliError, ExitCode } from '../../src/errors.js';

describe('flag tables type the arguments', () => {
  it('derives each flag type from its declaration', () => {
    const FLAGS = [
      { name: 'yes', type: 'boolean', default: false, describe: '' },
      { name: 'timeout', type: 'string', default: '30m', describe: '' },
      { name: 'image', type: 'string', describe: '' },
      { name: 'database', type: 'strings', describe: '' },
      { name: 'via', type: 'string', choices: ['port-forward', 'service-proxy'], describe: '' },
    ] as const satisfies readonly FlagSpec[];
    type A = CommandArgs<readonly [{ name: 'release'; describe: '' }], typeof FLAGS>;
    expectTypeOf<A['release']>().toEqualTypeOf<string>();
    expectTypeOf<A['yes']>().toEqualTypeOf<boolean>();
    expectTypeOf<A['timeout']>().toEqualTypeOf<string>();
    expectTypeOf<A['image']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<A['database']>().toEqualTypeOf<string[] | undefined>();
    expectTypeOf<A['via']>().toEqualTypeOf<'port-forward' | 'service-proxy' | undefined>();
    // Exactly the declared names: no index signature that would let a misspelt flag through.
    expectTypeOf<keyof FlagArgs<typeof FLAGS>>().toEqualTypeOf<'yes' | 'timeout' | 'image' | 'database' | 'via'>();
  });
  it('types a command declared with defineCommand from its own table', () => {
    type A = Parameters<typeof flushCommand.run>[1];
    expectTypeOf<keyof A>().toEqualTypeOf<'release' | 'timeout' | 'collections' | 'database' | 'via' | 'milvus-secret'>();
    expectTypeOf<A['via']>().toEqualTypeOf<'port-forward' | 'service-proxy' | undefined>();
    expect(flushCommand.flags?.map((f) => f.name)).toEqual(['timeout', 'collections', 'database', 'via', 'milvus-secret']);
  });
});

describe('toPulsarUpgradeOptions', () => {
  const base = {
    release: 'r', chart: 'zilliztech/milvus', timeout: '15m', 'flush-timeout': '30m',
    'dry-run': false, yes: false, resume: false, restart: false, 'skip-meta-backup': false, 'allow-milvus-version-change': false,
  };
  it('parses durations and database lists, and leaves the backup dir to the default', () => {
    const o = toPulsarUpgradeOptions({ ...base, database: ['default, sales', 'logs'], timeout: '2m', yes: true });
    expect(o.procedure).toMatchObject({ release: 'r', timeoutMs: 120_000, flushTimeoutMs: 1_800_000, databases: ['default', 'sales', 'logs'], backupDir: undefined, milvusSecret: undefined });
    expect(o.run).toEqual({ dryRun: false, yes: true, resume: false, restart: false });
  });
  it.each([
    [{ release: 'Bad_Name' }, /invalid release name/],
    [{ timeout: '0s' }, /--timeout must be greater than 0/],
    [{ 'flush-timeout': 'later' }, /invalid --flush-timeout "later"/],
    [{ resume: true, restart: true }, /--resume and --restart exclude each other/],
    [{ 'milvus-secret': 'Bad_Secret' }, /not a valid Secret name/],
  ])('%o is refused with exit 2', (extra, message) => {
    let err: unknown;
    try {
      toPulsarUpgradeOptions({ ...base, ...extra });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.USAGE);
    expect((err as CliError).message).toMatch(message);
  });
});
