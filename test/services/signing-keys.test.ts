import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { type Store, openStore } from '../../src/db/store.js';
import { QUIET_ENV } from '../helpers/test-app.js';
import { TEST_DATABASE_URL, closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';

// Signing keys live in the store, so tokens survive a restart: a second start on the same store
// must reuse the key of the first, not generate a new one that rejects every issued token.
// A restart needs a store that outlives the app: a SQLite file (SQLite pass), or a PostgreSQL
// schema opened anew by each start (PostgreSQL pass). The same tests run on both.

type KeyRow = { kid: string; retired_at: unknown };

/** Where an app keeps its data across restarts. */
interface Location {
  /** Starts an app on this location, opening its store afresh (a restart). */
  start(): Promise<App>;
  /** The signing keys stored there, read by a connection of its own. */
  keys(): Promise<KeyRow[]>;
}

/** Every running app, with what closes it (and a store it was given). */
const running: { built: App; close: () => Promise<void> }[] = [];
/** Cleanups of the locations a test created, run after its apps are closed. */
const cleanups: (() => Promise<void>)[] = [];

async function stop(built: App): Promise<void> {
  const index = running.findIndex((entry) => entry.built === built);
  const [entry] = running.splice(index, 1);
  await entry.close();
}

afterEach(async () => {
  for (const entry of running.splice(0).reverse()) await entry.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const listTenants = (built: App, token: string) =>
  built.app.inject({ method: 'GET', url: '/api/v1/tenants', headers: { authorization: `Bearer ${token}` } });

function signingKeyTests(newLocation: () => Promise<Location>): void {
  let location: Location;
  beforeEach(async () => {
    location = await newLocation();
  });

  it('generates exactly one signing key on the first start', async () => {
    const first = await location.start();
    const rows = await first.store.db.selectFrom('signing_keys').select(['kid', 'retired_at']).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0].retired_at).toBeNull();
  });

  it('accepts on a later start a platform token signed before the restart, and adds no key', async () => {
    const first = await location.start();
    const token = await first.tokens.sign({ subject: 'restart', scopes: ['platform:admin'] });
    expect((await listTenants(first, token)).statusCode).toBe(200);
    await stop(first);
    const keysAfterFirst = await location.keys();
    expect(keysAfterFirst).toHaveLength(1);

    const second = await location.start();
    const response = await listTenants(second, token);
    expect(response.statusCode, response.body).toBe(200);
    await stop(second);
    expect(await location.keys()).toEqual(keysAfterFirst);
  });

  it('rejects a token signed by an app on another store (the acceptance above is the shared key, not leniency)', async () => {
    const other = await (await newLocation()).start();
    const foreignToken = await other.tokens.sign({ subject: 'other', scopes: ['platform:admin'] });
    await stop(other);

    const app = await location.start();
    const response = await listTenants(app, foreignToken);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'auth.invalid_token' });
  });
}

// A file that outlives the process's connections: SQLite only (the PostgreSQL pass runs the describe below).
describe.skipIf(isPostgresPass)('signing keys on a SQLite file', () => {
  signingKeyTests(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-keys-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'arbor.sqlite');
    return {
      async start() {
        // No store passed: buildApp opens the file itself and closes it on app.close().
        const built = await buildApp(loadConfig({ ...QUIET_ENV, DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent' }), {
          logger: false,
          bootstrapAdminClient: false,
        });
        running.push({ built, close: () => built.app.close() });
        return built;
      },
      async keys() {
        const sqlite = new SqliteDatabase(file, { readonly: true });
        try {
          return sqlite.prepare('SELECT kid, retired_at FROM signing_keys ORDER BY kid').all() as KeyRow[];
        } finally {
          sqlite.close();
        }
      },
    };
  });
});

describe.skipIf(!isPostgresPass)('signing keys on a PostgreSQL schema', () => {
  signingKeyTests(async () => {
    // The test store owns the schema (and drops it at the end); every start opens its own pool on it.
    const owner: Store = await openTestStore();
    cleanups.push(() => closeTestStore(owner));
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(owner.db);
    const schema = rows[0].schema;
    expect(schema).toMatch(/^t_/);
    return {
      async start() {
        const store = openStore(TEST_DATABASE_URL!, { schema, poolSize: 2 });
        try {
          const built = await buildApp(loadConfig({ ...QUIET_ENV, DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'silent' }), {
            store,
            logger: false,
            bootstrapAdminClient: false,
          });
          // A given store outlives app.close(): close it too, as a stopping process would.
          const close = async () => {
            await built.app.close();
            await store.close();
          };
          running.push({ built, close });
          return built;
        } catch (error) {
          await store.close();
          throw error;
        }
      },
      keys: () => owner.db.selectFrom('signing_keys').select(['kid', 'retired_at']).orderBy('kid').execute(),
    };
  });
});
