import type { FastifyRequest } from 'fastify';
import type { Principal } from '../services/token-service.js';

/** The caller of a route that declared a scope (the auth hook guarantees it is set). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('principalOf() called on a route without a scope');
  return request.principal;
}
