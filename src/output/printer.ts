/**
 * One printer for every command's -o flag: table (default), wide, json, yaml, name. Data goes
 * to stdout only; with json/yaml stdout carries nothing but the document.
 */
import yaml from 'js-yaml';
import { usageError } from '../errors.js';
import { formatTable, type Cell } from './table.js';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string | undefined, allowed: readonly OutputFormat[] = OUTPUT_FORMATS): OutputFormat {
  const v = (value ?? 'table') as OutputFormat;
  if (!allowed.includes(v)) {
    throw usageError(`unable to match a printer suitable for the output format "${value}", allowed formats are: ${allowed.join(',')}`);
  }
  return v;
}

export interface Column<T> {
  header: string;
  value: (row: T) => Cell;
  /** Shown only with -o wide. */
  wide?: boolean;
}

export function renderTable<T>(rows: T[], columns: Column<T>[], wide: boolean): string {
  const cols = columns.filter((c) => wide || !c.wide);
  return formatTable(
    cols.map((c) => c.header),
    rows.map((r) => cols.map((c) => c.value(r))),
  );
}

/** JSON with 64-bit integers kept exact: values of type bigint are written as bare numbers. */
export function toJson(data: unknown): string {
  const marks = new Map<string, string>();
  let n = 0;
  const s = JSON.stringify(
    data,
    (_k, v) => {
      if (typeof v === 'bigint') {
        const mark = `\u0000bigint${n++}\u0000`;
        marks.set(mark, v.toString());
        return mark;
      }
      return v;
    },
    2,
  );
  return (s ?? 'null').replace(/"\\u0000bigint\d+\\u0000"/g, (m) => marks.get(JSON.parse(m) as string) ?? m) + '\n';
}

export function toYaml(data: unknown): string {
  return yaml.dump(data, {
    noRefs: true,
    lineWidth: -1,
    replacer: (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
  } as yaml.DumpOptions);
}

export interface Printable<T> {
  format: OutputFormat;
  /** The structured document for json/yaml (a kubectl List, or the command's own object). */
  document: unknown;
  rows: T[];
  columns: Column<T>[];
  /** kind/name for -o name. */
  name?: (row: T) => string;
}

export function render<T>(p: Printable<T>): string {
  switch (p.format) {
    case 'json':
      return toJson(p.document);
    case 'yaml':
      return toYaml(p.document);
    case 'name':
      if (!p.name) throw usageError('-o name is not supported by this command');
      return p.rows.map((r) => p.name!(r) + '\n').join('');
    case 'wide':
      return renderTable(p.rows, p.columns, true);
    case 'table':
      return renderTable(p.rows, p.columns, false);
  }
}

/**
 * Prints `doc` as the document -o json or -o yaml asks for and returns true; returns false for
 * the table formats, which each command lays out itself.
 */
export function printDocument(out: { globals: { output: OutputFormat }; print(text: string): void }, doc: unknown): boolean {
  const fmt = out.globals.output;
  if (fmt === 'json') out.print(toJson(doc));
  else if (fmt === 'yaml') out.print(toYaml(doc));
  else return false;
  return true;
}
