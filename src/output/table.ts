/**
 * kubectl-style tables: upper-case headers, columns separated by three spaces, no borders,
 * the last column not padded, no trailing blanks (cli-runtime's tabwriter with padding 3).
 */
export type Cell = string | number | boolean | null | undefined;

function text(c: Cell): string {
  if (c === null || c === undefined || c === '') return '<none>';
  return String(c);
}

const width = (s: string) => [...s].length;

export function formatTable(headers: string[], rows: Cell[][]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_, i) => text(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ''))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - width(c) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}
