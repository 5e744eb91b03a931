import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IdempotencyService } from '../services/idempotency-service.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { errors } from '../schemas/common.js';

/** The Idempotency-Key header as OpenAPI and validation see it. */
const keySchema = (ttlHours: number) => ({
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^[\\x20-\\x7e]+$',
  description: `Makes a retry safe: the first response to this key is stored with the change and replayed for ${ttlHours} h (ARBOR_IDEMPOTENCY_TTL_HOURS) with Idempotent-Replayed: true. 1-255 printable ASCII characters, e.g. a UUID.`,
});

const REPLAYED_HEADER = { type: 'string', enum: ['true'], description: 'Present on an answer replayed for an Idempotency-Key: the stored first answer, not a new write.' };


/** Whose key it is: the tenant of the URL and the token's client (keys of different clients never meet). */
function scopeOf(request: FastifyRequest): string {
  const tenantId = (request.params as { tenant_id?: string } | undefined)?.tenant_id ?? '-';
  const principal = request.principal;
  return `${tenantId} ${principal?.issuer ?? 'anonymous'}:${principal?.clientId ?? principal?.subject ?? '-'}`;
}

const isIdempotentRoute = (method: string, url: string) => url.startsWith('/api/') && (method === 'POST' || method === 'PATCH');

/**
 * Idempotency-Key on every POST and PATCH of the API. The key is claimed after the request
 * passed authentication and validation (a refused request stores nothing), its response is
 * stored by the write's unit of work, and a claim that stored nothing (the write failed or
 * was a dry run) is given back before the answer leaves, so the retry can run.
 */
export function registerIdempotency(app: FastifyInstance, service: IdempotencyService, ttlHours: number): void {
  const KEY_SCHEMA = keySchema(ttlHours);
  app.decorateRequest('idempotency', null);

  // Route-level hooks on the POST and PATCH routes only, in callback style when there is no key:
  // global async hooks cost every request (measured on GET one OU: docs/benchmarks.md).
  /** Claims the request's key, or sends the stored answer and returns true (the route then does not run). */
  const claimKey = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const key = request.headers['idempotency-key'] as string;
    const scope = scopeOf(request);
    // The same body in another key order is the same request. A body handed to its route unread
    // (an import's file, read as it arrives) is known by its type and length only.
    const body = request.body as { pipe?: unknown } | null | undefined;
    const content = typeof body?.pipe === 'function' ? `stream ${request.headers['content-type'] ?? ''} ${request.headers['content-length'] ?? ''}` : canonicalJson(request.body ?? null);
    const fingerprint = createHash('sha256').update(`${request.method} ${request.url}\n${content}`).digest('base64url');
    const outcome = await service.claim(scope, key, fingerprint);
    if (outcome.kind === 'replay') {
      reply.code(outcome.status).headers({ ...outcome.headers, 'idempotent-replayed': 'true' }).type('application/json; charset=utf-8').send(outcome.body);
      return true;
    }
    request.idempotency = { scope, key, claim: outcome.claim, respond: () => ({ status: 500, headers: {}, body: null }), stored: false };
    return false;
  };
  const preHandler = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (typeof request.headers['idempotency-key'] !== 'string') return done();
    claimKey(request, reply).then((replayed) => replayed || done(), done);
  };
  const onSend = (request: FastifyRequest, _reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    const claim = request.idempotency;
    if (!claim || claim.stored) return done(null, payload);
    request.idempotency = null;
    // If the store cannot take it now, the claim lapses by itself (CLAIM_LEASE_MS).
    service
      .release(claim.scope, claim.key, claim.claim)
      .catch((error: unknown) => request.log.warn({ err: error }, 'could not release an Idempotency-Key claim'))
      .finally(() => done(null, payload));
  };

  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    if (!methods.some((m) => isIdempotentRoute(m, route.url))) return;
    const headers = (route.schema?.headers ?? { type: 'object', properties: {} }) as { properties?: Record<string, unknown> };
    // Every success may be a replay: its answers declare Idempotent-Replayed.
    const responses = { 409: errors[409], 422: errors[422], ...(route.schema?.response as object) } as Record<string, { headers?: object }>;
    for (const [status, response] of Object.entries(responses)) {
      if (status.startsWith('2')) responses[status] = { ...response, headers: { ...response.headers, 'idempotent-replayed': REPLAYED_HEADER } };
    }
    route.schema = {
      ...route.schema,
      headers: { ...headers, type: 'object', properties: { ...headers.properties, 'idempotency-key': KEY_SCHEMA } },
      response: responses,
    };
    route.preHandler = [...[route.preHandler ?? []].flat(), preHandler as never];
    route.onSend = [...[route.onSend ?? []].flat(), onSend as never];
  });
}
