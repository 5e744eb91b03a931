import { Counter, Gauge, Histogram, type Metric, Registry, collectDefaultMetrics } from 'prom-client';
import type { MonitoringRepository } from '../db/repositories/monitoring-repository.js';
import { STORE_ERROR_KINDS, type StoreErrorKind, storeErrorKind } from '../db/store-errors.js';
import type { PoolStats } from '../db/store.js';

/**
 * Every series Arbor exposes to Prometheus (docs/operations.md#metrics lists them with their
 * labels and the alerts to set on them). One registry per app: tests build many apps in one
 * process, and each must count only its own requests. No label takes a value a client chooses
 * (a path, a query, a header, a tenant or OU id): every label value comes from a fixed set or
 * from the app's own route templates and status codes.
 */

/** The methods labelled as themselves; any other is `OTHER` (a client may send any token). */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'] as const;
/** The `route` of a request no route matched: never its URL. */
export const UNMATCHED_ROUTE = 'unmatched';
/**
 * Request duration buckets, in seconds: 1 ms to 10 s, denser from 25 to 250 ms, where the API's
 * latency targets lie (docs/benchmarks.md: 50 ms for any page, 100-150 ms for a 10,000-child OU).
 */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];
/** Why a request was shed with 503 `server.overloaded`. */
export const SHED_REASONS = ['event_loop_delay', 'store_pool_exhausted'] as const;
export type ShedReason = (typeof SHED_REASONS)[number];
/** Which limit answered 429: the per-client API limit, or one of the token endpoint's (per address, failed authentications per client). */
export const RATE_LIMITS = ['api', 'token_endpoint'] as const;
export type RateLimitName = (typeof RATE_LIMITS)[number];
/** The connection pools reported: the one requests use, and the webhook dispatcher's own where it has one (PostgreSQL). */
export type PoolName = 'main' | 'webhooks';

/** How long a scrape waits for the store before reporting its gauges as NaN. */
const STORE_READ_TIMEOUT_MS = 1_000;

export interface MetricsSources {
  /** Token verifications since start: from the cache, and in full. */
  tokenCache: () => { hits: number; misses: number };
  /** The store reads behind the change-feed and webhook gauges. */
  monitoring: Pick<MonitoringRepository, 'newestEventAt' | 'webhookBacklog'>;
  /** Told when those reads fail or time out (their gauges are then NaN). */
  onStoreReadError?: (error: unknown) => void;
  storeReadTimeoutMs?: number;
  now?: () => number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Seconds from a request's arrival to the end of its answer, by method, route template and status. */
  readonly requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  /** A request refused with 503 `server.overloaded`. */
  shed(reason: ShedReason): void;
  /** A request refused with 429. */
  rateLimited(limit: RateLimitName): void;
  /** Counts `error` when it is a store outage (storeErrorKind); anything else is ignored. */
  storeError(error: unknown): void;
  /** Reports a store's connections as pool `name` at every scrape. */
  watchPool(name: PoolName, stats: () => PoolStats): void;
}

let processRegistry: Registry | null = null;

/**
 * prom-client's default metrics (event-loop lag, memory, CPU, GC, handles), collected once per
 * process and shared by every app's registry: they describe the process, not an app, and each
 * collectDefaultMetrics call starts an event-loop monitor and a GC observer that nothing can
 * stop (a test run that builds hundreds of apps would keep hundreds of them running).
 */
function processMetrics(): Metric[] {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry.getMetricsAsArray() as unknown as Metric[];
}

/** Resolves as `promise` does, or rejects after `ms`; the work itself goes on (see readStore). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the store did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The registry of one app and every series in it. */
export function createMetrics(sources: MetricsSources): Metrics {
  const { tokenCache, monitoring, onStoreReadError = () => {}, storeReadTimeoutMs = STORE_READ_TIMEOUT_MS, now = () => Date.now() } = sources;
  const registry = new Registry();
  const registers = [registry];
  for (const metric of processMetrics()) registry.registerMetric(metric);

  const requestDuration = new Histogram({
    name: 'arbor_http_request_duration_seconds',
    help: 'Time from the arrival of a request to the end of its answer, in seconds, by method (OTHER for a non-standard one), route template (unmatched when no route matched) and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });

  // Counters over fixed label sets start at 0 for every value: a series that appeared only at
  // its first increment would be missed by rate() and by an alert on it.
  const shed = new Counter({
    name: 'arbor_http_requests_shed_total',
    help: 'Requests answered 503 server.overloaded, by reason: event_loop_delay (load shedding, ARBOR_MAX_EVENT_LOOP_DELAY_MS) or store_pool_exhausted (every PostgreSQL connection stayed busy for ARBOR_DB_CONNECT_TIMEOUT_MS).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of SHED_REASONS) shed.inc({ reason }, 0);

  const rateLimited = new Counter({
    name: 'arbor_http_requests_rate_limited_total',
    help: 'Requests answered 429, by limit: api (ARBOR_RATE_LIMIT_PER_MINUTE, per client) or token_endpoint (ARBOR_TOKEN_REQUESTS_PER_ADDRESS, ARBOR_TOKEN_FAILED_AUTH_LIMIT).',
    labelNames: ['limit'] as const,
    registers,
  });
  for (const limit of RATE_LIMITS) rateLimited.inc({ limit }, 0);

  const storeErrors = new Counter({
    name: 'arbor_store_errors_total',
    help: 'Store outages met by requests and background work, by kind (src/db/store-errors.ts): disk_full, read_only, io_error, cannot_open, busy (SQLite); unreachable, connection_closed, resources, read_only_server, credentials (PostgreSQL).',
    labelNames: ['kind'] as const,
    registers,
  });
  for (const kind of STORE_ERROR_KINDS) storeErrors.inc({ kind }, 0);

  const pools = new Map<PoolName, () => PoolStats>();
  const poolGauge = (name: string, help: string, value: (stats: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'] as const,
      registers,
      collect() {
        for (const [pool, stats] of pools) this.set({ pool }, value(stats()));
      },
    });
  poolGauge('arbor_store_pool_size', 'Store connections open, by pool (main: requests; webhooks: the dispatcher\'s own on PostgreSQL). SQLite has one.', (s) => s.size);
  poolGauge('arbor_store_pool_max', 'The most connections the pool may open (ARBOR_DB_POOL_SIZE; 1 on SQLite).', (s) => s.max);
  poolGauge('arbor_store_pool_in_use', 'Store connections checked out by a query or transaction (SQLite: 1 while a transaction holds its one connection).', (s) => s.inUse);
  poolGauge(
    'arbor_store_pool_waiting',
    'Callers waiting for a store connection (SQLite: transactions and snapshots queued behind the one holding its connection).',
    (s) => s.waiting,
  );

  // Counters fed from the token service's own numbers at scrape time: nothing on the request path.
  const cacheCounter = (name: string, help: string, field: 'hits' | 'misses') => {
    let counted = 0;
    return new Counter({
      name,
      help,
      registers,
      collect() {
        const total = tokenCache()[field];
        if (total > counted) this.inc(total - counted);
        counted = total;
      },
    });
  };
  cacheCounter('arbor_token_cache_hits_total', 'Bearer tokens accepted from the verified-token cache, without checking their signature again (ARBOR_TOKEN_CACHE_SIZE).', 'hits');
  cacheCounter('arbor_token_cache_misses_total', 'Bearer tokens verified in full: not in the cache, expired from it, or the cache is off.', 'misses');

  // One store read at a time: scrapes that come while it runs (or after it has timed out and
  // still runs) wait for it instead of starting another, so a slow store gets no pile of them.
  let storeRead: Promise<{ newest: string | null; backlog: number }> | null = null;
  const readStore = () => {
    storeRead ??= Promise.all([monitoring.newestEventAt(), monitoring.webhookBacklog()])
      .then(([newest, backlog]) => ({ newest, backlog }))
      .finally(() => {
        storeRead = null;
      });
    return withTimeout(storeRead, storeReadTimeoutMs);
  };
  const failed = (error: unknown) => {
    countStoreError(error);
    onStoreReadError(error);
  };
  new Gauge({
    name: 'arbor_change_feed_newest_event_age_seconds',
    help: 'Seconds since the newest event of any tenant was written: how stale the change feed is. NaN when there is no event yet, or the store did not answer the scrape within 1 s.',
    registers,
    async collect() {
      try {
        const { newest } = await readStore();
        this.set(newest === null ? Number.NaN : Math.max(0, (now() - Date.parse(newest)) / 1000));
      } catch (error) {
        this.set(Number.NaN);
        failed(error);
      }
    },
  });
  new Gauge({
    name: 'arbor_webhook_backlog',
    help: 'Webhook deliveries still to make: events after the cursor of each enabled subscription (a retry waiting at its head included), plus pings and re-sends not yet sent. NaN when the store did not answer the scrape within 1 s.',
    registers,
    async collect() {
      try {
        this.set((await readStore()).backlog);
      } catch {
        // Told once, by the change-feed gauge, which shares the read.
        this.set(Number.NaN);
      }
    },
  });

  function countStoreError(error: unknown): void {
    const kind: StoreErrorKind | null = storeErrorKind(error);
    if (kind) storeErrors.inc({ kind });
  }

  return {
    registry,
    requestDuration,
    shed: (reason) => shed.inc({ reason }),
    rateLimited: (limit) => rateLimited.inc({ limit }),
    storeError: countStoreError,
    watchPool: (name, stats) => void pools.set(name, stats),
  };
}
