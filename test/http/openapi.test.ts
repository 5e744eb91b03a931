import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/test-app.js';

/**
 * The OpenAPI document against the contract page /work/shared/spec/organizational-units-api.md.
 * The contract is encoded below as tables (the source of truth of these tests); one test parses the
 * page itself and checks the tables agree with it, so a change of the page cannot go unnoticed.
 */

const SPEC_PAGE = '/work/shared/spec/organizational-units-api.md';
const OUS = '/api/v1/tenants/{tenant_id}/ous';
const OU = `${OUS}/{ou_id}`;

interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
}

interface Operation {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  summary: string;
  parameters: Param[];
  requestBody?: string;
  success: [status: string, schema: string | null];
}

const path = (name: string): Param => ({ name, in: 'path', required: true });
const query = (name: string): Param => ({ name, in: 'query', required: false });

const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: OUS,
    summary: 'List Ous',
    parameters: [path('tenant_id'), query('page'), query('per_page'), query('search'), query('parent_id')],
    success: ['200', 'PaginatedResponse_OUListItem_'],
  },
  { method: 'post', path: OUS, summary: 'Create Ou', parameters: [path('tenant_id')], requestBody: 'OUCreate', success: ['201', 'ApiResponse_OUResponse_'] },
  { method: 'get', path: `${OUS}/tree`, summary: 'Get Ou Tree', parameters: [path('tenant_id')], success: ['200', 'ApiResponse_list_OUTreeNode__'] },
  { method: 'delete', path: OU, summary: 'Delete Ou', parameters: [path('tenant_id'), path('ou_id'), query('strategy')], success: ['204', null] },
  { method: 'get', path: OU, summary: 'Get Ou', parameters: [path('tenant_id'), path('ou_id')], success: ['200', 'ApiResponse_OUResponse_'] },
  {
    method: 'patch',
    path: OU,
    summary: 'Update Ou',
    parameters: [path('tenant_id'), path('ou_id')],
    requestBody: 'OUUpdate',
    success: ['200', 'ApiResponse_OUResponse_'],
  },
  {
    method: 'get',
    path: `${OU}/users`,
    summary: 'List Ou Users',
    parameters: [path('tenant_id'), path('ou_id'), query('page'), query('per_page'), query('include_nested')],
    success: ['200', 'PaginatedResponse'],
  },
];

/**
 * Arbor's additions to the contract (docs/events.md): conditional requests, idempotent retries,
 * dry runs and the feed position of a snapshot. Each is optional for the client and changes
 * nothing for a request without it, so a client written against the spec page works unchanged.
 * The tests below accept exactly these on top of the page, nothing else.
 */
const header = (name: string): Param => ({ name, in: 'header', required: false });
/**
 * Arbor's operations under /ous beyond the page's seven: new paths, so no request of a client of
 * the page reaches them. Where an OU is in the tree, for a tree browser (docs/org-units.md).
 */
const EXTENSION_OPERATIONS = [`get ${OUS}/{ou_id}/ancestry Get Ou Ancestry`];
const EXTENSION_PARAMETERS: Record<string, Param[]> = {
  // Every list also pages by cursor; the OU list also reads the top level alone (docs/org-units.md).
  [`get ${OUS}`]: [query('cursor'), query('top_level')],
  [`get ${OU}/users`]: [query('cursor')],
  [`post ${OUS}`]: [header('idempotency-key')],
  [`get ${OU}`]: [header('if-none-match')],
  [`patch ${OU}`]: [header('if-match'), header('idempotency-key'), query('dry_run')],
  [`delete ${OU}`]: [header('if-match'), query('dry_run')],
};
/** A success status only a request using an extension gets (DELETE with dry_run=true). */
const EXTENSION_SUCCESS: Record<string, [status: string, schema: string]> = {
  [`delete ${OU}`]: ['200', 'ApiResponse_OUDeleteOutcome_'],
};
/**
 * Optional fields added to a spec schema (lists and the tree say which event seq they reflect; a
 * dry run says what it would change; a list's cursor to the next page).
 */
const EXTENSION_FIELDS: Record<string, string[]> = {
  MetaResponse: ['event_seq', 'dry_run'],
  // The source directory's id, which imports match by (docs/import-export.md).
  OUCreate: ['external_id'],
  OUUpdate: ['external_id'],
  OUResponse: ['external_id'],
  // As on OUResponse: a tree browser sizes a node before reading its children (docs/org-units.md),
  // and shows how many users are in and below it (not on OUResponse, whose ETag it would churn).
  OUListItem: ['child_ou_count', 'nested_user_count'],
  PaginatedResponse: ['next_cursor'],
  PaginatedResponse_OUListItem_: ['next_cursor'],
};
/**
 * A type the page leaves open, declared as what is sent: the OU-users page's rows are users
 * (`array of any` on the page). The JSON is the same, so a client of the page reads it unchanged.
 */
const NARROWED_TYPES: Record<string, string> = {
  'PaginatedResponse.data': 'array of UserResponse',
};
const key = (op: Pick<Operation, 'method' | 'path'>) => `${op.method} ${op.path}`;

interface Field {
  type: string;
  required: boolean;
  default?: unknown;
}

const f = (type: string, required: boolean, defaultValue?: unknown): Field =>
  defaultValue === undefined ? { type, required } : { type, required, default: defaultValue };

/** Fields of every schema of the page: spec notation for the type, required, default. */
const SCHEMAS: Record<string, Record<string, Field>> = {
  ApiResponse_OUResponse_: { data: f('OUResponse', true), meta: f('MetaResponse', false) },
  ApiResponse_list_OUTreeNode__: { data: f('array of OUTreeNode', true), meta: f('MetaResponse', false) },
  HTTPValidationError: { detail: f('array of ValidationError', false) },
  MetaResponse: { request_id: f('string | null', false), timestamp: f('string (date-time)', false) },
  OUChildInfo: {
    ou_id: f('string', true),
    name: f('string', true),
    path: f('string', true),
    user_count: f('integer', false, 0),
    children: f('array of OUChildInfo', false),
  },
  OUCreate: {
    name: f('string', true),
    description: f('string | null', false),
    parent_id: f('string | null', false),
    custom_attributes: f('object | null', false),
  },
  OUListItem: {
    id: f('string', true),
    name: f('string', true),
    path: f('string', true),
    parent_id: f('string | null', false),
    user_count: f('integer', false, 0),
  },
  OUResponse: {
    name: f('string', true),
    description: f('string | null', false),
    id: f('string', true),
    path: f('string', true),
    parent_id: f('string | null', false),
    child_ou_count: f('integer', false, 0),
    user_count: f('integer', false, 0),
    children: f('array of OUChildInfo | null', false),
    custom_attributes: f('object | null', false),
    created_at: f('string (date-time)', true),
    updated_at: f('string (date-time) | null', false),
  },
  OUTreeNode: {
    id: f('string', true),
    name: f('string', true),
    path: f('string', true),
    children: f('array of OUTreeNode | null', false),
  },
  OUUpdate: {
    name: f('string | null', false),
    description: f('string | null', false),
    parent_id: f('string | null', false),
    custom_attributes: f('object | null', false),
  },
  PaginatedResponse: { data: f('array of any', true), pagination: f('PaginationMeta', true), meta: f('MetaResponse', false) },
  PaginatedResponse_OUListItem_: { data: f('array of OUListItem', true), pagination: f('PaginationMeta', true), meta: f('MetaResponse', false) },
  PaginationMeta: {
    page: f('integer', true),
    per_page: f('integer', true),
    total_items: f('integer', true),
    total_pages: f('integer', true),
  },
  ValidationError: { loc: f('array of string | integer', true), msg: f('string', true), type: f('string', true) },
};

// ---------------------------------------------------------------------------------------------
// The spec page, parsed (its tables are flattened: one cell per line, cells ending in " |").

interface ParsedSpec {
  operations: { method: string; path: string; summary: string; parameters: Param[]; requestBody?: string; responses: Record<string, string | null> }[];
  schemas: Record<string, Record<string, Field>>;
}

function parseSpecPage(text: string): ParsedSpec {
  const lines = text.split('\n').map((line) => line.trim());
  const schemasAt = lines.indexOf('Schemas#');
  if (schemasAt < 0) throw new Error('spec page: no Schemas# section');

  const operations: ParsedSpec['operations'] = [];
  for (let i = 0; i < schemasAt; i++) {
    const heading = /^(GET|POST|PATCH|DELETE) (\/\S+)#$/.exec(lines[i]);
    if (!heading) continue;
    const op: ParsedSpec['operations'][number] = { method: heading[1].toLowerCase(), path: heading[2], summary: lines[i + 1], parameters: [], responses: {} };
    let j = i + 2;
    for (; j < schemasAt && !/^(GET|POST|PATCH|DELETE) \//.test(lines[j]); j++) {
      const name = /^(\w+) \|$/.exec(lines[j]);
      const where = /^(path|query) \| (yes|no) \|/.exec(lines[j + 1] ?? '');
      if (name && where) op.parameters.push({ name: name[1], in: where[1] as Param['in'], required: where[2] === 'yes' });
      const status = /^(\d{3}) \|$/.exec(lines[j]);
      if (status) {
        const body = /application\/json → (\w+)/.exec(lines[j + 1] ?? '');
        op.responses[status[1]] = body ? body[1] : null;
      }
      const requestBody = /^application\/json→(\w+)$/.exec(lines[j]);
      if (requestBody) op.requestBody = requestBody[1];
    }
    operations.push(op);
    i = j - 1;
  }

  const schemas: ParsedSpec['schemas'] = {};
  let current: Record<string, Field> | null = null;
  let field: string | null = null;
  let typeParts: string[] = [];
  for (const line of lines.slice(schemasAt + 1)) {
    const heading = /^(\w+)#$/.exec(line);
    if (heading) {
      current = schemas[heading[1]] = {};
      field = null;
      continue;
    }
    if (!current || line.startsWith('|') || line === '') continue;
    if (field === null) {
      const name = /^(\w+) \|$/.exec(line);
      if (name) {
        field = name[1];
        typeParts = [];
      }
      continue;
    }
    // The required cell ("yes |", "no | Default: 0 |"), sometimes on the type's line ("array of any | yes | |").
    const required = /^(?:(.*?) \| )?(yes|no) \|(.*)$/.exec(line);
    if (required) {
      if (required[1]) typeParts.push(required[1]);
      const fieldDefault = /Default: ([^|]+?)\s*\|?\s*$/.exec(required[3]);
      current[field] = f(typeParts.join(' ').trim(), required[2] === 'yes', fieldDefault ? JSON.parse(fieldDefault[1]) : undefined);
      field = null;
    } else {
      typeParts.push(line.replace(/ \|$/, ''));
    }
  }
  return { operations, schemas };
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI side, rendered in the spec's notation.

type JsonSchema = Record<string, unknown>;

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, JsonSchema> };
}

function refName(ref: unknown): string {
  const match = /^#\/components\/schemas\/(.+)$/.exec(String(ref));
  if (!match) throw new Error(`not a component reference: ${String(ref)}`);
  return match[1];
}

/** `{anyOf: [{type: 'string'}, {type: 'null'}]}` -> 'string | null', `{type: 'array', items: {$ref}}` -> 'array of X', ... */
function notation(schema: JsonSchema): string {
  if (schema.$ref) return refName(schema.$ref);
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).map(notation).join(' | ');
  if (schema.type === 'array') {
    const items = (schema.items ?? {}) as JsonSchema;
    return `array of ${Object.keys(items).length === 0 ? 'any' : notation(items)}`;
  }
  if (typeof schema.type === 'string') return schema.format ? `${schema.type} (${schema.format})` : schema.type;
  return 'any';
}

// ---------------------------------------------------------------------------------------------

describe('the contract tables of this file', () => {
  it('agree with the spec page (operations, parameters, bodies, responses, schemas)', () => {
    const parsed = parseSpecPage(readFileSync(SPEC_PAGE, 'utf8'));
    const key = (op: { method: string; path: string }) => `${op.method} ${op.path}`;
    const sortParams = (params: Param[]) => [...params].sort((a, b) => a.name.localeCompare(b.name));

    expect(parsed.operations.map(key)).toEqual(OPERATIONS.map(key));
    for (const op of OPERATIONS) {
      const pageOp = parsed.operations.find((candidate) => key(candidate) === key(op));
      expect(pageOp?.summary, key(op)).toBe(op.summary);
      expect(sortParams(pageOp?.parameters ?? []), key(op)).toEqual(sortParams(op.parameters));
      expect(pageOp?.requestBody, key(op)).toBe(op.requestBody);
      expect(pageOp?.responses, key(op)).toEqual({ [op.success[0]]: op.success[1], '422': 'HTTPValidationError' });
    }
    expect(Object.keys(parsed.schemas).sort()).toEqual(Object.keys(SCHEMAS).sort());
    for (const [name, fields] of Object.entries(SCHEMAS)) expect(parsed.schemas[name], name).toEqual(fields);
  });
});

describe('GET /openapi.json', () => {
  const t = useTestApp();

  /** The document of this test's app, fetched without a token. */
  async function load(): Promise<OpenApiDocument> {
    const response = await t.ctx.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    return response.json();
  }

  it('is an OpenAPI 3.1.0 document, served without a token', async () => {
    expect((await load()).openapi).toBe('3.1.0');
  });

  it('has exactly the 7 OU operations under /ous, with the spec summaries, and Arbor\'s named additions beside them', async () => {
    const doc = await load();
    const found: string[] = [];
    for (const [p, item] of Object.entries(doc.paths)) {
      if (!p.startsWith(OUS)) continue;
      for (const [method, op] of Object.entries(item)) found.push(`${method} ${p} ${String(op.summary)}`);
    }
    expect(found.sort()).toEqual([...OPERATIONS.map((op) => `${op.method} ${op.path} ${op.summary}`), ...EXTENSION_OPERATIONS].sort());
  });

  it.each(OPERATIONS.map((op) => [`${op.method.toUpperCase()} ${op.path}`, op] as const))('%s declares the spec parameters (name, in, required)', async (_label, op) => {
    const doc = await load();
    const declared = ((doc.paths[op.path][op.method].parameters ?? []) as { name: string; in: string; required?: boolean }[]).map((param) => ({
      name: param.name,
      in: param.in,
      required: param.required === true,
    }));
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect([...declared].sort(byName)).toEqual([...op.parameters, ...(EXTENSION_PARAMETERS[key(op)] ?? [])].sort(byName));
  });

  it.each(OPERATIONS.map((op) => [`${op.method.toUpperCase()} ${op.path}`, op] as const))('%s answers success and 422 with the spec schemas', async (_label, op) => {
    const doc = await load();
    const responses = doc.paths[op.path][op.method].responses as Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
    const [status, schema] = op.success;
    expect(Object.keys(responses)).toContain(status);
    if (schema === null) {
      expect(responses[status].content).toBeUndefined();
    } else {
      expect(responses[status].content?.['application/json'].schema).toEqual({ $ref: `#/components/schemas/${schema}` });
    }
    // No other 2xx that the spec does not know, but for one only an extension's request gets.
    const extension = EXTENSION_SUCCESS[key(op)];
    expect(Object.keys(responses).filter((code) => code.startsWith('2')).sort()).toEqual([status, ...(extension ? [extension[0]] : [])].sort());
    if (extension) expect(responses[extension[0]].content?.['application/json'].schema).toEqual({ $ref: `#/components/schemas/${extension[1]}` });
    expect(responses['422']?.content?.['application/json'].schema).toEqual({ $ref: '#/components/schemas/HTTPValidationError' });
  });

  it.each(OPERATIONS.map((op) => [`${op.method.toUpperCase()} ${op.path}`, op] as const))('%s has the spec request body', async (_label, op) => {
    const doc = await load();
    const body = doc.paths[op.path][op.method].requestBody as { required?: boolean; content: Record<string, { schema: JsonSchema }> } | undefined;
    if (!op.requestBody) {
      expect(body).toBeUndefined();
      return;
    }
    expect(body?.required).toBe(true);
    expect(Object.keys(body?.content ?? {})).toEqual(['application/json']);
    expect(body?.content['application/json'].schema).toEqual({ $ref: `#/components/schemas/${op.requestBody}` });
  });

  it('lists every schema of the spec page as a component', async () => {
    const doc = await load();
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(Object.keys(SCHEMAS)));
  });

  it.each(Object.keys(SCHEMAS))('component %s has exactly the spec fields, types, required list and defaults', async (name) => {
    const doc = await load();
    const schema = doc.components.schemas[name];
    const expected = SCHEMAS[name];
    expect(schema.type).toBe('object');
    const properties = schema.properties as Record<string, JsonSchema>;
    const extensions = EXTENSION_FIELDS[name] ?? [];
    expect(Object.keys(properties).sort()).toEqual([...Object.keys(expected), ...extensions].sort());
    const required = Object.entries(expected)
      .filter(([, field]) => field.required)
      .map(([fieldName]) => fieldName);
    expect([...((schema.required as string[] | undefined) ?? [])].sort()).toEqual(required.sort());
    for (const [fieldName, field] of Object.entries(expected)) {
      const narrowed = NARROWED_TYPES[`${name}.${fieldName}`];
      if (narrowed) expect(field.type, `${name}.${fieldName} is open on the page`).toBe('array of any');
      expect(notation(properties[fieldName]), `${name}.${fieldName} type`).toBe(narrowed ?? field.type);
      expect(properties[fieldName].default, `${name}.${fieldName} default`).toEqual(field.default);
    }
  });

  it('resolves every $ref in the document to a component that exists', async () => {
    const doc = await load();
    const refs = new Set<string>();
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref') refs.add(String(v));
          else walk(v);
        }
      }
    };
    walk(doc.paths);
    walk(doc.components.schemas);
    expect(refs.size).toBeGreaterThan(0);
    for (const ref of refs) expect(Object.keys(doc.components.schemas), ref).toContain(refName(ref));
  });

  it('declares the headers of safe retries: ETag on one resource\'s answers, 304 and 412, Idempotent-Replayed on every POST and PATCH success', async () => {
    const doc = (await load()) as unknown as { paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>> };
    const declared = (method: string, path: string, status: string) => Object.keys(doc.paths[path]?.[method]?.responses[status]?.headers ?? {});
    const resources = ['/api/v1/tenants/{tenant_id}', OU, '/api/v1/tenants/{tenant_id}/users/{user_id}', '/api/v1/tenants/{tenant_id}/clients/{client_id}'];
    for (const path of resources) {
      expect(declared('get', path, '200'), `GET ${path}`).toContain('etag');
      expect(declared('get', path, '304'), `GET ${path} 304`).toContain('etag');
      expect(declared('delete', path, '412'), `DELETE ${path} 412`).toContain('etag');
    }
    let writes = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of ['post', 'patch'].filter((m) => path.startsWith('/api/') && item[m])) {
        for (const status of Object.keys(item[method].responses).filter((s) => s.startsWith('2'))) {
          writes++;
          expect(declared(method, path, status), `${method} ${path} ${status}`).toContain('idempotent-replayed');
        }
      }
    }
    expect(writes).toBeGreaterThanOrEqual(7);
    expect(declared('post', OUS, '201')).toEqual(['etag', 'idempotent-replayed']);
  });
});

describe('GET /docs', () => {
  const t = useTestApp();

  it('serves the Swagger UI page (directly or through redirects), whose assets and spec load', async () => {
    let url = '/docs';
    let response = await t.ctx.app.inject({ method: 'GET', url });
    for (let hops = 0; [301, 302, 303, 307, 308].includes(response.statusCode); hops++) {
      expect(hops).toBeLessThan(5);
      url = new URL(String(response.headers.location), `http://localhost${url}`).pathname;
      response = await t.ctx.app.inject({ method: 'GET', url });
    }
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body.toLowerCase()).toContain('swagger');

    // Every script and stylesheet the page references loads.
    const assets = [...response.body.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => new URL(m[1], `http://localhost${url}`).pathname);
    expect(assets.some((asset) => asset.endsWith('swagger-ui-bundle.js'))).toBe(true);
    for (const asset of assets) {
      const loaded = await t.ctx.app.inject({ method: 'GET', url: asset });
      expect(loaded.statusCode, asset).toBe(200);
    }

    // The UI's own copy of the document describes the same API as /openapi.json.
    const ui = await t.ctx.app.inject({ method: 'GET', url: '/docs/json' });
    const api = await t.ctx.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(ui.statusCode).toBe(200);
    expect(Object.keys(ui.json().paths).sort()).toEqual(Object.keys(api.json().paths).sort());
    expect(ui.json().components.schemas).toEqual(api.json().components.schemas);
  });
});
