/**
 * npm run bench:soak -- [--store sqlite|postgres] [--seconds 60] [--probe-seconds 15]
 *                       [--connections 32] [--overload-connections 256]
 *
 * The soak: on a fresh copy of the seeded store and a fresh server (load shedding on, as
 * deployed), the `mixed` scenario's requests
 *   probe  unthrottled at 16 connections; the sustained rate R = the median of its per-second 2xx counts
 *   1×     `--seconds` at R, `--connections`
 *   2×     `--seconds` at 2R, `--overload-connections` (many: requests queue, shedding has work)
 * with /readyz asked once a second throughout; then how soon a normal GET is served again, and
 * the invariant check of what the writes left. Verdicts: no 5xx but the documented 503, memory
 * flat, invariants hold, healthy afterwards; exits 1 when one fails. Everything measured goes to
 * bench/results/soak-<store>-<stamp>.json.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config.js';
import { openStore } from '../src/db/store.js';
import { findInvariantViolations } from '../src/services/invariant-service.js';
import { autocannonRequests, fail, freePort, headersFor, loadManifest, median, sampleRss, startServer, stopServer, tokenFor } from './harness.js';
import { type HttpRequest, scenarios } from './scenarios.js';
import {
  FLAT_TOLERANCE_PERCENT,
  type NormalGets,
  type Phase,
  type Recovery,
  type ServerSample,
  eventLoopOf,
  mean,
  memoryOf,
  phaseLine,
  round1,
  stats,
  table,
  verdictsOf,
} from './soak-report.js';
import type { SeedManifest } from './seed-data.js';
import { type BenchStore, RESULTS_DIR, freshRunStore } from './stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    seconds: { type: 'string', default: '60' },
    'probe-seconds': { type: 'string', default: '15' },
    connections: { type: 'string', default: '32' },
    // autocannon is a closed loop (one request in flight per connection): against a saturated
    // server it sends only as fast as answers come back, whatever the rate asked. The phase
    // reports what was really sent beside the rate asked.
    'overload-connections': { type: 'string', default: '256' },
  },
});

const PROBE_CONNECTIONS = 16;
/** Sequential GETs of one OU before the load (the usual latency) and after it. */
const NORMAL_GETS = 20;

/** `GET /ous/{single}` for the manifest's OU, shorter to read in a table. */
function labelOf(request: HttpRequest, manifest: SeedManifest): string {
  let path = request.path.replace(`/api/v1/tenants/${manifest.tenantId}`, '');
  for (const [name, id] of Object.entries(manifest.ids)) path = path.replaceAll(id, `{${name}}`);
  return `${request.method} ${path}`;
}

function headerOf(headers: Record<string, unknown>, name: string): unknown {
  return Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

interface Context {
  base: string;
  token: string;
  pid: number;
  manifest: SeedManifest;
  requests: HttpRequest[];
  samples: ServerSample[];
  maxEventLoopDelayMs: number;
}

async function runPhase(ctx: Context, phase: string, seconds: number, connections: number, rate: number | null): Promise<Phase> {
  const labels = ctx.requests.map((r) => labelOf(r, ctx.manifest));
  const byRequest: Phase['byRequest'] = {};
  const shed: Phase['shed'] = { count: 0, withRetryAfter: 0, codes: {} };
  const rateLimited: Phase['rateLimited'] = { count: 0, withRetryAfter: 0 };
  const serverErrors: Phase['serverErrors'] = [];
  // autocannon calls a request's onResponse and then emits 'response' for the same answer,
  // synchronously one after the other: the code read here belongs to the next 'response'.
  let lastShedCode = '';
  const onResponse = (index: number, status: number, body: string, headers: Record<string, unknown>) => {
    const counts = (byRequest[labels[index]] ??= {});
    counts[status] = (counts[status] ?? 0) + 1;
    if (status === 503) {
      shed.count++;
      if (headerOf(headers, 'retry-after') !== undefined) shed.withRetryAfter++;
      let code = 'unparsable body';
      try {
        code = String((JSON.parse(body) as { code?: unknown }).code);
      } catch {}
      shed.codes[code] = (shed.codes[code] ?? 0) + 1;
      lastShedCode = code;
    } else if (status === 429) {
      rateLimited.count++;
      if (headerOf(headers, 'retry-after') !== undefined) rateLimited.withRetryAfter++;
    } else if (status >= 500 && serverErrors.length < 20) {
      serverErrors.push({ status, request: labels[index], body: body.slice(0, 500) });
    }
  };

  const all: number[] = [];
  const ok: number[] = [];
  const shedLatencies: number[] = [];
  const shedLatenciesByCode: Record<string, number[]> = {};
  const perSecond: number[] = [];
  const okEachSecond: number[] = [];
  let sent = 0;
  const ready = pollReadyz(ctx);
  const rss = sampleRss(ctx.pid, 1000);
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: ctx.base,
        connections,
        duration: seconds,
        requests: autocannonRequests(ctx.requests, ctx.token, onResponse),
        // Counted here rather than from result.requests.sent, which books each connection's
        // first second of requests in advance ('request' is an event of autocannon's client
        // its types leave out).
        setupClient: (client) => {
          (client as NodeJS.EventEmitter).on('request', () => sent++);
        },
        // Latencies are taken from the responses below: autocannon's own correction for
        // coordinated omission assumes an interval of ceil(1 / rate) ms, i.e. 1 ms for any
        // rate, and would fill the histogram with synthetic samples.
        ...(rate === null ? {} : { overallRate: rate, ignoreCoordinatedOmission: true }),
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      const second = Math.floor((performance.now() - started) / 1000);
      perSecond[second] = (perSecond[second] ?? 0) + 1;
      all.push(responseTime);
      if (statusCode >= 200 && statusCode < 300) {
        ok.push(responseTime);
        okEachSecond[second] = (okEachSecond[second] ?? 0) + 1;
      } else if (statusCode === 503) {
        shedLatencies.push(responseTime);
        (shedLatenciesByCode[lastShedCode] ??= []).push(responseTime);
      }
    });
  });
  const elapsed = (performance.now() - started) / 1000;
  const rssSamples = rss.stop().samples;
  const readiness = ready.stop();
  const whole = Math.floor(elapsed);
  const heapIn = ctx.samples.filter((h) => h.at >= started && h.at <= started + elapsed * 1000);
  return {
    phase,
    targetRate: rate,
    // autocannon never opens more connections than the rate.
    connections: rate === null ? connections : Math.min(connections, rate),
    seconds: round1(elapsed),
    sentPerSecond: Math.round(sent / elapsed),
    achievedPerSecond: Math.round(all.length / elapsed),
    okPerSecond: Math.round(ok.length / elapsed),
    perSecond: Array.from({ length: whole }, (_, i) => perSecond[i] ?? 0),
    okEachSecond: Array.from({ length: whole }, (_, i) => okEachSecond[i] ?? 0),
    latencyMs: stats(all),
    latency2xxMs: stats(ok),
    latency503Ms: stats(shedLatencies),
    latency503ByCodeMs: Object.fromEntries(Object.entries(shedLatenciesByCode).map(([code, xs]) => [code, stats(xs)])),
    readyz: readiness,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0])),
    byRequest,
    shed,
    rateLimited,
    serverErrors,
    errors: result.errors,
    timeouts: result.timeouts,
    memory: memoryOf(rssSamples, seconds),
    heapUsedMb: {
      start: heapIn.length ? round1(heapIn[0].heapMb) : null,
      end: heapIn.length ? round1(heapIn[heapIn.length - 1].heapMb) : null,
      every5s: Array.from({ length: Math.ceil(elapsed / 5) }, (_, i) =>
        Math.round(mean(heapIn.filter((h) => h.at >= started + i * 5000 && h.at < started + (i + 1) * 5000).map((h) => h.heapMb))),
      ),
    },
    eventLoop: eventLoopOf(heapIn, ctx.maxEventLoopDelayMs),
  };
}

/** /readyz once a second, one at a time, as a load balancer would: does the instance stay in rotation? */
function pollReadyz(ctx: Context) {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const notReady: string[] = [];
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const started = performance.now();
      try {
        const response = await fetch(`${ctx.base}/readyz`, { signal: AbortSignal.timeout(30_000) });
        const body = await response.text();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        if (response.status !== 200 && notReady.length < 10) notReady.push(body.slice(0, 300));
      } catch (error) {
        statuses.error = (statuses.error ?? 0) + 1;
        if (notReady.length < 10) notReady.push(String(error));
      }
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (performance.now() - started))));
    }
  })();
  return {
    /** Stops asking; what was answered so far (one still in flight is left out). */
    stop(): Phase['readyz'] {
      stopped = true;
      return { statuses: { ...statuses }, latencyMs: stats(latencies), notReady: [...notReady] };
    },
  };
}

/** `n` GETs of one OU, one at a time: what one client sees of the server. */
async function normalGets(ctx: Context, n: number): Promise<NormalGets> {
  const request: HttpRequest = { method: 'GET', path: `/api/v1/tenants/${ctx.manifest.tenantId}/ous/${ctx.manifest.ids.single}` };
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const response = await fetch(`${ctx.base}${request.path}`, { headers: headersFor(request, ctx.token) });
    await response.arrayBuffer();
    latencies.push(round1(performance.now() - started));
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  }
  return { firstMs: latencies[0], medianMs: round1(median(latencies)), maxMs: Math.max(...latencies), statuses };
}

async function readyz(ctx: Context) {
  const started = performance.now();
  const response = await fetch(`${ctx.base}/readyz`);
  await response.arrayBuffer();
  return { status: response.status, ms: round1(performance.now() - started) };
}

/**
 * Straight after the overload: /readyz, then a GET of one OU every 100 ms until one is served
 * (shedding decides on the last 500-ms sample of the event loop, so the first may still be
 * shed), then the usual sequential GETs.
 */
async function recovery(ctx: Context): Promise<Recovery> {
  const stopped = performance.now();
  const ready = await readyz(ctx);
  const path = `/api/v1/tenants/${ctx.manifest.tenantId}/ous/${ctx.manifest.ids.single}`;
  const refused: Record<string, number> = {};
  let firstServedAfterMs: number | null = null;
  while (performance.now() - stopped < 30_000) {
    const response = await fetch(`${ctx.base}${path}`, { headers: headersFor({ method: 'GET', path }, ctx.token) });
    await response.arrayBuffer();
    if (response.status === 200) {
      firstServedAfterMs = round1(performance.now() - stopped);
      break;
    }
    refused[response.status] = (refused[response.status] ?? 0) + 1;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { readyz: ready, firstServedAfterMs, refusedBefore: refused, gets: await normalGets(ctx, NORMAL_GETS) };
}


async function main(): Promise<void> {
  const store = values.store as BenchStore;
  if (store !== 'sqlite' && store !== 'postgres') fail(`--store must be sqlite or postgres, got '${values.store}'.`);
  const [seconds, probeSeconds, connections, overloadConnections] = [values.seconds, values['probe-seconds'], values.connections, values['overload-connections']].map(Number);
  if (![seconds, probeSeconds, connections, overloadConnections].every((n) => Number.isInteger(n) && n > 0)) {
    fail('--seconds, --probe-seconds, --connections and --overload-connections must be positive integers.');
  }
  // The server's settings as it will read them (startServer passes the environment on).
  const settings = loadConfig({
    ARBOR_MAX_EVENT_LOOP_DELAY_MS: process.env.ARBOR_MAX_EVENT_LOOP_DELAY_MS,
    ARBOR_RATE_LIMIT_PER_MINUTE: process.env.ARBOR_RATE_LIMIT_PER_MINUTE ?? '0',
  });
  if (settings.maxEventLoopDelayMs === 0) fail('The soak measures load shedding: unset ARBOR_MAX_EVENT_LOOP_DELAY_MS=0.');
  const manifest = loadManifest(store);
  const mixed = scenarios(manifest).find((s) => s.name === 'mixed');
  if (!mixed) throw new Error('bench/scenarios.ts has no `mixed` scenario');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const logFile = join(RESULTS_DIR, `server-soak-${store}-${stamp}.log`);

  console.log(
    `Soak on ${store}: the mixed load (${mixed.requests.length} requests in turn, four reads to one write); probe ${probeSeconds} s, then ${seconds} s at the sustained rate and ${seconds} s at twice it.\n` +
      `Load shedding on at ${settings.maxEventLoopDelayMs} ms of event-loop delay (ARBOR_MAX_EVENT_LOOP_DELAY_MS); ` +
      `rate limit ${settings.rateLimitPerMinute === 0 ? 'off (ARBOR_RATE_LIMIT_PER_MINUTE=0): one client drives the whole load, the per-client limit would measure itself' : `${settings.rateLimitPerMinute} per client per minute`}.`,
  );
  const databaseUrl = await freshRunStore(store);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const samples: ServerSample[] = [];
  const onMessage = (message: unknown) => {
    const m = message as Omit<ServerSample, 'at' | 'heapMb'> & { memory?: NodeJS.MemoryUsage };
    if (m.memory) {
      samples.push({
        at: performance.now(),
        intervalMs: m.intervalMs,
        heapMb: m.memory.heapUsed / 1024 / 1024,
        loopDelayMs: m.loopDelayMs,
        loopDelayMaxMs: m.loopDelayMaxMs,
        utilization: m.utilization,
        logBacklogBytes: m.logBacklogBytes,
      });
    }
  };
  const server: ChildProcess = await startServer(databaseUrl, manifest, port, logFile, { onMessage });
  const phases: Phase[] = [];
  let before: NormalGets;
  let after: Recovery;
  let sustainedRate: number;
  try {
    const ctx: Context = {
      base,
      token: await tokenFor(base),
      pid: server.pid as number,
      manifest,
      requests: mixed.requests,
      samples,
      maxEventLoopDelayMs: settings.maxEventLoopDelayMs,
    };
    before = await normalGets(ctx, NORMAL_GETS);
    console.log(`  before the load: GET one OU, one at a time: median ${before.medianMs} ms, max ${before.maxMs} ms`);

    const probe = await runPhase(ctx, 'probe', probeSeconds, PROBE_CONNECTIONS, null);
    console.log(phaseLine(probe, settings.maxEventLoopDelayMs));
    phases.push(probe);
    // The median second, not the mean: one slow second (GC, the machine's other work) or the
    // ramp-up must not set the rate. 2xx only: a shed 503 is not throughput.
    sustainedRate = Math.max(1, Math.round(median(probe.okEachSecond)));
    console.log(`  sustained rate R = ${sustainedRate} req/s (median of the probe's per-second 2xx counts: ${probe.okEachSecond.join(', ')})`);
    for (const [phase, rate, conns] of [
      ['1×', sustainedRate, connections],
      ['2×', 2 * sustainedRate, overloadConnections],
    ] as const) {
      const p = await runPhase(ctx, phase, seconds, conns, rate);
      console.log(phaseLine(p, settings.maxEventLoopDelayMs));
      phases.push(p);
    }
    after = await recovery(ctx);
    console.log(
      `  after the load: /readyz ${after.readyz.status} in ${after.readyz.ms} ms; first GET served ${after.firstServedAfterMs} ms after the load stopped (refused before: ${JSON.stringify(after.refusedBefore)}); ` +
        `then GET one OU, one at a time: median ${after.gets.medianMs} ms, max ${after.gets.maxMs} ms, statuses ${JSON.stringify(after.gets.statuses)}`,
    );
  } finally {
    await stopServer(server);
  }

  const check = openStore(databaseUrl, { poolSize: 2 });
  const violations = await findInvariantViolations(check.db, manifest.tenantId, manifest.options.maxDepth);
  await check.close();

  // The server log's lines for every 5xx but 503 (their bodies name the request id).
  const requestIds = [...new Set(phases.flatMap((p) => p.serverErrors.map((e) => /request id (\S+?);/.exec(e.body)?.[1]).filter((id): id is string => !!id)))];
  const serverErrorLog = requestIds.length
    ? readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => requestIds.some((id) => line.includes(id)))
        .slice(0, 50)
    : [];

  const verdicts = verdictsOf(phases, violations, before, after);

  const summary = table(phases);
  console.log(`\n${summary}\n`);
  for (const [name, v] of Object.entries(verdicts)) console.log(`  ${v.pass ? 'PASS' : 'FAIL'} ${name}: ${v.detail}`);
  for (const p of phases) {
    const shedCodes = Object.keys(p.shed.codes).filter((c) => c !== 'server.overloaded');
    if (shedCodes.length) {
      console.log(`  note: ${p.phase} had 503s other than server.overloaded: ${JSON.stringify(p.shed.codes)}, by request: ${JSON.stringify(p.byRequest)} (the server log names the cause)`);
    }
    for (const e of p.serverErrors) console.log(`  ${p.phase}: ${e.status} on ${e.request}: ${e.body}`);
  }
  if (serverErrorLog.length) console.log(`  server log lines for those requests (${logFile}):\n${serverErrorLog.map((l) => `    ${l}`).join('\n')}`);

  const meta = {
    store,
    seconds,
    probeSeconds,
    connections,
    overloadConnections,
    probeConnections: PROBE_CONNECTIONS,
    sustainedRate,
    maxEventLoopDelayMs: settings.maxEventLoopDelayMs,
    rateLimitPerMinute: settings.rateLimitPerMinute,
    flatTolerancePercent: FLAT_TOLERANCE_PERCENT,
    node: process.version,
    seed: manifest.options,
    at: new Date().toISOString(),
    serverLog: logFile,
  };
  const out = join(RESULTS_DIR, `soak-${store}-${stamp}.json`);
  writeFileSync(out, `${JSON.stringify({ meta, verdicts, before, after, phases, serverErrorLog }, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, `soak-${store}-latest.md`), `${summary}\n`);
  console.log(`\nWritten to ${out}`);
  if (!Object.values(verdicts).every((v) => v.pass)) process.exit(1);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
