import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, sqliteFile } from '../../src/config.js';
import { type Store, openStore } from '../../src/db/store.js';
import { MIGRATION_NAMES, migrateToLatest } from '../../src/db/migrator.js';
import { isPostgresPass } from '../helpers/test-store.js';

let dir: string;
const opened: Store[] = [];

function open(url: string): Store {
  const store = openStore(url);
  opened.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arbor-store-'));
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

// SQLite-only: files, folders, WAL and PRAGMAs of the SQLite store (loadConfig below runs in both passes).
describe.skipIf(isPostgresPass)('openStore on a SQLite file', () => {
  it('creates the missing folders and the database file', async () => {
    const file = join(dir, 'nested', 'dir', 'arbor.sqlite');
    const store = open(`sqlite:${file}`);
    await sql`SELECT 1`.execute(store.db);
    expect(statSync(join(dir, 'nested', 'dir')).isDirectory()).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  it('runs the file in WAL mode with foreign keys enforced', async () => {
    const store = open(`sqlite:${join(dir, 'nested', 'dir', 'arbor.sqlite')}`);
    const journal = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(store.db);
    const foreignKeys = await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(store.db);
    expect(journal.rows).toEqual([{ journal_mode: 'wal' }]);
    expect(foreignKeys.rows).toEqual([{ foreign_keys: 1 }]);
  });

  it('refuses a user in an OU that does not exist (foreign keys are on)', async () => {
    const store = open(`sqlite:${join(dir, 'fk.sqlite')}`);
    await migrateToLatest(store.db);
    const now = new Date().toISOString();
    await store.db.insertInto('tenants').values({ id: 'tnt_1', name: 'T', slug: 't', created_at: now, updated_at: now }).execute();
    const user = {
      tenant_id: 'tnt_1',
      id: 'usr_1',
      email: 'a@x.io',
      email_key: 'a@x.io',
      display_name: null,
      display_name_key: null,
      ou_id: 'ou_missing',
      status: 'active' as const,
      custom_attributes: null,
      created_at: now,
      updated_at: now,
    };
    await expect(store.db.insertInto('users').values(user).execute()).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
  });

  it('applies 0001-initial and the later migrations to a new file, and nothing when reopened', async () => {
    const url = `sqlite:${join(dir, 'nested', 'dir', 'arbor.sqlite')}`;
    const first = open(url);
    const { applied } = await migrateToLatest(first.db);
    expect(applied[0]).toBe('0001-initial');
    expect(applied.length).toBeGreaterThan(1);
    expect(new Set(applied).size).toBe(applied.length);
    expect((await migrateToLatest(first.db)).applied).toEqual([]);
    await first.close();
    opened.splice(opened.indexOf(first), 1);

    const second = open(url);
    expect((await migrateToLatest(second.db)).applied).toEqual([]);
    const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`.execute(second.db);
    expect(tables.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['api_clients', 'org_units', 'signing_keys', 'tenants', 'users']));
  });

  it('applies no migration at all when one of them fails (the run is one transaction)', async () => {
    const url = `sqlite:${join(dir, 'half.sqlite')}`;
    const store = open(url);
    // The last migration creates store_probe: a table of that name already there makes it fail
    // after every earlier migration has run.
    await sql`CREATE TABLE store_probe (x integer)`.execute(store.db);
    await expect(migrateToLatest(store.db)).rejects.toThrow(/"store_probe" already exists/);
    const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`.execute(store.db);
    expect(tables.rows.map((r) => r.name)).toEqual(['store_probe']);
    // No transaction is left open: the next run begins its own and applies everything.
    await sql`DROP TABLE store_probe`.execute(store.db);
    expect((await migrateToLatest(store.db)).applied).toEqual(MIGRATION_NAMES);
  });

  it('waits for another connection holding the write lock much longer than busy_timeout, then migrates', async () => {
    const url = `sqlite:${join(dir, 'locked.sqlite')}`;
    const holder = open(url);
    const waiter = open(url);
    await sql`PRAGMA busy_timeout = 50`.execute(waiter.db); // a short busy wait, so that the lock outlasts many of them
    await sql`BEGIN IMMEDIATE`.execute(holder.db);
    const migrated = migrateToLatest(waiter.db);
    const settledEarly = await Promise.race([migrated.then(() => 'settled', () => 'settled'), sleep(1_500).then(() => 'waiting')]);
    expect(settledEarly).toBe('waiting');
    await sql`COMMIT`.execute(holder.db);
    expect((await migrated).applied).toEqual(MIGRATION_NAMES);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('loadConfig', () => {
  it('defaults to an absolute data/arbor.sqlite, 127.0.0.1:8000 and a depth limit of 32', () => {
    const config = loadConfig({});
    const file = sqliteFile(config.databaseUrl);
    expect(config.databaseUrl.startsWith('sqlite:')).toBe(true);
    expect(isAbsolute(file)).toBe(true);
    expect(file.endsWith(join('data', 'arbor.sqlite'))).toBe(true);
    expect(file).toBe(resolve('data', 'arbor.sqlite'));
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8000);
    expect(config.maxOuDepth).toBe(32);
  });

  it('keeps a DATABASE_URL that is given', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:/x/y.sqlite' }).databaseUrl).toBe('sqlite:/x/y.sqlite');
  });

  it.each(['abc', '0', '-1', '1.5', '1001'])('refuses ARBOR_MAX_OU_DEPTH=%j with a ConfigError naming the variable', (value) => {
    expect(() => loadConfig({ ARBOR_MAX_OU_DEPTH: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ARBOR_MAX_OU_DEPTH: value })).toThrow(/ARBOR_MAX_OU_DEPTH/);
  });

  it('accepts ARBOR_MAX_OU_DEPTH at its bounds 1 and 1000', () => {
    expect(loadConfig({ ARBOR_MAX_OU_DEPTH: '1' }).maxOuDepth).toBe(1);
    expect(loadConfig({ ARBOR_MAX_OU_DEPTH: '1000' }).maxOuDepth).toBe(1000);
  });

  it('refuses PORT=70000 with a ConfigError naming the variable', () => {
    expect(() => loadConfig({ PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT/);
  });

  it('accepts postgres:// and postgresql:// URLs, and refuses any other scheme with a ConfigError', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d' }).databaseUrl).toBe('postgres://u@h:5432/d');
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@h/d' }).databaseUrl).toBe('postgresql://u@h/d');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
  });

  it('reads the PostgreSQL pool size from ARBOR_DB_POOL_SIZE (default 10)', () => {
    expect(loadConfig({}).dbPoolSize).toBe(10);
    expect(loadConfig({ ARBOR_DB_POOL_SIZE: '4' }).dbPoolSize).toBe(4);
    expect(() => loadConfig({ ARBOR_DB_POOL_SIZE: '0' })).toThrow(/ARBOR_DB_POOL_SIZE/);
  });
});
