import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { expectData, expectError, expectPage, expectValidation } from '../helpers/assertions.js';
import { createTenant } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';
import { basic } from '../helpers/tokens.js';

const clientsUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/clients`;
const ousUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface CreatedClient {
  id: string;
  tenant_id: string;
  name: string;
  scopes: string[];
  created_at: string;
  client_secret: string;
}

/** A form body; an array value repeats the parameter. */
function form(fields: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) params.append(name, v);
  return params.toString();
}

function tokenRequest(
  ctx: TestContext,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
  remoteAddress?: string,
): Promise<LightMyRequestResponse> {
  return ctx.app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, ...headers }, payload: form(fields), ...(remoteAddress ? { remoteAddress } : {}) });
}

function basicTokenRequest(ctx: TestContext, id: string, secret: string, extra: Record<string, string> = {}) {
  return tokenRequest(ctx, { grant_type: 'client_credentials', ...extra }, { authorization: basic(id, secret) });
}

async function createClient(ctx: TestContext, tenantId: string, scopes = ['ous:read', 'users:read'], name = 'Reporting job'): Promise<CreatedClient> {
  const response = await ctx.app.inject({ method: 'POST', url: clientsUrl(tenantId), headers: ctx.platformHeaders, payload: { name, scopes } });
  return expectData(response, 201) as CreatedClient;
}

/** Contract of RFC 6749 §5.2: `status`, exactly `{error, error_description}`, and no caching. */
function expectOAuthError(response: LightMyRequestResponse, status: number, error: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.json()).toEqual({ error, error_description: expect.any(String) });
  expect(response.json().error_description.length).toBeGreaterThan(0);
  expect(response.headers['cache-control']).toBe('no-store');
}

function expectRetryAfter(response: LightMyRequestResponse): number {
  const value = String(response.headers['retry-after']);
  expect(value).toMatch(/^[1-9]\d*$/);
  return Number(value);
}

describe('API clients (POST/GET/DELETE /api/v1/tenants/{tenant_id}/clients)', () => {
  const t = useTestApp();

  it('creates a client with 201 and returns its secret once, with cache-control no-store', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: clientsUrl(tenant.id),
      headers: t.ctx.platformHeaders,
      payload: { name: 'Reporting job', scopes: ['ous:read', 'users:read'] },
    });
    const client = expectData(response, 201) as CreatedClient;
    expect(response.headers['cache-control']).toBe('no-store');
    expect(client).toEqual({
      id: expect.any(String),
      tenant_id: tenant.id,
      name: 'Reporting job',
      scopes: ['ous:read', 'users:read'],
      created_at: expect.any(String),
      client_secret: expect.any(String),
    });
    expect(client.client_secret.length).toBeGreaterThanOrEqual(32);
  });

  it('never shows the secret again: GET of the client and the list omit it', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const one = await t.ctx.app.inject({ method: 'GET', url: `${clientsUrl(tenant.id)}/${client.id}`, headers: t.ctx.platformHeaders });
    const data = expectData(one);
    expect(data).toEqual({ id: client.id, tenant_id: tenant.id, name: 'Reporting job', scopes: ['ous:read', 'users:read'], created_at: client.created_at });
    expect(one.body).not.toContain(client.client_secret);
    const list = await t.ctx.app.inject({ method: 'GET', url: clientsUrl(tenant.id), headers: t.ctx.platformHeaders });
    expect(expectPage(list).data).toEqual([data]);
    expect(list.body).not.toContain(client.client_secret);
    expect(list.body).not.toContain('client_secret');
    expect(list.body).not.toContain('secret_hash');
  });

  it('stores only an scrypt hash of the secret, never the secret itself', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const row = await t.ctx.store.db.selectFrom('api_clients').selectAll().where('id', '=', client.id).executeTakeFirstOrThrow();
    expect(row.secret_hash.startsWith('scrypt$')).toBe(true);
    expect(row.secret_hash).not.toContain(client.client_secret);
    expect(JSON.stringify(row)).not.toContain(client.client_secret);
  });

  it('refuses an unknown scope with 422', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: clientsUrl(tenant.id),
      headers: t.ctx.platformHeaders,
      payload: { name: 'Bad', scopes: ['ous:read', 'ous:delete-everything'] },
    });
    expectValidation(response, ['body', 'scopes']);
  });

  it('refuses the platform scope for a tenant client with 422', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: clientsUrl(tenant.id),
      headers: t.ctx.platformHeaders,
      payload: { name: 'Escalation', scopes: ['platform:admin'] },
    });
    expectValidation(response, ['body', 'scopes']);
  });

  it('answers a tenant-B token with clients:write on tenant A with 403 and creates nothing', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(b.id, ['clients:write', 'clients:read']);
    const response = await t.ctx.app.inject({ method: 'POST', url: clientsUrl(a.id), headers, payload: { name: 'Intruder', scopes: ['ous:read'] } });
    expectError(response, 403, 'auth.wrong_tenant');
    const list = await t.ctx.app.inject({ method: 'GET', url: clientsUrl(a.id), headers: t.ctx.platformHeaders });
    expect(expectPage(list).pagination.total_items).toBe(0);
  });

  it('lets a tenant token with clients:write create a client of its own tenant', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['clients:write', 'ous:read']);
    const response = await t.ctx.app.inject({ method: 'POST', url: clientsUrl(tenant.id), headers, payload: { name: 'Mine', scopes: ['ous:read'] } });
    expect(expectData(response, 201).tenant_id).toBe(tenant.id);
  });

  it('requires clients:read to list and clients:write to create (403 insufficient_scope otherwise)', async () => {
    const tenant = await createTenant(t.ctx);
    const ousOnly = await t.ctx.headersFor(tenant.id, ['ous:read', 'ous:write']);
    expectError(await t.ctx.app.inject({ method: 'GET', url: clientsUrl(tenant.id), headers: ousOnly }), 403, 'auth.insufficient_scope');
    const readOnly = await t.ctx.headersFor(tenant.id, ['clients:read']);
    expectError(
      await t.ctx.app.inject({ method: 'POST', url: clientsUrl(tenant.id), headers: readOnly, payload: { name: 'x', scopes: ['ous:read'] } }),
      403,
      'auth.insufficient_scope',
    );
  });

  it('lists clients paginated by id, with page, per_page, total_items and total_pages', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const created = [await createClient(t.ctx, tenant.id), await createClient(t.ctx, tenant.id), await createClient(t.ctx, tenant.id)];
    await createClient(t.ctx, other.id);
    const ids = created.map((c) => c.id).sort();
    const first = expectPage(await t.ctx.app.inject({ method: 'GET', url: `${clientsUrl(tenant.id)}?per_page=2`, headers: t.ctx.platformHeaders }));
    expect(first.pagination).toEqual({ page: 1, per_page: 2, total_items: 3, total_pages: 2 });
    const second = expectPage(await t.ctx.app.inject({ method: 'GET', url: `${clientsUrl(tenant.id)}?per_page=2&page=2`, headers: t.ctx.platformHeaders }));
    expect(second.pagination).toEqual({ page: 2, per_page: 2, total_items: 3, total_pages: 2 });
    expect([...first.data, ...second.data].map((c: { id: string }) => c.id)).toEqual(ids);
  });

  it('answers GET of an unknown client with 404 client.not_found', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${clientsUrl(tenant.id)}/cli_doesnotexist`, headers: t.ctx.platformHeaders });
    expectError(response, 404, 'client.not_found');
  });

  it("answers GET of another tenant's client with 404 client.not_found", async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const client = await createClient(t.ctx, b.id);
    const response = await t.ctx.app.inject({ method: 'GET', url: `${clientsUrl(a.id)}/${client.id}`, headers: t.ctx.platformHeaders });
    expectError(response, 404, 'client.not_found');
  });
});

describe('POST /oauth/token (client_credentials)', () => {
  const t = useTestApp();

  it('issues a token with client_secret_basic: 200 {access_token, token_type Bearer, expires_in 900, scope} and cache-control no-store', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await basicTokenRequest(t.ctx, client.id, client.client_secret);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900, scope: 'ous:read users:read' });
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers.pragma).toBe('no-cache');
  });

  it('issues a token with client_secret_post (client_id and client_secret in the form)', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await tokenRequest(t.ctx, { grant_type: 'client_credentials', client_id: client.id, client_secret: client.client_secret });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900, scope: 'ous:read users:read' });
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('issues a token that reads OUs (200) but cannot create one (403 insufficient_scope)', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const { access_token: token } = (await basicTokenRequest(t.ctx, client.id, client.client_secret)).json();
    const read = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expect(read.statusCode, read.body).toBe(200);
    const write = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers: bearer(token), payload: { name: 'Nope' } });
    expectError(write, 403, 'auth.insufficient_scope');
  });

  it("issues a token that cannot reach another tenant (403 auth.wrong_tenant)", async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const { access_token: token } = (await basicTokenRequest(t.ctx, client.id, client.client_secret)).json();
    expectError(await t.ctx.app.inject({ method: 'GET', url: ousUrl(other.id), headers: bearer(token) }), 403, 'auth.wrong_tenant');
  });

  it('issues a JWT with typ at+jwt and a kid published in /.well-known/jwks.json', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const { access_token: token } = (await basicTokenRequest(t.ctx, client.id, client.client_secret)).json();
    const header = decodeProtectedHeader(token);
    expect(header.typ).toBe('at+jwt');
    expect(header.alg).toBe('ES256');
    expect(header.kid).toEqual(expect.any(String));
    const jwks = await t.ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwks.statusCode).toBe(200);
    const keys = jwks.json().keys as { kid: string; d?: string }[];
    expect(keys.map((k) => k.kid)).toContain(header.kid);
    // Public keys only.
    for (const key of keys) expect(key.d).toBeUndefined();
  });

  it('issues a JWT with iss, aud, sub = client id, client_id, tenant_id, scope, iat, exp = iat + 900 and jti', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const { access_token: token } = (await basicTokenRequest(t.ctx, client.id, client.client_secret)).json();
    const claims = decodeJwt(token);
    expect(claims).toEqual({
      iss: t.ctx.config.issuer,
      aud: t.ctx.config.audience,
      sub: client.id,
      client_id: client.id,
      tenant_id: tenant.id,
      scope: 'ous:read users:read',
      iat: expect.any(Number),
      exp: expect.any(Number),
      jti: expect.any(String),
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
    expect(Math.abs((claims.iat as number) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('gives every token its own jti', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const first = decodeJwt((await basicTokenRequest(t.ctx, client.id, client.client_secret)).json().access_token);
    const second = decodeJwt((await basicTokenRequest(t.ctx, client.id, client.client_secret)).json().access_token);
    expect(first.jti).not.toBe(second.jti);
  });

  it("narrows the token to a requested subset: scope=ous:read gives a token with only 'ous:read'", async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await basicTokenRequest(t.ctx, client.id, client.client_secret, { scope: 'ous:read' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().scope).toBe('ous:read');
    expect(decodeJwt(response.json().access_token).scope).toBe('ous:read');
    const ou = await createTenantOuAsPlatform(t.ctx, tenant.id);
    const users = await t.ctx.app.inject({ method: 'GET', url: `${ousUrl(tenant.id)}/${ou}/users`, headers: bearer(response.json().access_token) });
    expectError(users, 403, 'auth.insufficient_scope');
  });

  it('refuses a scope outside the client\'s with 400 invalid_scope', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    for (const scope of ['ous:write', 'ous:read ous:write', 'platform:admin', 'admin:read']) {
      expectOAuthError(await basicTokenRequest(t.ctx, client.id, client.client_secret, { scope }), 400, 'invalid_scope');
    }
  });

  it('answers a wrong secret with 401 invalid_client and a WWW-Authenticate header', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await basicTokenRequest(t.ctx, client.id, `${client.client_secret}x`);
    expectOAuthError(response, 401, 'invalid_client');
    expect(String(response.headers['www-authenticate'])).toMatch(/^Basic /);
  });

  it('answers a wrong secret sent with client_secret_post with 401 invalid_client', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await tokenRequest(t.ctx, { grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' });
    expectOAuthError(response, 401, 'invalid_client');
  });

  it('answers an unknown client with 401 invalid_client', async () => {
    const response = await basicTokenRequest(t.ctx, 'cli_nobody', 'whatever-secret');
    expectOAuthError(response, 401, 'invalid_client');
    expect(response.headers['www-authenticate']).toBeDefined();
  });

  it('answers a request without client credentials with 401 invalid_client', async () => {
    const response = await tokenRequest(t.ctx, { grant_type: 'client_credentials' });
    expectOAuthError(response, 401, 'invalid_client');
    expect(response.headers['www-authenticate']).toBeDefined();
  });

  it('answers grant_type=password with 400 unsupported_grant_type', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await tokenRequest(t.ctx, { grant_type: 'password', username: 'u', password: 'p' }, { authorization: basic(client.id, client.client_secret) });
    expectOAuthError(response, 400, 'unsupported_grant_type');
  });

  it('answers a request without grant_type with 400 invalid_request', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await tokenRequest(t.ctx, {}, { authorization: basic(client.id, client.client_secret) });
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('answers Basic credentials plus client_id in the body with 400 invalid_request', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await tokenRequest(
      t.ctx,
      { grant_type: 'client_credentials', client_id: client.id },
      { authorization: basic(client.id, client.client_secret) },
    );
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('answers a JSON body with 400 invalid_request', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/json' },
      payload: { grant_type: 'client_credentials', client_id: client.id, client_secret: client.client_secret },
    });
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('answers a request without a body or content type with 400 invalid_request', async () => {
    const response = await t.ctx.app.inject({ method: 'POST', url: '/oauth/token' });
    expectOAuthError(response, 400, 'invalid_request');
  });

  // oauth.ts: "every way it can be malformed is an RFC 6749 invalid_request"; error-handler.ts: "The token endpoint speaks RFC 6749".
  it('answers a malformed JSON body with 400 invalid_request in the RFC 6749 shape', async () => {
    const response = await t.ctx.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('answers a text/plain body with 400 invalid_request in the RFC 6749 shape', async () => {
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'text/plain' },
      payload: 'grant_type=client_credentials',
    });
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('answers malformed Basic credentials (bad percent-encoding) with 400 invalid_request', async () => {
    const authorization = `Basic ${Buffer.from('cli_x%ZZ:secret').toString('base64')}`;
    expectOAuthError(await tokenRequest(t.ctx, { grant_type: 'client_credentials' }, { authorization }), 400, 'invalid_request');
  });

  it('decodes form-encoded Basic credentials (RFC 6749 §2.3.1)', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    // Every character of an id or secret may be percent-encoded; the server must decode before comparing.
    const encoded = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    const authorization = `Basic ${Buffer.from(`${encoded(client.id)}:${encoded(client.client_secret)}`).toString('base64')}`;
    const response = await tokenRequest(t.ctx, { grant_type: 'client_credentials' }, { authorization });
    expect(response.statusCode, response.body).toBe(200);
  });

  it.each([['grant_type'], ['scope'], ['client_id']])('answers a repeated %s parameter with 400 invalid_request', async (name) => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const single: Record<string, string> = { grant_type: 'client_credentials', client_id: client.id, client_secret: client.client_secret, scope: 'ous:read' };
    const fields: Record<string, string | string[]> = { ...single, [name]: [single[name], single[name]] };
    const response = await tokenRequest(t.ctx, fields);
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('refuses a deleted client (DELETE 204) at its very next token request with 401 invalid_client', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    expect((await basicTokenRequest(t.ctx, client.id, client.client_secret)).statusCode).toBe(200);
    const deleted = await t.ctx.app.inject({ method: 'DELETE', url: `${clientsUrl(tenant.id)}/${client.id}`, headers: t.ctx.platformHeaders });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expectOAuthError(await basicTokenRequest(t.ctx, client.id, client.client_secret), 401, 'invalid_client');
    expectError(await t.ctx.app.inject({ method: 'GET', url: `${clientsUrl(tenant.id)}/${client.id}`, headers: t.ctx.platformHeaders }), 404, 'client.not_found');
  });
});

async function createTenantOuAsPlatform(ctx: TestContext, tenantId: string): Promise<string> {
  const response = await ctx.app.inject({ method: 'POST', url: ousUrl(tenantId), headers: ctx.platformHeaders, payload: { name: 'Some OU' } });
  return expectData(response, 201).id as string;
}

describe('POST /oauth/token failed-authentication limit per client id (ARBOR_TOKEN_FAILED_AUTH_LIMIT=3)', () => {
  const t = useTestApp({ tokenFailedAuthLimit: 3 });

  it('answers three wrong secrets with 401, then even the right secret with 429 too_many_requests and a positive Retry-After', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    for (let i = 0; i < 3; i += 1) expectOAuthError(await basicTokenRequest(t.ctx, client.id, 'wrong-secret'), 401, 'invalid_client');
    const locked = await basicTokenRequest(t.ctx, client.id, client.client_secret);
    expectOAuthError(locked, 429, 'too_many_requests');
    expect(expectRetryAfter(locked)).toBeLessThanOrEqual(60);
  });

  it('does not lock out another client id', async () => {
    const tenant = await createTenant(t.ctx);
    const victim = await createClient(t.ctx, tenant.id);
    const bystander = await createClient(t.ctx, tenant.id);
    for (let i = 0; i < 3; i += 1) await basicTokenRequest(t.ctx, victim.id, 'wrong-secret');
    expect((await basicTokenRequest(t.ctx, victim.id, victim.client_secret)).statusCode).toBe(429);
    const other = await basicTokenRequest(t.ctx, bystander.id, bystander.client_secret);
    expect(other.statusCode, other.body).toBe(200);
  });

  it('does not count successful authentications as failures', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    for (let i = 0; i < 5; i += 1) expect((await basicTokenRequest(t.ctx, client.id, client.client_secret)).statusCode).toBe(200);
  });
});

describe('POST /oauth/token limit per remote address (ARBOR_TOKEN_REQUESTS_PER_ADDRESS=2)', () => {
  const t = useTestApp({ tokenRequestsPerAddress: 2 });

  it('answers the 3rd request from one address with 429 too_many_requests and a positive Retry-After', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    expect((await basicTokenRequest(t.ctx, client.id, client.client_secret)).statusCode).toBe(200);
    expect((await basicTokenRequest(t.ctx, client.id, client.client_secret)).statusCode).toBe(200);
    const third = await basicTokenRequest(t.ctx, client.id, client.client_secret);
    expectOAuthError(third, 429, 'too_many_requests');
    expectRetryAfter(third);
  });

  it('counts each remote address separately', async () => {
    const tenant = await createTenant(t.ctx);
    const client = await createClient(t.ctx, tenant.id);
    const fields = { grant_type: 'client_credentials' };
    const headers = { authorization: basic(client.id, client.client_secret) };
    for (let i = 0; i < 2; i += 1) expect((await tokenRequest(t.ctx, fields, headers, '10.0.0.1')).statusCode).toBe(200);
    expect((await tokenRequest(t.ctx, fields, headers, '10.0.0.1')).statusCode).toBe(429);
    const elsewhere = await tokenRequest(t.ctx, fields, headers, '10.0.0.2');
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);
  });
});

describe('authorization server metadata and JWKS', () => {
  const t = useTestApp();

  it('publishes RFC 8414 metadata: issuer, token_endpoint, jwks_uri, client_credentials, both auth methods, scopes', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    expect(response.statusCode).toBe(200);
    const metadata = response.json();
    expect(metadata.issuer).toBe(t.ctx.config.issuer);
    expect(metadata.token_endpoint).toBe(`${t.ctx.config.issuer}/oauth/token`);
    expect(metadata.jwks_uri).toBe(`${t.ctx.config.issuer}/.well-known/jwks.json`);
    expect(metadata.grant_types_supported).toEqual(['client_credentials']);
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['ous:read', 'ous:write', 'users:read', 'clients:write']));
  });

  it('publishes RFC 9728 protected resource metadata without authentication: the resource, its authorization server, the audience its tokens carry', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: '/.well-known/oauth-protected-resource' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      resource: t.ctx.config.issuer,
      authorization_servers: [t.ctx.config.issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: expect.arrayContaining(['ous:read', 'ous:write', 'users:read', 'clients:write', 'platform:admin']),
      resource_name: 'Arbor',
      resource_documentation: `${t.ctx.config.issuer}/docs`,
      audience: t.ctx.config.audience,
    });
  });

  it('publishes the JWKS without authentication, public keys only', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    const { keys } = response.json() as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', kid: expect.any(String), alg: 'ES256', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
  });
});
