/**
 * npm run bench:webhooks -- [--store sqlite|postgres] [--runs 3] [--mixed-seconds 20] [--samples 200] [--backlog 2000]
 *
 * Webhook delivery (docs/webhooks.md), on a fresh copy of the seeded store and one real server
 * process, with a receiver in this process on loopback (it answers 204 at once and records when
 * each webhook-id arrived; signatures are verified by the tests, not here):
 *
 *   idle latency      one OU created at a time: from the API's answer (the commit is done) to the
 *                     delivery's arrival
 *   mixed load        the `mixed` scenario of scenarios.ts (rate limit off) three ways, in turn in
 *                     every run: no subscription; one subscription (`*`) to a fast receiver, with
 *                     the event-to-delivery latency of every event (arrival − occurred_at, one
 *                     clock); one to a receiver that never answers (ARBOR_WEBHOOK_TIMEOUT_MS 15 s)
 *   throughput        a backlog of events built while the subscription is paused, then resumed:
 *                     deliveries per second to one fast receiver until it is drained
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { autocannonRequests, fail, freePort, loadManifest, median, percentile, startServer, stopServer, tokenFor } from './harness.js';
import { scenarios } from './scenarios.js';
import { type BenchStore, RESULTS_DIR, freshRunStore } from './stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    runs: { type: 'string', default: '3' },
    'mixed-seconds': { type: 'string', default: '20' },
    samples: { type: 'string', default: '200' },
    backlog: { type: 'string', default: '2000' },
  },
});

/** A receiver that records the arrival time of each webhook-id; `hang` leaves every request unanswered. */
async function startReceiver(hang: boolean) {
  const arrivals = new Map<string, { at: number; occurredAt: string }>();
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const at = Date.now();
      const id = String(request.headers['webhook-id']);
      if (!arrivals.has(id)) arrivals.set(id, { at, occurredAt: (JSON.parse(Buffer.concat(chunks).toString()) as { timestamp: string }).timestamp });
      if (!hang) response.writeHead(204).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrivals,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

async function waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const summary = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
};

async function main(): Promise<void> {
  const store = values.store as BenchStore;
  if (store !== 'sqlite' && store !== 'postgres') fail(`--store must be sqlite or postgres, got '${values.store}'.`);
  const [runs, mixedSeconds, samples, backlog] = [values.runs, values['mixed-seconds'], values.samples, values.backlog].map(Number);
  const manifest = loadManifest(store);
  const mixed = scenarios(manifest).find((s) => s.name === 'mixed');
  if (!mixed) fail('bench/scenarios.ts has no `mixed` scenario');
  mkdirSync(RESULTS_DIR, { recursive: true });
  // What the server process inherits: loopback receivers allowed, a key for the secrets.
  process.env.ARBOR_WEBHOOK_ALLOW_INSECURE = 'true';
  process.env.ARBOR_SECRETS_KEY = randomBytes(32).toString('hex');
  process.env.LOG_LEVEL = 'warn';
  console.log(
    `Webhooks on ${store}: ${runs} run(s); idle latency over ${samples} creates; the mixed load ${mixedSeconds} s each way, 16 connections, rate limit off; a backlog of ${backlog} events`,
  );
  const results = {
    idle: [] as number[][],
    mixed: { none: [] as number[], fast: [] as number[], hanging: [] as number[] },
    underLoad: [] as number[][],
    halfLoad: [] as number[][],
    halfRate: [] as number[],
    throughput: [] as number[],
  };
  for (let run = 1; run <= runs; run++) {
    const databaseUrl = await freshRunStore(store);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server: ChildProcess = await startServer(databaseUrl, manifest, port, join(RESULTS_DIR, `server-webhooks-${store}-run${run}.log`));
    const receivers: Receiver[] = [];
    try {
      const token = await tokenFor(base);
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const api = async (method: string, path: string, body?: object) => {
        const response = await fetch(`${base}/api/v1/tenants/${manifest.tenantId}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
        const text = await response.text();
        if (response.status >= 300) throw new Error(`${method} ${path} -> ${response.status} ${text}`);
        return text ? (JSON.parse(text) as { data: Record<string, unknown> }).data : {};
      };
      const fast = await startReceiver(false);
      const hanging = await startReceiver(true);
      receivers.push(fast, hanging);
      // Each phase subscribes afresh (a new subscription is owed only what commits after it), so
      // that no phase inherits a backlog from the one before.
      const subscribe = async (url: string, enabled = true) => ((await api('POST', '/webhooks', { url, event_types: ['*'], enabled })) as { id: string }).id;
      const unsubscribe = (id: string) => api('DELETE', `/webhooks/${id}`);
      /** Event-to-delivery of the events that occurred since `started`, once arrivals have stopped for 1 s (at most 120 s). */
      const settle = async (started: number) => {
        let count = -1;
        for (let waited = 0; waited < 120_000 && count !== fast.arrivals.size; waited += 1000) {
          count = fast.arrivals.size;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        return [...fast.arrivals.values()].filter((a) => Date.parse(a.occurredAt) >= started).map((a) => a.at - Date.parse(a.occurredAt));
      };

      // Idle: one create at a time, the delivery's arrival after the API's answer.
      const idleSubscription = await subscribe(fast.url);
      const idle: number[] = [];
      for (let i = 0; i < samples; i++) {
        const created = await api('POST', '/ous', { name: `Webhook idle ${run} ${i}`, parent_id: manifest.ids.createParent });
        const answeredAt = Date.now();
        const events = (await api('GET', `/events?resource_id=${created.id}&type=ou.created`)) as unknown as { id: string }[];
        await waitUntil(() => fast.arrivals.has(events[0].id), 10_000, 'idle delivery');
        idle.push((fast.arrivals.get(events[0].id)?.at ?? 0) - answeredAt);
      }
      await unsubscribe(idleSubscription);
      results.idle.push(idle);

      // The mixed load three ways, in an order that turns each run.
      const ways = (['none', 'fast', 'hanging'] as const).map((_, i, all) => all[(i + run - 1) % all.length]);
      for (const way of ways) {
        const id = way === 'none' ? null : await subscribe(way === 'fast' ? fast.url : hanging.url);
        const started = Date.now();
        const result = await autocannon({ url: base, connections: 16, duration: mixedSeconds, requests: autocannonRequests(mixed.requests, token) });
        if (result.non2xx + result.errors > 0) console.error(`  ${way}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        results.mixed[way].push(result.requests.average);
        let line = `  run ${run}/${runs} mixed load, ${way === 'none' ? 'no subscription' : way === 'fast' ? 'a subscription to a fast receiver' : 'a subscription to a receiver that never answers'}: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms`;
        if (way === 'fast') {
          const latencies = await settle(started);
          results.underLoad.push(latencies);
          const s = summary(latencies);
          line += `; ${s.n} events delivered, event-to-delivery p50 ${s.p50} ms, p99 ${s.p99} ms`;
        }
        if (id) await unsubscribe(id);
        console.log(line);
      }

      // The same load at half the rate the server sustained without a subscription: a busy
      // server that is not saturated, as production runs.
      {
        const id = await subscribe(fast.url);
        const rate = Math.round(results.mixed.none[results.mixed.none.length - 1] / 2);
        const started = Date.now();
        await autocannon({ url: base, connections: 16, duration: mixedSeconds, overallRate: rate, requests: autocannonRequests(mixed.requests, token) });
        const latencies = await settle(started);
        await unsubscribe(id);
        results.halfLoad.push(latencies);
        results.halfRate.push(rate);
        const s = summary(latencies);
        console.log(`  run ${run}/${runs} mixed load at ${rate} req/s with a subscription to a fast receiver: ${s.n} events delivered, event-to-delivery p50 ${s.p50} ms, p99 ${s.p99} ms`);
      }

      // Throughput: a backlog built while paused, then drained.
      const subscription = await subscribe(fast.url, false);
      const already = fast.arrivals.size;
      for (let i = 0; i < backlog; i += 16) {
        await Promise.all(Array.from({ length: Math.min(16, backlog - i) }, (_, j) => api('POST', '/ous', { name: `Webhook backlog ${run} ${i + j}`, parent_id: manifest.ids.createParent })));
      }
      const resumed = Date.now();
      await api('PATCH', `/webhooks/${subscription}`, { enabled: true });
      await waitUntil(() => fast.arrivals.size >= already + backlog, 300_000, 'backlog drained');
      const rate = (backlog * 1000) / (Date.now() - resumed);
      results.throughput.push(rate);
      const s = summary(idle);
      console.log(`  run ${run}/${runs}: idle event-to-delivery p50 ${s.p50} ms, p99 ${s.p99} ms; backlog of ${backlog} drained at ${Math.round(rate)} deliveries/s`);
    } finally {
      for (const receiver of receivers) await receiver.close();
      await stopServer(server);
    }
  }
  const idle = summary(results.idle.map((xs) => summary(xs).p50));
  const idleP99 = median(results.idle.map((xs) => summary(xs).p99));
  const loadP50 = median(results.underLoad.map((xs) => summary(xs).p50));
  const loadP99 = median(results.underLoad.map((xs) => summary(xs).p99));
  const [none, withFast, withHanging] = [results.mixed.none, results.mixed.fast, results.mixed.hanging].map(median);
  const table = [
    `| ${store} | median of ${runs} runs |`,
    '|---|---|',
    `| event-to-delivery, idle: p50 / p99 | ${idle.p50} ms / ${idleP99} ms |`,
    `| event-to-delivery under the mixed load at half its rate (${Math.round(median(results.halfRate))} req/s): p50 / p99 | ${median(results.halfLoad.map((xs) => summary(xs).p50))} ms / ${median(results.halfLoad.map((xs) => summary(xs).p99))} ms |`,
    `| event-to-delivery under the mixed load at full rate (${mixedSeconds} s): p50 / p99 | ${loadP50} ms / ${loadP99} ms |`,
    `| deliveries per second to one fast receiver (a ${backlog}-event backlog) | ${Math.round(median(results.throughput))} |`,
    `| the mixed load without a subscription | ${Math.round(none)} req/s |`,
    `| with one subscription to a fast receiver | ${Math.round(withFast)} req/s (${((100 * (withFast - none)) / none).toFixed(1)} %) |`,
    `| with one subscription to a receiver that never answers | ${Math.round(withHanging)} req/s (${((100 * (withHanging - none)) / none).toFixed(1)} %) |`,
  ].join('\n');
  console.log(`\n${table}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
