import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

// Signing keys live in the store, so tokens survive a restart: a second start on the same file
// must reuse the key of the first, not generate a new one that rejects every issued token.

let dir: string;
let file: string;
const running: App[] = [];

async function start(databaseFile: string): Promise<App> {
  // No store passed: buildApp opens the file itself and closes it on app.close().
  const built = await buildApp(loadConfig({ DATABASE_URL: `sqlite:${databaseFile}`, LOG_LEVEL: 'silent' }), {
    logger: false,
    bootstrapAdminClient: false,
  });
  running.push(built);
  return built;
}

async function stop(built: App): Promise<void> {
  running.splice(running.indexOf(built), 1);
  await built.app.close();
}

/** The signing keys on the file, read by a connection of its own. */
function keysOnFile(databaseFile: string): { kid: string; retired_at: string | null }[] {
  const sqlite = new SqliteDatabase(databaseFile, { readonly: true });
  try {
    return sqlite.prepare('SELECT kid, retired_at FROM signing_keys ORDER BY kid').all() as { kid: string; retired_at: string | null }[];
  } finally {
    sqlite.close();
  }
}

const listTenants = (built: App, token: string) =>
  built.app.inject({ method: 'GET', url: '/api/v1/tenants', headers: { authorization: `Bearer ${token}` } });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arbor-keys-'));
  file = join(dir, 'arbor.sqlite');
});

afterEach(async () => {
  for (const built of running.splice(0)) await built.app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('signing keys on a SQLite file', () => {
  it('generates exactly one signing key on the first start', async () => {
    const first = await start(file);
    const rows = await first.store.db.selectFrom('signing_keys').select(['kid', 'retired_at']).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0].retired_at).toBeNull();
  });

  it('accepts on a later start a platform token signed before the restart, and adds no key', async () => {
    const first = await start(file);
    const token = await first.tokens.sign({ subject: 'restart', scopes: ['platform:admin'] });
    expect((await listTenants(first, token)).statusCode).toBe(200);
    await stop(first);
    const keysAfterFirst = keysOnFile(file);
    expect(keysAfterFirst).toHaveLength(1);

    const second = await start(file);
    const response = await listTenants(second, token);
    expect(response.statusCode, response.body).toBe(200);
    await stop(second);
    expect(keysOnFile(file)).toEqual(keysAfterFirst);
  });

  it('rejects a token signed by an app on another file (the acceptance above is the shared key, not leniency)', async () => {
    const other = await start(join(dir, 'other.sqlite'));
    const foreignToken = await other.tokens.sign({ subject: 'other', scopes: ['platform:admin'] });
    await stop(other);

    const app = await start(file);
    const response = await listTenants(app, foreignToken);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'auth.invalid_token' });
  });
});
