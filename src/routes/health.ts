import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { StoreHealth } from '../services/store-health.js';

/** Liveness (no I/O) and readiness (the store answers and its schema is current); no auth. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ storeHealth: Pick<StoreHealth, 'readiness'> }> = async (app, { storeHealth }) => {
  app.get(
    '/healthz',
    {
      config: { neverShed: true },
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
      config: { neverShed: true },
      schema: {
        summary: 'Ready',
        description:
          'Readiness: 200 when the store answers and every migration this version knows is applied, else 503. After a request met a store outage, the store must also take a write again. For load balancers; no authentication.',
        tags: ['System'],
        response: {
          200: Type.Object({ status: Type.Literal('ready') }, { description: 'Successful Response' }),
          503: Type.Object({ status: Type.Literal('not_ready'), detail: Type.String() }, { description: 'Not ready to serve' }),
        },
      },
    },
    async (request, reply) => {
      const readiness = await storeHealth.readiness();
      if (readiness.ready) return { status: 'ready' as const };
      request.log.warn({ err: readiness.cause, detail: readiness.detail }, 'not ready');
      return reply.code(503).send({ status: 'not_ready' as const, detail: readiness.detail });
    },
  );
};
