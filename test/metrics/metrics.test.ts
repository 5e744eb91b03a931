import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { AppError, OAuthError, PoolExhaustedError } from '../../src/errors.js';
import { refusalOf } from '../../src/http/request-metrics.js';
import { DURATION_BUCKETS, createMetrics } from '../../src/metrics/metrics.js';
import { createOu, createTenant } from '../helpers/factories.js';
import { type MetricsApp, startMetricsApp } from '../helpers/metrics-app.js';
import { familyOf, parsePrometheusText, samplesOf, valueOf } from '../helpers/prometheus.js';
import { closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';
import { testWebhooks } from '../helpers/webhooks.js';

/*
 * GET /metrics on its own listener, scraped over real HTTP after real requests through the app
 * on a freshly migrated store. What the series say, which labels they carry, and that no label
 * ever carries what a client chose.
 */

const OU_ROUTE = '/api/v1/tenants/:tenant_id/ous/:ou_id';
const DURATION = 'arbor_http_request_duration_seconds';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A metrics app (test/helpers/metrics-app.ts) with two routes that fail as the store and the pool do. */
async function metricsWorld(overrides: Partial<Config> = {}): Promise<MetricsApp> {
  const w = await startMetricsApp(overrides, {
    extraRoutes: (app) => {
      app.get('/test/disk-full', { schema: { hide: true } }, async () => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      });
      app.get('/test/pool-exhausted', { schema: { hide: true } }, async () => {
        throw new PoolExhaustedError(4, 5_000);
      });
    },
  });
  cleanups.push(() => w.close());
  return w;
}

describe('GET /metrics', () => {
  it('after requests, has request durations by method, route template and status: an OU read, a 404 of the route, an unmatched 404, a 401 and a 429', async () => {
    const w = await metricsWorld({ rateLimitPerMinute: 5 });
    const tenant = await createTenant(w.context); // 1 of the platform client's 5
    const ou = await createOu(w.context, tenant.id); // 2
    const ouUrl = `/api/v1/tenants/${tenant.id}/ous/${ou.id}`;
    expect((await w.inject({ method: 'GET', url: ouUrl, headers: w.platform })).statusCode).toBe(200); // 3
    expect((await w.inject({ method: 'GET', url: ouUrl, headers: w.platform })).statusCode).toBe(200); // 4
    expect((await w.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/ou_missing`, headers: w.platform })).statusCode).toBe(404); // 5
    expect((await w.inject({ method: 'GET', url: ouUrl, headers: w.platform })).statusCode).toBe(429);
    expect((await w.inject({ method: 'GET', url: ouUrl })).statusCode).toBe(401);
    expect((await w.inject({ method: 'GET', url: '/no/such/route' })).statusCode).toBe(404);

    const scraped = await w.scrape();
    const count = (labels: Record<string, string>) => valueOf(scraped, `${DURATION}_count`, labels);
    expect(count({ method: 'POST', route: '/api/v1/tenants', status_code: '201' })).toBe(1);
    expect(count({ method: 'POST', route: '/api/v1/tenants/:tenant_id/ous', status_code: '201' })).toBe(1);
    expect(count({ method: 'GET', route: OU_ROUTE, status_code: '200' })).toBe(2);
    expect(count({ method: 'GET', route: OU_ROUTE, status_code: '404' })).toBe(1);
    expect(count({ method: 'GET', route: OU_ROUTE, status_code: '429' })).toBe(1);
    expect(count({ method: 'GET', route: OU_ROUTE, status_code: '401' })).toBe(1);
    expect(count({ method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    expect(valueOf(scraped, `${DURATION}_sum`, { method: 'GET', route: OU_ROUTE, status_code: '200' })).toBeGreaterThan(0);

    // A histogram with exactly these labels, the buckets meant for an API, and a HELP text.
    expect(scraped.types.get(DURATION)).toBe('histogram');
    for (const sample of samplesOf(scraped, `${DURATION}_bucket`)) expect(Object.keys(sample.labels).sort()).toEqual(['le', 'method', 'route', 'status_code']);
    for (const sample of samplesOf(scraped, `${DURATION}_count`)) expect(Object.keys(sample.labels).sort()).toEqual(['method', 'route', 'status_code']);
    const bounds = samplesOf(scraped, `${DURATION}_bucket`, { method: 'GET', route: OU_ROUTE, status_code: '200' }).map((s) => s.labels.le);
    expect(bounds).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
    expect(valueOf(scraped, `${DURATION}_bucket`, { method: 'GET', route: OU_ROUTE, status_code: '200', le: '+Inf' })).toBe(2);

    expect(valueOf(scraped, 'arbor_http_requests_rate_limited_total', { limit: 'api' })).toBe(1);
    expect(valueOf(scraped, 'arbor_http_requests_rate_limited_total', { limit: 'token_endpoint' })).toBe(0);
  });

  it('never carries a tenant id, an OU id, a path, a query or a header value a client sent, and labels a non-standard method OTHER', async () => {
    const w = await metricsWorld();
    const tenant = await createTenant(w.context);
    const ou = await createOu(w.context, tenant.id);
    const marker = 'client-chose-this';
    const headers = { ...w.platform, 'x-request-id': `${marker}-id`, traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`, 'user-agent': `${marker}-agent` };
    await w.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/${ou.id}?${marker}-query=1`, headers });
    await w.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous/${marker}-ou`, headers });
    await w.inject({ method: 'GET', url: `/${marker}/path/${tenant.id}`, headers });
    await w.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/users?search=${marker}`, headers });
    await w.inject({ method: 'PROPFIND' as 'GET', url: `/api/v1/tenants/${tenant.id}`, headers });

    const scraped = await w.scrape();
    for (const forbidden of [tenant.id, ou.id, marker, 'ab'.repeat(16), 'PROPFIND']) expect(scraped.text, forbidden).not.toContain(forbidden);
    const methods = new Set(samplesOf(scraped, `${DURATION}_count`).map((s) => s.labels.method));
    expect(methods).toContain('OTHER');
    // Every label value of every arbor_ series is a route template, a status, a method or from a fixed set.
    const routes = new Set([...w.built.routes.map((r) => r.url), 'unmatched']);
    for (const sample of scraped.samples.filter((s) => s.name.startsWith('arbor_'))) {
      for (const [label, value] of Object.entries(sample.labels)) {
        if (label === 'route') expect(routes, `route label ${value}`).toContain(value);
        else if (label === 'status_code') expect(value).toMatch(/^[1-5]\d\d$/);
        else if (label === 'method') expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER']).toContain(value);
        else if (label === 'le') expect(value).toMatch(/^([\d.]+|\+Inf)$/);
        else expect(value, `${sample.name}{${label}}`).toMatch(/^[a-z_]+$/);
      }
    }
  });

  it('counts token verifications answered by the cache (hits) and verified in full (misses)', async () => {
    const w = await metricsWorld();
    const before = await w.scrape();
    const hits0 = valueOf(before, 'arbor_token_cache_hits_total');
    const misses0 = valueOf(before, 'arbor_token_cache_misses_total');
    const token = await w.built.tokens.sign({ subject: 'cache-test', scopes: ['platform:admin'] });
    for (let i = 0; i < 3; i++) expect((await w.inject({ method: 'GET', url: '/api/v1/tenants', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);

    const after = await w.scrape();
    expect(valueOf(after, 'arbor_token_cache_misses_total') - misses0).toBe(1);
    expect(valueOf(after, 'arbor_token_cache_hits_total') - hits0).toBe(2);
    expect(after.types.get('arbor_token_cache_hits_total')).toBe('counter');
    // Read again without new requests: counters do not move by being scraped.
    const again = await w.scrape();
    expect(valueOf(again, 'arbor_token_cache_hits_total')).toBe(valueOf(after, 'arbor_token_cache_hits_total'));
  });

  it('reports the store pool, store errors by kind, requests shed by reason, the feed age and the webhook backlog', async () => {
    const w = await metricsWorld();
    expect((await w.inject({ method: 'GET', url: '/test/disk-full' })).statusCode).toBe(503);
    expect((await w.inject({ method: 'GET', url: '/test/pool-exhausted' })).statusCode).toBe(503);

    const scraped = await w.scrape();
    const max = valueOf(scraped, 'arbor_store_pool_max', { pool: 'main' });
    expect(max).toBe(isPostgresPass ? 4 : 1);
    expect(valueOf(scraped, 'arbor_store_pool_size', { pool: 'main' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(scraped, 'arbor_store_pool_size', { pool: 'main' })).toBeLessThanOrEqual(max);
    expect(samplesOf(scraped, 'arbor_store_pool_in_use', { pool: 'main' })).toHaveLength(1);
    expect(valueOf(scraped, 'arbor_store_pool_waiting', { pool: 'main' })).toBe(0);

    expect(valueOf(scraped, 'arbor_store_errors_total', { kind: 'disk_full' })).toBe(1);
    expect(valueOf(scraped, 'arbor_store_errors_total', { kind: 'unreachable' })).toBe(0);
    expect(valueOf(scraped, 'arbor_http_requests_shed_total', { reason: 'store_pool_exhausted' })).toBe(1);
    expect(valueOf(scraped, 'arbor_http_requests_shed_total', { reason: 'event_loop_delay' })).toBe(0);

    // No event yet: the feed's age is unknown (NaN), not 0. No subscription: no backlog.
    expect(samplesOf(scraped, 'arbor_change_feed_newest_event_age_seconds')[0]?.value).toBeNaN();
    expect(valueOf(scraped, 'arbor_webhook_backlog')).toBe(0);
    for (const family of ['arbor_store_pool_size', 'arbor_change_feed_newest_event_age_seconds', 'arbor_webhook_backlog']) expect(scraped.types.get(family)).toBe('gauge');

    // Process metrics: event-loop lag and memory.
    expect(samplesOf(scraped, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);
    expect(samplesOf(scraped, 'nodejs_eventloop_lag_p99_seconds')).toHaveLength(1);
    expect(valueOf(scraped, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(valueOf(scraped, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('gives the age of the newest event of any tenant, and counts events a subscription has still to get as backlog', async () => {
    const w = await metricsWorld();
    const tenant = await createTenant(w.context);
    // No dispatcher in this app (webhook delivery is off in tests): whatever it subscribes to waits.
    const subscribed = await w.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant.id}/webhooks`,
      headers: w.platform,
      payload: { url: 'http://receiver.test/hook', event_types: ['ou.*'] },
    });
    expect(subscribed.statusCode, subscribed.body).toBe(201);
    const before = valueOf(await w.scrape(), 'arbor_webhook_backlog');
    for (let i = 0; i < 3; i++) await createOu(w.context, tenant.id);
    await sleep(20);

    const scraped = await w.scrape();
    const age = valueOf(scraped, 'arbor_change_feed_newest_event_age_seconds');
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(5);
    expect(valueOf(scraped, 'arbor_webhook_backlog') - before).toBe(3);
  });

  it('answers 404 for anything but GET or HEAD /metrics, and HEAD without a body', async () => {
    const w = await metricsWorld();
    const base = w.server.url.replace(/\/metrics$/, '');
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/metrics/extra'],
      ['POST', '/metrics'],
    ] as const) {
      const response = await fetch(`${base}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    const head = await fetch(w.server.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${w.server.url}?name[]=x`)).status).toBe(200);
  });

  it('counts requests shed by load shedding under event_loop_delay', async () => {
    const w = await metricsWorld({ maxEventLoopDelayMs: 100 });
    // Shedding is armed two samples after start; then every turn of the loop takes 200 ms.
    await sleep(300);
    const pressure = setInterval(() => blockEventLoop(200), 1);
    let shed = 0;
    try {
      // Requests that need no timer complete within one turn: a pause lets the sampler see the blocks.
      for (const deadline = Date.now() + 10_000; shed === 0 && Date.now() < deadline; ) {
        await sleep(50);
        if ((await w.inject({ method: 'GET', url: '/api/v1/tenants', headers: w.platform })).statusCode === 503) shed++;
      }
    } finally {
      clearInterval(pressure);
    }
    expect(shed, 'no request was shed under sustained event-loop pressure').toBeGreaterThan(0);
    const scraped = await w.scrape();
    expect(valueOf(scraped, 'arbor_http_requests_shed_total', { reason: 'event_loop_delay' })).toBe(shed);
    expect(valueOf(scraped, `${DURATION}_count`, { route: '/api/v1/tenants', status_code: '503' })).toBe(shed);
  }, 30_000);

  it('names every arbor_ family with a HELP text and the arbor_ prefix, counters ending in _total', async () => {
    const w = await metricsWorld();
    const scraped = await w.scrape();
    const families = new Set(scraped.samples.map((s) => familyOf(scraped, s.name)).filter((name) => name.startsWith('arbor_')));
    expect([...families].sort()).toEqual([
      'arbor_change_feed_newest_event_age_seconds',
      'arbor_http_requests_rate_limited_total',
      'arbor_http_requests_shed_total',
      'arbor_store_errors_total',
      'arbor_store_pool_in_use',
      'arbor_store_pool_max',
      'arbor_store_pool_size',
      'arbor_store_pool_waiting',
      'arbor_token_cache_hits_total',
      'arbor_token_cache_misses_total',
      'arbor_webhook_backlog',
    ]);
    // The duration histogram has no sample before the first request, but is declared.
    expect(scraped.types.get(DURATION)).toBe('histogram');
    for (const family of [...families, DURATION]) {
      expect(scraped.help.get(family)?.length ?? 0, `HELP of ${family}`).toBeGreaterThan(20);
      if (scraped.types.get(family) === 'counter') expect(family).toMatch(/_total$/);
    }
  });
});

describe('refusalOf', () => {
  it('tells a pool-exhausted 503 from load shedding, and the API limit from the token endpoint’s', () => {
    expect(refusalOf(new PoolExhaustedError(10, 5_000))).toEqual({ shed: 'store_pool_exhausted' });
    expect(refusalOf(new AppError(503, 'server.overloaded', 'busy'))).toEqual({ shed: 'event_loop_delay' });
    expect(refusalOf(new AppError(429, 'request.rate_limited', 'slow down'))).toEqual({ rateLimited: 'api' });
    expect(refusalOf(new OAuthError(429, 'too_many_requests', 'slow down'))).toEqual({ rateLimited: 'token_endpoint' });
    expect(refusalOf(new AppError(503, 'store.unavailable', 'down'))).toBeNull();
    expect(refusalOf(new Error('bug'))).toBeNull();
  });
});

describe('ARBOR_METRICS_PORT=0', () => {
  it('collects nothing: the app has no metrics to serve', async () => {
    const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', ARBOR_METRICS_PORT: '0' }, { rateLimitPerMinute: 0, maxEventLoopDelayMs: 0, webhooks: testWebhooks() });
    const store = await openTestStore();
    const built = await buildApp(config, { store, logger: false, bootstrapAdminClient: false });
    cleanups.push(async () => {
      await built.app.close();
      await closeTestStore(store);
    });
    expect(built.metrics).toBeNull();
    expect((await built.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

/** Keeps this process's event loop busy for `ms`. */
function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

describe('createMetrics', () => {
  it('bounds a scrape by the store: a read that never answers makes the feed and backlog gauges NaN within the timeout, and is not started again while it runs', async () => {
    let reads = 0;
    const never = new Promise<never>(() => {});
    const errors: unknown[] = [];
    const metrics = createMetrics({
      tokenCache: () => ({ hits: 0, misses: 0 }),
      monitoring: {
        newestEventAt: () => {
          reads++;
          return never;
        },
        webhookBacklog: () => never,
      },
      storeReadTimeoutMs: 200,
      onStoreReadError: (error) => errors.push(error),
    });
    const started = Date.now();
    const first = parsePrometheusText(await metrics.registry.metrics());
    const second = parsePrometheusText(await metrics.registry.metrics());
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const scraped of [first, second]) {
      expect(samplesOf(scraped, 'arbor_change_feed_newest_event_age_seconds')[0]?.value).toBeNaN();
      expect(samplesOf(scraped, 'arbor_webhook_backlog')[0]?.value).toBeNaN();
      // The rest of the scrape is served all the same.
      expect(samplesOf(scraped, 'arbor_http_requests_shed_total')).toHaveLength(2);
    }
    expect(reads).toBe(1);
    expect(errors).toHaveLength(2);
    expect(String(errors[0])).toContain('did not answer within 200 ms');
  });
});
