/**
 * npm run bench:import -- [--store sqlite|postgres] [--ous 100000] [--users 1000000] [--runs 1]
 *
 * Import and export at directory scale (docs/import-export.md): one LDIF file of `--ous` OUs
 * (nested, fan-out 10) and `--users` inetOrgPerson users, written once to bench/.data and
 * reused; per run, an empty store and a real server process (`node dist/server.js`, as
 * `npm start` runs it), then:
 *
 *   import   the file POSTed as it is read from disk, until the job is done: seconds for the
 *            upload and reading (the POST's answer) and for applying (the job's end)
 *   export   GET /export?format=ldif, the body counted and dropped as it arrives
 *
 * The server's RSS is sampled every 100 ms throughout (peak reported). The rate limit is off
 * (ARBOR_RATE_LIMIT_PER_MINUTE=0) like every benchmark, though these are single requests;
 * ARBOR_REQUEST_TIMEOUT_MS is raised to 10 minutes, as an operator importing a large file must
 * (docs/import-export.md).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ADMIN, fail, freePort, median, sampleRss, tokenFor } from './harness.js';
import { type BenchStore, DATA_DIR, POSTGRES_SERVER, RESULTS_DIR } from './stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    ous: { type: 'string', default: '100000' },
    users: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '1' },
  },
});
const store = values.store as BenchStore;
if (store !== 'sqlite' && store !== 'postgres') fail('--store must be sqlite or postgres');
const OUS = Number(values.ous);
const USERS = Number(values.users);
const RUNS = Number(values.runs);
const BASE = 'dc=bench,dc=example';
const FANOUT = 10;

/** A deterministic LDIF directory: OU i's parent is OU floor(i / 10) - 1 (the first 10 are at the top). */
async function ldifFile(): Promise<string> {
  mkdirSync(DATA_DIR, { recursive: true });
  const file = join(DATA_DIR, `import-${OUS}-${USERS}.ldif`);
  if (existsSync(file)) return file;
  const out = createWriteStream(`${file}.partial`);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const dns: string[] = [];
  await write(`dn: ${BASE}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: bench\no: Bench\n\n`);
  const uuid = (kind: number, i: number) => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  for (let i = 0; i < OUS; i++) {
    const parent = i < FANOUT ? BASE : dns[Math.floor(i / FANOUT) - 1];
    const dn = `ou=Unit ${i},${parent}`;
    dns.push(dn);
    await write(`dn: ${dn}\nobjectClass: top\nobjectClass: organizationalUnit\nou: Unit ${i}\ndescription: Benchmark unit ${i}\nentryUUID: ${uuid(1, i)}\n\n`);
  }
  for (let i = 0; i < USERS; i++) {
    // Spread over every OU, a few at the top level.
    const parent = i % 97 === 0 ? BASE : dns[(i * 7919) % OUS];
    await write(
      `dn: uid=user${i},${parent}\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\nuid: user${i}\ncn: User Number ${i}\nsn: Number ${i}\ngivenName: User\nmail: user${i}@bench.example\nentryUUID: ${uuid(2, i)}\n\n`,
    );
  }
  out.end();
  await once(out, 'finish');
  const { renameSync } = await import('node:fs');
  renameSync(`${file}.partial`, file);
  return file;
}

/** An empty store for one run. */
async function emptyStore(): Promise<string> {
  if (store === 'sqlite') {
    const file = join(DATA_DIR, 'import.sqlite');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    // The last run wrote ~4 GB (the store and its WAL); until the OS has written its dirty pages
    // back, a run competes with that writeback (back-to-back runs measured 51 to 88 s).
    execFileSync('sync');
    return `sqlite:${file}`;
  }
  const client = new pg.Client({ connectionString: POSTGRES_SERVER });
  await client.connect();
  await client.query('drop database if exists arbor_bench_import with (force)');
  await client.query('create database arbor_bench_import');
  await client.end();
  const url = new URL(POSTGRES_SERVER);
  url.pathname = '/arbor_bench_import';
  return url.toString();
}

async function startArbor(databaseUrl: string, port: number, logFile: string): Promise<ChildProcess> {
  const log = createWriteStream(logFile);
  // BENCH_CPU_PROF=1: the server writes a V8 CPU profile to bench/results/ when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}`] : [];
  // BENCH_NODE_FLAGS: node or V8 flags for the server, for experiments (e.g. a heap cap).
  const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...profile, ...flags, 'dist/server.js'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      ARBOR_RATE_LIMIT_PER_MINUTE: '0',
      ARBOR_REQUEST_TIMEOUT_MS: '600000',
      // BENCH_METRICS_PORT: Prometheus metrics on that port, to watch the heap during a run.
      ARBOR_METRICS_PORT: process.env.BENCH_METRICS_PORT ?? '0',
      ARBOR_ADMIN_CLIENT_ID: ADMIN.id,
      ARBOR_ADMIN_CLIENT_SECRET: ADMIN.secret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) fail(`the server exited with ${child.exitCode}; see ${logFile}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  fail(`the server did not answer /healthz; see ${logFile}`);
}

interface RunResult {
  readSeconds: number;
  applySeconds: number;
  importSeconds: number;
  exportSeconds: number;
  exportBytes: number;
  peakRssMb: number;
  /** The peaks while importing and while exporting, and the mean of every 5 s from the start (the server's RSS, MB). */
  importPeakRssMb: number;
  exportPeakRssMb: number;
  rssEvery5s: number[];
  /** The slowest /healthz answer while the import ran: how long the event loop stood still. */
  slowestHealthMs: number;
  job: unknown;
}

/** Asks /healthz one request after another, 100 ms apart, until stopped: the slowest answer's time. */
function probeHealth(base: string) {
  let stopped = false;
  let slowest = 0;
  const done = (async () => {
    while (!stopped) {
      const started = performance.now();
      await fetch(`${base}/healthz`).then((response) => response.arrayBuffer(), () => undefined);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return slowest;
    },
  };
}

async function run(file: string, n: number): Promise<RunResult> {
  const port = await freePort();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const server = await startArbor(await emptyStore(), port, join(RESULTS_DIR, `server-import-${store}-run${n}.log`));
  const rss = sampleRss(server.pid as number);
  const rssStarted = performance.now();
  try {
    const base = `http://127.0.0.1:${port}`;
    const token = await tokenFor(base);
    const auth = { authorization: `Bearer ${token}` };
    const tenant = await fetch(`${base}/api/v1/tenants`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: `Import bench ${n}` }) });
    if (tenant.status !== 201) fail(`creating the tenant: ${tenant.status} ${await tenant.text()}`);
    const tenantId = ((await tenant.json()) as { data: { id: string } }).data.id;

    const health = probeHealth(base);
    const started = performance.now();
    const posted = await fetch(`${base}/api/v1/tenants/${tenantId}/imports?base_dn=${encodeURIComponent(BASE)}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/ldif', 'content-length': String(statSync(file).size) },
      body: createReadStream(file) as unknown as BodyInit,
      duplex: 'half',
    } as RequestInit);
    const read = performance.now();
    if (posted.status !== 202) fail(`the import answered ${posted.status}: ${await posted.text()}`);
    const { id } = ((await posted.json()) as { data: { id: string } }).data;
    let job: { state: string; error: string | null; progress: unknown };
    for (;;) {
      const response = await fetch(`${base}/api/v1/tenants/${tenantId}/imports/${id}`, { headers: auth });
      if (response.status === 503) {
        // Load shedding while the server is busy applying: ask again.
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      if (response.status !== 200) fail(`GET the import answered ${response.status}: ${await response.text()}`);
      job = ((await response.json()) as { data: typeof job }).data;
      if (job.state !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const applied = performance.now();
    const slowestHealthMs = await health.stop();
    if (job.state !== 'succeeded') fail(`the import failed: ${JSON.stringify(job).slice(0, 2000)}`);

    const exportStarted = performance.now();
    const exported = await fetch(`${base}/api/v1/tenants/${tenantId}/export?format=ldif&base_dn=${encodeURIComponent(BASE)}`, { headers: auth });
    if (exported.status !== 200 || !exported.body) fail(`the export answered ${exported.status}`);
    let bytes = 0;
    for await (const chunk of exported.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
    const exportEnded = performance.now();
    const { peak, samples } = rss.stop();
    const peakBetween = (from: number, to: number) => Math.max(0, ...samples.filter((s) => s.at >= from - rssStarted && s.at <= to - rssStarted).map((s) => s.mb));
    const rssEvery5s: number[] = [];
    for (let at = 0; at < (samples.at(-1)?.at ?? 0); at += 5_000) {
      const window = samples.filter((s) => s.at >= at && s.at < at + 5_000);
      rssEvery5s.push(Math.round(window.reduce((sum, s) => sum + s.mb, 0) / Math.max(1, window.length)));
    }
    return {
      readSeconds: (read - started) / 1000,
      applySeconds: (applied - read) / 1000,
      importSeconds: (applied - started) / 1000,
      exportSeconds: (exportEnded - exportStarted) / 1000,
      exportBytes: bytes,
      peakRssMb: peak,
      importPeakRssMb: peakBetween(started, applied),
      exportPeakRssMb: peakBetween(exportStarted, exportEnded),
      rssEvery5s,
      slowestHealthMs,
      job,
    };
  } finally {
    rss.stop();
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
}

const file = await ldifFile();
const size = statSync(file).size;
console.log(`import bench on ${store}: ${OUS.toLocaleString('en')} OUs, ${USERS.toLocaleString('en')} users, ${(size / 1e6).toFixed(0)} MB of LDIF; ${RUNS} run(s)`);
const results: RunResult[] = [];
for (let n = 1; n <= RUNS; n++) {
  const result = await run(file, n);
  results.push(result);
  console.log(
    `run ${n}: import ${result.importSeconds.toFixed(1)} s (upload and read ${result.readSeconds.toFixed(1)} s, apply ${result.applySeconds.toFixed(1)} s), export ${result.exportSeconds.toFixed(1)} s (${(result.exportBytes / 1e6).toFixed(0)} MB), peak RSS ${result.peakRssMb.toFixed(0)} MB (importing ${result.importPeakRssMb.toFixed(0)}, exporting ${result.exportPeakRssMb.toFixed(0)}), slowest /healthz while importing ${(result.slowestHealthMs / 1000).toFixed(1)} s`,
  );
  console.log(`  RSS every 5 s (MB): ${result.rssEvery5s.join(' ')}`);
}
const summary = {
  store,
  ous: OUS,
  users: USERS,
  fileBytes: size,
  runs: RUNS,
  importSeconds: median(results.map((r) => r.importSeconds)),
  readSeconds: median(results.map((r) => r.readSeconds)),
  applySeconds: median(results.map((r) => r.applySeconds)),
  exportSeconds: median(results.map((r) => r.exportSeconds)),
  peakRssMb: Math.max(...results.map((r) => r.peakRssMb)),
  slowestHealthMs: Math.max(...results.map((r) => r.slowestHealthMs)),
  targets: { importSeconds: store === 'sqlite' ? 60 : 180, exportSeconds: 20, peakRssMb: 500 },
};
const verdict = (value: number, target: number) => (value <= target ? 'met' : 'missed');
console.log('| what | median | target | |');
console.log('|---|---|---|---|');
console.log(`| import (${OUS} OUs, ${USERS} users) | ${summary.importSeconds.toFixed(1)} s | ≤ ${summary.targets.importSeconds} s | ${verdict(summary.importSeconds, summary.targets.importSeconds)} |`);
console.log(`| export (LDIF) | ${summary.exportSeconds.toFixed(1)} s | ≤ 20 s | ${verdict(summary.exportSeconds, 20)} |`);
console.log(`| server RSS, peak | ${summary.peakRssMb.toFixed(0)} MB | ≤ 500 MB | ${verdict(summary.peakRssMb, 500)} |`);
console.log(`| slowest /healthz answer while importing (the longest the event loop stood still) | ${(summary.slowestHealthMs / 1000).toFixed(1)} s | – | |`);
writeFileSync(join(RESULTS_DIR, `import-${store}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ summary, results }, null, 2));
