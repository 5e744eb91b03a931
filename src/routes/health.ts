import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

/** Liveness: no auth, no I/O. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Health',
        description: 'Answers 200 while the process serves requests. No authentication.',
        tags: ['System'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'Successful Response' }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
};
