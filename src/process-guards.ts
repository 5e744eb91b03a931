import type { FastifyBaseLogger } from 'fastify';
import { currentRequestId } from './http/request-context.js';

/**
 * Errors nothing caught: logged with the id of the request whose work raised them, never
 * silently fatal. The process keeps serving while its HTTP server still listens (one failed
 * request is no reason to drop every other one) and exits with status 1 only when it cannot
 * serve at all, so that a supervisor restarts it.
 */
export function installProcessGuards(log: FastifyBaseLogger, isServing: () => boolean): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason, request_id: currentRequestId() }, 'unhandled promise rejection; still serving');
  });
  process.on('uncaughtException', (error, origin) => {
    const requestId = currentRequestId();
    if (isServing()) {
      log.error({ err: error, origin, request_id: requestId }, 'uncaught exception; still serving');
      return;
    }
    log.fatal({ err: error, origin, request_id: requestId }, 'uncaught exception and the server no longer listens; exiting with status 1');
    process.exit(1);
  });
}
