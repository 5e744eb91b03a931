/**
 * The server the benchmark drives: Arbor exactly as `npm start` builds it, plus two ceiling
 * routes measured in the same process and run. Environment as for Arbor, and:
 *   BENCH_TENANT_ID, BENCH_OU_ID  the OU whose response size the ceiling body copies;
 *   BENCH_WIDE_OU_ID              the OU with 10,000 children, for the wide ceiling.
 *
 *   GET /bench/ceiling       a bare route: a constant body of that size, no auth, no store
 *   GET /bench/ceiling-auth  the same, behind Arbor's bearer-token check (scope ous:read)
 *   GET /bench/ceiling-wide  a bare route with a constant body the size of the wide OU's answer
 *                            (1.1 MB): what the machine can move of such answers at all
 */
// Plain JavaScript on the compiled dist/ (what `npm start` runs): no TypeScript loader in the
// measured process. `npm run bench` builds first.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';
import { openStore } from '../dist/db/store.js';
import { migrateToLatest } from '../dist/db/migrator.js';
import { heapPolicy } from '../dist/lib/heap-policy.js';
import { FULL_ACCESS } from '../dist/services/access.js';
import { createOrgUnitService } from '../dist/services/org-unit-service.js';

/** Starts the server; prints BENCH_SERVER_READY when it listens. */
async function main() {
  const config = loadConfig();
  const store = openStore(config.databaseUrl, { poolSize: config.dbPoolSize });
  await migrateToLatest(store.db);
  const tenantId = process.env.BENCH_TENANT_ID ?? '';
  const ouId = process.env.BENCH_OU_ID ?? '';
  const ou = await createOrgUnitService({ store, maxDepth: config.maxOuDepth }).get(FULL_ACCESS, tenantId, ouId);
  // The envelope the OU route sends, with a request id of the usual length.
  const body = JSON.stringify({ data: ou, meta: { request_id: '00000000-0000-4000-8000-000000000000', timestamp: new Date().toISOString() } });
  const wideOu = process.env.BENCH_WIDE_OU_ID ? await createOrgUnitService({ store, maxDepth: config.maxOuDepth }).get(FULL_ACCESS, tenantId, process.env.BENCH_WIDE_OU_ID) : null;
  const wideBody = Buffer.from(JSON.stringify({ data: wideOu, meta: { request_id: '00000000-0000-4000-8000-000000000000', timestamp: new Date().toISOString() } }));

  const { app } = await buildApp(config, {
    store,
    extraRoutes: (instance) => {
      instance.get('/bench/ceiling', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json').send(body));
      instance.get('/bench/ceiling-auth', { schema: { hide: true }, config: { scope: 'ous:read' } }, async (_request, reply) =>
        reply.type('application/json').send(body),
      );
      instance.get('/bench/ceiling-wide', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json').send(wideBody));
    },
  });
  // BENCH_HEAP_SAMPLE=<file>: V8's sampling heap profile from start to stop, written to <file>,
  // holding what a minor collection freed out (what survived to the old generation: alive, or
  // garbage a major collection had to find).
  const heapSampling = process.env.BENCH_HEAP_SAMPLE ? new Session() : null;
  if (heapSampling) {
    heapSampling.connect();
    await heapSampling.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
  }
  await app.listen({ host: config.host, port: config.port });
  // As src/server.ts does once it listens.
  heapPolicy.serve();
  process.stdout.write(`BENCH_SERVER_READY ${body.length}\n`);
  // Started with an IPC channel (npm run bench:soak): every 500 ms, off the HTTP path (never
  // shed or queued), the heap beside the RSS the parent reads from /proc, and the event-loop
  // delay measured as load shedding (@fastify/under-pressure) measures it, over 500 ms windows
  // (shedding's own windows are ARBOR_MAX_EVENT_LOOP_DELAY_MS long): the mean less the 10 ms
  // resolution, null when the loop did not turn at all (shedding counts that as infinite);
  // and the log lines written but not yet taken by the reader of stdout (held in the heap).
  if (process.send) {
    const logStream = app.log[pino.symbols.streamSym];
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    let elu = performance.eventLoopUtilization();
    let last = performance.now();
    setInterval(() => {
      const now = performance.eventLoopUtilization();
      const mean = delay.mean / 1e6 - 10;
      process.send?.({
        memory: process.memoryUsage(),
        intervalMs: performance.now() - last,
        loopDelayMs: Number.isNaN(mean) ? null : Math.max(0, mean),
        loopDelayMaxMs: delay.max / 1e6,
        utilization: performance.eventLoopUtilization(now, elu).utilization,
        logBacklogBytes: typeof logStream?._len === 'number' ? logStream._len : null,
      });
      last = performance.now();
      elu = now;
      delay.reset();
    }, 500).unref();
  }
  const stop = async () => {
    if (heapSampling) {
      const { profile } = await heapSampling.post('HeapProfiler.stopSampling');
      writeFileSync(process.env.BENCH_HEAP_SAMPLE, JSON.stringify(profile));
    }
    app.close().then(
      () => store.close().then(() => process.exit(0)),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  console.error('bench server failed to start:', error);
  process.exit(1);
});
