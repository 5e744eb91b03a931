import type { FastifyInstance } from 'fastify';
import { AppError, OAuthError, PoolExhaustedError } from '../errors.js';
import { HTTP_METHODS, type Metrics, type RateLimitName, type ShedReason, UNMATCHED_ROUTE } from '../metrics/metrics.js';

type DurationSeries = ReturnType<Metrics['requestDuration']['labels']>;

/** What a refusal counts as: shed (503 `server.overloaded`), rate limited (429), or neither. */
export function refusalOf(error: unknown): { shed: ShedReason } | { rateLimited: RateLimitName } | null {
  if (!(error instanceof AppError)) return null;
  if (error instanceof PoolExhaustedError) return { shed: 'store_pool_exhausted' };
  if (error.status === 503 && error.code === 'server.overloaded') return { shed: 'event_loop_delay' };
  if (error.status === 429) return { rateLimited: error instanceof OAuthError ? 'token_endpoint' : 'api' };
  return null;
}

/**
 * Observes every request: its duration by method, route template and status (one onResponse
 * hook), and the refusals and store outages among its errors (one onError hook, which runs only
 * for errors). Call before any route is registered. Kept cheap for the hottest routes: callback
 * hooks (an async one costs a promise per request), and the labelled series of each (method,
 * route, status) made once and then found by the template and a number; the only allocation is
 * Fastify's routeOptions object, which it builds on each read (as the auth hook's read does).
 */
export function registerRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  const methodIndex = new Map<string, number>(HTTP_METHODS.map((method, i) => [method, i]));
  const byRoute = new Map<string, Map<number, DurationSeries>>();

  function seriesFor(method: string, route: string, status: number): DurationSeries {
    let byKey = byRoute.get(route);
    if (byKey === undefined) {
      byKey = new Map();
      byRoute.set(route, byKey);
    }
    // Route templates are the app's own and statuses are 3 digits: both sets are small and fixed.
    const index = methodIndex.get(method) ?? HTTP_METHODS.length;
    const key = index * 1000 + status;
    let series = byKey.get(key);
    if (series === undefined) {
      series = metrics.requestDuration.labels(HTTP_METHODS[index] ?? 'OTHER', route, String(status));
      byKey.set(key, series);
    }
    return series;
  }

  app.addHook('onResponse', (request, reply, done) => {
    // The template (`/api/v1/tenants/:tenant_id/ous/:ou_id`), never the URL a client sent.
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    seriesFor(request.method, route, reply.statusCode).observe(reply.elapsedTime / 1000);
    done();
  });

  app.addHook('onError', (_request, _reply, error, done) => {
    const refusal = refusalOf(error);
    if (refusal && 'shed' in refusal) metrics.shed(refusal.shed);
    else if (refusal) metrics.rateLimited(refusal.rateLimited);
    else metrics.storeError(error);
    done();
  });
}
