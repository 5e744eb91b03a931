import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { type Store, openStore } from '../../src/db/store.js';
import { closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';

/*
 * Store.insertMany (a bulk import's writes) and transaction({ bulk: true }) (its transaction):
 * rows land as given, in the caller's transaction, and the bulk settings are the transaction's
 * only.
 */

const COLUMNS = ['id', 'name', 'slug', 'created_at', 'updated_at'] as const;
type TenantRow = Record<(typeof COLUMNS)[number], string>;

const rows = (prefix: string, n: number): TenantRow[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, name: `Tenant ${i} 'quoted' ✓`, slug: `${prefix}-${i}`, created_at: 't', updated_at: 't' }));

describe('Store.insertMany', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openTestStore();
    await migrateToLatest(store.db);
  });
  afterAll(async () => {
    await closeTestStore(store);
  });

  it('inserts every row with its values, more than one statement holds', async () => {
    // 7,000 rows of 5 columns: past the 30,000 parameters one PostgreSQL INSERT is given.
    const given = rows('many', 7_000);
    await store.transaction((trx) => store.insertMany(trx, 'tenants', COLUMNS, given));
    const stored = await store.db.selectFrom('tenants').select(['id', 'name', 'slug']).where('id', 'like', 'many-%').execute();
    expect(stored).toHaveLength(given.length);
    const byId = new Map(stored.map((row) => [row.id, row]));
    for (const row of [given[0], given[4_321], given[6_999]]) expect(byId.get(row.id)).toEqual({ id: row.id, name: row.name, slug: row.slug });
  });

  it('writes inside the caller transaction: a rollback leaves none of the rows', async () => {
    await expect(
      store.transaction(async (trx) => {
        await store.insertMany(trx, 'tenants', COLUMNS, rows('undone', 10));
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    const left = await store.db.selectFrom('tenants').select('id').where('id', 'like', 'undone-%').execute();
    expect(left).toEqual([]);
  });

  it('refuses to run outside a transaction (each row or batch would commit alone)', async () => {
    await expect(store.insertMany(store.db, 'tenants', COLUMNS, rows('loose', 2))).rejects.toThrow(/inside a transaction/);
    expect(await store.db.selectFrom('tenants').select('id').where('id', 'like', 'loose-%').execute()).toEqual([]);
  });
});

// The bulk settings exist on a SQLite file only (the page cache and the WAL's checkpoints).
describe.skipIf(isPostgresPass)('a bulk transaction on a SQLite file', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arbor-bulk-'));
    store = openStore(`sqlite:${join(dir, 'arbor.sqlite')}`);
    await migrateToLatest(store.db);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const pragma = async (name: string, db = store.db) => Object.values((await sql.raw(`pragma ${name}`).execute(db)).rows[0] as object)[0] as number;

  /** wal_autocheckpoint once the checkpoint worker has taken the WAL a bulk transaction left (sqlite-checkpointer.test.ts). */
  const settledAutocheckpoint = async () => {
    for (let waited = 0; waited < 10_000; waited += 20) {
      const pages = await pragma('wal_autocheckpoint');
      if (pages > 0) return pages;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return pragma('wal_autocheckpoint');
  };

  it('has a large page cache and no commit-time checkpoint inside; the cache as before at once after a commit or a rollback, the checkpoints once the worker has checkpointed', async () => {
    const cache = await pragma('cache_size');
    const autocheckpoint = await pragma('wal_autocheckpoint');
    expect(autocheckpoint).toBeGreaterThan(0);
    const inside = await store.transaction(async (trx) => ({ cache: await pragma('cache_size', trx), autocheckpoint: await pragma('wal_autocheckpoint', trx) }), { bulk: true });
    expect(inside.cache).toBe(-131_072);
    expect(inside.autocheckpoint).toBe(0);
    expect(await pragma('cache_size')).toBe(cache);
    expect(await settledAutocheckpoint()).toBe(autocheckpoint);

    await expect(store.transaction(async () => Promise.reject(new Error('no')), { bulk: true })).rejects.toThrow('no');
    expect(await pragma('cache_size')).toBe(cache);
    expect(await settledAutocheckpoint()).toBe(autocheckpoint);
  });

  it('leaves an ordinary transaction with the defaults', async () => {
    const cache = await pragma('cache_size');
    expect(await store.transaction((trx) => pragma('cache_size', trx))).toBe(cache);
  });
});

// Store.deferIndexes: SQLite only (PostgreSQL's DDL would lock the table for every tenant).
describe('Store.deferIndexes', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openTestStore();
    await migrateToLatest(store.db);
  });
  afterAll(async () => {
    await closeTestStore(store);
  });

  const NAMES = ['users_ou_ix', 'users_id_ou_ix', 'events_resource_ix'];
  const definitions = async (db = store.db) =>
    (await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'index' and name in (${sql.join(NAMES)}) order by name`.execute(db)).rows;

  it.runIf(isPostgresPass)('is not offered on PostgreSQL', () => {
    expect(store.deferIndexes).toBeUndefined();
  });

  it.skipIf(isPostgresPass)('drops the indexes inside the transaction only, and builds them again with the same definitions', async () => {
    const before = await definitions();
    expect(before.map((d) => d.name)).toEqual([...NAMES].sort());
    const cache = async (trx: typeof store.db) => (await sql<{ cache_size: number }>`pragma cache_size`.execute(trx)).rows[0].cache_size;
    const inside = await store.transaction(async (trx) => {
      await sql`pragma cache_size = -4096`.execute(trx);
      const build = await store.deferIndexes!(trx, NAMES);
      const dropped = await definitions(trx);
      await build();
      return { dropped, rebuilt: await definitions(trx), cache: await cache(trx) };
    });
    expect(inside.dropped).toEqual([]);
    expect(inside.rebuilt).toEqual(before);
    // The build's own small cache is given back: the caller's is as it set it.
    expect(inside.cache).toBe(-4096);
    await sql`pragma cache_size = -2000`.execute(store.db);
    expect(await definitions()).toEqual(before);
  });

  it.skipIf(isPostgresPass)('puts the planner statistics of the indexes back as they were', async () => {
    await sql`insert into tenants (id, name, slug, created_at, updated_at) values ('stat-t', 'Stat', 'stat-t', 't', 't')`.execute(store.db);
    await sql`insert into users (tenant_id, id, email, email_key, status, created_at, updated_at) values ('stat-t', 'u1', 'a@x', 'a@x', 'active', 't', 't')`.execute(store.db);
    await sql`analyze`.execute(store.db);
    const stats = async (db = store.db) => (await sql<{ idx: string; stat: string }>`select idx, stat from sqlite_stat1 where idx in (${sql.join(NAMES)}) order by idx`.execute(db)).rows;
    const before = await stats();
    expect(before.map((row) => row.idx)).toContain('users_ou_ix');
    await store.transaction(async (trx) => {
      const build = await store.deferIndexes!(trx, NAMES);
      await build();
    });
    expect(await stats()).toEqual(before);
  });

  it.skipIf(isPostgresPass)('leaves the indexes as they were when the transaction rolls back before they are built', async () => {
    const before = await definitions();
    await expect(
      store.transaction(async (trx) => {
        await store.deferIndexes!(trx, NAMES);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await definitions()).toEqual(before);
  });

  it.skipIf(isPostgresPass)('refuses a unique index, a name that is no index, and a call outside a transaction, dropping nothing', async () => {
    const before = await definitions();
    await expect(store.transaction((trx) => store.deferIndexes!(trx, ['users_ou_ix', 'users_external_id_ux']))).rejects.toThrow(/users_external_id_ux enforces a constraint/);
    await expect(store.transaction((trx) => store.deferIndexes!(trx, ['users_ou_ix', 'sqlite_autoindex_users_1']))).rejects.toThrow(/enforces a constraint/);
    await expect(store.transaction((trx) => store.deferIndexes!(trx, ['users_ou_ix', 'no_such_ix']))).rejects.toThrow(/no index named no_such_ix/);
    await expect(store.deferIndexes!(store.db, NAMES)).rejects.toThrow(/inside a transaction/);
    expect(await definitions()).toEqual(before);
  });
});
