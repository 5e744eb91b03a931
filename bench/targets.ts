/**
 * The targets of issue 14 as `npm run bench` checks them: one row per target, the figure this
 * store's run measured (medians over the runs), and met / missed. A target whose scenarios were
 * not run says so.
 */
import type { BenchStore } from './stores.js';

type Row = Record<string, string | number>;

export interface TargetRow {
  target: string;
  /** What was measured, in words and figures; null: its scenarios were not run. */
  measured: string | null;
  met: boolean | null;
}

interface RunMeasurement {
  scenario: string;
  rssEvery10sMb?: number[];
  peakRssMb: number;
}

const num = (row: Row | undefined, column: string) => (row === undefined || row[column] === '-' ? undefined : Number(row[column]));

/** The worst p99 over `names` (all must have run), and which scenario it was. */
function worstP99(rows: Row[], names: string[]): { p99: number; scenario: string } | null {
  const found = names.map((name) => rows.find((r) => r.scenario === name));
  if (found.some((r) => r === undefined)) return null;
  return found.map((r) => ({ p99: Number((r as Row)['p99 ms']), scenario: String((r as Row).scenario) })).reduce((a, b) => (b.p99 > a.p99 ? b : a));
}

export function targetRows(store: BenchStore, rows: Row[], runs: RunMeasurement[][]): TargetRow[] {
  const sqlite = store === 'sqlite';
  const row = (name: string) => rows.find((r) => r.scenario === name);
  const out: TargetRow[] = [];
  const add = (target: string, measured: string | null, met: boolean | null) => out.push({ target, measured, met });

  const ceiling = num(row('ceiling'), 'req/s');
  const getOu = num(row('get-ou'), 'req/s');
  const share = sqlite ? 60 : 30;
  add(
    `authenticated GET one OU ≥ ${share} % of the ceiling's requests/s`,
    ceiling && getOu ? `${Math.round((100 * getOu) / ceiling)} % (${getOu} of ${ceiling})` : null,
    ceiling && getOu ? (100 * getOu) / ceiling >= share : null,
  );

  const metricsOff = num(row('get-ou-metrics-off'), 'req/s');
  const metricsOn = num(row('get-ou-metrics-on'), 'req/s');
  add(
    'the cost of metrics on GET one OU (A/B in one run): ≤ 5 %',
    metricsOff && metricsOn ? `${(100 * (1 - metricsOn / metricsOff)).toFixed(1)} % (${metricsOn} req/s with metrics, ${metricsOff} without)` : null,
    metricsOff && metricsOn ? 1 - metricsOn / metricsOff <= 0.05 : null,
  );

  const lists = worstP99(rows, ['list-ous-page-1', 'list-ous-middle-page', 'list-ous-last-page', 'list-ous-search', 'list-ous-search-middle-page', 'list-ous-search-last-page']);
  add('any page of the OU list (first, middle, last), with or without search: p99 ≤ 50 ms at 16 connections', lists && `worst p99 ${lists.p99} ms (${lists.scenario})`, lists && lists.p99 <= 50);

  const users = worstP99(rows, [
    'users-direct-busiest-page-1',
    'users-direct-busiest-middle-page',
    'users-direct-busiest-last-page',
    'users-nested-root-page-1',
    'users-nested-root-middle-page-16-connections',
    'users-nested-root-last-page-16-connections',
    'users-nested-mid-level-page-1',
    'users-nested-mid-level-middle-page',
    'users-nested-mid-level-last-page',
  ]);
  add("any page of an OU's users (first, middle, last), direct or nested: p99 ≤ 50 ms at 16 connections", users && `worst p99 ${users.p99} ms (${users.scenario})`, users && users.p99 <= 50);

  const walkLimit = sqlite ? 1000 : 1500;
  const walk = num(row('walk-branch-nested-users-by-cursor'), 'p50 ms');
  const walkByPage = num(row('walk-branch-nested-users-by-page'), 'p50 ms');
  add(
    `every page of a branch's nested users, one after another, 100 per page: ≤ ${walkLimit / 1000} s in all`,
    walk === undefined ? null : `${Math.round(walk)} ms by next_cursor${walkByPage === undefined ? '' : `, ${Math.round(walkByPage)} ms by page number`}`,
    walk === undefined ? null : walk <= walkLimit && (walkByPage === undefined || walkByPage <= walkLimit),
  );

  const wideLimit = sqlite ? 100 : 150;
  const wide = num(row('get-ou-wide-16-connections'), 'p99 ms');
  const wideCeiling = num(row('ceiling-wide-16-connections'), 'p99 ms');
  add(
    `GET the OU with 10,000 children: p99 ≤ ${wideLimit} ms at 16 connections`,
    wide === undefined ? null : `p99 ${wide} ms${wideCeiling === undefined ? '' : ` (a constant 1.1 MB body from a bare route: ${wideCeiling} ms)`}`,
    wide === undefined ? null : wide <= wideLimit,
  );

  const createTarget = sqlite ? 2000 : 1000;
  const creates = num(row('create-ou'), 'req/s');
  add(`create OU in one tenant, 16 connections, request logs on: ≥ ${createTarget} per second`, creates === undefined ? null : `${creates} per second`, creates === undefined ? null : creates >= createTarget);

  const mixedTarget = sqlite ? 750 : 400;
  const mixed = num(row('mixed'), 'req/s');
  add(`the mixed load: ≥ ${mixedTarget} requests/s`, mixed === undefined ? null : `${mixed} requests/s`, mixed === undefined ? null : mixed >= mixedTarget);

  // Flat: the last 10 s within 10 % of the 10 s at the middle of the load, in every run.
  const mixedRuns = runs.flat().filter((m) => m.scenario === 'mixed' && m.rssEvery10sMb && m.rssEvery10sMb.length >= 2);
  if (mixedRuns.length === 0) add('server RSS under the mixed load ≤ 250 MB and flat', null, null);
  else {
    const peak = Math.max(...mixedRuns.map((m) => m.peakRssMb));
    const drifts = mixedRuns.map((m) => {
      const every = m.rssEvery10sMb as number[];
      return every[every.length - 1] / every[Math.floor((every.length - 1) / 2)] - 1;
    });
    const seconds = (mixedRuns[0].rssEvery10sMb as number[]).length * 10;
    const worst = Math.max(...drifts);
    add(
      'server RSS under the mixed load ≤ 250 MB, flat (4 minutes: --mixed-seconds 240)',
      `peak ${Math.round(peak)} MB over ${seconds} s; last 10 s against the middle 10 s: ${worst >= 0 ? '+' : ''}${(100 * worst).toFixed(1)} % (worst run)`,
      peak <= 250 && worst <= 0.1,
    );
  }
  return out;
}

const verdict = (row: TargetRow | undefined) => (row === undefined || row.met === null ? 'not measured' : row.met ? '**met**' : '**missed**');

/** The targets of both stores side by side (a store with no run on record: not measured). */
export function targetsTable(byStore: { sqlite?: TargetRow[]; postgres?: TargetRow[] }): string {
  const count = (byStore.sqlite ?? byStore.postgres ?? []).length;
  const lines = ['| target | SQLite | | PostgreSQL | |', '|---|---|---|---|---|'];
  Array.from({ length: count }).forEach((_, i) => {
    const s = byStore.sqlite?.[i];
    const p = byStore.postgres?.[i];
    const label = s && p && s.target !== p.target ? `${s.target} / ${p.target}` : (s ?? p)?.target;
    lines.push(`| ${label} | ${s?.measured ?? '-'} | ${verdict(s)} | ${p?.measured ?? '-'} | ${verdict(p)} |`);
  });
  return lines.join('\n');
}
