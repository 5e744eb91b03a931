import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PoolExhaustedError } from '../errors.js';
import { storeUnavailableReason } from '../db/store-errors.js';
import { AppError, OAuthError, type ValidationIssue } from '../errors.js';
import { ErrorResponse, ref } from '../schemas/common.js';
import { OAuthErrorResponse } from '../schemas/oauth.js';
import type { ErrorCode } from '../error-codes.js';
import { toValidationIssues } from './validation.js';

interface ErrorBody {
  detail: string;
  code: ErrorCode;
}

/** Framework errors a client caused, with the status and stable code we answer them with. */
const CLIENT_ERRORS: Record<string, [number, ErrorCode, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'request.body_too_large', 'The request body is larger than the limit (ARBOR_BODY_LIMIT_BYTES); send less data per request.'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'request.unsupported_media_type', "The request body must be JSON: send 'Content-Type: application/json'."],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'request.invalid_content_length', 'The Content-Length header does not match the body.'],
};

function validationIssuesOf(error: FastifyError, body: unknown): ValidationIssue[] | null {
  if (error.validation) {
    if (error.validationContext === 'body' && (body === undefined || body === null)) {
      return [{ loc: ['body'], msg: 'Field required', type: 'missing' }];
    }
    return toValidationIssues(error.validation as never, error.validationContext ?? 'body');
  }
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return [{ loc: ['body'], msg: 'Field required', type: 'missing' }];
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return [{ loc: ['body'], msg: `JSON decode error: ${error.message}`, type: 'json_invalid' }];
  }
  return null;
}

/** Seconds a client is told to wait after a store outage answer. */
export const STORE_RETRY_AFTER_SECONDS = 5;

const UNDECLARED_ERRORS = {
  400: { ...ref(ErrorResponse), description: 'Malformed request, e.g. a Content-Length that does not match the body.' },
  414: { ...ref(ErrorResponse), description: 'The URL is longer than the limit (request.url_too_long).' },
  500: { ...ref(ErrorResponse), description: 'A bug on our side; the detail names the request id to report.' },
  503: {
    ...ref(ErrorResponse),
    description: 'The instance is overloaded (server.overloaded) or its store is unavailable (store.unavailable): retry after Retry-After seconds.',
  },
};
/** The token endpoint answers every error in RFC 6749's shape, these too. */
const TOKEN_ENDPOINT_ERRORS = {
  414: { ...ref(OAuthErrorResponse), description: 'invalid_request: the URL is longer than the limit.' },
  500: { ...ref(OAuthErrorResponse), description: 'server_error: a bug on our side.' },
  503: { ...ref(OAuthErrorResponse), description: 'temporarily_unavailable: overloaded, or the store is unavailable; retry after Retry-After seconds.' },
};
const API_ERRORS = { 429: { ...ref(ErrorResponse), description: 'This client sent too many requests (request.rate_limited): retry after Retry-After seconds.' } };
const BODY_ERRORS = { 415: { ...ref(ErrorResponse), description: 'The request body is not JSON.' } };

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: object;
}

/** The API's answer to `error`: the documented status and body; logs what an operator must see. */
function answerFor(error: FastifyError, request: FastifyRequest, storeHealth: { recordFailure(reason: string): void }): Answer {
  if (error instanceof AppError) {
    if (error.logLevel) request.log[error.logLevel]({ err: error }, `answered ${error.status} ${error.code}`);
    return { status: error.status, headers: { ...error.headers }, body: error.body() };
  }
  // Errors the framework raises: schema validation, body parsing, limits.
  const issues = validationIssuesOf(error, request.body);
  if (issues) return { status: 422, headers: {}, body: { detail: issues } };
  const known = error.code ? CLIENT_ERRORS[error.code] : undefined;
  if (known) {
    const [status, code, detail] = known;
    return { status, headers: {}, body: { detail, code } };
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, headers: {}, body: { detail: error.message, code: 'request.invalid' } satisfies ErrorBody };
  }

  const outage = storeUnavailableReason(error);
  if (outage) {
    storeHealth.recordFailure(outage);
    request.log.error({ err: error }, `store unavailable: ${outage}`);
    return {
      status: 503,
      headers: { 'retry-after': String(STORE_RETRY_AFTER_SECONDS) },
      body: {
        detail: `The data store is unavailable: ${outage}. The request was not carried out (a write cut off while being confirmed may have been); retry in ${STORE_RETRY_AFTER_SECONDS} s.`,
        code: 'store.unavailable',
      } satisfies ErrorBody,
    };
  }

  request.log.error({ err: error }, 'unhandled error');
  return {
    status: 500,
    headers: {},
    body: { detail: `Internal server error. It has been logged with request id ${request.id}; quote it when reporting the problem.`, code: 'internal_error' } satisfies ErrorBody,
  };
}

const TOKEN_ENDPOINT = '/oauth/token';
/** Statuses the token endpoint keeps, with the RFC 6749 error code it sends them under. */
const OAUTH_STATUS_ERRORS: Record<number, OAuthError['error']> = {
  408: 'invalid_request',
  413: 'invalid_request',
  414: 'invalid_request',
  429: 'too_many_requests',
  500: 'server_error',
  503: 'temporarily_unavailable',
};

/** The token endpoint's form of an API answer: a body it cannot read is an invalid_request. */
function toOAuthError(answer: Answer): OAuthError {
  const kept = OAUTH_STATUS_ERRORS[answer.status];
  const { detail, code } = answer.body as { detail?: unknown; code?: unknown };
  if (kept && typeof detail === 'string') return new OAuthError(answer.status, kept, detail, answer.headers);
  if (answer.status === 400 && code === 'request.invalid_request_id' && typeof detail === 'string') return new OAuthError(400, 'invalid_request', detail);
  return new OAuthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded token request parameters.');
}

function sendOAuthError(reply: FastifyReply, error: OAuthError) {
  return reply
    .code(error.status)
    .headers({ ...error.headers, 'cache-control': 'no-store', pragma: 'no-cache' })
    .send(error.body());
}

/**
 * A body refused for its size while the client is still sending it. Fastify answers 413 with
 * `Connection: close`, and Node then closed the socket at once, with unread bytes still arriving:
 * the kernel answers those with a reset, which can reach the client before it has read the 413
 * (it saw EPIPE or ECONNRESET instead). So the close lingers, as RFC 9112 §9.6 describes and web
 * servers do: the answer is sent and the write side closed, then the rest of the body is read and
 * discarded until the client closes its side, for at most `drainMs`
 * (ARBOR_REJECTED_BODY_DRAIN_MS; 0: close at once); a client still sending then is cut off.
 */
export function drainRejectedBody(request: FastifyRequest, drainMs: number): void {
  const raw = request.raw;
  const socket = raw.socket;
  if (drainMs === 0 || raw.complete) return;
  // Discarded as it arrives: Fastify stopped reading at the limit (or never began, when the
  // Content-Length said too much), and a stream in flowing mode with no reader drops its data.
  raw.resume();
  // Node ends a connection whose last answer is sent with destroySoon(): here, the lingering close.
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    const cutOff = setTimeout(() => socket.destroy(), drainMs);
    cutOff.unref();
    socket.once('end', () => socket.destroy());
    socket.once('close', () => clearTimeout(cutOff));
  };
}

/** One place maps every thrown error to the documented body; a 5xx never leaks internals. */
export function registerErrorHandling(app: FastifyInstance, storeHealth: { recordFailure(reason: string): void }, drainMs: number): void {
  // Statuses any route can answer with, declared once here rather than on every route.
  app.addHook('onRoute', (route) => {
    if (!route.schema?.response || route.url.startsWith('/docs') || route.url === '/openapi.json') return;
    const methods = [route.method].flat();
    const takesBody = methods.some((m) => !['GET', 'HEAD', 'OPTIONS'].includes(m)) && !route.url.startsWith('/oauth/');
    route.schema = {
      ...route.schema,
      response: {
        ...UNDECLARED_ERRORS,
        ...(route.url.startsWith('/api/') ? API_ERRORS : {}),
        ...(route.url === TOKEN_ENDPOINT ? TOKEN_ENDPOINT_ERRORS : {}),
        ...(takesBody ? BODY_ERRORS : {}),
        ...(route.schema.response as object),
      },
    };
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') drainRejectedBody(request, drainMs);
    if (error instanceof OAuthError) return sendOAuthError(reply, error);
    const answer = answerFor(error, request, storeHealth);
    // The token endpoint speaks RFC 6749, whatever went wrong, so OAuth client libraries can read it.
    if (request.routeOptions.url === TOKEN_ENDPOINT) return sendOAuthError(reply, toOAuthError(answer));
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  });

}
