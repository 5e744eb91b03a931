import type { ErrorCode } from './error-codes.js';

/** The code of a 422 whose body is HTTPValidationError (it has no `code`): logged, never sent. */
export const VALIDATION_FAILED = 'request.validation_failed';

/** What an AppError's `code` may be: an ErrorResponse code, an RFC 6749 error, or a validation failure. */
export type AppErrorCode = ErrorCode | OAuthErrorCode | typeof VALIDATION_FAILED;

/**
 * Every error the API answers with on purpose is an AppError: a status, a stable machine code
 * (`ou.not_found`), the headers it requires and the body it is rendered as. The error handler
 * (http/error-handler.ts) renders them all the same way; only store outages and bugs, which
 * are not AppErrors, are classified there.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: AppErrorCode,
    detail: string,
    /** Response headers the error requires, e.g. a `WWW-Authenticate` challenge. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }

  /** The response body: `ErrorResponse` unless a subclass speaks another documented shape. */
  body(): object {
    return { detail: this.message, code: this.code };
  }

  /** How loudly the error handler logs it: a client's mistake is not logged; overload is a warning. */
  get logLevel(): 'warn' | null {
    return null;
  }
}

export class NotFoundError extends AppError {
  constructor(code: ErrorCode, detail: string) {
    super(404, code, detail);
  }
}

export class ConflictError extends AppError {
  constructor(code: ErrorCode, detail: string) {
    super(409, code, detail);
  }
}

const quoted = (text: string) => text.replace(/["\\]/g, "'");

/** 401 with an RFC 6750 challenge; `error="invalid_token"` only when a token was sent. */
export class UnauthorizedError extends AppError {
  constructor(code: 'auth.missing_token' | 'auth.invalid_token', detail: string) {
    const challenge =
      code === 'auth.missing_token'
        ? 'Bearer realm="arbor"'
        : `Bearer realm="arbor", error="invalid_token", error_description="${quoted(detail)}"`;
    super(401, code, detail, { 'www-authenticate': challenge });
  }
}

export class ForbiddenError extends AppError {
  constructor(code: ErrorCode, detail: string, headers?: Record<string, string>) {
    super(403, code, detail, headers);
  }
}

/** 412: an `If-Match` precondition failed; the answer carries the resource's current ETag. */
export class PreconditionFailedError extends AppError {
  constructor(currentEtag: string) {
    super(
      412,
      'precondition_failed',
      'The resource changed since you read it (If-Match does not match its current ETag). Read it again, reapply your change and retry with the new ETag.',
      { etag: currentEtag },
    );
  }
}

/** One item of FastAPI's `HTTPValidationError.detail`. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A 422 in FastAPI's shape, for rules a JSON schema cannot express (e.g. a name empty after trimming). */
export class RequestValidationError extends AppError {
  constructor(readonly issues: ValidationIssue[]) {
    super(422, VALIDATION_FAILED, issues.map((issue) => `${issue.loc.join('.')}: ${issue.msg}`).join('; '));
  }

  override body(): object {
    return { detail: this.issues };
  }
}

/** RFC 6749 §5.2 error codes the token endpoint answers with. */
export const OAUTH_ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'too_many_requests',
  'server_error',
  'temporarily_unavailable',
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number];

/** An error of the token endpoint, in RFC 6749's shape so that OAuth client libraries can read it. */
export class OAuthError extends AppError {
  constructor(status: number, readonly error: OAuthErrorCode, description: string, headers: Readonly<Record<string, string>> = {}) {
    super(status, error, description, headers);
  }

  override body(): object {
    return { error: this.error, error_description: this.message };
  }
}

/** Seconds an overloaded instance tells a client to wait (load shedding, exhausted pool). */
export const OVERLOAD_RETRY_AFTER_SECONDS = 2;

/** Every PostgreSQL connection of this instance stayed busy for the whole connect timeout: overload, not an outage. */
export class PoolExhaustedError extends AppError {
  constructor(
    readonly poolSize: number,
    readonly waitedMs: number,
  ) {
    const reason = `all ${poolSize} PostgreSQL connections of this instance stayed busy for ${waitedMs} ms`;
    super(
      503,
      'server.overloaded',
      `This instance is overloaded: ${reason} (ARBOR_DB_POOL_SIZE, ARBOR_DB_CONNECT_TIMEOUT_MS); retry in ${OVERLOAD_RETRY_AFTER_SECONDS} s.`,
      { 'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS) },
    );
  }

  override get logLevel(): 'warn' {
    return 'warn';
  }
}
