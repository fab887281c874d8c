import { describe, expect, it } from 'vitest';
import { editDistance, findCommand, parseFlags, type FlagSpec } from '../../src/cli/flags.js';
import { GLOBAL_FLAGS } from '../../src/cli/app.js';
import { CliError, ExitCode } from '../../src/errors.js';

const FLAGS: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'yes', short: 'y', type: 'boolean', default: false, describe: 'y' },
  { name: 'dry-run', type: 'boolean', default: false, describe: 'd' },
  { name: 'timeout', type: 'string', default: '30m', describe: 't' },
  { name: 'database', type: 'strings', describe: 'db' },
  { name: 'via', type: 'string', choices: ['port-forward', 'service-proxy'], describe: 'v' },
];

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.USAGE);
    return (e as CliError).message;
  }
  throw new Error('expected a usage error');
}

describe('parseFlags (pflag manners on node:util parseArgs)', () => {
  it('takes values in every spelling kubectl users type', () => {
    for (const args of [
      ['r1', '-n', 'ns1', '--timeout', '5m'],
      ['-n=ns1', 'r1', '--timeout=5m'],
      ['-nns1', '--timeout=5m', 'r1'],
      ['--namespace', 'ns1', 'r1', '--timeout', '5m'],
    ]) {
      const p = parseFlags(args, FLAGS);
      expect([args, p.positionals, p.values.namespace, p.values.timeout]).toEqual([args, ['r1'], 'ns1', '5m']);
    }
  });

  it('fills defaults, repeats string lists, reads -v=4 and --v 4 alike', () => {
    const p = parseFlags(['r1', '--database', 'a', '--database=b', '-v=4'], FLAGS);
    expect(p.values).toMatchObject({ yes: false, 'dry-run': false, timeout: '30m', database: ['a', 'b'], v: '4', via: undefined });
    expect(parseFlags(['--v', '7'], FLAGS).values.v).toBe('7');
    expect(parseFlags([], FLAGS).values.database).toBeUndefined();
  });

  it('accepts booleans as --flag, --flag=true and --flag=false, and combined shorthands', () => {
    expect(parseFlags(['-y'], FLAGS).values.yes).toBe(true);
    expect(parseFlags(['--yes=true', '--dry-run=false'], FLAGS).values).toMatchObject({ yes: true, 'dry-run': false });
    expect(parseFlags(['-y=false'], FLAGS).values.yes).toBe(false);
    expect(parseFlags(['-yn', 'ns2'], FLAGS).values).toMatchObject({ yes: true, namespace: 'ns2' });
  });

  it('keeps a value that starts with a dash attached to its flag', () => {
    expect(parseFlags(['--timeout=-1s', '-n=-ns'], FLAGS).values).toMatchObject({ timeout: '-1s', namespace: '-ns' });
  });

  it('stops at --: what follows is an argument even if it looks like a flag', () => {
    const p = parseFlags(['-y', '--', '--not-a-flag'], FLAGS);
    expect(p.positionals).toEqual(['--not-a-flag']);
  });

  it('sees -h and --help anywhere', () => {
    expect(parseFlags(['r1', '-h'], FLAGS).help).toBe(true);
    expect(parseFlags(['--help', 'r1'], FLAGS).help).toBe(true);
    expect(parseFlags(['r1'], FLAGS).help).toBe(false);
  });

  it('refuses unknown flags, missing values, bad booleans and values outside the choices', () => {
    expect(usage(() => parseFlags(['--bogus'], FLAGS))).toBe('unknown flag: --bogus');
    expect(usage(() => parseFlags(['-Z'], FLAGS))).toBe('unknown flag: -Z');
    expect(usage(() => parseFlags(['--timeout'], FLAGS))).toBe('flag needs an argument: --timeout');
    expect(usage(() => parseFlags(['--yes=perhaps'], FLAGS))).toBe('invalid argument "perhaps" for "-y, --yes" flag: use true or false');
    expect(usage(() => parseFlags(['--via=ssh'], FLAGS))).toBe('invalid argument "ssh" for "--via" flag: use port-forward or service-proxy');
  });
});

describe('findCommand', () => {
  it('skips global flags and their values before the command', () => {
    expect(findCommand(['-n', 'flush', 'status', 'r1'], GLOBAL_FLAGS)).toEqual({ index: 2, name: 'status' });
    expect(findCommand(['--context=c1', '-v', '4', 'flush', 'r1'], GLOBAL_FLAGS)).toEqual({ index: 3, name: 'flush' });
    expect(findCommand(['--no-color', 'version'], GLOBAL_FLAGS)).toEqual({ index: 1, name: 'version' });
    expect(findCommand(['-n', 'ns1'], GLOBAL_FLAGS)).toBeUndefined();
  });
});

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('flush', 'flush')).toBe(0);
    expect(editDistance('flsh', 'flush')).toBe(1);
    expect(editDistance('stauts', 'status')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('exclusive flags', () => {
  const TABLE: FlagSpec[] = [
    { name: 'resume', type: 'boolean', default: false, exclusive: ['restart'], describe: 'r' },
    { name: 'restart', type: 'boolean', default: false, exclusive: ['resume'], describe: 'r' },
    { name: 'file', type: 'string', exclusive: ['dir'], describe: 'f' },
    { name: 'dir', type: 'string', default: '.', describe: 'd' },
  ];
  it('refuses a pair given together, naming both in table order', () => {
    expect(usage(() => parseFlags(['--restart', '--resume'], TABLE))).toBe('--resume and --restart exclude each other');
    expect(usage(() => parseFlags(['--dir', 'x', '--file', 'y'], TABLE))).toBe('--file and --dir exclude each other');
  });
  it('counts only flags given: a default, or a boolean given as false, is no clash', () => {
    expect(parseFlags(['--file', 'y'], TABLE).values).toMatchObject({ file: 'y', dir: '.' });
    expect(parseFlags(['--resume=false', '--restart'], TABLE).values).toMatchObject({ resume: false, restart: true });
    expect(parseFlags(['--resume', '--restart=false'], TABLE).values).toMatchObject({ resume: true, restart: false });
  });
});

