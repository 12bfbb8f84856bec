/** A plain aligned table on stdout: a bold header, then one row per line (the last column is not padded). */
import type { Io } from './io.js';

/** Prints the table, each line after `indent`. */
export function printTable(io: Io, header: string[], rows: string[][], indent = ''): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  io.out(indent + io.style.bold(line(header)));
  for (const row of rows) io.out(indent + line(row));
}
