import type { FastifyRequest } from 'fastify';
import type { Principal } from '../services/token-service.js';
import type { Access } from '../services/access.js';

/** The caller of a route that declared a scope (the auth hook guarantees it is set). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('principalOf() called on a route without a scope');
  return request.principal;
}

/** What the caller may do where (set by the auth hook with the principal). */
export function accessOf(request: FastifyRequest): Access {
  if (!request.access) throw new Error('accessOf() called on a route without a scope');
  return request.access;
}
