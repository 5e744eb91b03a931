import type { RegisteredRoute } from '../../src/app.js';
import type { JsonSchema } from './arbitraries.js';

/**
 * The operations the fuzzer knows: one per route the app registered (ctx.routes), with what its
 * generators need, taken from the OpenAPI document the app builds from its TypeBox schemas.
 */

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: JsonSchema;
}

interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}

/** A response of an undocumented route: JSON of a schema, no body, or text of a media type. */
export type LocalResponse = { json: JsonSchema } | { empty: true } | { text: RegExp };

export type Family = 'system' | 'tenants' | 'ous' | 'users' | 'clients' | 'oauth';

export interface Operation {
  /** `METHOD /route/:pattern`, as ctx.routes names it. */
  key: string;
  method: string;
  route: string;
  family: Family;
  scope: string | undefined;
  pathParams: { name: string; schema: JsonSchema }[];
  queryParams: { name: string; schema: JsonSchema; required: boolean }[];
  body: { kind: 'json'; schema: JsonSchema } | { kind: 'form' } | null;
  /** Where its responses are documented: an OpenAPI path and method, or a schema of our own for an undocumented route. */
  documented: { path: string; method: string } | { responses: Record<string, LocalResponse> };
}

/** Routes outside the fuzzer's brief: the Swagger UI's page and static files (HEAD duplicates are skipped too). */
export function isFuzzedRoute(route: Pick<RegisteredRoute, 'method' | 'url'>): boolean {
  // The console's static files, like the Swagger UI's: served by @fastify/static, whose paths
  // (traversal, encodings, a missing file's 404 in the API's shape) test/http/console.test.ts tries.
  const staticFiles = route.url === '/docs' || route.url.startsWith('/docs/static/') || route.url === '/console' || route.url.startsWith('/console/');
  return route.method !== 'HEAD' && !staticFiles;
}

const OPENAPI_DOCUMENT: JsonSchema = {
  type: 'object',
  required: ['openapi', 'info', 'paths', 'components'],
  properties: { openapi: { const: '3.1.0' }, paths: { type: 'object' }, components: { type: 'object' } },
};

/**
 * Routes the OpenAPI document does not describe, with the generator facts the document would
 * have given. A route neither documented nor listed here has no generator: the coverage test fails.
 */
const UNDOCUMENTED: Record<string, Pick<Operation, 'body' | 'queryParams'> & { responses: Record<string, LocalResponse> }> = {
  'GET /openapi.json': { body: null, queryParams: [], responses: { 200: { json: OPENAPI_DOCUMENT } } },
  // The Swagger UI's copies of the document.
  'GET /docs/json': { body: null, queryParams: [], responses: { 200: { json: OPENAPI_DOCUMENT } } },
  'GET /docs/yaml': { body: null, queryParams: [], responses: { 200: { text: /^application\/x-yaml\b/ } } },
};

/** The token endpoint takes a form the document names only by media type; its generator is tokenPlanArb. */
const FORM_ROUTES = new Set(['POST /oauth/token']);

function familyOf(route: string): Family {
  if (route.startsWith('/oauth/')) return 'oauth';
  if (/^\/api\/v1\/tenants\/:tenant_id\/ous/.test(route)) return 'ous';
  if (/^\/api\/v1\/tenants\/:tenant_id\/users/.test(route)) return 'users';
  if (/^\/api\/v1\/tenants\/:tenant_id\/clients/.test(route)) return 'clients';
  if (route.startsWith('/api/v1/tenants')) return 'tenants';
  return 'system';
}

export interface Catalogue {
  operations: Operation[];
  /** Fuzzed routes for which no generator could be built. */
  missing: string[];
}

/** One operation per fuzzed route of the app, each with what its generators need. */
export function buildCatalogue(routes: readonly RegisteredRoute[], doc: OpenApiDocument): Catalogue {
  const operations: Operation[] = [];
  const missing: string[] = [];
  for (const route of routes.filter(isFuzzedRoute)) {
    const key = `${route.method} ${route.url}`;
    const openapiPath = route.url.replace(/:(\w+)/g, '{$1}');
    const method = route.method.toLowerCase();
    const documented = doc.paths[openapiPath]?.[method];
    const family = familyOf(route.url);
    const pathParamNames = [...route.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
    if (documented) {
      const parameters = documented.parameters ?? [];
      const jsonBody = documented.requestBody?.content['application/json']?.schema;
      const body: Operation['body'] = jsonBody ? { kind: 'json', schema: jsonBody } : FORM_ROUTES.has(key) ? { kind: 'form' } : null;
      if (!body && documented.requestBody) {
        missing.push(`${key} (a request body of a type the fuzzer cannot generate)`);
        continue;
      }
      operations.push({
        key,
        method: route.method,
        route: route.url,
        family,
        scope: route.scope,
        pathParams: pathParamNames.map((name) => ({ name, schema: parameters.find((p) => p.in === 'path' && p.name === name)?.schema ?? { type: 'string' } })),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        body,
        documented: { path: openapiPath, method },
      });
    } else if (UNDOCUMENTED[key]) {
      const spec = UNDOCUMENTED[key];
      operations.push({ key, method: route.method, route: route.url, family, scope: route.scope, pathParams: [], queryParams: spec.queryParams, body: spec.body, documented: { responses: spec.responses } });
    } else {
      missing.push(key);
    }
  }
  return { operations, missing };
}
