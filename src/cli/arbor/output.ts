import type { Session } from './session.js';

/** The answer on stdout: as JSON with --json, else as `text` says. */
export function print(s: Session, data: unknown, text: () => string): void {
  process.stdout.write(`${s.json ? JSON.stringify(data, null, 2) : text()}\n`);
}

/** Columns padded to their widest cell; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()).join('\n');
}

/** A size as people read it: 473 B, 12 kB, 3.4 MB, 120 MB (powers of 1000, as disks and networks count). */
export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 || value >= 10 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
