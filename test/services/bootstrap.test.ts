import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { Store } from '../../src/db/store.js';
import { createClientService } from '../../src/services/client-service.js';
import { QUIET_ENV } from '../helpers/test-app.js';
import { closeTestStore, openTestStore } from '../helpers/test-store.js';
import { basic } from '../helpers/tokens.js';

type Env = Record<string, string | undefined>;

const MEMORY: Env = { DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' };
const ADMIN: Env = { ...MEMORY, ARBOR_ADMIN_CLIENT_ID: 'admin', ARBOR_ADMIN_CLIENT_SECRET: 'a-long-enough-secret' };

function requestToken(built: App, id: string, secret: string): Promise<LightMyRequestResponse> {
  return built.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
    payload: 'grant_type=client_credentials',
  });
}

/**
 * Every app and store a test opened, closed afterwards (apps first: an app never closes a store
 * it is given). Every app runs on a test store (test-store.ts), so the PostgreSQL pass covers it too.
 */
const opened: { apps: App[]; stores: Store[] } = { apps: [], stores: [] };

/** Starts an app on `options.store`, or on a fresh test store of its own. */
async function start(env: Env, options: { store?: Store; bootstrapAdminClient?: boolean } = {}): Promise<App> {
  const store = options.store ?? (await newStore());
  const built = await buildApp(loadConfig({ ...QUIET_ENV, ...env }), { logger: false, ...options, store });
  opened.apps.push(built);
  return built;
}

/** Closes an app mid-test, as a restart does. */
async function stop(built: App): Promise<void> {
  opened.apps.splice(opened.apps.indexOf(built), 1);
  await built.app.close();
}

/** A test store that outlives the apps started on it (restarts on the same store). */
async function newStore(): Promise<Store> {
  const store = await openTestStore();
  opened.stores.push(store);
  return store;
}

afterEach(async () => {
  for (const built of opened.apps.splice(0).reverse()) await built.app.close();
  for (const store of opened.stores.splice(0)) await closeTestStore(store);
});

describe('platform admin client bootstrap', () => {
  it('generates a platform client {id, secret} at first start on an empty store (bootstrapAdminClient defaults to true)', async () => {
    const built = await start(MEMORY);
    expect(built.generatedAdminClient).toEqual({ id: expect.any(String), secret: expect.any(String) });
    expect(built.generatedAdminClient!.secret.length).toBeGreaterThanOrEqual(32);
    const row = await built.store.db.selectFrom('api_clients').selectAll().where('id', '=', built.generatedAdminClient!.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ tenant_id: null, scopes: 'platform:admin' });
    expect(row.secret_hash.startsWith('scrypt$')).toBe(true);
    expect(row.secret_hash).not.toContain(built.generatedAdminClient!.secret);
  });

  it("gives the generated client a token with scope 'platform:admin' that can POST /api/v1/tenants", async () => {
    const built = await start(MEMORY);
    const { id, secret } = built.generatedAdminClient!;
    const token = await requestToken(built, id, secret);
    expect(token.statusCode, token.body).toBe(200);
    expect(token.json().scope).toBe('platform:admin');
    const created = await built.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { authorization: `Bearer ${token.json().access_token}` },
      payload: { name: 'Acme' },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().data.name).toBe('Acme');
  });

  it('creates nothing new on a second ensurePlatformClient(null) on the same store (returns null)', async () => {
    const built = await start(MEMORY);
    expect(built.generatedAdminClient).not.toBeNull();
    const again = await createClientService({ store: built.store }).ensurePlatformClient(null);
    expect(again).toBeNull();
    const platformClients = await built.store.db.selectFrom('api_clients').select('id').where('tenant_id', 'is', null).execute();
    expect(platformClients).toHaveLength(1);
  });

  it('generates nothing on a restart on the same store, and the first credentials keep working', async () => {
    const store = await newStore();
    const first = await start(MEMORY, { store });
    const credentials = first.generatedAdminClient!;
    expect(credentials).not.toBeNull();
    await stop(first);
    const second = await start(MEMORY, { store });
    expect(second.generatedAdminClient).toBeNull();
    const token = await requestToken(second, credentials.id, credentials.secret);
    expect(token.statusCode, token.body).toBe(200);
    expect(token.json().scope).toBe('platform:admin');
  });

  it('generates nothing with bootstrapAdminClient: false', async () => {
    const built = await start(MEMORY, { bootstrapAdminClient: false });
    expect(built.generatedAdminClient).toBeNull();
    expect(await built.store.db.selectFrom('api_clients').selectAll().execute()).toEqual([]);
  });

  it("ensures the configured client instead (generatedAdminClient null) and gives 'admin' a platform token", async () => {
    const config = loadConfig(ADMIN);
    expect(config.adminClient).toEqual({ id: 'admin', secret: 'a-long-enough-secret' });
    const built = await start(ADMIN);
    expect(built.generatedAdminClient).toBeNull();
    const token = await requestToken(built, 'admin', 'a-long-enough-secret');
    expect(token.statusCode, token.body).toBe(200);
    expect(token.json().scope).toBe('platform:admin');
    const created = await built.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { authorization: `Bearer ${token.json().access_token}` },
      payload: { name: 'Configured Co' },
    });
    expect(created.statusCode, created.body).toBe(201);
    const platformClients = await built.store.db.selectFrom('api_clients').select('id').where('tenant_id', 'is', null).execute();
    expect(platformClients).toEqual([{ id: 'admin' }]);
  });

  it('makes the old secret fail and the new one work after a restart with a changed ARBOR_ADMIN_CLIENT_SECRET', async () => {
    const store = await newStore();
    const first = await start(ADMIN, { store });
    expect((await requestToken(first, 'admin', 'a-long-enough-secret')).statusCode).toBe(200);
    await stop(first);

    const second = await start({ ...ADMIN, ARBOR_ADMIN_CLIENT_SECRET: 'another-long-enough-secret' }, { store });
    expect(second.generatedAdminClient).toBeNull();
    const old = await requestToken(second, 'admin', 'a-long-enough-secret');
    expect(old.statusCode, old.body).toBe(401);
    expect(old.json().error).toBe('invalid_client');
    const renewed = await requestToken(second, 'admin', 'another-long-enough-secret');
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect(renewed.json().scope).toBe('platform:admin');
  });

  it('keeps the configured client as is on a restart with the same secret', async () => {
    const store = await newStore();
    const first = await start(ADMIN, { store });
    const before = await first.store.db.selectFrom('api_clients').selectAll().where('id', '=', 'admin').executeTakeFirstOrThrow();
    await stop(first);
    const second = await start(ADMIN, { store });
    const after = await second.store.db.selectFrom('api_clients').selectAll().where('id', '=', 'admin').executeTakeFirstOrThrow();
    expect(after).toEqual(before);
  });

  it("refuses to start when ARBOR_ADMIN_CLIENT_ID names a tenant's client", async () => {
    const store = await newStore();
    const first = await start(MEMORY, { store, bootstrapAdminClient: false });
    const platformToken = await first.tokens.sign({ subject: 'test', scopes: ['platform:admin'] });
    const headers = { authorization: `Bearer ${platformToken}` };
    const tenant = (await first.app.inject({ method: 'POST', url: '/api/v1/tenants', headers, payload: { name: 'T' } })).json().data;
    const client = (
      await first.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenant.id}/clients`, headers, payload: { name: 'c', scopes: ['ous:read'] } })
    ).json().data;
    await stop(first);
    await expect(buildApp(loadConfig({ ...ADMIN, ARBOR_ADMIN_CLIENT_ID: client.id }), { store, logger: false })).rejects.toThrow(/tenant/);
    const row = await store.db.selectFrom('api_clients').selectAll().where('id', '=', client.id).executeTakeFirstOrThrow();
    expect(row.scopes).toBe('ous:read');
  });

  it.each([
    ['only ARBOR_ADMIN_CLIENT_ID', { ARBOR_ADMIN_CLIENT_ID: 'admin' }],
    ['only ARBOR_ADMIN_CLIENT_SECRET', { ARBOR_ADMIN_CLIENT_SECRET: 'a-long-enough-secret' }],
  ])('refuses a configuration with %s (ConfigError)', (_label, env) => {
    expect(() => loadConfig({ ...MEMORY, ...env })).toThrow(ConfigError);
  });

  it('refuses an admin secret shorter than 16 characters (ConfigError)', () => {
    expect(() => loadConfig({ ...MEMORY, ARBOR_ADMIN_CLIENT_ID: 'admin', ARBOR_ADMIN_CLIENT_SECRET: 'short' })).toThrow(ConfigError);
  });
});

describe('resetting a platform client secret (admin:reset-secret)', () => {
  it('gives the only platform client a new secret: the new one gets a token, the old one is refused', async () => {
    const built = await start(MEMORY);
    const first = built.generatedAdminClient!;
    const reset = await createClientService({ store: built.store }).resetPlatformSecret();
    expect(reset).toEqual({ id: first.id, secret: expect.any(String), created: false });
    expect((await requestToken(built, first.id, reset.secret)).statusCode).toBe(200);
    expect((await requestToken(built, first.id, first.secret)).statusCode).toBe(401);
  });

  it('creates a platform client when there is none', async () => {
    const built = await start(MEMORY, { bootstrapAdminClient: false });
    const reset = await createClientService({ store: built.store }).resetPlatformSecret();
    expect(reset.created).toBe(true);
    const token = await requestToken(built, reset.id, reset.secret);
    expect(token.json().scope).toBe('platform:admin');
  });

  it('asks which one when there are several, and refuses an id that is not a platform client’s, changing nothing', async () => {
    const built = await start(ADMIN);
    const service = createClientService({ store: built.store });
    // A second platform client beside the configured 'admin'.
    await built.store.db.insertInto('api_clients').values({ id: 'cli_second', tenant_id: null, name: 'Second', secret_hash: 'x', scopes: 'platform:admin', created_at: new Date().toISOString() }).execute();
    const before = await built.store.db.selectFrom('api_clients').selectAll().orderBy('id').execute();
    await expect(service.resetPlatformSecret()).rejects.toThrow(/2 platform clients \(admin, cli_second\): name the one to reset \(--id\)/);
    await expect(service.resetPlatformSecret('cli_nobody')).rejects.toThrow(/'cli_nobody' is not a platform client/);
    expect(await built.store.db.selectFrom('api_clients').selectAll().orderBy('id').execute()).toEqual(before);
    const chosen = await service.resetPlatformSecret('cli_second');
    expect((await requestToken(built, 'cli_second', chosen.secret)).statusCode).toBe(200);
  });
});
