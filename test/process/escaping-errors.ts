/**
 * Preloaded (`--import`) into a real server process by process-guards.test.ts: adds routes whose
 * work throws where nothing catches it, through the channel Fastify announces each new instance
 * on. Never part of the app itself.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { FastifyInstance } from 'fastify';

subscribe('fastify.initialization', (message) => {
  // As a plugin: it loads after the app has set its error handler, which its routes then use.
  (message as { fastify: FastifyInstance }).fastify.register(async (app) => routes(app));
});

function routes(app: FastifyInstance): void {
  app.get('/test/escape/timer', async () => {
    setTimeout(() => {
      throw new Error('thrown from a timer a request started');
    }, 1);
    return { started: true };
  });
  app.get('/test/escape/promise', async () => {
    void Promise.reject(new Error('rejected by a promise a request started'));
    return { started: true };
  });
  app.get('/test/stop-listening', async () => {
    // The server stops listening, then an error escapes: the process can no longer serve.
    setTimeout(() => {
      app.server.close();
      setTimeout(() => {
        throw new Error('thrown after the server stopped listening');
      }, 50);
    }, 1);
    return { started: true };
  });
}
