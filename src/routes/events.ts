import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accessOf } from '../http/principal.js';
import { meta } from '../http/request-context.js';
import { IdParam, Query, errors, ref, success } from '../schemas/common.js';
import { EventPageResponse } from '../schemas/events.js';
import type { EventService } from '../services/event-service.js';

/** The longest a feed request may be held (seconds). */
export const MAX_WAIT_SECONDS = 30;

/** The change feed and audit log of a tenant (docs/events.md). */
export const eventRoutes: FastifyPluginAsyncTypebox<{ service: EventService }> = async (app, { service }) => {
  app.get(
    '/api/v1/tenants/:tenant_id/events',
    {
      config: { scope: 'events:read' },
      schema: {
        summary: 'List Events',
        description:
          'Every change of the tenant, in seq order: follow it with after=<next>. With wait, an empty answer is held until an event commits (on any instance) or the wait ends. With order=desc, newest first: the audit view.',
        tags: ['Events'],
        params: Type.Object({ tenant_id: IdParam }),
        querystring: Query({
          after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Events with a seq greater than this (0: from the start).' }),
          cursor: Type.Optional(Type.String({ maxLength: 1024, description: "The previous answer's `next_cursor`: read on from it (in place of `after`)." })),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          type: Type.Optional(Type.String({ maxLength: 1000, description: 'Comma-separated types, `<resource>.*` or `*`, e.g. `ou.*,user.moved`.' })),
          resource_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The events of one resource only.' })),
          wait: Type.Integer({ minimum: 0, maximum: MAX_WAIT_SECONDS, default: 0, description: `Seconds (at most ${MAX_WAIT_SECONDS}) to hold an empty answer for an event (order=asc only).` }),
          order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], {
            default: 'asc',
            description:
              '`asc`: oldest first, the feed to follow. `desc`: newest first, the audit view (e.g. an OU\'s history with resource_id): from the newest event down to the oldest kept (never 410), read on with `next_cursor`; `after` still bounds it below; not with `wait`.',
          }),
        }),
        response: {
          200: success(ref(EventPageResponse)),
          401: errors[401],
          403: errors[403],
          404: errors[404],
          410: errors[410],
          422: errors[422],
        },
      },
    },
    async (request, reply) => {
      // A client that goes away stops the wait (its socket closes).
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const page = await service.list(accessOf(request), request.params.tenant_id, request.query, gone.signal);
      return { data: page.items, next: page.next, next_cursor: page.nextCursor, meta: meta(request) };
    },
  );
};
