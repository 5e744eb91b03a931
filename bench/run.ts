/**
 * npm run bench -- [--store sqlite|postgres] [--scenario NAME[,NAME…]] [--runs 3]
 *                  [--duration 10] [--connections 16] [--mixed-seconds 60] [--baseline <git ref>]
 *
 * For each run: a fresh copy of the seeded store, a real Arbor server process (bench/server.mjs)
 * on it, every scenario driven over HTTP, then the invariant check on what the writes left.
 * Prints one table of medians over the runs and writes it, with every run's figures, to
 * bench/results/.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { openStore } from '../src/db/store.js';
import { findInvariantViolations } from '../src/services/invariant-service.js';
import { type BenchTokens, autocannonRequests, cpuSeconds, delegationTokens, fail, freePort, loadManifest, headersFor, median, percentile, sampleRss, startServer, stopServer, tokenFor } from './harness.js';
import { type Scenario, scenarios } from './scenarios.js';
import { type TargetRow, targetRows, targetsTable } from './targets.js';
import type { SeedManifest } from './seed-data.js';
import { type BenchStore, RESULTS_DIR, freshRunStore } from './stores.js';
import { CURRENT, type Checkout, fitStoreTo, prepareBaseline } from './baseline.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    scenario: { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    // The mixed load's length (default 60 s): longer shows where its memory levels off.
    'mixed-seconds': { type: 'string' },
    // A git ref to measure in the same run, alternating with this checkout (bench/baseline.ts).
    baseline: { type: 'string' },
  },
});

interface Measurement {
  scenario: string;
  requestsPerSecond: number | null;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
  peakRssMb: number;
  /** Throughput scenarios: the server's CPU time per answered request, in µs. */
  cpuUsPerRequest?: number;
  /** Mean RSS of the first and of the last 10 s (long scenarios): is memory flat? */
  rssFirstMb?: number;
  rssLastMb?: number;
  /** Mean RSS of each 10 s of a long scenario, in MB. */
  rssEvery10sMb?: number[];
}

async function runThroughput(base: string, token: BenchTokens, pid: number, scenario: Extract<Scenario, { kind: 'throughput' }>, duration: number, connections: number): Promise<Measurement> {
  const rss = sampleRss(pid);
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url: base,
    connections,
    duration: (scenario.durationSeconds && values['mixed-seconds'] ? Number(values['mixed-seconds']) : scenario.durationSeconds) ?? duration,
    requests: autocannonRequests(scenario.requests, token),
  });
  const memory = rss.stop();
  const cpuUsPerRequest = result.requests.total > 0 ? ((cpuSeconds(pid) - cpuBefore) * 1e6) / result.requests.total : 0;
  return {
    scenario: scenario.name,
    requestsPerSecond: result.requests.average,
    cpuUsPerRequest,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    peakRssMb: memory.peak,
    ...(scenario.durationSeconds ? { rssFirstMb: memory.first, rssLastMb: memory.last, rssEvery10sMb: memory.every10s } : {}),
  };
}

async function runTimed(base: string, token: BenchTokens, pid: number, scenario: Extract<Scenario, { kind: 'timed' }>): Promise<Measurement> {
  const rss = sampleRss(pid);
  const latencies: number[] = [];
  let errors = 0;
  for (const request of scenario.requests) {
    const started = performance.now();
    const response = await fetch(`${base}${request.path}`, {
      method: request.method,
      headers: headersFor(request, token),
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    });
    await response.arrayBuffer();
    latencies.push(performance.now() - started);
    if (!response.ok) {
      errors++;
      console.error(`  ${scenario.name}: ${request.method} ${request.path} -> ${response.status}`);
    }
  }
  const memory = rss.stop();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    scenario: scenario.name,
    requestsPerSecond: null,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? 0,
    requests: latencies.length,
    errors,
    peakRssMb: memory.peak,
  };
}

/** Walks of a whole listing, one request at a time: by next_cursor, or page after page. */
async function runWalk(base: string, token: BenchTokens, pid: number, scenario: Extract<Scenario, { kind: 'walk' }>): Promise<Measurement> {
  const rss = sampleRss(pid);
  const [first] = scenario.requests;
  const headers = headersFor(first, token);
  const walks: number[] = [];
  let requests = 0;
  let errors = 0;
  let items = 0;
  for (let walk = 0; walk < scenario.walks; walk++) {
    const started = performance.now();
    let url: string | null = `${base}${first.path}`;
    let page = 1;
    items = 0;
    while (url !== null) {
      const response = await fetch(url, { headers });
      requests++;
      if (!response.ok) {
        errors++;
        console.error(`  ${scenario.name}: GET ${url} -> ${response.status}`);
        break;
      }
      const body = (await response.json()) as { data: unknown[]; next_cursor: string | null; pagination: { total_pages: number } };
      items += body.data.length;
      page++;
      if (scenario.by === 'cursor') url = body.next_cursor === null ? null : `${base}${first.path}&cursor=${encodeURIComponent(body.next_cursor)}`;
      else url = page > body.pagination.total_pages ? null : `${base}${first.path}&page=${page}`;
    }
    walks.push(performance.now() - started);
  }
  const memory = rss.stop();
  const sorted = [...walks].sort((a, b) => a - b);
  process.stdout.write(`${items} items in ${requests / scenario.walks} pages per walk, `);
  return { scenario: scenario.name, requestsPerSecond: null, p50: median(sorted), p99: sorted.at(-1) ?? 0, max: sorted.at(-1) ?? 0, requests, errors, peakRssMb: memory.peak };
}

/**
 * The scenarios with their placeholders filled in (scenarios.ts): `{busiest}` from the run's
 * store, then `{middle}` / `{last}` from the first page of each listing, asked of the server.
 */
async function resolvePlaceholders(chosen: Scenario[], base: string, token: BenchTokens, busiest: string): Promise<Scenario[]> {
  const pagesOf = new Map<string, number>();
  const resolve = async (path: string): Promise<string> => {
    let resolved = path.replaceAll('{busiest}', busiest);
    if (!/\{(middle|last)\}/.test(resolved)) return resolved;
    const firstPage = resolved.replace(/([?&])page=\{(middle|last)\}/, '$1page=1');
    if (!pagesOf.has(firstPage)) {
      const response = await fetch(`${base}${firstPage}`, { headers: headersFor({ method: 'GET', path: firstPage }, token) });
      if (!response.ok) throw new Error(`GET ${firstPage} -> ${response.status}: cannot size the listing`);
      pagesOf.set(firstPage, ((await response.json()) as { pagination: { total_pages: number } }).pagination.total_pages);
    }
    const pages = pagesOf.get(firstPage) as number;
    resolved = resolved.replace('{middle}', String(Math.max(1, Math.ceil(pages / 2)))).replace('{last}', String(Math.max(1, pages)));
    return resolved;
  };
  const out: Scenario[] = [];
  for (const scenario of chosen) {
    const requests = await Promise.all(scenario.requests.map(async (r) => ({ ...r, path: await resolve(r.path) })));
    out.push({ ...scenario, requests } as Scenario);
  }
  return out;
}

/** The OU of the big tenant with the most direct users (a few hold thousands). */
async function busiestOu(databaseUrl: string, tenantId: string): Promise<string> {
  const store = openStore(databaseUrl, { poolSize: 1 });
  try {
    const row = await store.db.selectFrom('org_units').select('id').where('tenant_id', '=', tenantId).orderBy('user_count', 'desc').limit(1).executeTakeFirstOrThrow();
    return row.id;
  } finally {
    await store.close();
  }
}

function summarize(store: BenchStore, runs: Measurement[][]): { rows: Record<string, string | number>[]; table: string } {
  const names = [...new Set(runs.flat().map((m) => m.scenario))];
  const byName = (name: string) => runs.flatMap((run) => run.filter((m) => m.scenario === name));
  const ceiling = byName('ceiling');
  const ceilingRps = ceiling.length ? median(ceiling.map((m) => m.requestsPerSecond ?? 0)) : null;
  const rows = names.map((name) => {
    const ms = byName(name);
    const rps = ms[0].requestsPerSecond === null ? null : median(ms.map((m) => m.requestsPerSecond ?? 0));
    const row: Record<string, string | number> = {
      scenario: name,
      store,
      'req/s': rps === null ? '-' : Math.round(rps),
      'vs ceiling': rps === null || !ceilingRps ? '-' : `${Math.round((100 * rps) / ceilingRps)} %`,
      'p50 ms': Number(median(ms.map((m) => m.p50)).toFixed(1)),
      'p99 ms': Number(median(ms.map((m) => m.p99)).toFixed(1)),
      errors: ms.reduce((a, m) => a + m.errors, 0),
      'peak RSS MB': Math.round(median(ms.map((m) => m.peakRssMb))),
      'server CPU µs/req': ms[0].cpuUsPerRequest === undefined ? '-' : Math.round(median(ms.map((m) => m.cpuUsPerRequest ?? 0))),
    };
    if (ms[0].rssFirstMb !== undefined) {
      row['RSS first/last 10 s MB'] = `${Math.round(median(ms.map((m) => m.rssFirstMb ?? 0)))} / ${Math.round(median(ms.map((m) => m.rssLastMb ?? 0)))}`;
    }
    return row;
  });
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const table = [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => String(r[c] ?? ''))))].join('\n');
  return { rows, table };
}

/** On even runs, the scenarios of each A/B pair in reverse order, each taking the other's places. */
function swapPairs(list: Scenario[], run: number): Scenario[] {
  if (run % 2 === 1) return list;
  const pairOf = (s: Scenario) => (s.kind === 'throughput' ? s.pair : undefined);
  const reversed = new Map<string, Scenario[]>();
  for (const s of list) {
    const pair = pairOf(s);
    if (pair !== undefined) reversed.set(pair, [s, ...(reversed.get(pair) ?? [])]);
  }
  return list.map((s) => {
    const pair = pairOf(s);
    return pair === undefined ? s : (reversed.get(pair)?.shift() as Scenario);
  });
}

/** One run of the chosen scenarios on a fresh copy of the seed, served by `checkout`. */
async function runOnce(store: BenchStore, manifest: SeedManifest, chosen: Scenario[], checkout: Checkout, run: number, label: string): Promise<Measurement[]> {
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const databaseUrl = await freshRunStore(store);
  await fitStoreTo(checkout, databaseUrl);
  const busiest = await busiestOu(databaseUrl, manifest.tenantId);
  const measurements: Measurement[] = [];
  let server: ChildProcess | undefined;
  let base = '';
  let token: BenchTokens = '';
  let starts = 0;
  const logName = `server-${store}-run${run}${checkout === CURRENT ? '' : '-baseline'}`;
  let serverEnv: Record<string, string> | undefined;
  const start = async (env?: Record<string, string>) => {
    starts++;
    serverEnv = env;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = await startServer(databaseUrl, manifest, port, join(RESULTS_DIR, `${logName}-${starts}.log`), { checkoutDir: checkout.dir, ...(env ? { env } : {}) });
    const platform = await tokenFor(base);
    token = chosen.some((s) => s.requests.some((r) => r.as)) ? await delegationTokens(base, platform, manifest.tenantId, manifest.ids.root) : platform;
  };
  try {
    await start();
    const resolved = swapPairs(await resolvePlaceholders(chosen, base, token, busiest), run);
    for (const scenario of resolved) {
      const env = 'env' in scenario ? scenario.env : undefined;
      if (((scenario.freshServer || env) && measurements.length > 0) || env !== serverEnv) {
        await stopServer(server as ChildProcess);
        await start(env);
      }
      const pid = (server as ChildProcess).pid as number;
      process.stdout.write(`  ${label} ${scenario.name} … `);
      const m =
        scenario.kind === 'throughput'
          ? await runThroughput(base, token, pid, scenario, duration, connections)
          : scenario.kind === 'walk'
            ? await runWalk(base, token, pid, scenario)
            : await runTimed(base, token, pid, scenario);
      measurements.push(m);
      console.log(
        `${m.requestsPerSecond === null ? '' : `${Math.round(m.requestsPerSecond)} req/s, ${Math.round(m.cpuUsPerRequest ?? 0)} µs CPU/req, `}p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ${m.errors} errors, peak RSS ${Math.round(m.peakRssMb)} MB${m.rssEvery10sMb ? ` (each 10 s: ${m.rssEvery10sMb.join(', ')} MB)` : ''}`,
      );
    }
  } finally {
    if (server) await stopServer(server);
  }
  // What the write scenarios left must be as consistent as what the seeder wrote.
  const check = openStore(databaseUrl, { poolSize: 2 });
  const violations = await findInvariantViolations(check.db, manifest.tenantId, manifest.options.maxDepth);
  await check.close();
  if (violations.length) throw new Error(`${label} left ${violations.length} invariant violations, e.g. ${violations.slice(0, 3).join('; ')}`);
  console.log(`  ${label}: invariant check passed`);
  return measurements;
}

/** The baseline's and the current medians side by side, with the change in percent. */
function comparison(baseline: Record<string, string | number>[], current: Record<string, string | number>[], baselineLabel: string): string {
  const lines = [`| scenario | measure | ${baselineLabel} | current | change |`, '|---|---|---|---|---|'];
  for (const row of current) {
    const before = baseline.find((b) => b.scenario === row.scenario);
    if (!before) continue;
    const measure = row['req/s'] === '-' ? 'p50 ms' : 'req/s';
    const [was, is] = [Number(before[measure]), Number(row[measure])];
    const change = was === 0 ? '-' : `${is >= was ? '+' : ''}${((100 * (is - was)) / was).toFixed(1)} %`;
    lines.push(`| ${row.scenario} | ${measure} | ${was} | ${is} | ${change} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const store = values.store as BenchStore;
  if (store !== 'sqlite' && store !== 'postgres') fail(`--store must be sqlite or postgres, got '${values.store}'.`);
  const runs = Number(values.runs);
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  if (![runs, duration, connections].every((n) => Number.isInteger(n) && n > 0)) fail('--runs, --duration and --connections must be positive integers.');
  const manifest = loadManifest(store);
  const wanted = values.scenario?.split(',').map((s) => s.trim());
  const all = scenarios(manifest);
  const unknown = wanted?.filter((w) => !all.some((s) => s.name === w)) ?? [];
  if (unknown.length) fail(`Unknown scenario ${unknown.join(', ')}. Scenarios: ${all.map((s) => s.name).join(', ')}`);
  const chosen = wanted ? all.filter((s) => wanted.includes(s.name)) : all;
  mkdirSync(RESULTS_DIR, { recursive: true });
  let baseline: Checkout | undefined;
  try {
    baseline = values.baseline === undefined ? undefined : prepareBaseline(values.baseline);
  } catch (error) {
    fail((error as Error).message);
  }
  const checkouts = baseline ? [baseline, CURRENT] : [CURRENT];

  console.log(
    `Benchmark on ${store}: ${manifest.options.ous} OUs, ${manifest.options.users} users in the big tenant; ${runs} run(s), ${connections} connections, ${duration} s per throughput scenario` +
      (baseline ? `; each run alternates ${baseline.label} and the current checkout` : ''),
  );
  const allRuns = new Map<Checkout, Measurement[][]>(checkouts.map((c) => [c, []]));
  for (let run = 1; run <= runs; run++) {
    // Alternate which side goes first, so neither always meets the machine in the same state.
    for (const checkout of run % 2 === 1 ? checkouts : [...checkouts].reverse()) {
      const label = `run ${run}/${runs}${baseline ? ` ${checkout.label}` : ''}`;
      allRuns.get(checkout)?.push(await runOnce(store, manifest, chosen, checkout, run, label));
    }
  }

  const summaries = new Map(checkouts.map((c) => [c, summarize(store, allRuns.get(c) ?? [])]));
  for (const [checkout, { table }] of summaries) console.log(`\nMedians of ${runs} run(s)${baseline ? `, ${checkout.label}` : ''}:\n${table}`);
  const compared = baseline ? comparison(summaries.get(baseline)?.rows ?? [], summaries.get(CURRENT)?.rows ?? [], baseline.label) : undefined;
  if (compared) console.log(`\nAgainst the baseline (medians):\n${compared}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const meta = { store, runs, duration, connections, node: process.version, seed: manifest.options, at: new Date().toISOString(), baseline: baseline?.label };
  const current = summaries.get(CURRENT);
  const result = {
    meta,
    medians: current?.rows,
    runs: allRuns.get(CURRENT),
    ...(baseline ? { baseline: { medians: summaries.get(baseline)?.rows, runs: allRuns.get(baseline) } } : {}),
  };
  writeFileSync(join(RESULTS_DIR, `${store}-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const targets = targetRows(store, current?.rows ?? [], allRuns.get(CURRENT) ?? []);
  writeFileSync(join(RESULTS_DIR, `targets-${store}.json`), `${JSON.stringify({ meta, targets }, null, 2)}\n`);
  const otherStore = store === 'sqlite' ? 'postgres' : 'sqlite';
  const otherFile = join(RESULTS_DIR, `targets-${otherStore}.json`);
  const other = existsSync(otherFile) ? (JSON.parse(readFileSync(otherFile, 'utf8')) as { meta: { at: string }; targets: TargetRow[] }) : undefined;
  const byStore = store === 'sqlite' ? { sqlite: targets, postgres: other?.targets } : { sqlite: other?.targets, postgres: targets };
  const targetTable = targetsTable(byStore);
  console.log(`\nTargets (issue 14; ${other ? `${otherStore} from its last run, ${other.meta.at}` : `no ${otherStore} run on record yet`}):\n${targetTable}`);
  writeFileSync(join(RESULTS_DIR, `${store}-latest.md`), `${current?.table}\n${compared ? `\n${compared}\n` : ''}\n${targetTable}\n`);
  console.log(`\nWritten to bench/results/${store}-${stamp}.json and bench/results/${store}-latest.md`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
