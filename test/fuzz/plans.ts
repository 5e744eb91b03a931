import fc from 'fast-check';
import {
  EDGE_QUERY_VALUES,
  type IdKind,
  IdRef,
  type JsonSchema,
  type Owner,
  RawJson,
  type SchemaContext,
  anyJsonArb,
  anyStringArb,
  edgeStringArb,
  idKindOf,
  idRefArb,
  mutatedArb,
  nestedArrayText,
  nestedObjectText,
  validArb,
} from './arbitraries.js';
import type { Operation } from './operations.js';

/**
 * Request plans: what to send to an operation, as plain data fast-check can shrink and print
 * (ids stay symbolic until wire.ts resolves them). Schema-driven plans (planArb) and plans bent
 * at the HTTP level (malformedPlanArb).
 */

export type AuthPlan =
  | { kind: 'platform' }
  | { kind: 'tenant'; owner: 'A' | 'B' | 'ghost'; scopes: string[] | 'all' }
  | { kind: 'none' }
  /** One of the world's malformed or forged Authorization headers. */
  | { kind: 'bad'; n: number };

export type BodyPlan =
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; text: string; label?: string }
  | { kind: 'bytes'; hex: string }
  | { kind: 'oversized' }
  | { kind: 'form'; token: TokenPlan };

export interface TokenPlan {
  grantType: string | null;
  clientAuth: 'basic' | 'post' | 'both' | 'none' | 'basic-malformed';
  owner: 'A' | 'B';
  id: 'right' | 'unknown' | 'long' | 'edge';
  secret: 'right' | 'wrong' | 'empty' | 'edge';
  edge: string;
  malformedBasic: string;
  scope: string | null;
  repeat: string | null;
  extra: Record<string, string> | null;
  encoding: 'form' | 'json' | 'text' | 'none' | 'multipart' | 'query';
}

export type PathMutation =
  | 'trailing-slash'
  | 'double-slash'
  | 'bad-percent'
  | 'overlong-utf8'
  | 'dot-segment'
  | 'upper-case'
  | 'long-url'
  | 'raw-slash-in-param'
  | 'encoded-slash-in-param'
  | 'nul-in-param'
  | 'fragment'
  | 'raw-unicode'
  | 'empty-param';

export interface QueryPart {
  key: string;
  /** null: the key alone, without `=`. */
  value: string | IdRef | null;
  /** Sent as it is instead of percent-encoded. */
  raw: boolean;
}

export interface RequestPlan {
  op: string;
  /** Another method than the operation's (method confusion). */
  method: string | null;
  auth: AuthPlan;
  path: Record<string, string | IdRef>;
  pathMutation: PathMutation | null;
  query: QueryPart[];
  /** Appended to the query string as it is. */
  rawQuery: string | null;
  body: BodyPlan | null;
  /** undefined: the natural one for the body; null: none. */
  contentType: string | null | undefined;
  requestId: string | null;
  wrongContentLength: boolean;
  remoteAddress: string;
}

export interface WorldView {
  /** Tenant scopes a client may hold (from the server's metadata). */
  readonly tenantScopes: readonly string[];
  /** How many malformed or forged Authorization headers the world holds. */
  readonly badAuthorizationCount: number;
}

/** oneof that may shrink a value into its first (simplest) alternative: absent, valid, natural. */
const CROSS = { withCrossShrink: true } as const;

const REQUEST_ID_ARB: fc.Arbitrary<string | null> = fc.oneof(CROSS,
  { weight: 10, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.stringMatching(/^[\x20-\x7e]{1,128}$/) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('', ' ', 'a'.repeat(128), 'a'.repeat(129), 'x'.repeat(5000), 'a\u0000b', 'a\nb', 'tab\t', '\u00e9t\u00e9', '\u{1F600}', '\ud800', '\u007f', '<script>', 'req id with spaces', '../../etc/passwd'),
  },
);

const JSON_CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8'];
const WRONG_CONTENT_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/xml',
  'text/xml',
  'multipart/form-data; boundary=xyz',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/vnd.api+json',
  'application/merge-patch+json',
  'application/jsonx',
  'application/json, text/plain',
  'json',
  '*/*',
  '',
  ';',
  'application/json; boundary=',
];

const REMOTE_ADDRESSES = ['127.0.0.1', '10.0.0.1', '10.0.0.2', '192.168.1.20', '203.0.113.7', '::1', '2001:db8::1', '198.51.100.99'];

function authArb(op: Operation, world: WorldView): fc.Arbitrary<AuthPlan> {
  const platformWeight = op.scope === 'platform:admin' ? 10 : 5;
  const scopesArb: fc.Arbitrary<string[]> = fc.subarray([...world.tenantScopes], { minLength: 0 });
  return fc.oneof(CROSS,
    { weight: 9, arbitrary: fc.constant<AuthPlan>({ kind: 'tenant', owner: 'A', scopes: 'all' }) },
    { weight: platformWeight, arbitrary: fc.constant<AuthPlan>({ kind: 'platform' }) },
    { weight: 3, arbitrary: scopesArb.map<AuthPlan>((scopes) => ({ kind: 'tenant', owner: 'A', scopes })) },
    { weight: 2, arbitrary: fc.constant<AuthPlan>({ kind: 'tenant', owner: 'B', scopes: 'all' }) },
    { weight: 1, arbitrary: fc.constant<AuthPlan>({ kind: 'tenant', owner: 'ghost', scopes: 'all' }) },
    { weight: 2, arbitrary: fc.constant<AuthPlan>({ kind: 'none' }) },
    { weight: 2, arbitrary: fc.nat(world.badAuthorizationCount - 1).map<AuthPlan>((n) => ({ kind: 'bad', n })) },
  );
}

function pathValueArb(name: string, schema: JsonSchema, context: SchemaContext): fc.Arbitrary<string | IdRef> {
  const kind = idKindOf(name);
  const strings = fc.oneof(
    { weight: 2, arbitrary: validArb(schema, context) as fc.Arbitrary<string> },
    { weight: 2, arbitrary: edgeStringArb },
    { weight: 1, arbitrary: anyStringArb },
  );
  return kind ? fc.oneof({ weight: 7, arbitrary: idRefArb(kind) }, { weight: 1, arbitrary: strings }) : strings;
}

function queryValueText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof RawJson) return value.text;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function queryArb(op: Operation, context: SchemaContext): fc.Arbitrary<QueryPart[]> {
  if (op.queryParams.length === 0) {
    return fc.oneof(CROSS, { weight: 6, arbitrary: fc.constant<QueryPart[]>([]) }, { weight: 1, arbitrary: fc.array(extraQueryPartArb, { maxLength: 2 }) });
  }
  const parts = op.queryParams.map((param) => {
    const kind = idKindOf(param.name);
    const value: fc.Arbitrary<string | IdRef | null> = fc.oneof(
      { weight: 5, arbitrary: (validArb(param.schema, context, param.name) as fc.Arbitrary<unknown>).map((v) => (v instanceof IdRef ? v : queryValueText(v))) },
      { weight: 3, arbitrary: fc.constantFrom(...EDGE_QUERY_VALUES) },
      { weight: 1, arbitrary: (mutatedArb(param.schema, context, param.name) as fc.Arbitrary<unknown>).map((v) => (v instanceof IdRef ? v : queryValueText(v) ?? '')) },
      ...(kind ? [{ weight: 3, arbitrary: idRefArb(kind) }] : []),
    );
    // Now and then the value goes unencoded: '&', '#', '%' and spaces as they are.
    const part: fc.Arbitrary<QueryPart> = fc.record({ key: fc.constant(param.name), value, raw: fc.nat(11).map((n) => n === 11) });
    // Each parameter: absent, once, or (rarely) repeated.
    return fc.oneof(CROSS,
      { weight: param.required ? 0 : 4, arbitrary: fc.constant<QueryPart[]>([]) },
      { weight: 5, arbitrary: part.map((p) => [p]) },
      { weight: 1, arbitrary: fc.array(part, { minLength: 2, maxLength: 3 }) },
    );
  });
  return fc
    .tuple(fc.tuple(...parts), fc.oneof(CROSS, { weight: 8, arbitrary: fc.constant<QueryPart[]>([]) }, { weight: 1, arbitrary: fc.array(extraQueryPartArb, { maxLength: 2 }) }))
    .map(([known, extra]) => [...known.flat(), ...extra]);
}

const extraQueryPartArb: fc.Arbitrary<QueryPart> = fc.record({
  key: fc.oneof(fc.constantFrom('x', '__proto__', 'constructor', 'page[]', 'per_page[0]', 'toString', '', 'access_token', 'a'.repeat(300)), fc.string({ maxLength: 6 })),
  value: fc.oneof(fc.constant(null), fc.constantFrom(...EDGE_QUERY_VALUES)),
  raw: fc.constant(false),
});

function jsonBodyArb(schema: JsonSchema, context: SchemaContext): fc.Arbitrary<BodyPlan | null> {
  return fc.oneof(CROSS,
    { weight: 5, arbitrary: validArb(schema, context).map<BodyPlan>((value) => ({ kind: 'json', value })) },
    { weight: 6, arbitrary: mutatedArb(schema, context).map<BodyPlan>((value) => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: fc.constant(null) },
  );
}

function contentTypeArb(hasBody: boolean): fc.Arbitrary<string | null | undefined> {
  return fc.oneof(CROSS,
    { weight: hasBody ? 20 : 30, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(...JSON_CONTENT_TYPES) },
    { weight: hasBody ? 2 : 1, arbitrary: fc.constantFrom(...WRONG_CONTENT_TYPES) },
  );
}

const tokenPlanArb = (world: WorldView): fc.Arbitrary<TokenPlan> =>
  fc.record({
    grantType: fc.oneof(CROSS,
      { weight: 8, arbitrary: fc.constant('client_credentials') },
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 2, arbitrary: fc.constantFrom('password', 'authorization_code', 'refresh_token', 'client_credentials ', 'CLIENT_CREDENTIALS', '', 'client_credentials\u0000') },
      { weight: 1, arbitrary: anyStringArb },
    ),
    clientAuth: fc.oneof(
      { weight: 4, arbitrary: fc.constant('basic' as const) },
      { weight: 4, arbitrary: fc.constant('post' as const) },
      { weight: 1, arbitrary: fc.constantFrom('both' as const, 'none' as const, 'basic-malformed' as const) },
    ),
    owner: fc.constantFrom('A' as const, 'B' as const),
    id: fc.oneof({ weight: 5, arbitrary: fc.constant('right' as const) }, { weight: 2, arbitrary: fc.constantFrom('unknown' as const, 'long' as const, 'edge' as const) }),
    secret: fc.oneof({ weight: 4, arbitrary: fc.constant('right' as const) }, { weight: 3, arbitrary: fc.constantFrom('wrong' as const, 'empty' as const, 'edge' as const) }),
    edge: anyStringArb,
    malformedBasic: fc.constantFrom('Basic', 'Basic ', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from('%ZZ:x').toString('base64')}`, `Basic ${Buffer.from('a:%E0%A4%A').toString('base64')}`, `Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString('base64')}`, 'Bearer x', `Basic ${'A'.repeat(20_000)}`),
    scope: fc.oneof(CROSS,
      { weight: 4, arbitrary: fc.constant(null) },
      { weight: 3, arbitrary: fc.subarray([...world.tenantScopes], { minLength: 1 }).map((s) => s.join(' ')) },
      { weight: 2, arbitrary: fc.constantFrom('platform:admin', '', ' ', 'ous:read  ous:write', 'ous:read\tous:write', 'OUS:READ', 'ous:read ous:read', 'nope') },
      { weight: 1, arbitrary: anyStringArb },
    ),
    repeat: fc.oneof(CROSS, { weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('grant_type', 'client_id', 'client_secret', 'scope') }),
    extra: fc.oneof(CROSS, { weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('x', '__proto__', 'constructor', 'client_assertion', 'audience'), fc.constantFrom('1', '', '\u0000'), { maxKeys: 2 }) }),
    encoding: fc.oneof(CROSS,
      { weight: 12, arbitrary: fc.constant('form' as const) },
      { weight: 1, arbitrary: fc.constantFrom('json' as const, 'text' as const, 'none' as const, 'multipart' as const, 'query' as const) },
    ),
  });

/**
 * A schema-driven request to `op`. Half are free: every part drawn on its own, so most fail
 * somewhere (wrong tenant, bad token, bent field). The other half are coherent: a token that may
 * act, ids of its tenant that exist, mostly valid bodies, so that writes succeed often enough to
 * reach moves, conflicts, cycles, deletes with children and the 2xx schemas.
 */
export function planArb(op: Operation, context: SchemaContext, world: WorldView): fc.Arbitrary<RequestPlan> {
  return fc.oneof(planFrom(op, context, world, false), planFrom(op, context, world, true));
}

function coherentIdArb(kind: IdKind, op: Operation, name: string): fc.Arbitrary<IdRef> {
  // Deleting tenant A would only make the world seed it again: aim deletes at tenants the fuzzer made.
  const deletesTenant = op.method === 'DELETE' && kind === 'tenant' && op.pathParams.at(-1)?.name === name;
  const owner: fc.Arbitrary<Owner> = deletesTenant ? fc.oneof({ weight: 6, arbitrary: fc.constant<Owner>('X') }, { weight: 1, arbitrary: fc.constant<Owner>('A') }) : fc.constant<Owner>('A');
  return fc.tuple(owner, fc.nat(63)).map(([o, n]) => new IdRef(kind, o, n, 'exact'));
}

function planFrom(op: Operation, context: SchemaContext, world: WorldView, coherent: boolean): fc.Arbitrary<RequestPlan> {
  const pathModel: Record<string, fc.Arbitrary<string | IdRef>> = {};
  for (const param of op.pathParams) {
    const kind = idKindOf(param.name);
    pathModel[param.name] = coherent && kind ? coherentIdArb(kind, op, param.name) : pathValueArb(param.name, param.schema, context);
  }
  let body: fc.Arbitrary<BodyPlan | null>;
  if (op.body?.kind === 'json') {
    const schema = op.body.schema;
    body = coherent
      ? fc.oneof(
          { weight: 3, arbitrary: validArb(schema, context).map<BodyPlan>((value) => ({ kind: 'json', value })) },
          { weight: 1, arbitrary: mutatedArb(schema, context).map<BodyPlan>((value) => ({ kind: 'json', value })) },
        )
      : jsonBodyArb(schema, context);
  } else if (op.body?.kind === 'form') {
    body = tokenPlanArb(world).map<BodyPlan>((token) => ({ kind: 'form', token }));
  } else {
    body = coherent ? fc.constant(null) : fc.oneof(CROSS, { weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: anyJsonArb.map<BodyPlan>((value) => ({ kind: 'json', value })) });
  }
  const coherentAuth = fc.oneof(
    { weight: op.scope === 'platform:admin' ? 1 : 3, arbitrary: fc.constant<AuthPlan>({ kind: 'tenant', owner: 'A', scopes: 'all' }) },
    { weight: op.scope === 'platform:admin' ? 4 : 1, arbitrary: fc.constant<AuthPlan>({ kind: 'platform' }) },
  );
  return fc.record({
    op: fc.constant(op.key),
    method: fc.constant(null),
    auth: op.body?.kind === 'form' ? fc.constant<AuthPlan>({ kind: 'none' }) : coherent ? coherentAuth : authArb(op, world),
    path: fc.record(pathModel),
    pathMutation: fc.constant(null),
    query: queryArb(op, context),
    rawQuery: fc.constant(null),
    body,
    contentType: coherent ? fc.constant(undefined) : contentTypeArb(op.body !== null),
    requestId: coherent ? fc.oneof(CROSS, { weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{1,128}$/) }) : REQUEST_ID_ARB,
    wrongContentLength: fc.constant(false),
    remoteAddress: fc.constantFrom(...REMOTE_ADDRESSES),
  });
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: broken JSON, wrong content types, odd URLs and query strings, other methods

const ODD_QUERIES = [
  'per_page=1e2', 'per_page=1e309', 'per_page=-1', 'per_page=0', 'page=0', 'page=-1', 'search=%ZZ', 'per_page=1&per_page=2', 'page=1&page=1',
  'per_page', 'per_page=', '=1', '&&&', 'per_page[]=1', 'per_page[0]=1', 'per_page[a]=1', '__proto__[x]=1', '__proto__=1', 'constructor=1',
  'search=%00', 'search=%ED%A0%80', 'search=%C0%AF', `search=${'a'.repeat(300)}`, 'strategy=CASCADE&strategy=BLOCK', 'strategy=cascade',
  'include_nested=yes', 'include_nested=1', 'include_nested=', 'include_nested=true&include_nested=false', 'status=ACTIVE', 'parent_id=null',
  'parent_id=', 'ou_id=', 'search=%', 'search=_', 'search=%5C', 'per_page=%31', 'per_page=+1', 'per_page=%2B1', 'page=2147483648',
  'page=2147483647&per_page=100', 'per_page=1.0', 'per_page=0x10', 'per_page=%20', 'search=%E2%80%AE', 'search=%F0%9F%98%80', `${'a=1&'.repeat(500)}b=2`,
  `x=${'y'.repeat(9000)}`, 'search=a+b', 'search=%2B', 'per_page=1;page=2', 'page=1#fragment', '?', '??per_page=1', 'per_page=1%00',
];

const MALFORMED_JSON = [
  '{', '}', '{"name":', '{"name": "x"', '{"name": "x",}', "{'name': 'x'}", '{name: "x"}', '{"name": NaN}', '{"name": Infinity}', '{"name": undefined}',
  '{"name": "x"} trailing', '{"name": "x"}{"name": "y"}', '\ufeff{"name": "x"}', ' ', '\n\t', 'null', 'true', '0', '-1', '1e309', '"string"', '[]',
  '[{"name":"x"}]', '{"name": "\\u0000"}', '{"name": "\\ud800"}', '{"name": "\\udc00\\ud800"}', '{"name": "\\x41"}', '{"name": "\\u12"}',
  '{"name": "a\u0000b"}', '{"name": "line\nbreak"}', '{"__proto__": {"polluted": true}, "name": "x"}', '{"constructor": {"prototype": {"polluted": true}}, "name": "x"}',
  '{"name": "x", "name": "y"}', '{"name": "x", "custom_attributes": {"__proto__": {"a": 1}}}', '{"email": "a@b.co", "custom_attributes": {"constructor": {"prototype": 1}}}',
  '{"name": 1e309}', '{"name": "ok", "custom_attributes": {"n": 1e309}}', '{"name": "ok", "custom_attributes": {"n": -0, "big": 123456789012345678901234567890}}',
  '{"name": "ok", "description": "\\u202eevil"}', '{"name": "\\ud83d\\ude00"}', '{"name": "\\uD800\\uDC00"}', '{"email": "\\u0000@x.io"}', '{"email": "a@\\ud800.io"}',
  '\u0000', '{"a":1}\u0000', '/* comment */ {"name": "x"}', '{"name": "x"} // comment',
];

/** Deep and big documents, made once: building them per run would dominate the time. */
const HEAVY_JSON: { label: string; text: string }[] = [
  { label: 'arrays nested 100000 deep', text: nestedArrayText(100_000) },
  { label: 'objects nested 60000 deep', text: nestedObjectText(60_000) },
  { label: 'name plus custom_attributes nested 50000 deep', text: `{"name": "deep", "email": "deep@x.io", "custom_attributes": ${nestedObjectText(50_000)}}` },
  { label: 'custom_attributes of 500 keys', text: `{"name": "wide", "email": "wide@x.io", "custom_attributes": {${Array.from({ length: 500 }, (_, i) => `"k${i}": [${i}]`).join(',')}}}` },
  { label: 'array of 100000 numbers', text: `[${Array.from({ length: 100_000 }, (_, i) => i).join(',')}]` },
  { label: 'custom_attributes of 300 KB', text: `{"name": "big", "email": "big@x.io", "custom_attributes": {"blob": "${'z'.repeat(300_000)}"}}` },
];

const INVALID_UTF8 = ['7b226e616d65223a2022ff227d', '7b226e616d65223a2022c0af227d', '7b226e616d65223a2022eda080227d', 'fffe7b007d00', 'efbbbf7b226e616d65223a202278227d', '00', ''];

const OTHER_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'];
const PATH_MUTATIONS: PathMutation[] = [
  'trailing-slash', 'double-slash', 'bad-percent', 'overlong-utf8', 'dot-segment', 'upper-case', 'long-url', 'raw-slash-in-param', 'encoded-slash-in-param',
  'nul-in-param', 'fragment', 'raw-unicode', 'empty-param',
];

/** A request to `op` bent at the HTTP level: what schema-driven generation never produces. */
export function malformedPlanArb(op: Operation, context: SchemaContext, world: WorldView): fc.Arbitrary<RequestPlan> {
  const rawBody: fc.Arbitrary<BodyPlan | null> = fc.oneof(CROSS,
    { weight: 8, arbitrary: fc.constantFrom(...MALFORMED_JSON).map<BodyPlan>((text) => ({ kind: 'raw', text })) },
    { weight: 2, arbitrary: fc.constantFrom(...HEAVY_JSON).map<BodyPlan>(({ label, text }) => ({ kind: 'raw', text, label })) },
    { weight: 2, arbitrary: fc.constantFrom(...INVALID_UTF8).map<BodyPlan>((hex) => ({ kind: 'bytes', hex })) },
    { weight: 3, arbitrary: anyJsonArb.map<BodyPlan>((value) => ({ kind: 'json', value })) },
    { weight: 2, arbitrary: fc.constantFrom('<xml/>', 'name=x&email=y', '--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--xyz--', 'plain words').map<BodyPlan>((text) => ({ kind: 'raw', text })) },
    { weight: 2, arbitrary: fc.constant(null) },
    // Past the 1 MiB limit: a few per run (each costs a few milliseconds).
    { weight: 1, arbitrary: fc.nat(3).map((n) => (n === 3 ? ({ kind: 'oversized' } as BodyPlan) : null)) },
  );
  return fc.record({
    op: fc.constant(op.key),
    method: fc.oneof(CROSS, { weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) }),
    auth: authArb(op, world),
    path: fc.record(Object.fromEntries(op.pathParams.map((p) => [p.name, pathValueArb(p.name, p.schema, context)]))),
    pathMutation: fc.oneof(CROSS, { weight: 5, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.constantFrom(...PATH_MUTATIONS) }),
    query: queryArb(op, context),
    rawQuery: fc.oneof(CROSS, { weight: 2, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.constantFrom(...ODD_QUERIES) }),
    body: rawBody,
    contentType: fc.oneof(CROSS,
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 2, arbitrary: fc.constantFrom(...JSON_CONTENT_TYPES) },
      { weight: 3, arbitrary: fc.constantFrom(...WRONG_CONTENT_TYPES) },
    ),
    requestId: REQUEST_ID_ARB,
    wrongContentLength: fc.nat(19).map((n) => n === 19),
    remoteAddress: fc.constantFrom(...REMOTE_ADDRESSES),
  });
}

