import type { FastifyReply, FastifyRequest } from 'fastify';
import { etagOf, ifNoneMatchHits } from '../lib/etag.js';
import type { Actor, StoredResponse, WriteContext } from '../services/write-context.js';
import { ok } from './request-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Idempotency-Key this request claimed (http/idempotency.ts), if it sent one. */
    idempotency: WriteContext['idempotency'] | null;
  }
}

/** Who the token says is calling, as events record it. */
export function actorOf(request: FastifyRequest): Actor {
  const principal = request.principal;
  if (!principal) return { type: 'system', id: 'arbor', client_id: null };
  return { type: principal.issuer === 'external' ? 'external' : 'client', id: principal.subject, client_id: principal.clientId };
}

/**
 * The context a route hands to a service's write: actor, request id (also the correlation id
 * of all the events the request causes), trace id, If-Match, dry_run, and the Idempotency-Key claim with
 * `respond`, which renders the service's result as the response to store for replays.
 */
export function writeContextOf<T>(request: FastifyRequest, respond: (result: T) => StoredResponse = (result) => resourceResponse(request, result)): WriteContext {
  const ifMatch = request.headers['if-match'];
  const dryRun = (request.query as { dry_run?: boolean } | undefined)?.dry_run === true;
  const claim = request.idempotency;
  return {
    actor: actorOf(request),
    requestId: request.id,
    correlationId: request.id,
    traceId: request.traceId,
    ...(typeof ifMatch === 'string' ? { ifMatch } : {}),
    ...(dryRun ? { dryRun } : {}),
    ...(claim ? { idempotency: Object.assign(claim, { respond: respond as (result: unknown) => StoredResponse }) } : {}),
  };
}

/**
 * The answer for one resource: `{data, meta}` with its ETag, the digest of `representation`:
 * `data` itself, or what a GET of the resource shows where the answer holds more (a new client's
 * secret, which must not be digested into a header, and which a GET never shows).
 */
export function resourceResponse(request: FastifyRequest, data: unknown, status = 200, representation: unknown = data): StoredResponse {
  return { status, headers: { etag: etagOf(representation) }, body: ok(request, data) };
}

/** Sends a stored or fresh answer: its status and headers; returns its body for Fastify to serialize. */
export function send(reply: FastifyReply, response: StoredResponse) {
  reply.code(response.status).headers(response.headers);
  return response.body as never;
}

/** GET of one resource: its answer with an ETag, or 304 when If-None-Match names that ETag. */
export function sendResource(request: FastifyRequest, reply: FastifyReply, data: unknown) {
  const response = resourceResponse(request, data);
  const ifNoneMatch = request.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, response.headers.etag)) {
    return reply.code(304).header('etag', response.headers.etag).send();
  }
  return send(reply, response);
}
