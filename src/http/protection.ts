import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { AppError, OVERLOAD_RETRY_AFTER_SECONDS, RequestValidationError } from '../errors.js';
import { isSaneRequestId } from './request-context.js';
import { inspectParameters } from './validation.js';

/**
 * What keeps hostile or excessive traffic from hurting the service: limits on the request line
 * and headers, per-client rate limiting and load shedding. Every refusal is a 4xx or 503 in the
 * API's `{detail, code}` shape, saying what to do.
 */

/** Seconds a shed request is told to wait before retrying. */

/** API query and path parameters no store can keep (NUL, lone surrogates): 422 before schema validation. */
export function registerParameterChecks(app: FastifyInstance): void {
  // Callback style, like the other per-request checks here: an async hook costs a promise on
  // every request of the hottest routes.
  app.addHook('preValidation', (request, _reply, done) => {
    const issue = request.routeOptions.url?.startsWith('/api/') ? inspectParameters({ query: request.query, params: request.params }) : null;
    done(issue ? new RequestValidationError([issue]) : undefined);
  });
}

/** Checks made before anything else reads the request (auth included). */
export function registerRequestLimits(app: FastifyInstance, config: Pick<Config, 'maxUrlBytes'>): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const url = request.raw.url ?? '';
    if (url.length > config.maxUrlBytes) {
      return done(
        new AppError(
          414,
          'request.url_too_long',
          `The URL is ${url.length} bytes, more than ${config.maxUrlBytes} (ARBOR_MAX_URL_BYTES); send fewer or shorter query parameters.`,
        ),
      );
    }
    const requestId = request.headers['x-request-id'];
    if (requestId !== undefined && !isSaneRequestId(requestId)) {
      return done(
        new AppError(
          400,
          'request.invalid_request_id',
          'X-Request-ID must be 1 to 128 printable ASCII characters; send a valid one, or none and Arbor assigns one (returned in X-Request-ID).',
        ),
      );
    }
    done();
  });
}

/**
 * Requests Fastify's router refuses before any hook runs (a path that is not percent-encoded
 * UTF-8, a path parameter beyond the URL limit), answered in the API's shape with a request id.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.code(414).send({ detail: 'A path segment is longer than the URL limit (ARBOR_MAX_URL_BYTES); ids are at most 64 characters.', code: 'request.url_too_long' });
    return;
  }
  reply.code(400).send({
    detail: 'The URL path is not valid: every %-escape must be two hex digits, and together they must spell UTF-8. Percent-encode path segments.',
    code: 'request.bad_url',
  });
}

/** The client a request is counted against: its token's client; null for unauthenticated requests. */
function clientKeyOf(request: FastifyRequest): string | null {
  const principal = request.principal;
  if (!principal) return null;
  return principal.kind === 'tenant' ? `tenant:${principal.tenantId}:${principal.subject}` : `platform:${principal.subject}`;
}

/**
 * `ARBOR_RATE_LIMIT_PER_MINUTE` API requests per client per minute on each instance (429 with
 * Retry-After beyond). Counted after authentication, so a client is its token's client; requests
 * without a valid token are refused by authentication and not counted here (the token endpoint
 * has its own per-address limit).
 */
export async function registerRateLimit(app: FastifyInstance, config: Pick<Config, 'rateLimitPerMinute'>): Promise<void> {
  if (config.rateLimitPerMinute === 0) return;
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    // After the auth hook (onRequest) has named the client, before the body is read.
    hook: 'preParsing',
    // One counter per client across all routes (a route-level config would get its own store).
    keyGenerator: (request) => clientKeyOf(request) ?? 'anonymous',
    allowList: (request) => clientKeyOf(request) === null,
    // Enough entries for every active client of a large platform; the least recent drop out.
    cache: 100_000,
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      return new AppError(
        429,
        'request.rate_limited',
        `This client sent more than ${context.max} requests in a minute (ARBOR_RATE_LIMIT_PER_MINUTE); retry in ${seconds} s.`,
        { 'retry-after': String(seconds) },
      );
    },
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set by routes that must answer even under load (liveness, readiness). */
    neverShed?: boolean;
  }
}

/**
 * Load shedding: when the event loop's mean delay over the last sample exceeds
 * `ARBOR_MAX_EVENT_LOOP_DELAY_MS`, new requests get 503 with Retry-After at once instead of
 * queuing behind work the instance cannot finish in time. Health routes are never shed.
 */
export async function registerLoadShedding(app: FastifyInstance, config: Pick<Config, 'maxEventLoopDelayMs'>): Promise<void> {
  if (config.maxEventLoopDelayMs === 0) return;
  // A sample in which the loop never turned counts as infinite delay (under-pressure): sampling
  // at the threshold keeps that to stalls at least as long as the threshold (a 500 ms sample
  // against a 1 s threshold shed requests during 600 ms stalls in the soak benchmark).
  const sampleIntervalMs = Math.max(50, config.maxEventLoopDelayMs);
  // Start-up (migrations, compiling, hashing the admin secret) blocks the loop for a moment;
  // the samples that include it say nothing about serving, so shedding waits two samples.
  let armedAt = Number.POSITIVE_INFINITY;
  app.addHook('onReady', async () => {
    armedAt = Date.now() + 2 * sampleIntervalMs;
  });
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    sampleInterval: sampleIntervalMs,
    // A rejection goes to the error handler, which answers in the API's shape.
    pressureHandler: async (request, _reply, type, value) => {
      if (request.routeOptions.config.neverShed || Date.now() < armedAt) return;
      request.log.warn({ pressure: type, value }, 'shedding request: instance overloaded');
      throw new AppError(
        503,
        'server.overloaded',
        `This instance is overloaded (its event loop is ${lagText(value)} behind, limit ${config.maxEventLoopDelayMs} ms); retry in ${OVERLOAD_RETRY_AFTER_SECONDS} s.`,
        { 'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS) },
      );
    },
  });
}

/** under-pressure reports Infinity when the loop did not turn once in a whole sample. */
function lagText(value: number | undefined): string {
  return value !== undefined && Number.isFinite(value) ? `${Math.round(value)} ms` : 'a whole sample interval or more';
}

const CLIENT_ERROR_ANSWERS: Record<string, [number, string, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    'Request Timeout',
    'request.timeout',
    'The request did not arrive completely in time (ARBOR_REQUEST_TIMEOUT_MS / ARBOR_HEADERS_TIMEOUT_MS); send it again.',
  ],
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    'request.headers_too_large',
    'The request line and headers are larger than the limit (ARBOR_MAX_HEADER_BYTES); send fewer or smaller headers.',
  ],
};

/**
 * Answers requests Node's HTTP parser refused before Fastify saw them (headers too large, too
 * slow, malformed) in the API's error shape, then closes the connection, as Node does.
 */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, detail] = CLIENT_ERROR_ANSWERS[error.code ?? ''] ?? [
    400,
    'Bad Request',
    'request.malformed',
    'The request is not valid HTTP/1.1; check the request line and headers.',
  ];
  this.log.debug({ err: error }, 'client error');
  // As Node does: never write an answer into a response that has started on this socket.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ detail, code });
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Node server options for the timeouts and header limit (Fastify passes them to http.createServer). */
export function httpServerOptions(config: Pick<Config, 'headersTimeoutMs' | 'maxHeaderBytes'>) {
  return {
    headersTimeout: config.headersTimeoutMs,
    maxHeaderSize: config.maxHeaderBytes,
    // How often Node looks for requests past their timeouts (default 30 s, longer than the timeouts).
    connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
  };
}
