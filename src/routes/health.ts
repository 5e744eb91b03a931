import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Store } from '../db/database.js';
import { pendingMigrations } from '../db/migrator.js';

/** Liveness (no I/O) and readiness (the store answers and its schema is current); no auth. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ store: Pick<Store, 'db'> }> = async (app, { store }) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Health',
        description: 'Answers 200 while the process serves requests: liveness, no I/O. No authentication.',
        tags: ['System'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'Successful Response' }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Ready',
        description:
          'Readiness: 200 when the store answers and every migration this version knows is applied, else 503. For load balancers; no authentication.',
        tags: ['System'],
        response: {
          200: Type.Object({ status: Type.Literal('ready') }, { description: 'Successful Response' }),
          503: Type.Object({ status: Type.Literal('not_ready'), detail: Type.String() }, { description: 'Not ready to serve' }),
        },
      },
    },
    async (request, reply) => {
      try {
        const pending = await pendingMigrations(store.db);
        if (pending.length === 0) return { status: 'ready' as const };
        return reply.code(503).send({ status: 'not_ready' as const, detail: `Migrations not applied: ${pending.join(', ')}.` });
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        return reply.code(503).send({ status: 'not_ready' as const, detail: 'The store does not answer.' });
      }
    },
  );
};
