import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { ValidationIssue } from '../errors.js';

// ajv-formats ships CommonJS with a default export.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerceTypes: Options['coerceTypes'], externalSchemas: Record<string, unknown>): Ajv {
  // removeAdditional stays off: an unknown body field is a 422, never silently dropped.
  const ajv = new Ajv({ allErrors: true, coerceTypes, useDefaults: true, removeAdditional: false, strict: false });
  addFormats(ajv);
  for (const schema of Object.values(externalSchemas)) ajv.addSchema(schema as object);
  return ajv;
}

/**
 * Query strings and path parameters are text and are coerced to their declared types;
 * JSON bodies are not (a number is not a valid name), as in FastAPI.
 */
export function buildValidator(externalSchemas: Record<string, unknown>): FastifySchemaCompiler<unknown> {
  const bodyAjv = makeAjv(false, externalSchemas);
  const textAjv = makeAjv('array', externalSchemas);
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
}

const LOCATION: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

const TYPE_NAMES: Record<string, [string, string, string]> = {
  // ajv type: [pydantic type for JSON, pydantic type for text, message]
  string: ['string_type', 'string_type', 'Input should be a valid string'],
  integer: ['int_type', 'int_parsing', 'Input should be a valid integer'],
  number: ['float_type', 'float_parsing', 'Input should be a valid number'],
  boolean: ['bool_type', 'bool_parsing', 'Input should be a valid boolean'],
  object: ['dict_type', 'dict_type', 'Input should be a valid dictionary or object'],
  array: ['list_type', 'list_type', 'Input should be a valid list'],
  null: ['none_required', 'none_required', 'Input should be None'],
};

function pathSegments(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function toIssue(error: ErrorObject, location: string): ValidationIssue | null {
  const loc = [location, ...pathSegments(error.instancePath)];
  const params = error.params as Record<string, unknown>;
  const isText = location !== 'body';
  switch (error.keyword) {
    case 'required':
      return { loc: [...loc, String(params.missingProperty)], msg: 'Field required', type: 'missing' };
    case 'additionalProperties':
      return { loc: [...loc, String(params.additionalProperty)], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' };
    case 'type': {
      const [jsonType, textType, msg] = TYPE_NAMES[String(params.type)] ?? ['type_error', 'type_error', error.message ?? 'Invalid type'];
      return { loc, msg, type: isText ? textType : jsonType };
    }
    case 'minLength':
      return { loc, msg: `String should have at least ${params.limit} character${params.limit === 1 ? '' : 's'}`, type: 'string_too_short' };
    case 'maxLength':
      return { loc, msg: `String should have at most ${params.limit} characters`, type: 'string_too_long' };
    case 'minimum':
      return { loc, msg: `Input should be greater than or equal to ${params.limit}`, type: 'greater_than_equal' };
    case 'maximum':
      return { loc, msg: `Input should be less than or equal to ${params.limit}`, type: 'less_than_equal' };
    case 'pattern':
      return { loc, msg: `String should match pattern '${params.pattern}'`, type: 'string_pattern_mismatch' };
    case 'format':
      return params.format === 'email'
        ? { loc, msg: 'value is not a valid email address', type: 'value_error' }
        : { loc, msg: `Input should be a valid ${params.format}`, type: 'value_error' };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => `'${String(v)}'`);
      const list = allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}` : allowed[0];
      return { loc, msg: `Input should be ${list}`, type: 'enum' };
    }
    case 'anyOf':
      // The branches' own errors say what was wrong; the anyOf summary adds nothing.
      return null;
    default:
      return { loc, msg: error.message ?? 'Invalid value', type: 'value_error' };
  }
}

/**
 * Ajv errors in FastAPI's HTTPValidationError items. For a nullable field the "should be null"
 * branch is dropped when another error explains the same place.
 */
export function toValidationIssues(errors: ErrorObject[], context: string): ValidationIssue[] {
  const location = LOCATION[context] ?? context;
  const issues = errors.map((e) => toIssue(e, location)).filter((i): i is ValidationIssue => i !== null);
  const key = (i: ValidationIssue) => JSON.stringify(i.loc);
  const explained = new Set(issues.filter((i) => i.type !== 'none_required').map(key));
  const seen = new Set<string>();
  return issues.filter((issue) => {
    if (issue.type === 'none_required' && explained.has(key(issue))) return false;
    const id = `${key(issue)}|${issue.type}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** JSON nesting no request body may exceed, whatever the route (the API's own bodies need 2). */
export const MAX_JSON_DEPTH = 64;

export interface BodyLimits {
  /** Largest `custom_attributes`, in bytes of its JSON (ARBOR_MAX_ATTRIBUTES_BYTES). */
  readonly maxAttributesBytes: number;
  /** Deepest `custom_attributes` nesting; the object itself is level 1 (ARBOR_MAX_ATTRIBUTES_DEPTH). */
  readonly maxAttributesDepth: number;
}

/**
 * What is wrong with a parsed JSON body before any schema sees it, as one FastAPI issue; null
 * when nothing is. Checks, without recursion (a body can nest 500,000 levels within 1 MiB):
 * - every string and key is well-formed Unicode without NUL: a lone surrogate (a `\ud800` escape)
 *   cannot be stored as UTF-8, the store would turn it into something else and two "different"
 *   names would collide; PostgreSQL refuses NUL in text;
 * - nothing nests deeper than MAX_JSON_DEPTH;
 * - `custom_attributes` stays within its configured size and depth.
 */
export function inspectBody(body: unknown, limits: BodyLimits): ValidationIssue | null {
  return inspectValue(body, ['body']) ?? attributesIssue(body, limits);
}

/**
 * Depth-first, in document order, on one shared path (a 1 MiB body holds 500,000 values: an
 * array per value cost 20 times the parse). Recursion stops at MAX_JSON_DEPTH, so it is bounded.
 */
function inspectValue(value: unknown, path: (string | number)[]): ValidationIssue | null {
  if (typeof value === 'string') return textIssue(value, path);
  if (value === null || typeof value !== 'object') return null;
  if (path.length > MAX_JSON_DEPTH) {
    return { loc: path.slice(0, MAX_JSON_DEPTH + 1), msg: `JSON must not nest more than ${MAX_JSON_DEPTH} levels deep`, type: 'json_too_deep' };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || (typeof item !== 'object' && typeof item !== 'string')) continue;
      path.push(i);
      const issue = inspectValue(item, path);
      path.pop();
      if (issue) return issue;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    path.push(key);
    const issue = textIssue(key, path) ?? inspectValue((value as Record<string, unknown>)[key], path);
    path.pop();
    if (issue) return issue;
  }
  return null;
}

/**
 * What no text Arbor stores may contain, the same on both stores: a lone surrogate (not UTF-8)
 * and NUL, which PostgreSQL cannot store in text at all and SQLite would keep.
 */
export function textIssue(value: string, loc: readonly (string | number)[]): ValidationIssue | null {
  if (!value.isWellFormed()) return { loc: [...loc], msg: 'Input should be a valid string: it contains a lone UTF-16 surrogate', type: 'string_unicode' };
  if (value.includes('\u0000')) return { loc: [...loc], msg: 'Input should be a valid string: it contains the NUL character (U+0000)', type: 'value_error' };
  return null;
}

/** The first query or path parameter whose text no store can keep (see textIssue). */
export function inspectParameters(parts: { query: unknown; params: unknown }): ValidationIssue | null {
  for (const [location, values] of [['query', parts.query], ['path', parts.params]] as const) {
    if (values === null || typeof values !== 'object') continue;
    for (const [name, value] of Object.entries(values)) {
      for (const text of [value].flat()) {
        const issue = typeof text === 'string' ? textIssue(text, [location, name]) : null;
        if (issue) return issue;
      }
    }
  }
  return null;
}

function attributesIssue(body: unknown, { maxAttributesBytes, maxAttributesDepth }: BodyLimits): ValidationIssue | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const attributes = (body as Record<string, unknown>).custom_attributes;
  if (attributes === null || typeof attributes !== 'object') return null;
  const loc = ['body', 'custom_attributes'];
  if (depthOf(attributes) > maxAttributesDepth) {
    return { loc, msg: `custom_attributes must not nest more than ${maxAttributesDepth} levels deep (ARBOR_MAX_ATTRIBUTES_DEPTH)`, type: 'attributes_too_deep' };
  }
  const bytes = Buffer.byteLength(JSON.stringify(attributes));
  if (bytes > maxAttributesBytes) {
    return {
      loc,
      msg: `custom_attributes must be at most ${maxAttributesBytes} bytes of JSON (ARBOR_MAX_ATTRIBUTES_BYTES), got ${bytes}`,
      type: 'attributes_too_large',
    };
  }
  return null;
}

/** Levels of objects and arrays in `value` (called on bodies inspectBody has bounded). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let deepest = 0;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item));
  return deepest + 1;
}
