import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { JsonSchema } from './arbitraries.js';
import type { OpenApiDocument, Operation } from './operations.js';

// ajv-formats ships CommonJS with a default export (as src/http/validation.ts notes).
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

/**
 * Judges one response against the documentation: the properties the fuzzer checks on every request,
 * except the store digest (the test does that). Schemas come from the app's OpenAPI document.
 */

const DOC = 'https://arbor.test/openapi';
/** The same components, each object schema closed (every listed property required, no others): "exactly this shape". */
const EXACT = 'https://arbor.test/openapi-exact';

/** `json` may also declare other media types (an export: LDIF, CSV or JSON): a body of one of those is checked by its type only. */
type Declared = { kind: 'json'; validate: ValidateFunction; otherTypes?: RegExp } | { kind: 'empty' } | { kind: 'text'; contentType: RegExp };

export interface ResponseLike {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** Every object schema of `schema` closed: all its properties required, no others allowed. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, closed(v)])) : closed(value);
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined) {
    out.required = Object.keys(out.properties as object);
    out.additionalProperties = false;
  }
  return out;
}

/** The path the router sees: dot segments resolved (inject parses the URL as WHATWG does), query and fragment gone. */
function routedPath(url: string): string {
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return url.split(/[?#]/)[0];
  }
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export class ResponseOracle {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly apiError: ValidateFunction[];
  private readonly oauthError: ValidateFunction;
  /** (operation, status) pairs answered though not declared: reported, not failed. */
  readonly undeclared = new Map<string, number>();

  constructor(
    private readonly doc: OpenApiDocument,
    private readonly operations: readonly Operation[],
  ) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: DOC, components: doc.components, paths: doc.paths });
    const exact = closed(doc.components) as { schemas: Record<string, JsonSchema> };
    // An HTTPValidationError explains itself: at least one issue (README: `{"detail": [{loc, msg, type}]}`).
    const validation = exact.schemas.HTTPValidationError;
    if (validation?.properties?.detail) validation.properties.detail = { ...validation.properties.detail, minItems: 1 };
    this.ajv.addSchema({ $id: EXACT, components: exact });
    this.apiError = [this.compile(`${EXACT}#/components/schemas/ErrorResponse`), this.compile(`${EXACT}#/components/schemas/HTTPValidationError`)];
    this.oauthError = this.compile(`${DOC}#/components/schemas/OAuthErrorResponse`);
  }

  private compile(ref: string): ValidateFunction {
    let validate = this.compiled.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, validate);
    }
    return validate;
  }

  /**
   * The operation a request reached, as the router would pick it: static segments before
   * parameters, segments compared percent-decoded. null when no route matches (a 404) or when the
   * URL cannot be decoded (Fastify refuses it before routing).
   */
  match(method: string, url: string): Operation | null {
    const segments = routedPath(url).split('/');
    const wanted = method === 'HEAD' ? 'GET' : method;
    let best: { op: Operation; rank: string } | null = null;
    for (const op of this.operations) {
      if (op.method !== wanted) continue;
      const pattern = op.route.split('/');
      if (pattern.length !== segments.length) continue;
      let rank = '';
      let ok = true;
      for (let i = 0; i < pattern.length && ok; i++) {
        if (pattern[i].startsWith(':')) {
          rank += '0';
          continue;
        }
        let decoded: string;
        try {
          decoded = decodeURIComponent(segments[i]);
        } catch {
          return null;
        }
        ok = decoded === pattern[i];
        rank += '1';
      }
      if (ok && (best === null || rank > best.rank)) best = { op, rank };
    }
    return best?.op ?? null;
  }

  /** What `op` declares for its response `status`: JSON of a schema, no body, text of a media type; undefined when not declared. */
  private declared(op: Operation, status: number): Declared | undefined {
    if ('responses' in op.documented) {
      const local = op.documented.responses[String(status)];
      if (local === undefined) return undefined;
      if ('empty' in local) return { kind: 'empty' };
      if ('text' in local) return { kind: 'text', contentType: local.text };
      const ref = `local:${op.key}:${status}`;
      let validate = this.compiled.get(ref);
      if (!validate) {
        validate = this.ajv.compile(local.json);
        this.compiled.set(ref, validate);
      }
      return { kind: 'json', validate };
    }
    const { path, method } = op.documented;
    const response = this.doc.paths[path]?.[method]?.responses[String(status)];
    if (!response) return undefined;
    const media = Object.keys(response.content ?? {});
    if (media.length === 0) return { kind: 'empty' };
    const typesOf = (list: string[]) => new RegExp(`^(${list.map((m) => m.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})\\b`);
    if (!media.includes('application/json')) return { kind: 'text', contentType: typesOf(media) };
    const others = media.filter((m) => m !== 'application/json');
    const validate = this.compile(`${DOC}#/paths/${escapePointer(path)}/${method}/responses/${status}/content/application~1json/schema`);
    return others.length > 0 ? { kind: 'json', validate, otherTypes: typesOf(others) } : { kind: 'json', validate };
  }

  /** The component `op` declares for `status` (e.g. ErrorResponse), when it declares one by reference. */
  private declaredComponent(op: Operation, status: number): string | undefined {
    if ('responses' in op.documented) return undefined;
    const schema = this.doc.paths[op.documented.path]?.[op.documented.method]?.responses[String(status)]?.content?.['application/json']?.schema;
    return schema?.$ref?.split('/').pop();
  }

  /** Whether `op`'s errors are RFC 6749 ones: it documents its 4xx as OAuthErrorResponse. */
  private speaksOAuth(op: Operation | null): boolean {
    if (!op || 'responses' in op.documented) return false;
    const responses = this.doc.paths[op.documented.path]?.[op.documented.method]?.responses ?? {};
    return Object.entries(responses).some(([status, r]) => status.startsWith('4') && r.content?.['application/json']?.schema.$ref?.endsWith('/OAuthErrorResponse'));
  }

  /** What is wrong with this response to (method, url); [] when nothing. */
  check(method: string, url: string, response: ResponseLike): string[] {
    const problems: string[] = [];
    const status = response.statusCode;
    const op = this.match(method, url);
    const isHead = method === 'HEAD';
    const contentType = String(response.headers['content-type'] ?? '');
    const parse = (): { ok: true; value: unknown } | { ok: false } => {
      try {
        return { ok: true, value: JSON.parse(response.body) };
      } catch {
        problems.push(`the body is not JSON: ${JSON.stringify(response.body.slice(0, 300))}`);
        return { ok: false };
      }
    };
    const errorsOf = (validate: ValidateFunction) => this.ajv.errorsText(validate.errors, { dataVar: 'body' });

    if (status >= 500) {
      problems.push(`status ${status} (never 5xx)`);
      return problems;
    }
    // The Swagger UI's page and assets are not fuzzed (isFuzzedRoute); a bent URL may still land there.
    if (!op && status < 400 && /^\/docs(\/|$)/.test(routedPath(url))) return problems;
    if (status < 200 || (status >= 300 && status < 400)) {
      problems.push(`unexpected status ${status}`);
      return problems;
    }

    if (status >= 400) {
      if (op && this.declared(op, status) === undefined) this.undeclared.set(`${op.key} -> ${status}`, (this.undeclared.get(`${op.key} -> ${status}`) ?? 0) + 1);
      if (status === 401 && !response.headers['www-authenticate']) problems.push('a 401 without WWW-Authenticate');
      if (isHead) return problems;
      if (!/^application\/json\b/.test(contentType)) problems.push(`a ${status} with content-type ${JSON.stringify(contentType)}, not application/json`);
      const body = parse();
      if (!body.ok) return problems;
      if (this.speaksOAuth(op)) {
        if (!this.oauthError(body.value)) problems.push(`a ${status} of the token endpoint that is not an RFC 6749 error (OAuthErrorResponse): ${errorsOf(this.oauthError)}`);
        return problems;
      }
      const [errorResponse, validationError] = this.apiError;
      // Where the route declares the status, the body is exactly the declared one of the two; elsewhere either.
      const named = op ? this.declaredComponent(op, status) : undefined;
      const candidates = named === 'ErrorResponse' ? [errorResponse] : named === 'HTTPValidationError' ? [validationError] : [errorResponse, validationError];
      if (!candidates.some((validate) => validate(body.value))) {
        const what = candidates.map((v) => `${v === errorResponse ? 'ErrorResponse {detail, code}' : 'HTTPValidationError {detail: [{loc, msg, type}]}'}: ${errorsOf(v)}`);
        problems.push(`a ${status} whose body is not ${named ? `the ${named} ${op!.key} declares for it` : 'a documented error'} (${what.join('; ')})`);
      }
      return problems;
    }

    // 2xx
    if (!op) {
      problems.push(`a ${status} from a URL no documented route matches`);
      return problems;
    }
    const declared = this.declared(op, status);
    if (declared === undefined) {
      problems.push(`${op.key} answered ${status}, which it does not declare`);
      return problems;
    }
    if (isHead) return problems;
    if (declared.kind === 'empty') {
      if (response.body !== '') problems.push(`a ${status} that should have no body has ${JSON.stringify(response.body.slice(0, 200))}`);
      return problems;
    }
    if (declared.kind === 'text') {
      if (!declared.contentType.test(contentType)) problems.push(`a ${status} with content-type ${JSON.stringify(contentType)}, not ${declared.contentType}`);
      return problems;
    }
    if (declared.otherTypes?.test(contentType)) return problems;
    if (!/^application\/json\b/.test(contentType)) problems.push(`a ${status} with content-type ${JSON.stringify(contentType)}, not application/json`);
    const body = parse();
    if (body.ok && !declared.validate(body.value)) problems.push(`a ${status} whose body does not match ${op.key}'s response schema: ${errorsOf(declared.validate)}`);
    return problems;
  }
}
