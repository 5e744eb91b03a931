import type { JWTPayload } from 'jose';
import Fastify, { type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredRoute } from '../../src/app.js';
import { registerAuth } from '../../src/http/auth.js';
import { PLATFORM_SCOPE, TENANT_SCOPES, UMBRELLA_SCOPES } from '../../src/services/token-service.js';
import { expectError } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, createTestContext, grantRole } from '../helpers/test-app.js';
import { accessClaims, forge, signWithArborKey } from '../helpers/tokens.js';

/**
 * Tenant-isolation matrix: every route the app registers with a scope × every kind of caller.
 *
 * The routes come from the app itself (`routes` of buildApp), so a route added later is in the
 * matrix without anyone remembering to add it; if it needs an id or a body this file does not
 * know, the matrix fails loudly (see fill() and bodyFor()) instead of skipping it.
 *
 * Per route: one app, tenant A (the target) and tenant B (the other tenant), each with an OU, a
 * user and an API client. The refused cases run first and must change no row and leak none of
 * A's ids; then the admitted cases, each on fresh resources so a DELETE cannot starve the next.
 */

async function closeContext(ctx: TestContext): Promise<void> {
  await ctx.close();
}

const probe = await createTestContext();
const ALL_ROUTES: readonly RegisteredRoute[] = probe.routes.map((route) => ({ ...route }));
await closeContext(probe);

/** Routes that need a token; HEAD twins of GET routes are skipped (the inventory checks they match). */
const PROTECTED = ALL_ROUTES.filter((route) => route.scope !== undefined && route.method !== 'HEAD');
const HAS_CLIENT_ROUTES = ALL_ROUTES.some((route) => /\/clients(\/|$)/.test(route.url));

/** Every tenant scope, explicitly (read from the source, so a new scope is included). */
const EXPLICIT_SCOPES: readonly string[] = [...TENANT_SCOPES];
const UMBRELLAS: readonly string[] = [...UMBRELLA_SCOPES];
const EVERY_SCOPE: readonly string[] = [...EXPLICIT_SCOPES, ...UMBRELLAS];

const kindOf = (scope: string) => scope.split(':')[0];
const actionOf = (scope: string) => scope.split(':')[1];
const hasTenantParam = (route: RegisteredRoute) => /:tenant_id(\/|$)/.test(route.url);
const isWrite = (route: RegisteredRoute) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method);
const label = (route: RegisteredRoute) => `${route.method} ${route.url}`;

// ---------------------------------------------------------------------------------------------
// Fixtures

interface Fixture {
  tenantId: string;
  /** Path parameter values, by name. */
  params: Record<string, string>;
  ouId: string;
  /** Everything that identifies this tenant's data: must never appear in another caller's response. */
  secrets: string[];
}

let sequence = 0;
const next = () => ++sequence;

async function createFixture(ctx: TestContext, name: string): Promise<Fixture> {
  const n = next();
  const tenant = await createTenant(ctx, { name: `Isolation ${name} ${n}` });
  // Rights come from role assignments: the matrix's own principals administer their tenant.
  await grantRole(ctx.store, tenant.id, `matrix-${tenant.id}`, 'tenant_admin', null);
  await grantRole(ctx.store, tenant.id, `forged-${tenant.id}`, 'tenant_admin', null);
  const ou = await createOu(ctx, tenant.id, { name: `Isolation OU ${name} ${n}` });
  const user = await createUser(ctx, tenant.id, { email: `isolation-${name.toLowerCase()}-${n}@example.com` });
  const params: Record<string, string> = { tenant_id: tenant.id, ou_id: ou.id, user_id: user.id };
  const secrets = [tenant.id, tenant.slug, ou.id, user.id, user.email];
  if (HAS_CLIENT_ROUTES) {
    const response = await ctx.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant.id}/clients`,
      headers: ctx.platformHeaders,
      payload: { name: `Isolation client ${name} ${n}`, scopes: ['ous:read'] },
    });
    if (response.statusCode !== 201) throw new Error(`fixture client -> ${response.statusCode} ${response.body}`);
    const client = response.json().data as { id: string; client_secret: string };
    params.client_id = client.id;
    secrets.push(client.id, client.client_secret);
    // The client's tenant-wide tenant_admin assignment, made with it.
    const assignments = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/role-assignments?principal_id=${client.id}`, headers: ctx.platformHeaders });
    if (assignments.statusCode !== 200) throw new Error(`fixture assignment -> ${assignments.statusCode} ${assignments.body}`);
    params.assignment_id = (assignments.json().data as { id: string }[])[0].id;
    secrets.push(params.assignment_id);
  }
  // A webhook and one delivery of it (a ping): no dispatcher runs here, so the ping stays queued.
  const webhook = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant.id}/webhooks`,
    headers: ctx.platformHeaders,
    payload: { url: `http://receiver.test/hook-${n}`, event_types: ['ou.*'], description: `Isolation webhook ${name} ${n}` },
  });
  if (webhook.statusCode !== 201) throw new Error(`fixture webhook -> ${webhook.statusCode} ${webhook.body}`);
  params.webhook_id = webhook.json().data.id as string;
  const ping = await ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenant.id}/webhooks/${params.webhook_id}/ping`, headers: ctx.platformHeaders });
  if (ping.statusCode !== 202) throw new Error(`fixture delivery -> ${ping.statusCode} ${ping.body}`);
  params.delivery_id = ping.json().data.id as string;
  secrets.push(params.webhook_id, params.delivery_id, webhook.json().data.secret as string, `hook-${n}`, `Isolation webhook ${name} ${n}`);
  // An import job (a dry run: it changes nothing, but its report names the file's paths).
  const imported = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant.id}/imports?dry_run=true`,
    headers: ctx.platformHeaders,
    payload: { ous: [{ path: `/Isolation import ${name} ${n}` }] },
  });
  if (imported.statusCode !== 202) throw new Error(`fixture import -> ${imported.statusCode} ${imported.body}`);
  params.import_id = imported.json().data.id as string;
  secrets.push(params.import_id, `Isolation import ${name} ${n}`);
  // The job applies after its answer: waited for, so that it writes nothing during the cases.
  for (let i = 0; ; i++) {
    const job = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/imports/${params.import_id}`, headers: ctx.platformHeaders });
    if (job.json().data.state !== 'running') break;
    if (i > 500) throw new Error(`fixture import still running: ${job.body}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { tenantId: tenant.id, params, ouId: ou.id, secrets };
}

/** The route's URL with every `:param` replaced; an unknown parameter fails the matrix on purpose. */
function fill(route: RegisteredRoute, params: Record<string, string>): string {
  return route.url.replace(/:([A-Za-z_]+)/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`isolation matrix: no fixture id for :${name} in ${label(route)}; teach createFixture() about it`);
    return value;
  });
}

/**
 * A body that would succeed if the request were allowed; `foreignOuId` also points the body at
 * an OU (for the cross-tenant reference case). An unknown write route fails the matrix on purpose.
 */
function bodyFor(route: RegisteredRoute, foreignOuId?: string): object | undefined {
  if (!['POST', 'PUT', 'PATCH'].includes(route.method)) return undefined;
  const n = next();
  const url = route.url;
  if (/\/users(\/:user_id)?$/.test(url)) return { email: `z${n}@x.io`, ...(foreignOuId ? { ou_id: foreignOuId } : {}) };
  if (/\/ous(\/:ou_id)?$/.test(url)) return { name: `X ${n}`, ...(foreignOuId ? { parent_id: foreignOuId } : {}) };
  if (/\/clients$/.test(url)) return { name: `X ${n}`, scopes: ['ous:read'] };
  if (/\/role-assignments$/.test(url)) return { principal: { type: 'external', id: `matrix-external-${n}` }, role: 'viewer', ou_id: foreignOuId ?? null };
  if (/\/webhooks$/.test(url)) return { url: `http://receiver.test/x-${n}`, event_types: ['*'] };
  if (/\/webhooks\/:webhook_id$/.test(url)) return { description: `X ${n}` };
  // Actions on a webhook take no body.
  if (/\/webhooks\/:webhook_id\/(rotate-secret|ping|deliveries\/:delivery_id\/retry)$/.test(url)) return undefined;
  // An import's body is a file; this one is the JSON shape, one new OU.
  if (/\/imports$/.test(url)) return { ous: [{ path: `/X ${n}` }] };
  if (/\/tenants(\/:tenant_id)?$/.test(url)) return { name: `X ${n}` };
  throw new Error(`isolation matrix: no plausible body for ${label(route)}; teach bodyFor() about it`);
}

/** Where a request can name an OU outside its path: body fields and list filters. */
function referencesAnOu(route: RegisteredRoute): 'body' | 'query' | null {
  if (['POST', 'PATCH', 'PUT'].includes(route.method) && /\/(users|ous)(\/:(user|ou)_id)?$/.test(route.url)) return 'body';
  if (route.method === 'POST' && /\/role-assignments$/.test(route.url)) return 'body';
  if (route.method === 'GET' && /\/tenants\/:tenant_id\/(users|ous|role-assignments)$/.test(route.url)) return 'query';
  return null;
}

function queryNaming(route: RegisteredRoute, ouId: string): Record<string, string> {
  return route.url.endsWith('/ous') ? { parent_id: ouId } : { ou_id: ouId };
}

// events and idempotency_keys too: a refused request records no event and claims no key.
const TABLES = ['tenants', 'org_units', 'users', 'api_clients', 'events', 'idempotency_keys', 'role_assignments', 'webhooks', 'webhook_deliveries', 'import_jobs'] as const;

/** Every row of the data tables, order-independent. */
async function snapshot(ctx: TestContext): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of TABLES) {
    const rows = await ctx.store.db.selectFrom(table as 'tenants').selectAll().execute();
    result[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Requests and expectations

interface Call {
  url: string;
  authorization?: string;
  payload?: object;
  query?: Record<string, string>;
}

function send(ctx: TestContext, route: RegisteredRoute, call: Call): Promise<LightMyRequestResponse> {
  return ctx.app.inject({
    method: route.method as 'GET',
    url: call.url,
    ...(call.query ? { query: call.query } : {}),
    headers: call.authorization === undefined ? {} : { authorization: call.authorization },
    ...(call.payload !== undefined ? { payload: call.payload } : {}),
  });
}

/** None of `secrets` in the body or headers, except those the caller sent itself. */
function expectNoLeak(response: LightMyRequestResponse, secrets: readonly string[], call?: Call): void {
  const sent = call ? `${call.url} ${JSON.stringify(call.payload ?? {})} ${JSON.stringify(call.query ?? {})}` : '';
  const visible = `${response.body}\n${JSON.stringify(response.headers)}`;
  const leaked = secrets.filter((secret) => !sent.includes(secret) && visible.includes(secret));
  expect(leaked, `response leaks ${leaked.join(', ')}: ${response.body}`).toEqual([]);
}

/** Not refused by authentication or authorization: 2xx, or a 404/409/422 from the handler. */
function expectAdmitted(response: LightMyRequestResponse): void {
  const admitted = (response.statusCode >= 200 && response.statusCode < 300) || [404, 409, 422].includes(response.statusCode);
  expect(admitted, `expected 2xx/404/409/422, got ${response.statusCode}: ${response.body}`).toBe(true);
  if (response.statusCode >= 400) expect(response.json().code ?? '', response.body).not.toMatch(/^auth\./);
}

function expectUnauthorized(response: LightMyRequestResponse, code: 'auth.missing_token' | 'auth.invalid_token'): void {
  expectError(response, 401, code);
  const challenge = String(response.headers['www-authenticate']);
  expect(challenge).toMatch(/^Bearer realm="arbor"/);
  if (code === 'auth.invalid_token') expect(challenge).toContain('error="invalid_token"');
}

function expectInsufficientScope(response: LightMyRequestResponse, scope: string): void {
  expectError(response, 403, 'auth.insufficient_scope');
  const challenge = String(response.headers['www-authenticate']);
  expect(challenge).toContain('error="insufficient_scope"');
  expect(challenge).toContain(`scope="${scope}"`);
}

// ---------------------------------------------------------------------------------------------
// The cases

interface RouteState {
  ctx: TestContext;
  /** Tenant A: the target of every refused request. */
  a: Fixture;
  /** Tenant B: the other tenant. */
  b: Fixture;
}

type Forger = (ctx: TestContext, claims: JWTPayload) => Promise<string>;

/** Broken tokens: each must be 401 whatever it claims. */
const UNAUTHENTICATED: { title: string; code: 'auth.missing_token' | 'auth.invalid_token'; token: Forger | null; raw?: string }[] = [
  { title: 'a request without a token', code: 'auth.missing_token', token: null },
  { title: "a garbage token ('Bearer abc.def.ghi')", code: 'auth.invalid_token', token: null, raw: 'Bearer abc.def.ghi' },
  { title: 'an expired token (exp 120 s ago, beyond the 30 s tolerance)', code: 'auth.invalid_token', token: forge.expired },
  { title: 'a not-yet-valid token (nbf 10 minutes ahead)', code: 'auth.invalid_token', token: forge.notYetValid },
  { title: 'a token with an altered signature', code: 'auth.invalid_token', token: forge.alteredSignature },
  { title: 'a token with its signature stripped', code: 'auth.invalid_token', token: forge.strippedSignature },
  { title: "a token signed by another ES256 key under Arbor's kid", code: 'auth.invalid_token', token: forge.foreignKeySameKid },
  { title: "an unsigned token (alg 'none')", code: 'auth.invalid_token', token: forge.algNone },
  {
    title: "an HS256 token keyed with Arbor's public JWK JSON",
    code: 'auth.invalid_token',
    token: (ctx, claims) => forge.hs256WithPublicKey(ctx, claims, 'jwk-json'),
  },
  {
    title: "an HS256 token keyed with Arbor's public key PEM",
    code: 'auth.invalid_token',
    token: (ctx, claims) => forge.hs256WithPublicKey(ctx, claims, 'spki-pem'),
  },
  {
    title: "an HS256 token keyed with Arbor's public point x||y",
    code: 'auth.invalid_token',
    token: (ctx, claims) => forge.hs256WithPublicKey(ctx, claims, 'raw-xy'),
  },
  { title: "a token of another issuer signed with Arbor's key", code: 'auth.invalid_token', token: forge.wrongIssuer },
  { title: "a token for another audience signed with Arbor's key", code: 'auth.invalid_token', token: forge.wrongAudience },
];

/**
 * The claims every forged token carries: the most a caller of this route could want (the
 * platform for a platform route, tenant A with every scope otherwise), so the only reason left
 * to refuse it is the forgery. The control case proves these claims are admitted when honest.
 */
function forgedClaims(route: RegisteredRoute, state: RouteState): JWTPayload {
  return route.scope === PLATFORM_SCOPE
    ? accessClaims(state.ctx, { scopes: [PLATFORM_SCOPE] })
    : accessClaims(state.ctx, { tenantId: state.a.tenantId, scopes: EVERY_SCOPE });
}

async function tenantToken(ctx: TestContext, tenantId: string, scopes: readonly string[]): Promise<string> {
  return `Bearer ${await ctx.tokens.sign({ subject: `matrix-${tenantId}`, tenantId, scopes: [...scopes] })}`;
}

interface Case {
  title: string;
  run(state: RouteState): Promise<void>;
}

/** Requests that must be refused (or, for tenant-less list routes, confined): none may change a row. */
function refusedCases(route: RegisteredRoute): Case[] {
  const scope = route.scope as string;
  const cases: Case[] = [];

  for (const broken of UNAUTHENTICATED) {
    cases.push({
      title: `refuses ${broken.title} with 401`,
      async run(state) {
        const authorization = broken.raw ?? (broken.token ? `Bearer ${await broken.token(state.ctx, forgedClaims(route, state))}` : undefined);
        const call = { url: fill(route, state.a.params), authorization, payload: bodyFor(route) };
        const response = await send(state.ctx, route, call);
        expectUnauthorized(response, broken.code);
        expectNoLeak(response, state.a.secrets);
      },
    });
  }

  // Tenant B's token, with every scope there is, on tenant A.
  if (hasTenantParam(route)) {
    cases.push({
      title: 'refuses a token of another tenant (every scope) with 403 auth.wrong_tenant',
      async run(state) {
        const call = { url: fill(route, state.a.params), authorization: await tenantToken(state.ctx, state.b.tenantId, EVERY_SCOPE), payload: bodyFor(route) };
        const response = await send(state.ctx, route, call);
        expectError(response, 403, 'auth.wrong_tenant');
        expectNoLeak(response, state.a.secrets);
      },
    });
  } else if (scope === PLATFORM_SCOPE) {
    cases.push({
      title: 'refuses a tenant token (every scope) with 403 auth.insufficient_scope: platform only',
      async run(state) {
        const call = { url: fill(route, state.a.params), authorization: await tenantToken(state.ctx, state.b.tenantId, EVERY_SCOPE), payload: bodyFor(route) };
        const response = await send(state.ctx, route, call);
        expectInsufficientScope(response, scope);
        expectNoLeak(response, state.a.secrets);
      },
    });
  } else {
    cases.push({
      title: "shows a token of another tenant (every scope) only its own tenant, nothing of tenant A",
      async run(state) {
        const call = { url: fill(route, state.a.params), authorization: await tenantToken(state.ctx, state.b.tenantId, EVERY_SCOPE), payload: bodyFor(route) };
        const response = await send(state.ctx, route, call);
        expect(response.statusCode, response.body).toBeLessThan(500);
        expectNoLeak(response, state.a.secrets);
        if (route.method === 'GET' && route.url === '/api/v1/tenants') {
          expect(response.statusCode, response.body).toBe(200);
          const body = response.json();
          expect(body.data.map((tenant: { id: string }) => tenant.id)).toEqual([state.b.tenantId]);
          expect(body.pagination.total_items).toBe(1);
        }
      },
    });
  }

  // Tenant A's own token without the route's scope.
  const otherKinds =
    scope === PLATFORM_SCOPE ? [...EVERY_SCOPE] : EXPLICIT_SCOPES.filter((candidate) => kindOf(candidate) !== kindOf(scope));
  cases.push({
    title: `refuses a token of the right tenant with only other scopes (${otherKinds.join(' ')}) with 403 auth.insufficient_scope`,
    async run(state) {
      const call = { url: fill(route, state.a.params), authorization: await tenantToken(state.ctx, state.a.tenantId, otherKinds), payload: bodyFor(route) };
      const response = await send(state.ctx, route, call);
      expectInsufficientScope(response, scope);
      expectNoLeak(response, state.a.secrets);
    },
  });
  if (scope !== PLATFORM_SCOPE) {
    const sibling = `${kindOf(scope)}:${actionOf(scope) === 'read' ? 'write' : 'read'}`;
    const otherUmbrella = actionOf(scope) === 'read' ? 'admin:write' : 'admin:read';
    const missing = [sibling, otherUmbrella].filter((candidate) => EVERY_SCOPE.includes(candidate));
    for (const only of missing) {
      cases.push({
        title: `refuses a token of the right tenant with only ${only} with 403 auth.insufficient_scope`,
        async run(state) {
          const call = { url: fill(route, state.a.params), authorization: await tenantToken(state.ctx, state.a.tenantId, [only]), payload: bodyFor(route) };
          const response = await send(state.ctx, route, call);
          expectInsufficientScope(response, scope);
          expectNoLeak(response, state.a.secrets);
        },
      });
    }
  }

  // Object-level isolation: tenant A's own token on its own path, naming tenant B's resources.
  if (scope !== PLATFORM_SCOPE && hasTenantParam(route)) {
    const foreignParams = route.url.match(/:([A-Za-z_]+)/g)?.filter((param) => param !== ':tenant_id') ?? [];
    if (foreignParams.length > 0) {
      cases.push({
        title: "answers a token of the right tenant naming another tenant's resource in the path with 404, leaking nothing",
        async run(state) {
          const call = {
            url: fill(route, { ...state.b.params, tenant_id: state.a.tenantId }),
            authorization: await tenantToken(state.ctx, state.a.tenantId, EVERY_SCOPE),
            payload: bodyFor(route),
          };
          const response = await send(state.ctx, route, call);
          expect(response.statusCode, response.body).toBe(404);
          expectNoLeak(response, state.b.secrets, call);
        },
      });
    }
    const reference = referencesAnOu(route);
    if (reference) {
      cases.push({
        title: `refuses a token of the right tenant naming another tenant's OU in the ${reference} (404/422, or an empty list), leaking nothing`,
        async run(state) {
          const call: Call = {
            url: fill(route, state.a.params),
            authorization: await tenantToken(state.ctx, state.a.tenantId, EVERY_SCOPE),
            payload: reference === 'body' ? bodyFor(route, state.b.ouId) : undefined,
            query: reference === 'query' ? queryNaming(route, state.b.ouId) : undefined,
          };
          const response = await send(state.ctx, route, call);
          if (response.statusCode === 200 && route.method === 'GET') expect(response.json().data, response.body).toEqual([]);
          else expect([404, 422], response.body).toContain(response.statusCode);
          expectNoLeak(response, state.b.secrets, call);
        },
      });
    }
  }
  return cases;
}

/** Requests that must get past auth; each runs on a fresh tenant C so earlier writes cannot interfere. */
function admittedCases(route: RegisteredRoute): { title: string; run(state: RouteState, c: Fixture): Promise<void> }[] {
  const scope = route.scope as string;
  const asTenant = (title: string, scopes: readonly string[]) => ({
    title:
      scope === PLATFORM_SCOPE
        ? `refuses a token of the right tenant with ${title} with 403 auth.insufficient_scope: platform only`
        : `admits a token of the right tenant with ${title} (not 401/403)`,
    async run(state: RouteState, c: Fixture) {
      const call = { url: fill(route, c.params), authorization: await tenantToken(state.ctx, c.tenantId, scopes), payload: bodyFor(route) };
      const response = await send(state.ctx, route, call);
      if (scope === PLATFORM_SCOPE) expectInsufficientScope(response, scope);
      else expectAdmitted(response);
      // Whatever it shows, it shows nothing of the other tenants.
      expectNoLeak(response, [...state.a.secrets, ...state.b.secrets]);
    },
  });
  return [
    asTenant(`every explicit scope (${EXPLICIT_SCOPES.join(' ')})`, EXPLICIT_SCOPES),
    asTenant(`the umbrella scopes (${UMBRELLAS.join(' ')})`, UMBRELLAS),
    {
      title: "admits a token forged with Arbor's key and honest claims (control for the forged tokens)",
      async run(state, c) {
        const claims =
          scope === PLATFORM_SCOPE
            ? accessClaims(state.ctx, { scopes: [PLATFORM_SCOPE] })
            : accessClaims(state.ctx, { tenantId: c.tenantId, scopes: EVERY_SCOPE });
        const call = { url: fill(route, c.params), authorization: `Bearer ${await signWithArborKey(state.ctx, claims)}`, payload: bodyFor(route) };
        expectAdmitted(await send(state.ctx, route, call));
      },
    },
    {
      title: 'admits a platform token (not 401/403)',
      async run(state, c) {
        const call = { url: fill(route, c.params), authorization: `Bearer ${state.ctx.platformToken}`, payload: bodyFor(route) };
        expectAdmitted(await send(state.ctx, route, call));
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------

describe('tenant-isolation matrix', () => {
  it('finds the protected routes of the app', () => {
    expect(PROTECTED.length).toBeGreaterThanOrEqual(20);
  });

  for (const route of PROTECTED) {
    describe(label(route), () => {
      const holder: { state?: RouteState; before?: Record<string, string[]> } = {};
      const state = (): RouteState => {
        if (!holder.state) throw new Error('route state not ready');
        return holder.state;
      };

      beforeAll(async () => {
        const ctx = await createTestContext();
        holder.state = { ctx, a: await createFixture(ctx, 'A'), b: await createFixture(ctx, 'B') };
        holder.before = await snapshot(ctx);
      });
      afterAll(async () => {
        if (holder.state) await closeContext(holder.state.ctx);
      });

      for (const testCase of refusedCases(route)) {
        it(`${label(route)} ${testCase.title}`, () => testCase.run(state()));
      }

      it(`${label(route)} changes no row of ${TABLES.join(', ')} after the refused requests`, async () => {
        expect(await snapshot(state().ctx)).toEqual(holder.before);
      });

      for (const testCase of admittedCases(route)) {
        it(`${label(route)} ${testCase.title}`, async () => {
          const c = await createFixture(state().ctx, 'C');
          await testCase.run(state(), c);
        });
      }
    });
  }
});

describe('route inventory', () => {
  const EXPECTED_PUBLIC = [
    'GET /.well-known/jwks.json',
    'GET /.well-known/oauth-authorization-server',
    'GET /.well-known/oauth-protected-resource',
    // The admin console's page and files (docs/console.md): static, and every call it makes is to /api with a token.
    'GET /console',
    'GET /console/*',
    'GET /console/config.json',
    'GET /healthz',
    'GET /openapi.json',
    'GET /readyz',
    'POST /oauth/token',
  ];
  const isDocs = (url: string) => url === '/docs' || url.startsWith('/docs/');

  it('gives every /api route a scope', () => {
    const unscoped = ALL_ROUTES.filter((route) => route.url.startsWith('/api') && !route.scope).map(label);
    expect(unscoped).toEqual([]);
  });

  it('has no scoped route outside /api/ (a scope elsewhere would be an undocumented API)', () => {
    expect(ALL_ROUTES.filter((route) => route.scope && !route.url.startsWith('/api/')).map(label)).toEqual([]);
  });

  it('skips only HEAD routes that mirror a GET route with the same scope', () => {
    const heads = ALL_ROUTES.filter((route) => route.scope && route.method === 'HEAD');
    for (const head of heads) {
      const get = ALL_ROUTES.find((route) => route.method === 'GET' && route.url === head.url);
      expect(get?.scope, label(head)).toBe(head.scope);
    }
  });

  it('has exactly the expected public routes (a new public route must be added here on purpose)', () => {
    const publicRoutes = ALL_ROUTES.filter((route) => !route.scope);
    const outsideDocs = [...new Set(publicRoutes.filter((route) => !isDocs(route.url)).map((route) => `${route.method === 'HEAD' ? 'GET' : route.method} ${route.url}`))];
    expect(outsideDocs.sort()).toEqual(EXPECTED_PUBLIC);
    // The API reference: read-only pages and assets under /docs.
    const docs = publicRoutes.filter((route) => isDocs(route.url));
    expect(docs.map(label)).toContain('GET /docs');
    expect(docs.filter((route) => !['GET', 'HEAD'].includes(route.method)).map(label)).toEqual([]);
  });

  it('refuses to start with an /api route that declares no scope', async () => {
    const app = Fastify({ logger: false });
    const notReached = async () => {
      throw new Error('not reached');
    };
    registerAuth(app, { verify: notReached }, { accessOf: notReached });
    let failure: unknown;
    try {
      await app.register(async (instance) => {
        instance.get('/api/v1/unscoped', async () => ({ open: true }));
      });
      await app.ready();
    } catch (error) {
      failure = error;
    } finally {
      await app.close().catch(() => undefined);
    }
    expect(String(failure)).toMatch(/GET \/api\/v1\/unscoped declares no scope/);
  });
});
