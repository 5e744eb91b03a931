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

/**
 * Where in a parsed JSON value a string is not well-formed Unicode (a lone surrogate from a
 * `\ud800` escape), as a FastAPI loc; null when all is well. Such text cannot be stored as
 * UTF-8: the store would turn it into something else, and two "different" names would collide.
 */
export function findMalformedText(value: unknown, loc: (string | number)[] = ['body']): (string | number)[] | null {
  if (typeof value === 'string') return value.isWellFormed() ? null : loc;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findMalformedText(value[i], [...loc, i]);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!key.isWellFormed()) return [...loc, key];
      const found = findMalformedText(item, [...loc, key]);
      if (found) return found;
    }
  }
  return null;
}
