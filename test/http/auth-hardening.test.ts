import { Writable } from 'node:stream';
import { SignJWT, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { expectError } from '../helpers/assertions.js';
import { createTenant } from '../helpers/factories.js';
import { QUIET_ENV, useTestApp } from '../helpers/test-app.js';
import { basic } from '../helpers/tokens.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('token endpoint brute-force limit', () => {
  const t = useTestApp({ tokenFailedAuthLimit: 10 });

  it('counts concurrent guesses before hashing, so at most the limit of them is checked', async () => {
    const tenant = await createTenant(t.ctx);
    const created = await t.ctx.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant.id}/clients`,
      headers: t.ctx.platformHeaders,
      payload: { name: 'target', scopes: ['ous:read'] },
    });
    const clientId = created.json().data.id as string;
    const guesses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        t.ctx.app.inject({
          method: 'POST',
          url: '/oauth/token',
          headers: { ...FORM, authorization: basic(clientId, `wrong-${i}`) },
          payload: 'grant_type=client_credentials',
        }),
      ),
    );
    const statuses = guesses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  });

  it('refuses an absurdly long client_id as invalid_client without remembering it', async () => {
    const response = await t.ctx.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: FORM,
      payload: `grant_type=client_credentials&client_id=${'x'.repeat(10_000)}&client_secret=s`,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'invalid_client' });
  });
});

describe('logs and faults around tokens', () => {
  it('logs request URLs with credential parameters redacted', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const store = await openTestStore();
    const { app } = await buildApp(loadConfig({ ...QUIET_ENV, LOG_LEVEL: 'info' }), { store, logStream: stream, bootstrapAdminClient: false });
    try {
      await app.inject({ method: 'GET', url: '/api/v1/tenants?access_token=SECRET-TOKEN-1&page=1' });
      await app.inject({ method: 'POST', url: '/oauth/token?client_secret=SECRET-2', headers: FORM, payload: 'grant_type=client_credentials' });
      const log = lines.join('');
      expect(log).toContain('access_token=[redacted]&page=1');
      expect(log).not.toContain('SECRET-TOKEN-1');
      expect(log).not.toContain('SECRET-2');
    } finally {
      await app.close();
      await closeTestStore(store);
    }
  });

  it('answers 500, not 401, when the store fails while a token is being verified', async () => {
    const store = await openTestStore();
    const { app } = await buildApp(loadConfig({ ...QUIET_ENV, LOG_LEVEL: 'silent' }), { store, logger: false, bootstrapAdminClient: false });
    try {
      // A kid Arbor has never seen makes it re-read the keys, from a store that is now gone.
      const { privateKey } = await generateKeyPair('ES256');
      const config = loadConfig({});
      const token = await new SignJWT({ scope: 'platform:admin' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'never-seen' })
        .setIssuer(config.issuer)
        .setAudience(config.audience)
        .setSubject('x')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // past the unknown-kid re-read interval
      await store.close();
      const response = await app.inject({ method: 'GET', url: '/api/v1/tenants', headers: { authorization: `Bearer ${token}` } });
      expectError(response, 500, 'internal_error');
    } finally {
      await app.close();
      await closeTestStore(store).catch(() => {});
    }
  });
});

describe('readiness', () => {
  it('is ready when the store answers and the schema is current, and 503 once the store is gone', async () => {
    const store = await openTestStore();
    const { app } = await buildApp(loadConfig({ ...QUIET_ENV, LOG_LEVEL: 'silent' }), { store, logger: false, bootstrapAdminClient: false });
    try {
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready' });
      await store.close();
      const gone = await app.inject({ method: 'GET', url: '/readyz' });
      expect(gone.statusCode).toBe(503);
      expect(gone.json()).toMatchObject({ status: 'not_ready' });
      // Liveness does no I/O: still fine.
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await closeTestStore(store).catch(() => {});
    }
  });
});
