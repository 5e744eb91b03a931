import { randomUUID } from 'node:crypto';
import type { FastifyRequest, RawRequestDefaultExpression } from 'fastify';
import type { Page } from '../services/pagination.js';

const SANE_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;

/** The client's X-Request-ID when it is sane (1-128 printable ASCII characters), else a new UUID. */
export function requestIdOf(raw: RawRequestDefaultExpression): string {
  const header = raw.headers['x-request-id'];
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

export function meta(request: FastifyRequest) {
  return { request_id: request.id, timestamp: new Date().toISOString() };
}

/** `ApiResponse`: `{data, meta}`. */
export function ok<T>(request: FastifyRequest, data: T) {
  return { data, meta: meta(request) };
}

/** `PaginatedResponse`: `{data, pagination, meta}`. */
export function paginated<T>(request: FastifyRequest, page: Page<T>) {
  return { data: page.items, pagination: page.pagination, meta: meta(request) };
}
