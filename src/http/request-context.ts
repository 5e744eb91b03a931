import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RawRequestDefaultExpression } from 'fastify';
import type { Page } from '../lib/pagination.js';

const SANE_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;

/** A request id a client may choose: 1-128 printable ASCII characters (no control characters for logs). */
export function isSaneRequestId(value: unknown): value is string {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value);
}

/**
 * The client's X-Request-ID when it is sane, else a new UUID (the request is then refused with 400
 * by http/protection.ts, and the answer carries the new id).
 */
export function requestIdOf(raw: RawRequestDefaultExpression): string {
  const header = raw.headers['x-request-id'];
  return isSaneRequestId(header) ? header : randomUUID();
}

const requestScope = new AsyncLocalStorage<{ requestId: string }>();

/**
 * Runs the rest of a request's life (hooks, handler, and whatever they start) in a scope that
 * knows its id: an error that escapes them all (process-guards.ts) is still logged with it.
 * Called from the first onRequest hook as `runInRequestScope(request.id, done)`.
 */
export function runInRequestScope(requestId: string, next: () => void): void {
  requestScope.run({ requestId }, next);
}

/** The id of the request whose work is running now, if any. */
export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** `meta.timestamp`, taken once: the answer stored for an Idempotency-Key and the one sent are the same. */
    answeredAt: string | null;
  }
}

/** Gives every request its `answeredAt` (call once, on the app). */
export function registerRequestContext(app: FastifyInstance): void {
  app.decorateRequest('answeredAt', null);
}

export function meta(request: FastifyRequest) {
  request.answeredAt ??= new Date().toISOString();
  return { request_id: request.id, timestamp: request.answeredAt };
}

/** `ApiResponse`: `{data, meta}`. */
export function ok<T>(request: FastifyRequest, data: T) {
  return { data, meta: meta(request) };
}

/** `PaginatedResponse`: `{data, pagination, meta}`. */
export function paginated<T>(request: FastifyRequest, page: Page<T>) {
  const pageMeta = page.eventSeq === undefined ? meta(request) : { ...meta(request), event_seq: page.eventSeq };
  return { data: page.items, pagination: page.pagination, next_cursor: page.nextCursor, meta: pageMeta };
}
