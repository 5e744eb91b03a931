/**
 * Errors are thrown, never assembled in handlers. Each carries a stable machine code
 * (`ou.not_found`) and the status it maps to; http/error-handler.ts renders them.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    /** Response headers the error requires, e.g. a `WWW-Authenticate` challenge. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, detail: string) {
    super(404, code, detail);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, detail: string) {
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
  constructor(code: string, detail: string, headers?: Record<string, string>) {
    super(403, code, detail, headers);
  }
}

/** One item of FastAPI's `HTTPValidationError.detail`. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A 422 in FastAPI's shape, for rules a JSON schema cannot express (e.g. a name empty after trimming). */
export class RequestValidationError extends Error {
  readonly status = 422;
  constructor(readonly issues: ValidationIssue[]) {
    super(issues.map((issue) => `${issue.loc.join('.')}: ${issue.msg}`).join('; '));
    this.name = 'RequestValidationError';
  }
}
