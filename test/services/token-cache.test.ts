import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Store } from '../../src/db/store.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { UnauthorizedError } from '../../src/errors.js';
import { createTokenService } from '../../src/services/token-service.js';
import { createTenant } from '../helpers/factories.js';
import { useTestApp } from '../helpers/test-app.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

const TTL_SECONDS = 60;
const TOLERANCE_SECONDS = 30;

/*
 * How a cache hit is observed: a full verification builds a new principal object every time, while
 * a hit returns the object stored at the first verification. So `verify(t)` returning the very same
 * object twice means the second call was served from the cache, without touching jose or the keys.
 */
describe('verified-token cache', () => {
  let store: Store;
  let fakeNow: number;
  const clock = () => fakeNow;
  const service = (cacheSize: number) =>
    createTokenService({ store, issuer: 'http://arbor.test', audience: 'arbor', ttlSeconds: TTL_SECONDS, cacheSize, now: clock });

  beforeEach(async () => {
    store = await openTestStore();
    await migrateToLatest(store.db);
    fakeNow = Date.parse('2030-01-01T00:00:00.000Z');
  });

  afterEach(async () => {
    await closeTestStore(store);
  });

  it('serves a second verify() of the same token from the cache (cacheSize 100)', async () => {
    const tokens = service(100);
    await tokens.ensureSigningKey();
    const token = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    const first = await tokens.verify(token);
    const second = await tokens.verify(token);
    expect(first).toMatchObject({ kind: 'tenant', subject: 's', tenantId: 'ten_1' });
    expect(second).toBe(first);
  });

  it('keys the cache by the exact token string: another token of the same key is verified on its own', async () => {
    const tokens = service(100);
    await tokens.ensureSigningKey();
    const a = await tokens.sign({ subject: 'a', tenantId: 'ten_1', scopes: ['ous:read'] });
    const b = await tokens.sign({ subject: 'b', tenantId: 'ten_2', scopes: ['users:read'] });
    const pa = await tokens.verify(a);
    const pb = await tokens.verify(b);
    expect(pb).not.toBe(pa);
    expect(pb).toMatchObject({ subject: 'b', tenantId: 'ten_2' });
    expect(await tokens.verify(a)).toBe(pa);
  });

  it('does not cache a refused token: a tampered token is refused every time', async () => {
    const tokens = service(100);
    await tokens.ensureSigningKey();
    const token = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    const [header, payload, signature] = token.split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), scope: 'ous:write' })).toString('base64url')}.${signature}`;
    for (let i = 0; i < 3; i += 1) await expect(tokens.verify(forged)).rejects.toBeInstanceOf(UnauthorizedError);
    // The genuine token is unaffected.
    await expect(tokens.verify(token)).resolves.toMatchObject({ subject: 's' });
  });

  it('still serves a cached token up to exp + 30 s tolerance', async () => {
    const tokens = service(100);
    await tokens.ensureSigningKey();
    const token = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    const first = await tokens.verify(token);
    fakeNow += (TTL_SECONDS + TOLERANCE_SECONDS - 1) * 1000;
    expect(await tokens.verify(token)).toBe(first);
  });

  it('refuses an expired cached token with UnauthorizedError (expiry is checked on every hit)', async () => {
    const tokens = service(100);
    await tokens.ensureSigningKey();
    const token = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    await tokens.verify(token);
    fakeNow += (TTL_SECONDS + TOLERANCE_SECONDS + 1) * 1000;
    const error = await tokens.verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).code).toBe('auth.invalid_token');
    expect((error as Error).message).toMatch(/expired/i);
  });

  it('answers the same for an expired token, cached or not (cacheSize 100 and 0 agree)', async () => {
    const cached = service(100);
    const uncached = service(0);
    await cached.ensureSigningKey();
    await uncached.ensureSigningKey();
    const token = await cached.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    await cached.verify(token);
    await uncached.verify(token);
    for (const offset of [TTL_SECONDS + TOLERANCE_SECONDS - 1, TTL_SECONDS + TOLERANCE_SECONDS + 1]) {
      fakeNow = Date.parse('2030-01-01T00:00:00.000Z') + offset * 1000;
      const outcomes = await Promise.all([cached, uncached].map((s) => s.verify(token).then(() => 'accepted', () => 'refused')));
      expect(outcomes[0], `at +${offset} s`).toBe(outcomes[1]);
    }
  });

  it('refuses a cached token at exactly exp + 30 s, as a full verification does (jose: exp <= now - tolerance is expired)', async () => {
    const cached = service(100);
    const uncached = service(0);
    await cached.ensureSigningKey();
    await uncached.ensureSigningKey();
    const start = fakeNow;
    const token = await cached.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    await cached.verify(token);
    fakeNow = start + (TTL_SECONDS + TOLERANCE_SECONDS) * 1000;
    await expect(uncached.verify(token)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(cached.verify(token)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('disables caching with cacheSize 0: every verify() is a full verification', async () => {
    const tokens = service(0);
    await tokens.ensureSigningKey();
    const token = await tokens.sign({ subject: 's', tenantId: 'ten_1', scopes: ['ous:read'] });
    const first = await tokens.verify(token);
    const second = await tokens.verify(token);
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
  });

  it('bounds the cache at cacheSize entries, evicting the least recently used', async () => {
    const tokens = service(2);
    await tokens.ensureSigningKey();
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((subject) => tokens.sign({ subject, tenantId: 'ten_1', scopes: ['ous:read'] })));
    const pa = await tokens.verify(a);
    const pb = await tokens.verify(b);
    await tokens.verify(c); // evicts a
    expect(await tokens.verify(b)).toBe(pb);
    const again = await tokens.verify(a);
    expect(again).toEqual(pa);
    expect(again).not.toBe(pa);
  });
});

describe('verified-token cache in the app', () => {
  const t = useTestApp({ tokenCacheSize: 100 });

  it('caches identity only: a cached token is still held to its scope and tenant on every request', async () => {
    const tenant = await createTenant(t.ctx);
    const other = await createTenant(t.ctx);
    const headers = await t.ctx.headersFor(tenant.id, ['ous:read']);
    for (let i = 0; i < 2; i += 1) {
      expect((await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous`, headers })).statusCode).toBe(200);
      const write = await t.ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenant.id}/ous`, headers, payload: { name: 'x' } });
      expect(write.statusCode).toBe(403);
      expect((await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${other.id}/ous`, headers })).statusCode).toBe(403);
    }
  });

  it('reads ARBOR_TOKEN_CACHE_SIZE, 0 included, and defaults to 10000', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:', ARBOR_TOKEN_CACHE_SIZE: '0' }).tokenCacheSize).toBe(0);
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:', ARBOR_TOKEN_CACHE_SIZE: '100' }).tokenCacheSize).toBe(100);
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).tokenCacheSize).toBe(10_000);
  });
});
