import { decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/store.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { UnauthorizedError } from '../../src/errors.js';
import { type TokenService, createTokenService } from '../../src/services/token-service.js';
import { createTenant } from '../helpers/factories.js';
import { grantRole, useTestApp } from '../helpers/test-app.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

const ISSUER = 'http://arbor.test';
const AUDIENCE = 'arbor';
const TTL_SECONDS = 60;
const TOLERANCE_SECONDS = 30;
/** How long a retired key must stay usable: the tokens it signed, the clock tolerance, and two key re-reads. */
const RETIRED_KEY_LIFETIME_MS = (TTL_SECONDS + TOLERANCE_SECONDS) * 1000 + 2 * 60_000;

const kidOf = (token: string) => decodeProtectedHeader(token).kid as string;
const kidsOf = async (tokens: TokenService) => (await tokens.jwks()).keys.map((k) => k.kid);

describe('key rotation through the app', () => {
  // No verification cache: every request below really checks the signature against the keys.
  const t = useTestApp({ tokenCacheSize: 0 });

  it('still accepts (GET 200) a token signed before tokens.rotate()', async () => {
    const tenant = await createTenant(t.ctx);
    await grantRole(t.ctx.store, tenant.id, 'before', 'tenant_admin', null);
    const before = await t.ctx.tokens.sign({ subject: 'before', tenantId: tenant.id, scopes: ['ous:read'] });
    const newKid = await t.ctx.tokens.rotate();
    expect(kidOf(before)).not.toBe(newKid);
    const response = await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous`, headers: { authorization: `Bearer ${before}` } });
    expect(response.statusCode, response.body).toBe(200);
  });

  it('signs tokens after rotation with the new kid, and they are accepted', async () => {
    const tenant = await createTenant(t.ctx);
    const oldKid = kidOf(t.ctx.platformToken);
    const newKid = await t.ctx.tokens.rotate();
    expect(newKid).not.toBe(oldKid);
    await grantRole(t.ctx.store, tenant.id, 'after', 'tenant_admin', null);
    const after = await t.ctx.tokens.sign({ subject: 'after', tenantId: tenant.id, scopes: ['ous:read'] });
    expect(kidOf(after)).toBe(newKid);
    const response = await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous`, headers: { authorization: `Bearer ${after}` } });
    expect(response.statusCode, response.body).toBe(200);
  });

  it('lists both the old and the new kid in /.well-known/jwks.json right after rotation', async () => {
    const oldKid = kidOf(t.ctx.platformToken);
    const newKid = await t.ctx.tokens.rotate();
    const response = await t.ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    const kids = (response.json().keys as { kid: string }[]).map((k) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(kids).toHaveLength(2);
  });
});

describe('key rotation with a controllable clock', () => {
  let store: Store;
  let fakeNow: number;
  const clock = () => fakeNow;
  const service = (overrides: { cacheSize?: number } = {}) =>
    createTokenService({ store, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS, now: clock, ...overrides });

  beforeEach(async () => {
    store = await openTestStore();
    await migrateToLatest(store.db);
    fakeNow = Date.parse('2030-01-01T00:00:00.000Z');
  });

  afterEach(async () => {
    await closeTestStore(store);
  });

  it('keeps verifying a token of the old key after rotation, while it is unexpired', async () => {
    const tokens = service();
    await tokens.ensureSigningKey();
    const old = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    await tokens.rotate();
    fakeNow += 30_000;
    await expect(tokens.verify(old)).resolves.toMatchObject({ kind: 'tenant', tenantId: 'ten_1' });
  });

  it('keeps the retired key in the JWKS at least until every token it signed has expired', async () => {
    const tokens = service();
    await tokens.ensureSigningKey();
    const oldKid = kidOf(await tokens.sign({ subject: 's', scopes: ['platform:admin'] }));
    const newKid = await tokens.rotate();
    expect(await kidsOf(tokens)).toEqual(expect.arrayContaining([oldKid, newKid]));
    // A token signed just before rotation lives ttl + tolerance; another instance may sign with the old key for one more re-read (60 s).
    fakeNow += (TTL_SECONDS + TOLERANCE_SECONDS + 60) * 1000;
    expect(await kidsOf(tokens)).toEqual(expect.arrayContaining([oldKid, newKid]));
  });

  it('drops the old key from the JWKS once it is older than ttl + 30 s tolerance + 2 minutes', async () => {
    const tokens = service();
    await tokens.ensureSigningKey();
    const oldKid = kidOf(await tokens.sign({ subject: 's', scopes: ['platform:admin'] }));
    const newKid = await tokens.rotate();
    fakeNow += RETIRED_KEY_LIFETIME_MS + 1_000;
    const kids = await kidsOf(tokens);
    expect(kids).not.toContain(oldKid);
    expect(kids).toEqual([newKid]);
  });

  it('refuses with UnauthorizedError a token of the old key once that key has left the JWKS, for its unknown key', async () => {
    const tokens = service();
    await tokens.ensureSigningKey();
    const old = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    await tokens.rotate();
    fakeNow += RETIRED_KEY_LIFETIME_MS + 1_000;
    const error = await tokens.verify(old).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).code).toBe('auth.invalid_token');
    // The key is looked up before the claims are checked: the refusal names the key, not the expiry.
    expect((error as Error).message).toMatch(/key/i);
  });

  it('signs with the new key and verifies it after rotation', async () => {
    const tokens = service();
    await tokens.ensureSigningKey();
    const newKid = await tokens.rotate();
    const token = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    expect(kidOf(token)).toBe(newKid);
    await expect(tokens.verify(token)).resolves.toMatchObject({ kind: 'tenant', tenantId: 'ten_1' });
  });

  it('keeps a token of a key rotated out twice verifiable while it is unexpired', async () => {
    const tokens = service();
    await tokens.ensureSigningKey();
    const first = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    await tokens.rotate();
    fakeNow += 1_000;
    await tokens.rotate();
    fakeNow += 1_000;
    await expect(tokens.verify(first)).resolves.toMatchObject({ tenantId: 'ten_1' });
    expect(await kidsOf(tokens)).toHaveLength(3);
  });

  describe('two instances on one store', () => {
    it('verify each other\'s tokens (the second instance reuses the first one\'s key)', async () => {
      const a = service();
      const b = service();
      await a.ensureSigningKey();
      await b.ensureSigningKey();
      const fromA = await a.sign({ subject: 'a', tenantId: 'ten_1', scopes: ['ous:read'] });
      const fromB = await b.sign({ subject: 'b', tenantId: 'ten_1', scopes: ['ous:read'] });
      expect(kidOf(fromA)).toBe(kidOf(fromB));
      await expect(b.verify(fromA)).resolves.toMatchObject({ subject: 'a' });
      await expect(a.verify(fromB)).resolves.toMatchObject({ subject: 'b' });
    });

    it('picks up a rotation by the other instance on an unknown kid, re-reading the store at most every 10 s', async () => {
      const a = service();
      const b = service();
      await a.ensureSigningKey();
      await b.ensureSigningKey();
      const newKid = await a.rotate();
      const fromA = await a.sign({ subject: 'a', tenantId: 'ten_1', scopes: ['ous:read'] });
      expect(kidOf(fromA)).toBe(newKid);
      // B read the store less than 10 s ago: no re-read yet.
      await expect(b.verify(fromA)).rejects.toBeInstanceOf(UnauthorizedError);
      fakeNow += 10_001;
      await expect(b.verify(fromA)).resolves.toMatchObject({ subject: 'a', tenantId: 'ten_1' });
      expect(await kidsOf(b)).toContain(newKid);
    });

    it('accepts on the rotating instance the tokens the other one still signs with the old key', async () => {
      const a = service();
      const b = service();
      await a.ensureSigningKey();
      await b.ensureSigningKey();
      const oldKid = kidOf(await b.sign({ subject: 'b', scopes: ['platform:admin'] }));
      await a.rotate();
      fakeNow += 5_000;
      // B has not re-read the store yet, so it still signs with the now retired key.
      const fromB = await b.sign({ subject: 'b', tenantId: 'ten_1', scopes: ['ous:read'] });
      expect(kidOf(fromB)).toBe(oldKid);
      await expect(a.verify(fromB)).resolves.toMatchObject({ subject: 'b' });
    });

    it('makes the other instance sign with the new key and publish it once it re-reads the store (within 60 s)', async () => {
      const a = service();
      const b = service();
      await a.ensureSigningKey();
      await b.ensureSigningKey();
      const newKid = await a.rotate();
      fakeNow += 60_001;
      expect(await kidsOf(b)).toContain(newKid);
      const fromB = await b.sign({ subject: 'b', tenantId: 'ten_1', scopes: ['ous:read'] });
      expect(kidOf(fromB)).toBe(newKid);
      await expect(a.verify(fromB)).resolves.toMatchObject({ subject: 'b' });
    });

    it('lets the non-rotating instance still verify tokens of the old key after it re-reads the store', async () => {
      const a = service();
      const b = service();
      await a.ensureSigningKey();
      await b.ensureSigningKey();
      const old = await a.sign({ subject: 'a', tenantId: 'ten_1', scopes: ['ous:read'] });
      await a.rotate();
      fakeNow += 60_001;
      await expect(b.verify(old)).resolves.toMatchObject({ subject: 'a' });
    });
  });
});
