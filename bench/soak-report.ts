/**
 * What `npm run bench:soak` records of each phase, and how it is judged and printed: the
 * statistics, memory and event-loop summaries, the verdicts and the table.
 */
import { type RssSample, median, percentile } from './harness.js';

/**
 * Memory is flat when RSS rises by at most this much over a phase's last 30 s (mean of its last
 * 5 s against the mean of the 5 s before the window). Levelled-off RSS under this mix moves by
 * about ±3 % as V8 grows and returns heap (docs/benchmarks.md); 10 % is three times that, and
 * still catches a leak of a few KB per request at these rates (the figure is printed). A fall
 * passes: memory handed back is not a leak.
 */
export const FLAT_TOLERANCE_PERCENT = 10;
export const FLAT_WINDOW_SECONDS = 30;

export type Stats = { p50: number; p99: number; max: number; count: number };

export interface Phase {
  phase: string;
  /** Requests/s asked of autocannon; null: as fast as the connections go. */
  targetRate: number | null;
  connections: number;
  seconds: number;
  /** Requests written (a closed-loop client sends only when a connection is free): the load really offered. */
  sentPerSecond: number;
  achievedPerSecond: number;
  okPerSecond: number;
  /** Responses, and 2xx responses, in each whole second. */
  perSecond: number[];
  okEachSecond: number[];
  latencyMs: Stats;
  latency2xxMs: Stats;
  latency503Ms: Stats;
  /** The 503s' latency by their code (server.overloaded, store.unavailable). */
  latency503ByCodeMs: Record<string, Stats>;
  /** /readyz asked once a second during the phase, as a load balancer would. */
  readyz: { statuses: Record<string, number>; latencyMs: Stats; notReady: string[] };
  statusCodes: Record<string, number>;
  byRequest: Record<string, Record<string, number>>;
  shed: { count: number; withRetryAfter: number; codes: Record<string, number> };
  rateLimited: { count: number; withRetryAfter: number };
  /** 5xx other than 503: the first 20, with the body (it names the request id). */
  serverErrors: { status: number; request: string; body: string }[];
  errors: number;
  timeouts: number;
  memory: ReturnType<typeof memoryOf>;
  heapUsedMb: { start: number | null; end: number | null; every5s: number[] };
  /** The event-loop delay load shedding decides on (mean per 500 ms), from the server itself. */
  eventLoop: ReturnType<typeof eventLoopOf>;
}

/** What bench/server.mjs reports over IPC every 500 ms. */
export interface ServerSample {
  at: number;
  /** How long the interval really was (a blocked loop stretches it). */
  intervalMs: number;
  heapMb: number;
  /** null: the loop did not turn in the whole interval. */
  loopDelayMs: number | null;
  loopDelayMaxMs: number;
  utilization: number;
  /** Log output the server holds because stdout's reader (this process) has not taken it yet. */
  logBacklogBytes: number | null;
}

export const round1 = (x: number) => Math.round(x * 10) / 10;
export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? { p50: round1(percentile(s, 50)), p99: round1(percentile(s, 99)), max: round1(s.at(-1) ?? 0), count: s.length } : { p50: 0, p99: 0, max: 0, count: 0 };
}

/** RSS at the start and end of a phase, each 5 s's mean, and the change over its last window. */
export function memoryOf(samples: RssSample[], phaseSeconds: number) {
  const total = samples.at(-1)?.at ?? 0;
  const between = (from: number, to: number) => mean(samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.mb));
  const windowSeconds = Math.min(FLAT_WINDOW_SECONDS, Math.floor(phaseSeconds / 2));
  const windowStart = between(total - windowSeconds * 1000 - 5000, total - windowSeconds * 1000);
  const windowEnd = between(total - 5000, total);
  const changePercent = round1((100 * (windowEnd - windowStart)) / windowStart);
  return {
    startMb: round1(samples[0]?.mb ?? 0),
    endMb: round1(samples.at(-1)?.mb ?? 0),
    peakMb: round1(Math.max(0, ...samples.map((s) => s.mb))),
    every5sMb: Array.from({ length: Math.ceil(total / 5000) }, (_, i) => Math.round(between(i * 5000, (i + 1) * 5000 - 1))),
    windowSeconds,
    windowStartMb: round1(windowStart),
    windowEndMb: round1(windowEnd),
    changePercent,
    isFlat: changePercent <= FLAT_TOLERANCE_PERCENT,
  };
}

/** How often the loop was past the shedding threshold, and how far, over a phase's samples. */
export function eventLoopOf(samples: ServerSample[], thresholdMs: number) {
  const means = samples.map((s) => s.loopDelayMs ?? Number.POSITIVE_INFINITY);
  const time = samples.reduce((t, s) => t + s.intervalMs, 0);
  const finite = means.filter((m) => Number.isFinite(m));
  return {
    samples: samples.length,
    /** Samples in which shedding was armed for the next 500 ms (load shedding decides on these). */
    overThreshold: means.filter((m) => m > thresholdMs).length,
    /** Of those, the ones in which the loop did not turn at all. */
    withoutATurn: samples.filter((s) => s.loopDelayMs === null).length,
    medianMeanMs: samples.length ? round1(median(means)) : null,
    maxFiniteMeanMs: finite.length ? round1(Math.max(...finite)) : null,
    maxMs: samples.length ? round1(Math.max(...samples.map((s) => s.loopDelayMaxMs))) : null,
    /** The most log output the server held unwritten (a slow reader of its stdout grows its heap). */
    maxLogBacklogMb: samples.some((s) => s.logBacklogBytes !== null) ? round1(Math.max(...samples.map((s) => s.logBacklogBytes ?? 0)) / 1024 / 1024) : null,
    /** Share of the phase's time the loop was busy (samples weighted by their length). */
    utilization: time > 0 ? Math.round((100 * samples.reduce((u, s) => u + s.utilization * s.intervalMs, 0)) / time) / 100 : null,
  };
}


/** Sequential GETs of one OU: what one client sees of the server. */
export interface NormalGets {
  firstMs: number;
  medianMs: number;
  maxMs: number;
  statuses: Record<string, number>;
}

/** Straight after the overload: /readyz, when a GET was served again, then the usual GETs. */
export interface Recovery {
  readyz: { status: number; ms: number };
  firstServedAfterMs: number | null;
  refusedBefore: Record<string, number>;
  gets: NormalGets;
}

function sumCodes(phases: Phase[], keep: (code: number) => boolean): number {
  return phases.reduce((n, p) => n + Object.entries(p.statusCodes).reduce((m, [code, count]) => m + (keep(Number(code)) ? count : 0), 0), 0);
}

function shedCodesOf(phases: Phase[]): Record<string, number> {
  const all: Record<string, number> = {};
  for (const p of phases) for (const [code, n] of Object.entries(p.shed.codes)) all[code] = (all[code] ?? 0) + n;
  return all;
}

export function table(phases: Phase[]): string {
  const count = (p: Phase, keep: (code: number) => boolean) => String(sumCodes([p], keep));
  const signed = (x: number) => `${x > 0 ? '+' : ''}${x} %`;
  const columns: [string, (p: Phase) => string][] = [
    ['phase', (p) => p.phase],
    ['offered req/s', (p) => (p.targetRate === null ? 'unthrottled' : String(p.targetRate))],
    ['connections', (p) => String(p.connections)],
    ['sent req/s', (p) => String(p.sentPerSecond)],
    ['answered req/s (2xx)', (p) => `${p.achievedPerSecond} (${p.okPerSecond})`],
    ['p50 / p99 / max ms', (p) => `${p.latencyMs.p50} / ${p.latencyMs.p99} / ${p.latencyMs.max}`],
    ['2xx', (p) => count(p, (c) => c >= 200 && c < 300)],
    ['4xx but 429', (p) => count(p, (c) => c >= 400 && c < 500 && c !== 429)],
    ['503 overloaded + store', (p) => `${p.shed.codes['server.overloaded'] ?? 0} + ${p.shed.codes['store.unavailable'] ?? 0}`],
    ['429', (p) => count(p, (c) => c === 429)],
    ['other 5xx', (p) => count(p, (c) => c >= 500 && c !== 503)],
    ['errors (timeouts)', (p) => `${p.errors} (${p.timeouts})`],
    ['loop delay past limit', (p) => `${p.eventLoop.overThreshold} of ${p.eventLoop.samples}`],
    ['/readyz 200', (p) => `${p.readyz.statuses['200'] ?? 0} of ${Object.values(p.readyz.statuses).reduce((a, b) => a + b, 0)}`],
    ['RSS start → end MB', (p) => `${Math.round(p.memory.startMb)} → ${Math.round(p.memory.endMb)}`],
    ['RSS last-window change', (p) => `${signed(p.memory.changePercent)} (${p.memory.windowSeconds} s)`],
    ['heap start → end MB', (p) => (p.heapUsedMb.start === null ? '-' : `${Math.round(p.heapUsedMb.start)} → ${Math.round(p.heapUsedMb.end ?? 0)}`)],
  ];
  const rows = phases.map((p) => columns.map(([, cell]) => cell(p)));
  const widths = columns.map(([name], i) => Math.max(name.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  return [line(columns.map(([name]) => name)), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface Verdict {
  pass: boolean;
  detail: string;
}

/** The soak's four verdicts (the issue's requirement), each with the figures behind it. */
export function verdictsOf(phases: Phase[], violations: string[], before: NormalGets, after: Recovery): Record<string, Verdict> {
  const loaded = phases.filter((p) => p.phase !== 'probe');
  const otherServerErrors = sumCodes(phases, (c) => c >= 500 && c !== 503);
  const shedTotal = phases.reduce((n, p) => n + p.shed.count, 0);
  return {
    onlyDocumented5xx: {
      pass: otherServerErrors === 0,
      detail:
        `5xx other than 503: ${otherServerErrors}; 503: ${shedTotal} (${phases.reduce((n, p) => n + p.shed.withRetryAfter, 0)} with Retry-After; ` +
        `codes ${JSON.stringify(shedCodesOf(phases))}); ` +
        `429: ${sumCodes(phases, (c) => c === 429)}`,
    },
    memoryFlat: {
      pass: loaded.every((p) => p.memory.isFlat),
      detail: loaded
        .map((p) => {
          const lastRequests = p.achievedPerSecond * p.memory.windowSeconds;
          const leakKb = Math.round(((FLAT_TOLERANCE_PERCENT / 100) * p.memory.windowStartMb * 1024) / Math.max(1, lastRequests));
          return `${p.phase}: last ${p.memory.windowSeconds} s ${p.memory.windowStartMb} → ${p.memory.windowEndMb} MB (${p.memory.changePercent} %, tolerance +${FLAT_TOLERANCE_PERCENT} %, i.e. a leak of ≥ ${leakKb} KB per request would show)`;
        })
        .join('; '),
    },
    invariants: { pass: violations.length === 0, detail: violations.length ? `${violations.length} violations, e.g. ${violations.slice(0, 3).join('; ')}` : 'none' },
    healthyAfter: {
      pass: after.readyz.status === 200 && after.firstServedAfterMs !== null && Object.keys(after.gets.statuses).every((s) => s === '200'),
      detail:
        `/readyz ${after.readyz.status} in ${after.readyz.ms} ms; first GET served ${after.firstServedAfterMs ?? 'never (30 s)'} ms after the load stopped (refused before: ${JSON.stringify(after.refusedBefore)}); ` +
        `GET one OU one at a time after the load: median ${after.gets.medianMs} ms, max ${after.gets.maxMs} ms; before the load: median ${before.medianMs} ms, max ${before.maxMs} ms`,
    },
  };
}

/** One phase in a line, everything the table leaves out. */
export function phaseLine(p: Phase, maxEventLoopDelayMs: number): string {
  return (
    `  ${p.phase}: ${p.achievedPerSecond} req/s (${p.okPerSecond} 2xx/s, sent ${p.sentPerSecond}/s) at ${p.connections} connections, ` +
    `p50 ${p.latencyMs.p50} ms, p99 ${p.latencyMs.p99} ms, max ${p.latencyMs.max} ms; statuses ${JSON.stringify(p.statusCodes)}; ` +
    `${p.errors} errors (${p.timeouts} timeouts); RSS ${p.memory.startMb} → ${p.memory.endMb} MB, each 5 s: ${p.memory.every5sMb.join(', ')} MB; ` +
    `event-loop delay (mean per 500 ms) median ${p.eventLoop.medianMeanMs} ms, over ${maxEventLoopDelayMs} ms in ${p.eventLoop.overThreshold} of ${p.eventLoop.samples} samples ` +
    `(${p.eventLoop.withoutATurn} without a turn), longest single delay ${p.eventLoop.maxMs} ms, loop busy ${p.eventLoop.utilization}, log backlog ≤ ${p.eventLoop.maxLogBacklogMb} MB; ` +
    `latency of 2xx p50/p99 ${p.latency2xxMs.p50}/${p.latency2xxMs.p99} ms, of 503 ${p.latency503Ms.p50}/${p.latency503Ms.p99} ms ${JSON.stringify(p.latency503ByCodeMs)}; ` +
    `/readyz each second: ${JSON.stringify(p.readyz.statuses)}, p50 ${p.readyz.latencyMs.p50} ms, max ${p.readyz.latencyMs.max} ms${p.readyz.notReady.length ? `, not ready: ${p.readyz.notReady.join(' | ')}` : ''}`
  );
}
