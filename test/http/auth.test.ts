import { randomUUID } from 'node:crypto';
import { type JWK, type JWTPayload, SignJWT, decodeProtectedHeader, generateKeyPair, importJWK } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOu, createTenant } from '../helpers/factories.js';
import { type TestContext, createTestContext, grantRole, useTestApp } from '../helpers/test-app.js';

const ousUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The claims Arbor itself puts in a tenant token (see token-service.ts), valid right now. */
function tenantClaims(ctx: TestContext, tenantId: string, scopes = ['ous:read', 'ous:write']): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ctx.config.issuer,
    aud: ctx.config.audience,
    sub: `test-${tenantId}`,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    scope: scopes.join(' '),
    client_id: `test-${tenantId}`,
    tenant_id: tenantId,
  };
}

/** The kid of Arbor's signing key, read from one of its own tokens. */
async function arborKid(ctx: TestContext): Promise<string> {
  const header = decodeProtectedHeader(ctx.platformToken);
  expect(header.kid).toEqual(expect.any(String));
  return header.kid as string;
}

/**
 * Signs arbitrary claims with Arbor's own private key, taken from the store. This isolates each
 * claim check (issuer, audience, typ, ...) from the signature check: with a key of another app,
 * a wrong issuer would be refused for the key alone and the test would prove nothing about `iss`.
 */
async function signWithArborKey(ctx: TestContext, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const row = await ctx.store.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').executeTakeFirstOrThrow();
  const key = await importJWK(JSON.parse(row.private_jwk) as JWK, 'ES256');
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: row.kid, ...header }).sign(key);
}

function expectInvalidToken(response: { statusCode: number; json(): unknown; headers: Record<string, unknown> }) {
  expect(response.statusCode).toBe(401);
  expect(response.json()).toEqual({ detail: expect.any(String), code: 'auth.invalid_token' });
  expect(String(response.headers['www-authenticate'])).toMatch(/^Bearer realm="arbor", error="invalid_token"/);
}

describe('bearer authentication', () => {
  const t = useTestApp();

  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a request without Authorization with 401 auth.missing_token and a bare Bearer challenge', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id) });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'auth.missing_token' });
    expect(response.headers['www-authenticate']).toBe('Bearer realm="arbor"');
  });

  it.each([
    ['a Basic credential', 'Basic xyz'],
    ['"Bearer" with no token', 'Bearer'],
    ['"Bearer " with only a space', 'Bearer '],
    ['a token with a space inside', 'Bearer abc def'],
  ])('answers %s with 401 and a Bearer challenge', async (_label, authorization) => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: { authorization } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ detail: expect.any(String), code: expect.stringMatching(/^auth\.(missing|invalid)_token$/) });
    expect(String(response.headers['www-authenticate'])).toMatch(/^Bearer realm="arbor"/);
  });

  it('accepts the scheme name in any case ("bearer")', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: { authorization: `bearer ${t.ctx.platformToken}` } });
    expect(response.statusCode).toBe(200);
  });

  it('answers a garbage token with 401 auth.invalid_token and error="invalid_token" in the challenge', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer('not.a.jwt') });
    expectInvalidToken(response);
    expect(String(response.headers['www-authenticate'])).toContain('error="invalid_token"');
  });

  it('refuses an expired token (past the 30 s clock tolerance) that was valid before', async () => {
    const tenant = await createTenant(t.ctx);
    await grantRole(t.ctx.store, tenant.id, 'short-lived', 'tenant_admin', null);
    const token = await t.ctx.tokens.sign({ subject: 'short-lived', tenantId: tenant.id, scopes: ['ous:read'], ttlSeconds: 1 });
    const fresh = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expect(fresh.statusCode).toBe(200);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 120_000);
    const expired = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    vi.useRealTimers();
    expectInvalidToken(expired);
    expect(expired.json().detail).toMatch(/expired/i);
  });

  it('still accepts a token expired by less than the 30 s clock tolerance', async () => {
    const tenant = await createTenant(t.ctx);
    await grantRole(t.ctx.store, tenant.id, 'short-lived', 'tenant_admin', null);
    const token = await t.ctx.tokens.sign({ subject: 'short-lived', tenantId: tenant.id, scopes: ['ous:read'], ttlSeconds: 1 });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 15_000);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    vi.useRealTimers();
    expect(response.statusCode).toBe(200);
  });

  it("accepts a token built by this test with Arbor's key and Arbor's claims (control for the claim tests below)", async () => {
    const tenant = await createTenant(t.ctx);
    await grantRole(t.ctx.store, tenant.id, `test-${tenant.id}`, 'tenant_admin', null);
    const token = await signWithArborKey(t.ctx, tenantClaims(t.ctx, tenant.id));
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expect(response.statusCode).toBe(200);
  });

  it("refuses a token signed by another ES256 key, even one claiming Arbor's kid", async () => {
    const tenant = await createTenant(t.ctx);
    const { privateKey } = await generateKeyPair('ES256');
    const kid = await arborKid(t.ctx);
    for (const header of [{ kid }, { kid: 'some-other-kid' }, {}]) {
      const token = await new SignJWT(tenantClaims(t.ctx, tenant.id))
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header })
        .sign(privateKey);
      const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
      expectInvalidToken(response);
    }
  });

  it('refuses an unsigned token (alg "none")', async () => {
    const tenant = await createTenant(t.ctx);
    const kid = await arborKid(t.ctx);
    for (const header of [{ alg: 'none', typ: 'at+jwt' }, { alg: 'none', typ: 'at+jwt', kid }]) {
      const token = `${b64url(header)}.${b64url(tenantClaims(t.ctx, tenant.id))}.`;
      const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
      expectInvalidToken(response);
    }
  });

  it("refuses an HS256 token keyed with Arbor's public key (algorithm confusion)", async () => {
    const tenant = await createTenant(t.ctx);
    const row = await t.ctx.store.db.selectFrom('signing_keys').selectAll().executeTakeFirstOrThrow();
    const secret = new TextEncoder().encode(row.public_jwk);
    const token = await new SignJWT(tenantClaims(t.ctx, tenant.id)).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: row.kid }).sign(secret);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expectInvalidToken(response);
  });

  it("refuses a token whose signature was taken from another of Arbor's tokens", async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const [header, , signature] = (await t.ctx.headersFor(other.id)).authorization.slice('Bearer '.length).split('.');
    const forged = `${header}.${b64url(tenantClaims(t.ctx, tenant.id, ['ous:read']))}.${signature}`;
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(forged) });
    expectInvalidToken(response);
  });

  it.each([
    ['another issuer', { iss: 'http://elsewhere' }],
    ['another audience', { aud: 'someone-else' }],
    ['no expiry', { exp: undefined }],
    ['no subject', { sub: undefined }],
  ])("refuses a token with Arbor's key but %s", async (_label, override) => {
    const tenant = await createTenant(t.ctx);
    const claims: JWTPayload = { ...tenantClaims(t.ctx, tenant.id), ...override };
    for (const [key, value] of Object.entries(override)) if (value === undefined) delete claims[key];
    const token = await signWithArborKey(t.ctx, claims);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expectInvalidToken(response);
  });

  it("refuses a token with Arbor's key but a typ other than at+jwt (e.g. an ID token)", async () => {
    const tenant = await createTenant(t.ctx);
    const token = await signWithArborKey(t.ctx, tenantClaims(t.ctx, tenant.id), { typ: 'JWT' });
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expectInvalidToken(response);
  });

  it('refuses a token of another Arbor instance (other issuer, audience and key)', async () => {
    const tenant = await createTenant(t.ctx);
    const elsewhere = await createTestContext({ issuer: 'http://elsewhere', audience: 'other' });
    try {
      const foreign = await elsewhere.tokens.sign({ subject: 'x', tenantId: tenant.id, scopes: ['ous:read'] });
      const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(foreign) });
      expectInvalidToken(response);
      const foreignPlatform = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: elsewhere.platformHeaders });
      expectInvalidToken(foreignPlatform);
    } finally {
      await elsewhere.close();
    }
  });

  it('answers a token of tenant A used on tenant B with 403 auth.wrong_tenant', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(b.id), headers: await t.ctx.headersFor(a.id) });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'auth.wrong_tenant' });
  });

  it('answers a token without the route scope with 403 auth.insufficient_scope and an insufficient_scope challenge naming the scope', async () => {
    const tenant = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['ous:read', 'users:read', 'users:write']);
    const response = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers, payload: { name: 'Nope' } });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ detail: expect.any(String), code: 'auth.insufficient_scope' });
    const challenge = String(response.headers['www-authenticate']);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="ous:write"');
  });

  it('does not let ous:write stand in for ous:read', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: await t.ctx.headersFor(tenant.id, ['ous:write']) });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('auth.insufficient_scope');
  });

  it('requires users:read, not just ous:read, to list the users of an OU', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id);
    const url = `${ousUrl(tenant.id)}/${ou.id}/users`;
    const refused = await t.ctx.app.inject({ method: 'GET', url, headers: await t.ctx.headersFor(tenant.id, ['ous:read']) });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('auth.insufficient_scope');
    const allowed = await t.ctx.app.inject({ method: 'GET', url, headers: await t.ctx.headersFor(tenant.id, ['users:read']) });
    expect(allowed.statusCode).toBe(200);
  });

  it('lets a platform token reach every tenant', async () => {
    const tenants = [await createTenant(t.ctx), await createTenant(t.ctx), await createTenant(t.ctx)];
    for (const tenant of tenants) {
      const ou = await createOu(t.ctx, tenant.id, { name: `Root of ${tenant.id}` });
      const list = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: t.ctx.platformHeaders });
      expect(list.statusCode).toBe(200);
      expect(list.json().data.map((o: { id: string }) => o.id)).toEqual([ou.id]);
      const users = await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/users`, headers: t.ctx.platformHeaders });
      expect(users.statusCode).toBe(200);
    }
  });

  it('refuses a token with neither tenant_id nor platform:admin with 401', async () => {
    const tenant = await createTenant(t.ctx);
    const token = await t.ctx.tokens.sign({ subject: 'nobody', scopes: ['ous:read', 'ous:write'] });
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expectInvalidToken(response);
  });

  it('refuses a token with an empty tenant_id and no platform scope with 401', async () => {
    const tenant = await createTenant(t.ctx);
    const token = await t.ctx.tokens.sign({ subject: 'nobody', tenantId: '', scopes: ['ous:read'] });
    const response = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: bearer(token) });
    expectInvalidToken(response);
  });

  it('changes nothing on a refused write: an OU POSTed with a wrong-tenant token is not created', async () => {
    const a = await createTenant(t.ctx);
    const b = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'POST', url: ousUrl(b.id), headers: await t.ctx.headersFor(a.id), payload: { name: 'Intruder' } });
    expect(response.statusCode).toBe(403);
    for (const tenant of [a, b]) {
      const list = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: t.ctx.platformHeaders });
      expect(list.json().data).toEqual([]);
      expect(list.json().pagination.total_items).toBe(0);
    }
  });

  it('changes nothing on a refused write: an OU POSTed with an invalid token is not created', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers: bearer('garbage'), payload: { name: 'Intruder' } });
    expect(response.statusCode).toBe(401);
    const list = await t.ctx.app.inject({ method: 'GET', url: ousUrl(tenant.id), headers: t.ctx.platformHeaders });
    expect(list.json().data).toEqual([]);
  });

  it('checks the token before validating the body (401 for an invalid body without a token)', async () => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), payload: { bogus: true } });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('auth.missing_token');
  });

  it('leaves /healthz, /openapi.json and /docs public', async () => {
    for (const url of ['/healthz', '/openapi.json']) {
      const response = await t.ctx.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
    }
    const docs = await t.ctx.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 301, 302, 303, 307, 308]).toContain(docs.statusCode);
  });
});
