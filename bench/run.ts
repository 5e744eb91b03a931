/**
 * npm run bench -- [--store sqlite|postgres] [--scenario NAME[,NAME…]] [--runs 3]
 *                  [--duration 10] [--connections 16] [--mixed-seconds 60]
 *
 * For each run: a fresh copy of the seeded store, a real Arbor server process (bench/server.mjs)
 * on it, every scenario driven over HTTP, then the invariant check on what the writes left.
 * Prints one table of medians over the runs and writes it, with every run's figures, to
 * bench/results/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { openStore } from '../src/db/database.js';
import { findInvariantViolations } from '../src/services/invariant-service.js';
import { type HttpRequest, type Scenario, scenarios } from './scenarios.js';
import type { SeedManifest } from './seed-data.js';
import { type BenchStore, RESULTS_DIR, freshRunStore, manifestFile } from './stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    scenario: { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    // The mixed load's length (default 60 s): longer shows where its memory levels off.
    'mixed-seconds': { type: 'string' },
  },
});

const ADMIN = { id: 'bench-admin', secret: 'bench-admin-secret-0123456789abcdef' };

interface Measurement {
  scenario: string;
  requestsPerSecond: number | null;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
  peakRssMb: number;
  /** Mean RSS of the first and of the last 10 s (long scenarios): is memory flat? */
  rssFirstMb?: number;
  rssLastMb?: number;
  /** Mean RSS of each 10 s of a long scenario, in MB. */
  rssEvery10sMb?: number[];
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Resident set size of a process, in MB, from /proc (Linux). */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Samples the server's RSS every 100 ms until stopped. */
function sampleRss(pid: number) {
  const samples: { at: number; mb: number }[] = [];
  const started = performance.now();
  const sample = () => {
    try {
      samples.push({ at: performance.now() - started, mb: rssMb(pid) });
    } catch {
      // the process is gone
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const mbs = samples.map((s) => s.mb);
      const total = samples.at(-1)?.at ?? 0;
      const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
      const every10s = Array.from({ length: Math.ceil(total / 10_000) }, (_, i) =>
        Math.round(mean(samples.filter((s) => s.at >= i * 10_000 && s.at < (i + 1) * 10_000).map((s) => s.mb))),
      );
      return {
        peak: Math.max(0, ...mbs),
        first: mean(samples.filter((s) => s.at <= 10_000).map((s) => s.mb)),
        last: mean(samples.filter((s) => s.at >= total - 10_000).map((s) => s.mb)),
        every10s,
      };
    },
  };
}

async function startServer(databaseUrl: string, manifest: SeedManifest, port: number, logFile: string): Promise<ChildProcess> {
  // BENCH_CPU_PROF=1: the server writes a V8 CPU profile to bench/results/ when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, 'bench/server.mjs'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      // One client drives every scenario: the per-client limit would measure itself, not Arbor.
      ARBOR_RATE_LIMIT_PER_MINUTE: process.env.ARBOR_RATE_LIMIT_PER_MINUTE ?? '0',
      ARBOR_ADMIN_CLIENT_ID: ADMIN.id,
      ARBOR_ADMIN_CLIENT_SECRET: ADMIN.secret,
      BENCH_TENANT_ID: manifest.tenantId,
      BENCH_OU_ID: manifest.ids.single,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`bench server exited with ${code} before it was ready; its output: ${log.join('')}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (log.length < 200) log.push(text);
      if (text.includes('BENCH_SERVER_READY')) resolve();
    });
  });
  child.removeAllListeners('exit');
  // Keep draining its log (a full pipe would stall the server); keep it for reading afterwards.
  child.stdout?.removeAllListeners('data');
  const out: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  child.on('exit', () => writeFileSync(logFile, out.join('')));
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function tokenFor(base: string): Promise<string> {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

function headersFor(request: HttpRequest, token: string): Record<string, string> {
  return {
    ...(request.anonymous ? {} : { authorization: `Bearer ${token}` }),
    ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
}

async function runThroughput(base: string, token: string, pid: number, scenario: Extract<Scenario, { kind: 'throughput' }>, duration: number, connections: number): Promise<Measurement> {
  const rss = sampleRss(pid);
  const result = await autocannon({
    url: base,
    connections,
    duration: (scenario.durationSeconds && values['mixed-seconds'] ? Number(values['mixed-seconds']) : scenario.durationSeconds) ?? duration,
    requests: scenario.requests.map((r) => {
      const body = r.body === undefined ? undefined : JSON.stringify(r.body);
      return {
        method: r.method,
        path: r.path,
        headers: headersFor(r, token),
        // A fresh name per request, set before autocannon computes Content-Length (its own
        // idReplacement swaps the text afterwards and leaves the length wrong).
        ...(body === undefined ? {} : { setupRequest: (request: object) => ({ ...request, body: body.replaceAll('[<id>]', uniqueSuffix()) }) }),
      };
    }),
  });
  const memory = rss.stop();
  return {
    scenario: scenario.name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    peakRssMb: memory.peak,
    ...(scenario.durationSeconds ? { rssFirstMb: memory.first, rssLastMb: memory.last, rssEvery10sMb: memory.every10s } : {}),
  };
}

let sequence = 0;
const uniqueSuffix = () => `${process.pid}-${Date.now().toString(36)}-${++sequence}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function runTimed(base: string, token: string, pid: number, scenario: Extract<Scenario, { kind: 'timed' }>): Promise<Measurement> {
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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

async function main(): Promise<void> {
  const store = values.store as BenchStore;
  if (store !== 'sqlite' && store !== 'postgres') fail(`--store must be sqlite or postgres, got '${values.store}'.`);
  const runs = Number(values.runs);
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  if (![runs, duration, connections].every((n) => Number.isInteger(n) && n > 0)) fail('--runs, --duration and --connections must be positive integers.');
  let manifest: SeedManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile(store), 'utf8')) as SeedManifest;
  } catch {
    fail(`No seeded ${store} store: run \`npm run bench:seed -- --store ${store}\` first.`);
  }
  const wanted = values.scenario?.split(',').map((s) => s.trim());
  const all = scenarios(manifest);
  const unknown = wanted?.filter((w) => !all.some((s) => s.name === w)) ?? [];
  if (unknown.length) fail(`Unknown scenario ${unknown.join(', ')}. Scenarios: ${all.map((s) => s.name).join(', ')}`);
  const chosen = wanted ? all.filter((s) => wanted.includes(s.name)) : all;
  mkdirSync(RESULTS_DIR, { recursive: true });

  console.log(`Benchmark on ${store}: ${manifest.options.ous} OUs, ${manifest.options.users} users in the big tenant; ${runs} run(s), ${connections} connections, ${duration} s per throughput scenario`);
  const allRuns: Measurement[][] = [];
  for (let run = 1; run <= runs; run++) {
    const databaseUrl = await freshRunStore(store);
    const measurements: Measurement[] = [];
    let server: ChildProcess | undefined;
    let base = '';
    let token = '';
    let starts = 0;
    const start = async () => {
      starts++;
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      server = await startServer(databaseUrl, manifest, port, join(RESULTS_DIR, `server-${store}-run${run}-${starts}.log`));
      token = await tokenFor(base);
    };
    try {
      await start();
      for (const scenario of chosen) {
        if (scenario.freshServer && measurements.length > 0) {
          await stopServer(server as ChildProcess);
          await start();
        }
        const pid = (server as ChildProcess).pid as number;
        process.stdout.write(`  run ${run}/${runs} ${scenario.name} … `);
        const m =
          scenario.kind === 'throughput'
            ? await runThroughput(base, token, pid, scenario, duration, connections)
            : await runTimed(base, token, pid, scenario);
        measurements.push(m);
        console.log(
          `${m.requestsPerSecond === null ? '' : `${Math.round(m.requestsPerSecond)} req/s, `}p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ${m.errors} errors, peak RSS ${Math.round(m.peakRssMb)} MB${m.rssEvery10sMb ? ` (each 10 s: ${m.rssEvery10sMb.join(', ')} MB)` : ''}`,
        );
      }
    } finally {
      if (server) await stopServer(server);
    }
    // What the write scenarios left must be as consistent as what the seeder wrote.
    const check = openStore(databaseUrl, { poolSize: 2 });
    const violations = await findInvariantViolations(check.db, manifest.tenantId, manifest.options.maxDepth);
    await check.close();
    if (violations.length) throw new Error(`Run ${run} left ${violations.length} invariant violations, e.g. ${violations.slice(0, 3).join('; ')}`);
    console.log(`  run ${run}/${runs}: invariant check passed`);
    allRuns.push(measurements);
  }

  const { rows, table } = summarize(store, allRuns);
  console.log(`\nMedians of ${runs} run(s):\n${table}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const meta = { store, runs, duration, connections, node: process.version, seed: manifest.options, at: new Date().toISOString() };
  writeFileSync(join(RESULTS_DIR, `${store}-${stamp}.json`), `${JSON.stringify({ meta, medians: rows, runs: allRuns }, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, `${store}-latest.md`), `${table}\n`);
  console.log(`\nWritten to bench/results/${store}-${stamp}.json and bench/results/${store}-latest.md`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
