import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Page } from '../lib/pagination.js';
import { paginated } from './request-context.js';

const EMPTY_DATA = '{"data":[]';

/**
 * A page whose items are already JSON texts (users PostgreSQL rendered, UsersPage): the envelope
 * paginated() answers, with the texts joined into `data` as they are. It bypasses the route's
 * serializer: each text is JSON.stringify of a value of the item's schema (a test holds the
 * store's rendering to it byte for byte), and the rest is JSON.stringify of paginated()'s answer.
 */
export function sendRenderedPage(request: FastifyRequest, reply: FastifyReply, page: Page<string>) {
  const envelope = JSON.stringify(paginated(request, { ...page, items: [] }));
  // paginated() puts `data` first: the envelope begins with the empty array the items go into.
  const body = `{"data":[${page.items.join(',')}]${envelope.slice(EMPTY_DATA.length)}`;
  return reply.type('application/json; charset=utf-8').send(body);
}
