/**
 * What the benchmark commands share: a free port, the measured server process (start, stop, its
 * RSS), a token for the bench admin client, the scenarios' requests as autocannon sends them,
 * and the statistics the tables quote.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:net';
import type autocannon from 'autocannon';
import type { HttpRequest } from './scenarios.js';
import type { SeedManifest } from './seed-data.js';
import { type BenchStore, RESULTS_DIR, manifestFile } from './stores.js';

/** The manifest `bench:seed` wrote for `store`; stops with what to run when there is none. */
export function loadManifest(store: BenchStore): SeedManifest {
  try {
    return JSON.parse(readFileSync(manifestFile(store), 'utf8')) as SeedManifest;
  } catch {
    return fail(`No seeded ${store} store: run \`npm run bench:seed -- --store ${store}\` first.`);
  }
}

/** The platform client the bench server ensures at start-up (ARBOR_ADMIN_CLIENT_ID/SECRET). */
export const ADMIN = { id: 'bench-admin', secret: 'bench-admin-secret-0123456789abcdef' };

/** Prints a usage error and exits with 2. */
export function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

export function freePort(): Promise<number> {
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
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/**
 * CPU seconds the process has used so far, user and system, all its threads (Linux: /proc, in
 * clock ticks of 10 ms). Per request, the cost of a change that the throughput hides on a machine
 * whose requests/s swing by a third between two 5-s runs (docs/benchmarks.md).
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime] = [Number(fields[11]), Number(fields[12])];
  return (utime + stime) / 100;
}

export interface RssSample {
  /** ms since the sampler started */
  at: number;
  mb: number;
}

/** Samples the server's RSS every `intervalMs` (default 100 ms) until stopped. */
export function sampleRss(pid: number, intervalMs = 100) {
  const samples: RssSample[] = [];
  const started = performance.now();
  const sample = () => {
    try {
      samples.push({ at: performance.now() - started, mb: rssMb(pid) });
    } catch {
      // the process is gone
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
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
        samples,
      };
    },
  };
}

export interface ServerOptions {
  /** Receives what the server sends over IPC (bench/server.mjs: its memoryUsage() every second). */
  onMessage?: (message: unknown) => void;
  /** The checkout whose bench/server.mjs (and so whose dist/) runs: default this one (`--baseline` runs another). */
  checkoutDir?: string;
  /** Settings of this server beyond the benchmark's (e.g. ARBOR_METRICS_PORT=0 for the metrics A/B). */
  env?: Record<string, string>;
}

/** Starts bench/server.mjs on `databaseUrl`; resolves once it listens. Its log goes to `logFile` when it exits. */
export async function startServer(databaseUrl: string, manifest: SeedManifest, port: number, logFile: string, options: ServerOptions = {}): Promise<ChildProcess> {
  // BENCH_CPU_PROF=1: the server writes a V8 CPU profile to bench/results/ when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}`] : [];
  // BENCH_NODE_FLAGS: flags for the server's node command line, among them those node refuses in
  // NODE_OPTIONS (`--trace-gc` writes a line per collection into the server's log).
  if (process.env.BENCH_NODE_FLAGS) profile.push(...process.env.BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean));
  // Metrics on, as deployed, on a port of their own (a fixed 9464 could be taken).
  const metricsPort = String(await freePort());
  const child = spawn(process.execPath, [...profile, 'bench/server.mjs'], {
    ...(options.checkoutDir ? { cwd: options.checkoutDir } : {}),
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
      BENCH_WIDE_OU_ID: manifest.ids.wide,
      ARBOR_METRICS_PORT: metricsPort,
      ...options.env,
    },
    stdio: options.onMessage ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
  });
  if (options.onMessage) child.on('message', options.onMessage);
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
  child.on('exit', () => {
    // The results folder is made by the script that writes there first; a server's log may be first.
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, out.join(''));
  });
  return child;
}

/** SIGTERM, then waits until the process (and so its log file) is done. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** An access token for the bench admin client (client credentials). */
export async function tokenFor(base: string): Promise<string> {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** The platform admin's token, or one per kind of principal a scenario may send as. */
export type BenchTokens = string | { platform: string; 'tenant-wide': string; scoped: string };

/**
 * A tenant-wide tenant client and one with ou_admin at `scopeOuId`, made through the API, and
 * tokens for both: the delegation scenarios' principals.
 */
export async function delegationTokens(base: string, platform: string, tenantId: string, scopeOuId: string): Promise<BenchTokens> {
  const scopes = ['ous:read', 'ous:write', 'users:read', 'users:write', 'events:read', 'roles:read', 'roles:write'];
  const tokenOf = async (body: object) => {
    const created = await fetch(`${base}/api/v1/tenants/${tenantId}/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes, ...body }),
    });
    if (created.status !== 201) throw new Error(`bench client: ${created.status} ${await created.text()}`);
    const { id, client_secret } = ((await created.json()) as { data: { id: string; client_secret: string } }).data;
    return clientToken(base, id, client_secret);
  };
  return {
    platform,
    'tenant-wide': await tokenOf({ name: 'bench tenant-wide' }),
    scoped: await tokenOf({ name: 'bench scoped', ou_ids: [scopeOuId], role: 'ou_admin' }),
  };
}

async function clientToken(base: string, id: string, secret: string): Promise<string> {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

export function headersFor(request: HttpRequest, tokens: BenchTokens): Record<string, string> {
  const token = typeof tokens === 'string' ? tokens : tokens[request.as ?? 'platform'];
  if (request.as && typeof tokens === 'string') throw new Error(`a request as ${request.as} needs delegationTokens()`);
  return {
    ...(request.anonymous ? {} : { authorization: `Bearer ${token}` }),
    ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
}

let sequence = 0;
/** Unique per process and call: `[<id>]` in a scenario's body becomes one of these. */
export const uniqueSuffix = () => `${process.pid}-${Date.now().toString(36)}-${++sequence}`;

/**
 * A scenario's requests as autocannon sends them, with a fresh `[<id>]` per request.
 * `onResponse`, when given, hears every response with the index of its request in the list.
 */
export function autocannonRequests(
  requests: HttpRequest[],
  token: BenchTokens,
  onResponse?: (index: number, status: number, body: string, headers: Record<string, unknown>) => void,
): autocannon.Request[] {
  return requests.map((r, index) => {
    const body = r.body === undefined ? undefined : JSON.stringify(r.body);
    return {
      method: r.method,
      path: r.path,
      headers: headersFor(r, token),
      // A fresh name per request, set before autocannon computes Content-Length (its own
      // idReplacement swaps the text afterwards and leaves the length wrong).
      ...(body === undefined ? {} : { setupRequest: (request: object) => ({ ...request, body: body.replaceAll('[<id>]', uniqueSuffix()) }) }),
      ...(onResponse ? { onResponse: (status: number, text: string, _context: object, headers: Record<string, unknown> | undefined) => onResponse(index, status, text, headers ?? {}) } : {}),
    };
  });
}

/** The p-th percentile (nearest rank) of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
