import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions, RawRequestDefaultExpression } from 'fastify';
import { newTraceId, parseTraceparent } from '../lib/trace-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The W3C trace id of this request: its valid `traceparent`'s, else a new one (lib/trace-context.ts). */
    readonly traceId: string;
  }
}

const TRACE_ID = Symbol('arbor.traceId');
type TracedRequest = RawRequestDefaultExpression & { [TRACE_ID]?: string };

/**
 * The trace id of a request: the one its `traceparent` names when that header is valid, else a
 * new one; an invalid header is ignored, never refused. Decided once per request and kept on the
 * raw request, because the logger (before any hook runs) and the request both need it.
 */
export function traceIdOf(raw: RawRequestDefaultExpression): string {
  const traced = raw as TracedRequest;
  return (traced[TRACE_ID] ??= parseTraceparent(raw.headers.traceparent)?.traceId ?? newTraceId());
}

/**
 * Fastify's childLoggerFactory: each request's logger binds `trace_id` beside `request_id`, so
 * every line a request logs (Fastify's own included) carries both. Fastify creates this child
 * logger for every request anyway; one more binding is all it costs.
 */
export const childLoggerWithTraceId: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options, raw): FastifyBaseLogger {
  (bindings as Record<string, unknown>).trace_id = traceIdOf(raw);
  return logger.child(bindings, options);
};

/** Gives every request its `traceId` (call once, on the app). */
export function registerTraceContext(app: FastifyInstance): void {
  app.decorateRequest('traceId', {
    getter(this: { raw: RawRequestDefaultExpression }) {
      return traceIdOf(this.raw);
    },
  });
}
