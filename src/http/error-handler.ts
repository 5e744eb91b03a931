import type { FastifyError, FastifyInstance } from 'fastify';
import { storeUnavailableReason } from '../db/database.js';
import { AppError, RequestValidationError, type ValidationIssue } from '../errors.js';
import { ErrorResponse, ref } from '../schemas/common.js';
import { OAuthError } from '../services/oauth-service.js';
import { toValidationIssues } from './validation.js';

interface ErrorBody {
  detail: string;
  code: string;
}

/** Framework errors a client caused, with the status and stable code we answer them with. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'request.body_too_large', 'The request body is larger than the limit (ARBOR_BODY_LIMIT_BYTES); send less data per request.'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'request.unsupported_media_type', "The request body must be JSON: send 'Content-Type: application/json'."],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'request.invalid_content_length', 'The Content-Length header does not match the body.'],
};

function validationIssuesOf(error: FastifyError, body: unknown): ValidationIssue[] | null {
  if (error instanceof RequestValidationError) return error.issues;
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
  500: { ...ref(ErrorResponse), description: 'A bug on our side; the detail names the request id to report.' },
  503: {
    ...ref(ErrorResponse),
    description: 'The instance is overloaded (server.overloaded) or its store is unavailable (store.unavailable): retry after Retry-After seconds.',
  },
};
const API_ERRORS = { 429: { ...ref(ErrorResponse), description: 'This client sent too many requests (request.rate_limited): retry after Retry-After seconds.' } };
const BODY_ERRORS = { 415: { ...ref(ErrorResponse), description: 'The request body is not JSON.' } };

/** One place maps every thrown error to the documented body; a 5xx never leaks internals. */
export function registerErrorHandling(app: FastifyInstance, storeHealth: { recordFailure(reason: string): void }): void {
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
        ...(takesBody ? BODY_ERRORS : {}),
        ...(route.schema.response as object),
      },
    };
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // The token endpoint speaks RFC 6749, not the API's envelope: a body it cannot read is
    // an invalid_request there, whatever the parser said.
    if (!(error instanceof OAuthError) && request.routeOptions.url === '/oauth/token' && (error.statusCode ?? 500) < 500) {
      error = new OAuthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded token request parameters.') as never;
    }
    if (error instanceof OAuthError) {
      return reply
        .code(error.status)
        .headers({ ...error.headers, 'cache-control': 'no-store', pragma: 'no-cache' })
        .send({ error: error.error, error_description: error.message });
    }
    const issues = validationIssuesOf(error, request.body);
    if (issues) return reply.code(422).send({ detail: issues });

    if (error instanceof AppError) {
      reply.headers(error.headers);
      return reply.code(error.status).send({ detail: error.message, code: error.code } satisfies ErrorBody);
    }

    const known = error.code ? CLIENT_ERRORS[error.code] : undefined;
    if (known) {
      const [status, code, detail] = known;
      return reply.code(status).send({ detail, code } satisfies ErrorBody);
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ detail: error.message, code: 'request.invalid' } satisfies ErrorBody);
    }

    const outage = storeUnavailableReason(error);
    if (outage) {
      storeHealth.recordFailure(outage);
      request.log.error({ err: error }, `store unavailable: ${outage}`);
      return reply
        .code(503)
        .header('retry-after', String(STORE_RETRY_AFTER_SECONDS))
        .send({
          detail: `The data store is unavailable: ${outage}. The request was not carried out (a write cut off while being confirmed may have been); retry in ${STORE_RETRY_AFTER_SECONDS} s.`,
          code: 'store.unavailable',
        } satisfies ErrorBody);
    }

    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({
      detail: `Internal server error. It has been logged with request id ${request.id}; quote it when reporting the problem.`,
      code: 'internal_error',
    } satisfies ErrorBody);
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ detail: `No route ${request.method} ${request.url.split('?')[0]}. See /docs for the API.`, code: 'route.not_found' } satisfies ErrorBody);
  });
}
