import type { FastifyReply, FastifyRequest } from 'fastify';
import { ifNoneMatchHits } from '../lib/etag.js';
import { meta } from './request-context.js';

const DATA = Buffer.from('{"data":');

/**
 * GET of one resource whose `data` is already JSON (kept rendered by its service): `{data, meta}`
 * with its ETag, or 304 when If-None-Match names it. The text bypasses the route's serializer;
 * it is the JSON.stringify of a value of the response schema (tests validate it against it).
 */
export function sendRendered(request: FastifyRequest, reply: FastifyReply, rendered: { json: Buffer; etag: string }) {
  const ifNoneMatch = request.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, rendered.etag)) {
    return reply.code(304).header('etag', rendered.etag).send();
  }
  return reply
    .header('etag', rendered.etag)
    .type('application/json; charset=utf-8')
    .send(Buffer.concat([DATA, rendered.json, Buffer.from(`,"meta":${JSON.stringify(meta(request))}}`)]));
}
