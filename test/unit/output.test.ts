import { describe, expect, it } from 'vitest';
import { age, elapsed, humanDuration } from '../../src/output/duration.js';
import { formatTable } from '../../src/output/table.js';
import { parseOutputFormat, render, toJson, toYaml, printDocument } from '../../src/output/printer.js';
import { CliError, ExitCode } from '../../src/errors.js';

describe('formatTable', () => {
  it('aligns columns with three spaces, upper-cases headers and leaves no trailing blanks', () => {
    const out = formatTable(['name', 'status', 'age'], [
      ['data-a', 'Bound', '5m'],
      ['x', 'Pending', '10d'],
    ]);
    expect(out).toBe('NAME     STATUS    AGE\ndata-a   Bound     5m\nx        Pending   10d\n');
    for (const line of out.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('prints <none> for empty cells, as kubectl does', () => {
    expect(formatTable(['a', 'b'], [['', 'x']])).toBe('A        B\n<none>   x\n');
  });
});

describe('humanDuration (kubectl AGE)', () => {
  const cases: Array<[number, string]> = [
    [-5000, '<invalid>'],
    [0, '0s'],
    [119_000, '119s'],
    [120_000, '2m'],
    [125_000, '2m5s'],
    [600_000, '10m'],
    [3 * 3600_000, '3h'],
    [3 * 3600_000 + 25 * 60_000, '3h25m'],
    [8 * 3600_000, '8h'],
    [47 * 3600_000, '47h'],
    [50 * 3600_000, '2d2h'],
    [9 * 86400_000, '9d'],
    [800 * 86400_000, '2y70d'],
    [9 * 365 * 86400_000, '9y'],
  ];
  it.each(cases)('%d ms -> %s', (ms, want) => expect(humanDuration(ms)).toBe(want));

  it('age() handles missing and string timestamps', () => {
    const now = new Date('2026-01-01T00:10:00Z');
    expect(age(undefined, now)).toBe('<unknown>');
    expect(age('2026-01-01T00:00:00Z', now)).toBe('10m');
  });

  it('elapsed() is short and readable', () => {
    expect(elapsed(850)).toBe('850ms');
    expect(elapsed(12_345)).toBe('12.3s');
    expect(elapsed(245_000)).toBe('4m05s');
  });
});

describe('printer', () => {
  it('rejects an output format the command does not support with a usage error', () => {
    try {
      parseOutputFormat('jsonpath', ['table', 'json']);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CliError);
      expect((e as CliError).exitCode).toBe(ExitCode.USAGE);
      expect((e as CliError).message).toContain('allowed formats are: table,json');
    }
  });

  it('writes 64-bit integers exactly in JSON and YAML', () => {
    const id = 454097953998181000n + 17n;
    expect(toJson({ id })).toBe('{\n  "id": 454097953998181017\n}\n');
    expect(toYaml({ id })).toContain('454097953998181017');
  });

  it('renders name, wide and table formats from the same rows', () => {
    const rows = [{ n: 'a', w: 'x' }];
    const columns = [
      { header: 'NAME', value: (r: (typeof rows)[0]) => r.n },
      { header: 'EXTRA', value: (r: (typeof rows)[0]) => r.w, wide: true },
    ];
    const base = { document: {}, rows, columns, name: (r: (typeof rows)[0]) => `thing/${r.n}` };
    expect(render({ ...base, format: 'table' })).toBe('NAME\na\n');
    expect(render({ ...base, format: 'wide' })).toBe('NAME   EXTRA\na      x\n');
    expect(render({ ...base, format: 'name' })).toBe('thing/a\n');
  });
});

describe('printDocument', () => {
  const sink = (output: 'table' | 'wide' | 'json' | 'yaml' | 'name') => {
    const printed: string[] = [];
    return { out: { globals: { output }, print: (t: string) => void printed.push(t) }, printed };
  };
  it('prints the document for -o json and -o yaml only, 64-bit integers exact', () => {
    const doc = { name: 'r', segment: 449391871227478017n };
    const json = sink('json');
    expect(printDocument(json.out, doc)).toBe(true);
    expect(json.printed).toEqual(['{\n  "name": "r",\n  "segment": 449391871227478017\n}\n']);
    const yaml = sink('yaml');
    expect(printDocument(yaml.out, doc)).toBe(true);
    expect(yaml.printed).toEqual(["name: r\nsegment: '449391871227478017'\n"]);
    for (const f of ['table', 'wide', 'name'] as const) {
      const t = sink(f);
      expect(printDocument(t.out, doc)).toBe(false);
      expect(t.printed).toEqual([]);
    }
  });
});
