/**
 * Renders an OpenAPI 3.x document as Markdown reference pages, one per tag (docs/api/*.md),
 * in the structure of the spec page. Pure and deterministic, so CI can diff the committed pages.
 */

export interface SchemaObject {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  items?: SchemaObject | boolean;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  anyOf?: SchemaObject[];
  oneOf?: SchemaObject[];
  allOf?: SchemaObject[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  deprecated?: boolean;
  [key: string]: unknown;
}

interface Reference {
  $ref?: string;
}

export interface ParameterObject extends Reference {
  name?: string;
  in?: string;
  required?: boolean;
  description?: string;
  deprecated?: boolean;
  schema?: SchemaObject;
}

export interface MediaTypeObject {
  schema?: SchemaObject;
}

export interface RequestBodyObject extends Reference {
  description?: string;
  required?: boolean;
  content?: Record<string, MediaTypeObject>;
}

export interface ResponseObject extends Reference {
  description?: string;
  content?: Record<string, MediaTypeObject>;
  headers?: Record<string, { description?: string; schema?: SchemaObject }>;
}

export type SecurityRequirement = Record<string, string[]>;

export interface OperationObject {
  tags?: string[];
  summary?: string;
  description?: string;
  deprecated?: boolean;
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  responses?: Record<string, ResponseObject>;
  security?: SecurityRequirement[];
}

export interface SecuritySchemeObject {
  type?: string;
  scheme?: string;
  bearerFormat?: string;
}

/** The part of an OpenAPI 3.x document the reference reads; anything else is ignored. */
export interface OpenApiDocument {
  paths?: Record<string, Record<string, unknown> | undefined>;
  components?: {
    schemas?: Record<string, SchemaObject>;
    parameters?: Record<string, ParameterObject>;
    requestBodies?: Record<string, RequestBodyObject>;
    responses?: Record<string, ResponseObject>;
    securitySchemes?: Record<string, SecuritySchemeObject>;
  };
  security?: SecurityRequirement[];
  tags?: { name: string; description?: string }[];
}

interface Operation {
  method: string;
  path: string;
  operation: OperationObject;
  /** Path-item parameters, which apply to every operation of the path. */
  shared: ParameterObject[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
// The spec page lists path parameters before query ones; fastify-swagger emits the querystring first.
const PARAMETER_ORDER = ['path', 'query', 'header', 'cookie'];
const SCHEMA_REF = '#/components/schemas/';
// Operations without a tag still need a page, or they would vanish from the reference silently.
const UNTAGGED = 'Other';
const NO_AUTHENTICATION = 'No authentication';

/** One Markdown page per tag, keyed by file name (`<tag-slug>.md`), operations in document order. */
export function renderApiReference(doc: OpenApiDocument): Map<string, string> {
  const pages = new Map<string, string>();
  for (const [tag, operations] of operationsByTag(doc)) {
    const file = `${slug(tag)}.md`;
    if (pages.has(file)) throw new Error(`Two tags render to the same page ${file}; rename one of them`);
    pages.set(file, renderPage(doc, tag, operations));
  }
  return pages;
}

/** The file-name slug of a tag: 'Organizational Units' -> 'organizational-units'. */
function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** The anchor GitHub gives a heading, so in-page links work where the pages are read. */
function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** A Markdown table cell: one line, with `|` escaped so it cannot split the row. */
function escapeCell(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').replace(/\|/g, '\\|').trim();
}

function operationsOf(doc: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!item) continue;
    const shared = (item.parameters as ParameterObject[] | undefined) ?? [];
    for (const [method, operation] of Object.entries(item)) {
      if (METHODS.includes(method)) operations.push({ method, path, operation: operation as OperationObject, shared });
    }
  }
  return operations;
}

function operationsByTag(doc: OpenApiDocument): Map<string, Operation[]> {
  const byTag = new Map<string, Operation[]>();
  for (const operation of operationsOf(doc)) {
    const tags = operation.operation.tags?.length ? operation.operation.tags : [UNTAGGED];
    for (const tag of tags) byTag.set(tag, [...(byTag.get(tag) ?? []), operation]);
  }
  return byTag;
}

function renderPage(doc: OpenApiDocument, tag: string, operations: Operation[]): string {
  const count = `${operations.length} endpoint${operations.length === 1 ? '' : 's'}`;
  const tagDescription = doc.tags?.find((t) => t.name === tag)?.description;
  const blocks = [
    `# ${tag} API`,
    `Reference for the ${tag} endpoint group — ${count}.`,
    'Generated from the live OpenAPI document by `npm run docs:api`. Do not edit this page by hand: change the route schemas and re-run the command.',
    ...(tagDescription ? [tagDescription.trim()] : []),
    ...renderAuthentication(doc, operations),
    '## Endpoints',
    ...operations.flatMap((operation) => renderOperation(doc, operation)),
    ...renderSchemas(doc, operations),
  ];
  return `${blocks.join('\n\n')}\n`;
}

// --- Authentication ---

function securityOf(doc: OpenApiDocument, operation: OperationObject): SecurityRequirement[] {
  return operation.security ?? doc.security ?? [];
}

function isPublic(requirements: SecurityRequirement[]): boolean {
  return requirements.length === 0 || requirements.some((r) => Object.keys(r).length === 0);
}

function schemeLabel(doc: OpenApiDocument, name: string): string {
  const scheme = doc.components?.securitySchemes?.[name];
  if (scheme?.type === 'http' && scheme.scheme?.toLowerCase() === 'bearer') return `Bearer ${scheme.bearerFormat ?? 'token'}`;
  return `\`${name}\``;
}

function describeRequirement(doc: OpenApiDocument, requirement: SecurityRequirement): string {
  return Object.entries(requirement)
    .map(([name, scopes]) => {
      const label = schemeLabel(doc, name);
      if (scopes.length === 0) return label;
      return `${label} with scope ${scopes.map((s) => `\`${s}\``).join(' and ')}`;
    })
    .join(' and ');
}

/** 'No authentication', or what the token must be and carry, from the operation's `security`. */
function authenticationOf(doc: OpenApiDocument, operation: OperationObject): string {
  const requirements = securityOf(doc, operation);
  if (requirements.length === 0) return NO_AUTHENTICATION;
  const alternatives = requirements.map((r) => (Object.keys(r).length === 0 ? 'no authentication' : describeRequirement(doc, r)));
  return alternatives.join(', or ');
}

function authenticationIntro(doc: OpenApiDocument, operations: Operation[]): string {
  const publicCount = operations.filter((o) => isPublic(securityOf(doc, o.operation))).length;
  if (publicCount === operations.length) return 'The endpoints of this group need no authentication.';
  const header = 'a Bearer JWT in the `Authorization: Bearer <token>` header, carrying the scope listed for the endpoint';
  if (publicCount === 0) return `Every endpoint of this group requires ${header}.`;
  return `Endpoints require ${header}, unless marked No authentication.`;
}

function renderAuthentication(doc: OpenApiDocument, operations: Operation[]): string[] {
  const rows = operations.map((o) => [`\`${o.method.toUpperCase()} ${o.path}\``, authenticationOf(doc, o.operation)]);
  return ['## Authentication', authenticationIntro(doc, operations), table(['Endpoint', 'Authentication'], rows)];
}

// --- Endpoints ---

function renderOperation(doc: OpenApiDocument, { method, path, operation, shared }: Operation): string[] {
  const blocks = [`### ${method.toUpperCase()} ${path}`];
  if (operation.summary) blocks.push(`**${operation.summary.trim()}**`);
  if (operation.deprecated) blocks.push('**Deprecated.**');
  if (operation.description) blocks.push(operation.description.trim());
  const authentication = authenticationOf(doc, operation);
  blocks.push(authentication === NO_AUTHENTICATION ? `${NO_AUTHENTICATION}.` : `Authentication: ${authentication}.`);
  blocks.push(...renderParameters(doc, shared, operation.parameters ?? []));
  if (operation.requestBody) blocks.push(...renderRequestBody(deref(doc, operation.requestBody)));
  blocks.push(...renderResponses(doc, operation.responses ?? {}));
  return blocks;
}

/** Operation parameters override path-item ones of the same name and location (OpenAPI rule). */
function parametersOf(doc: OpenApiDocument, shared: ParameterObject[], own: ParameterObject[]): ParameterObject[] {
  const byKey = new Map<string, ParameterObject>();
  for (const parameter of [...shared, ...own].map((p) => deref(doc, p))) byKey.set(`${parameter.in}:${parameter.name}`, parameter);
  const rank = (p: ParameterObject) => {
    const index = PARAMETER_ORDER.indexOf(p.in ?? '');
    return index === -1 ? PARAMETER_ORDER.length : index;
  };
  // Array.prototype.sort is stable: within a location, the document's order is kept.
  return [...byKey.values()].sort((a, b) => rank(a) - rank(b));
}

function renderParameters(doc: OpenApiDocument, shared: ParameterObject[], own: ParameterObject[]): string[] {
  const parameters = parametersOf(doc, shared, own);
  if (parameters.length === 0) return [];
  const rows = parameters.map((p) => [
    `\`${p.name ?? ''}\``,
    p.in ?? '',
    p.required ? 'yes' : 'no',
    p.schema ? typeOf(p.schema) : 'any',
    describeValue(p.schema ?? {}, p.description, p.deprecated),
  ]);
  return ['Parameters:', table(['Name', 'In', 'Required', 'Type', 'Description'], rows)];
}

function mediaTypes(content: Record<string, MediaTypeObject>): string {
  return Object.entries(content)
    .map(([type, media]) => `\`${type}\` → ${media.schema ? typeOf(media.schema) : 'any'}`)
    .join(', ');
}

function renderRequestBody(body: RequestBodyObject): string[] {
  const parts = [body.required ? 'Required.' : 'Optional.'];
  if (body.description) parts.push(body.description.trim());
  if (body.content && Object.keys(body.content).length > 0) parts.push(mediaTypes(body.content));
  return ['Request body:', parts.join(' ')];
}

function responseBody(response: ResponseObject): string {
  if (response.content && Object.keys(response.content).length > 0) return mediaTypes(response.content);
  return response.description?.trim() ?? '';
}

function renderResponses(doc: OpenApiDocument, responses: Record<string, ResponseObject>): string[] {
  const entries = Object.entries(responses);
  if (entries.length === 0) return [];
  const rows = entries.map(([status, response]) => [status, responseBody(deref(doc, response)), responseHeaders(deref(doc, response))]);
  // A Headers column only where some answer declares headers (ETag, Idempotent-Replayed).
  if (rows.every((row) => row[2] === '')) return ['Responses:', table(['Status', 'Body'], rows.map((row) => row.slice(0, 2)))];
  return ['Responses:', table(['Status', 'Body', 'Headers'], rows)];
}

function responseHeaders(response: ResponseObject): string {
  return Object.keys(response.headers ?? {})
    .map((name) => `\`${name}\``)
    .join(', ');
}

// --- Schemas ---

function schemaName(ref: string): string | undefined {
  if (!ref.startsWith(SCHEMA_REF)) return undefined;
  const segment = ref.slice(SCHEMA_REF.length).split('/')[0];
  return decodeURIComponent(segment).replace(/~1/g, '/').replace(/~0/g, '~');
}

function schemaLink(name: string): string {
  return `[${name}](#${headingAnchor(name)})`;
}

/** Every component schema named by a `$ref` anywhere inside `value`. */
function schemaRefsIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) schemaRefsIn(item, found);
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const name = key === '$ref' && typeof child === 'string' ? schemaName(child) : undefined;
      if (name !== undefined) found.push(name);
      else schemaRefsIn(child, found);
    }
  }
  return found;
}

function componentSchema(doc: OpenApiDocument, name: string): SchemaObject {
  const schema = doc.components?.schemas?.[name];
  if (!schema) throw new Error(`${SCHEMA_REF}${name} is referenced but not defined in the document`);
  return schema;
}

function operationPayload(doc: OpenApiDocument, { operation, shared }: Operation): unknown[] {
  const responses = Object.values(operation.responses ?? {}).map((r) => deref(doc, r));
  const body = operation.requestBody ? [deref(doc, operation.requestBody)] : [];
  return [...parametersOf(doc, shared, operation.parameters ?? []), ...body, ...responses];
}

/** The schemas the operations reference, directly or through other schemas, in code-point order. */
function referencedSchemas(doc: OpenApiDocument, operations: Operation[]): string[] {
  const pending = operations.flatMap((o) => schemaRefsIn(operationPayload(doc, o)));
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    pending.push(...schemaRefsIn(componentSchema(doc, name)));
  }
  // Code-point order, not localeCompare: the same on every machine, and the spec page's order.
  return [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function renderSchema(name: string, schema: SchemaObject): string[] {
  const blocks = [`### ${name}`];
  if (schema.description) blocks.push(schema.description.trim());
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return [...blocks, `Type: ${typeOf(schema)}.`];
  const required = new Set(schema.required ?? []);
  const rows = properties.map(([field, property]) => [
    `\`${field}\``,
    typeOf(property),
    required.has(field) ? 'yes' : 'no',
    describeValue(property),
  ]);
  return [...blocks, table(['Field', 'Type', 'Required', 'Description'], rows)];
}

function renderSchemas(doc: OpenApiDocument, operations: Operation[]): string[] {
  const names = referencedSchemas(doc, operations);
  if (names.length === 0) return [];
  return [
    '## Schemas',
    'Definitions of every type the endpoints above reference, directly or through another schema; links point within this page.',
    ...names.flatMap((name) => renderSchema(name, componentSchema(doc, name))),
  ];
}

// --- Types and descriptions of values ---

function isNullSchema(schema: SchemaObject): boolean {
  return schema.type === 'null';
}

/** The one non-null alternative of a nullable union, where descriptions and limits often sit. */
function nonNullBranch(schema: SchemaObject): SchemaObject | undefined {
  const branches = (schema.anyOf ?? schema.oneOf ?? []).filter((b) => !isNullSchema(b));
  return branches.length === 1 ? branches[0] : undefined;
}

function literal(value: unknown): string {
  if (typeof value === 'string') return value === '' ? '""' : value;
  return JSON.stringify(value);
}

function enumType(schema: SchemaObject, values: unknown[]): string {
  const base = typeof schema.type === 'string' ? schema.type : typeof values[0];
  return `${base}: one of ${values.map(literal).join(', ')}`;
}

function unionType(schemas: SchemaObject[]): string {
  return [...new Set(schemas.map(typeOf))].join(' | ');
}

function itemsType(items: SchemaObject | boolean | undefined): string {
  if (items === undefined || typeof items === 'boolean') return 'any';
  return typeOf(items);
}

/** The Type column: `$ref` as an in-page link, `X | null`, `array of X`, `string (date-time)`, enums. */
function typeOf(schema: SchemaObject): string {
  if (schema.$ref) {
    const name = schemaName(schema.$ref);
    return name === undefined ? `\`${schema.$ref}\`` : schemaLink(name);
  }
  if (schema.anyOf) return unionType(schema.anyOf);
  if (schema.oneOf) return unionType(schema.oneOf);
  if (schema.allOf) return schema.allOf.map(typeOf).join(' & ');
  if (schema.enum) return enumType(schema, schema.enum);
  if (schema.const !== undefined) return enumType(schema, [schema.const]);
  if (Array.isArray(schema.type)) return unionType(schema.type.map((type) => ({ ...schema, type })));
  if (schema.type === 'array') return `array of ${itemsType(schema.items)}`;
  if (schema.type === 'string' && schema.format) return `string (${schema.format})`;
  return schema.type ?? 'any';
}

function exclusiveLimit(value: number | boolean | undefined): number | undefined {
  // OpenAPI 3.0 writes booleans beside minimum/maximum; 3.1 writes the limit itself.
  return typeof value === 'number' ? value : undefined;
}

function limitFacts(schema: SchemaObject): string[] {
  const facts: string[] = [];
  const exclusiveMin = schema.exclusiveMinimum === true || exclusiveLimit(schema.exclusiveMinimum) !== undefined;
  const exclusiveMax = schema.exclusiveMaximum === true || exclusiveLimit(schema.exclusiveMaximum) !== undefined;
  const min = exclusiveLimit(schema.exclusiveMinimum) ?? schema.minimum;
  const max = exclusiveLimit(schema.exclusiveMaximum) ?? schema.maximum;
  if (min !== undefined) facts.push(`${exclusiveMin ? 'Greater than' : 'Minimum:'} ${min}.`);
  if (max !== undefined) facts.push(`${exclusiveMax ? 'Less than' : 'Maximum:'} ${max}.`);
  if (schema.minLength !== undefined) facts.push(`Minimum length: ${schema.minLength}.`);
  if (schema.maxLength !== undefined) facts.push(`Maximum length: ${schema.maxLength}.`);
  if (schema.pattern !== undefined) facts.push(`Pattern: ${codeSpan(schema.pattern)}.`);
  if (schema.minItems !== undefined) facts.push(`Minimum items: ${schema.minItems}.`);
  if (schema.maxItems !== undefined) facts.push(`Maximum items: ${schema.maxItems}.`);
  return facts;
}

/**
 * The Description column: the description, then limits and default. A nullable union often
 * carries them on its non-null branch, so that branch is read too.
 */
function describeValue(schema: SchemaObject, description?: string, deprecated?: boolean): string {
  const inner = nonNullBranch(schema);
  const text = description ?? schema.description ?? inner?.description;
  const facts = [...new Set([...limitFacts(schema), ...(inner ? limitFacts(inner) : [])])];
  const fallbackDefault = schema.default !== undefined ? schema.default : inner?.default;
  if (fallbackDefault !== undefined) facts.push(`Default: ${literal(fallbackDefault)}.`);
  if (deprecated || schema.deprecated) facts.unshift('Deprecated.');
  return [text?.trim(), ...facts].filter(Boolean).join(' ');
}

// --- Markdown and references ---

function codeSpan(text: string): string {
  // A fence longer than any backtick run inside, so the span cannot close early.
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function tableRow(cells: string[]): string {
  return `|${cells.map((cell) => (cell ? ` ${escapeCell(cell)} ` : ' ')).join('|')}|`;
}

function table(headers: string[], rows: string[][]): string {
  return [tableRow(headers), `|${headers.map(() => '---').join('|')}|`, ...rows.map(tableRow)].join('\n');
}

/** Follows a local `$ref` (`#/components/...`) to the object it names. */
function deref<T extends Reference>(doc: OpenApiDocument, value: T): T {
  let current: T = value;
  for (let hops = 0; current.$ref; hops++) {
    if (hops > 20 || !current.$ref.startsWith('#/')) throw new Error(`Cannot resolve ${current.$ref}`);
    const segments = current.$ref.slice(2).split('/').map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'));
    const target = segments.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
    if (!target || typeof target !== 'object') throw new Error(`${current.$ref} is referenced but not defined in the document`);
    current = target as T;
  }
  return current;
}
