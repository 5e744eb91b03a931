import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, type JWTPayload, SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Store } from '../../src/db/store.js';
import { QUIET_ENV, grantRole } from '../helpers/test-app.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

const IDP_ISSUER = 'https://idp.test';
const IDP_AUDIENCE = 'arbor-api';

interface IdpKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newIdpKey(): Promise<IdpKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

/** The identity provider's JWKS endpoint: serves `served`, counts requests. */
const idp = {
  server: undefined as Server | undefined,
  port: 0,
  served: [] as IdpKey[],
  requests: 0,
};

let app: App;
let store: Store;
let tenantId: string;
let platformHeaders: Record<string, string>;
let key1: IdpKey;
let key2: IdpKey;

beforeAll(async () => {
  [key1, key2] = [await newIdpKey(), await newIdpKey()];
  idp.server = createServer((request, response) => {
    if (request.url !== '/jwks') {
      response.writeHead(404).end();
      return;
    }
    idp.requests += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: idp.served.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => idp.server!.listen(0, '127.0.0.1', resolve));
  idp.port = (idp.server!.address() as AddressInfo).port;
});

afterAll(async () => {
  idp.server?.closeAllConnections();
  await new Promise<void>((resolve) => idp.server?.close(() => resolve()) ?? resolve());
});

beforeEach(async () => {
  idp.served = [key1];
  idp.requests = 0;
  // A fresh app per test: a fresh remote JWKS (and its 60 s refetch cooldown) per test.
  const config = loadConfig({
    ...QUIET_ENV,
    DATABASE_URL: 'sqlite::memory:',
    LOG_LEVEL: 'silent',
    ARBOR_EXTERNAL_ISSUER: IDP_ISSUER,
    ARBOR_EXTERNAL_JWKS_URL: `http://127.0.0.1:${idp.port}/jwks`,
    ARBOR_EXTERNAL_AUDIENCE: IDP_AUDIENCE,
    ARBOR_EXTERNAL_TENANT_CLAIM: 'org',
    ARBOR_EXTERNAL_SCOPE_CLAIM: 'permissions',
  });
  store = await openTestStore();
  app = await buildApp(config, { store, logger: false, bootstrapAdminClient: false });
  platformHeaders = { authorization: `Bearer ${await app.tokens.sign({ subject: 'test-platform', scopes: ['platform:admin'] })}` };
  const tenant = await app.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: platformHeaders, payload: { name: 'IdP Tenant' } });
  expect(tenant.statusCode, tenant.body).toBe(201);
  tenantId = tenant.json().data.id;
});

afterEach(async () => {
  vi.useRealTimers();
  await app.app.close();
  await closeTestStore(store);
});

/** A token of the external issuer, valid now; `claims` override or (undefined) remove the defaults. */
function idpToken(
  key: { privateKey: CryptoKey | Uint8Array; kid?: string },
  claims: JWTPayload = {},
  header: { alg?: string; typ?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: IDP_ISSUER,
    aud: IDP_AUDIENCE,
    sub: 'idp-user-1',
    iat: now,
    exp: now + 300,
    org: tenantId,
    permissions: ['ous:read'],
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: header.alg ?? 'RS256', typ: header.typ ?? 'JWT', ...(key.kid ? { kid: key.kid } : {}) })
    .sign(key.privateKey);
}

const ousUrl = () => `/api/v1/tenants/${tenantId}/ous`;
const usersUrl = () => `/api/v1/tenants/${tenantId}/users`;
const get = (url: string, token: string) => app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const postOu = (token: string, name = 'From IdP') =>
  app.app.inject({ method: 'POST', url: ousUrl(), headers: { authorization: `Bearer ${token}` }, payload: { name } });

function expectInvalidToken(response: { statusCode: number; body: string; json(): { code?: string } }): void {
  expect(response.statusCode, response.body).toBe(401);
  expect(response.json().code).toBe('auth.invalid_token');
}

describe('tokens of an external identity provider (ARBOR_EXTERNAL_*)', () => {
  it('accepts a token with org = tenant id and permissions as an array: GET OUs 200', async () => {
    const response = await get(ousUrl(), await idpToken(key1, { permissions: ['ous:read'] }));
    expect(response.statusCode, response.body).toBe(200);
    expect(idp.requests).toBe(1);
  });

  it('records its writes in the change feed as the external subject, with the client it was issued to', async () => {
    const token = await idpToken(key1, { permissions: ['ous:write'], sub: 'alice@idp', azp: 'console-spa' });
    const created = await postOu(token, 'By Alice');
    expect(created.statusCode, created.body).toBe(201);
    const feed = await app.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/events?type=ou.created`, headers: platformHeaders });
    expect(feed.json().data.map((event: { actor: unknown; resource: { id: string } }) => [event.resource.id, event.actor])).toEqual([
      [created.json().data.id, { type: 'external', id: 'alice@idp', client_id: 'console-spa' }],
    ]);
  });

  it('accepts permissions as a space-separated string', async () => {
    const token = await idpToken(key1, { permissions: 'ous:read users:read' });
    expect((await get(ousUrl(), token)).statusCode).toBe(200);
    expect((await get(usersUrl(), token)).statusCode).toBe(200);
  });

  it('accepts typ at+jwt and a token without typ', async () => {
    expect((await get(ousUrl(), await idpToken(key1, {}, { typ: 'at+jwt' }))).statusCode).toBe(200);
    const noTyp = await new SignJWT({ iss: IDP_ISSUER, aud: IDP_AUDIENCE, sub: 'u', org: tenantId, permissions: ['ous:read'] })
      .setProtectedHeader({ alg: 'RS256', kid: key1.kid })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key1.privateKey);
    expect((await get(ousUrl(), noTyp)).statusCode).toBe(200);
  });

  it('grants nothing beyond the permissions claim: ous:read cannot POST an OU (403) or read users (403)', async () => {
    const token = await idpToken(key1, { permissions: ['ous:read'] });
    const write = await postOu(token);
    expect(write.statusCode, write.body).toBe(403);
    expect(write.json().code).toBe('auth.insufficient_scope');
    expect((await get(usersUrl(), token)).statusCode).toBe(403);
  });

  it('confines the token to its org: another tenant gets 403 auth.wrong_tenant', async () => {
    const other = await app.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: platformHeaders, payload: { name: 'Other' } });
    const response = await get(`/api/v1/tenants/${other.json().data.id}/ous`, await idpToken(key1));
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json().code).toBe('auth.wrong_tenant');
  });

  it('refuses a token without the org claim (and without platform:admin) with 401', async () => {
    expectInvalidToken(await get(ousUrl(), await idpToken(key1, { org: undefined })));
  });

  it('does not read the tenant from the default tenant_id claim when another claim is configured', async () => {
    expectInvalidToken(await get(ousUrl(), await idpToken(key1, { org: undefined, tenant_id: tenantId })));
  });

  it('refuses a token for another audience with 401', async () => {
    expectInvalidToken(await get(ousUrl(), await idpToken(key1, { aud: 'someone-else' })));
  });

  it('refuses a token of the IdP key but another issuer with 401', async () => {
    expectInvalidToken(await get(ousUrl(), await idpToken(key1, { iss: 'https://evil.test' })));
  });

  it('refuses an expired token with 401', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    expectInvalidToken(await get(ousUrl(), await idpToken(key1, { iat: past - 300, exp: past })));
  });

  it("refuses a token signed by another key, whether it claims the IdP's kid or an unknown one, with 401", async () => {
    const stranger = await newIdpKey();
    expectInvalidToken(await get(ousUrl(), await idpToken({ privateKey: stranger.privateKey, kid: key1.kid })));
    expectInvalidToken(await get(ousUrl(), await idpToken(stranger)));
  });

  it("refuses an HS256 token (keyed with the IdP's public key) with 401", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(key1.publicJwk));
    expectInvalidToken(await get(ousUrl(), await idpToken({ privateKey: secret, kid: key1.kid }, {}, { alg: 'HS256' })));
  });

  it("lets the umbrella scope 'admin:read' read OUs and users but not POST an OU (403)", async () => {
    const token = await idpToken(key1, { permissions: ['admin:read'] });
    expect((await get(ousUrl(), token)).statusCode).toBe(200);
    expect((await get(usersUrl(), token)).statusCode).toBe(200);
    const write = await postOu(token);
    expect(write.statusCode, write.body).toBe(403);
    expect(write.json().code).toBe('auth.insufficient_scope');
  });

  it('never makes an external token a platform administrator: platform:admin without org is 401, with org it stays in its tenant', async () => {
    expectInvalidToken(await get(ousUrl(), await idpToken(key1, { org: undefined, permissions: ['platform:admin'] })));
    const confined = await idpToken(key1, { permissions: ['platform:admin', 'ous:read'] });
    const other = await app.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: platformHeaders, payload: { name: 'Not reachable' } });
    const response = await get(`/api/v1/tenants/${other.json().data.id}/ous`, confined);
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json().code).toBe('auth.wrong_tenant');
    const createTenant = await app.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { authorization: `Bearer ${confined}` }, payload: { name: 'Nope' } });
    expect(createTenant.statusCode, createTenant.body).toBe(403);
  });

  it("lets the umbrella scope 'admin:write' POST an OU (201)", async () => {
    const response = await postOu(await idpToken(key1, { permissions: ['admin:write'] }), 'Written by admin:write');
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().data.name).toBe('Written by admin:write');
  });

  it('names the external issuer beside Arbor in the protected resource metadata (RFC 9728)', async () => {
    const metadata = (await app.app.inject({ method: 'GET', url: '/.well-known/oauth-protected-resource' })).json();
    expect(metadata.authorization_servers).toEqual([expect.stringMatching(/^http:\/\//), IDP_ISSUER]);
  });

  it("keeps accepting Arbor's own tokens alongside the external issuer", async () => {
    await grantRole(app.store, tenantId, 'own', 'tenant_admin', null);
    const own = await app.tokens.sign({ subject: 'own', tenantId, scopes: ['ous:read'] });
    expect((await get(ousUrl(), own)).statusCode).toBe(200);
    expect(idp.requests).toBe(0);
  });

  it('accepts a key the IdP published ahead of use without fetching the JWKS again', async () => {
    idp.served = [key1, key2];
    expect((await get(ousUrl(), await idpToken(key1))).statusCode).toBe(200);
    expect((await get(ousUrl(), await idpToken(key2))).statusCode).toBe(200);
    expect(idp.requests).toBe(1);
  });

  it('picks up a key rotated at the IdP: an unknown kid refetches the JWKS (once the 60 s cooldown has passed)', async () => {
    expect((await get(ousUrl(), await idpToken(key1))).statusCode).toBe(200);
    expect(idp.requests).toBe(1);

    // The IdP rotates: only the new key is published from now on.
    idp.served = [key2];
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const response = await get(ousUrl(), await idpToken(key2));
    expect(response.statusCode, response.body).toBe(200);
    expect(idp.requests).toBe(2);
  });

  it('does not refetch the JWKS for unknown kids more than once per cooldown (60 s)', async () => {
    expect((await get(ousUrl(), await idpToken(key1))).statusCode).toBe(200);
    expect(idp.requests).toBe(1);
    const stranger = await newIdpKey();
    for (let i = 0; i < 3; i += 1) expectInvalidToken(await get(ousUrl(), await idpToken(stranger)));
    expect(idp.requests).toBe(1);
  });

  it('answers 401 (not 500) when the JWKS endpoint is unreachable', async () => {
    const brokenStore = await openTestStore();
    const broken = await buildApp(
      loadConfig({
        ...QUIET_ENV,
        DATABASE_URL: 'sqlite::memory:',
        ARBOR_EXTERNAL_ISSUER: IDP_ISSUER,
        ARBOR_EXTERNAL_JWKS_URL: `http://127.0.0.1:${idp.port}/nothing-here`,
        ARBOR_EXTERNAL_AUDIENCE: IDP_AUDIENCE,
        ARBOR_EXTERNAL_TENANT_CLAIM: 'org',
        ARBOR_EXTERNAL_SCOPE_CLAIM: 'permissions',
      }),
      { store: brokenStore, logger: false, bootstrapAdminClient: false },
    );
    try {
      const response = await broken.app.inject({
        method: 'GET',
        url: ousUrl(),
        headers: { authorization: `Bearer ${await idpToken(key1)}` },
      });
      expect(response.statusCode, response.body).toBe(401);
    } finally {
      await broken.app.close();
      await closeTestStore(brokenStore);
    }
  });
});

describe('role assignments of external principals (docs/delegated-admin.md)', () => {
  const post = async (url: string, payload: object) => {
    const response = await app.app.inject({ method: 'POST', url, headers: platformHeaders, payload });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().data as { id: string };
  };

  it("scopes an external user to its assignment's subtree, by the sub of its tokens", async () => {
    const emea = await post(ousUrl(), { name: 'EMEA' });
    const americas = await post(ousUrl(), { name: 'Americas' });
    await post(`/api/v1/tenants/${tenantId}/role-assignments`, { principal: { type: 'external', id: 'idp-user-1' }, role: 'viewer', ou_id: emea.id });
    const alice = { authorization: `Bearer ${await idpToken(key1)}` };
    expect((await app.app.inject({ method: 'GET', url: `${ousUrl()}/${emea.id}`, headers: alice })).statusCode).toBe(200);
    expect((await app.app.inject({ method: 'GET', url: `${ousUrl()}/${americas.id}`, headers: alice })).statusCode).toBe(404);
    // Another user of the same IdP, without assignments: today's behaviour under external_default 'tenant'.
    const bob = { authorization: `Bearer ${await idpToken(key1, { sub: 'idp-user-2' })}` };
    expect((await app.app.inject({ method: 'GET', url: `${ousUrl()}/${americas.id}`, headers: bob })).statusCode).toBe(200);
  });

  it("refuses an external user without assignments once the tenant's external_default is none", async () => {
    const patched = await app.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${tenantId}`, headers: platformHeaders, payload: { external_default: 'none' } });
    expect(patched.statusCode, patched.body).toBe(200);
    const response = await app.app.inject({ method: 'GET', url: ousUrl(), headers: { authorization: `Bearer ${await idpToken(key1)}` } });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('auth.no_role');
  });
});
