import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAsideReader } from '../../src/db/sqlite-aside-reader.js';
import { type Store, openStore } from '../../src/db/store.js';

/**
 * A SQLite file's reads aside: a second, read-only connection in a worker thread. These run on a
 * file of their own on either pass: the reader exists only for SQLite files.
 */

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arbor-aside-'));
  store = openStore(`sqlite:${join(dir, 'aside.sqlite')}`);
  await sql`create table t (n integer primary key)`.execute(store.db);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const raw = (text: string, parameters: unknown[] = []) => CompiledQuery.raw(text, parameters);

describe('Store.readAside on a SQLite file', () => {
  it('answers each statement of a batch, in order, with what was committed before it', async () => {
    await sql`insert into t (n) values (1), (2), (3)`.execute(store.db);
    const [count, rows] = await store.readAside!([raw('select count(*) as c from t'), raw('select n from t where n >= ? order by n', [2])]);
    expect(count).toEqual([{ c: 3 }]);
    expect(rows).toEqual([{ n: 2 }, { n: 3 }]);
    await sql`delete from t where n = 3`.execute(store.db);
    expect((await store.readAside!([raw('select count(*) as c from t')]))[0]).toEqual([{ c: 2 }]);
  });

  it('fails only the read whose statement fails, and answers the next one', async () => {
    await expect(store.readAside!([raw('select * from no_such_table')])).rejects.toThrow(/a read aside failed: no such table: no_such_table/);
    await sql`insert into t (n) values (7)`.execute(store.db);
    expect((await store.readAside!([raw('select n from t')]))[0]).toEqual([{ n: 7 }]);
  });

  it('can never write', async () => {
    await expect(store.readAside!([raw('insert into t (n) values (9)')])).rejects.toThrow(/not a read: insert/);
    // A write that returns rows is refused by the connection itself, opened read-only.
    await expect(store.readAside!([raw('insert into t (n) values (9) returning n')])).rejects.toThrow(/readonly database/);
    expect((await sql<{ c: number }>`select count(*) as c from t`.execute(store.db)).rows[0].c).toBe(0);
  });

  it('leaves the store’s connection free while a long read runs: a read on it is answered first', async () => {
    // About three million rows counted: hundreds of milliseconds on any machine.
    const long = store.readAside!([raw('with recursive c(i) as (select 1 union all select i + 1 from c where i < 3000000) select count(*) as n from c')]);
    const order: string[] = [];
    const done = long.then(() => order.push('aside'));
    await sql`select 1`.execute(store.db).then(() => order.push('store'));
    await done;
    // On the store's own connection the long read would have had to end before the short one began.
    expect(order).toEqual(['store', 'aside']);
  });

  it('says it is gone once its worker has ended, and refuses reads then (the store starts another)', async () => {
    const reader = startAsideReader(join(dir, 'aside.sqlite'));
    expect(reader.alive).toBe(true);
    expect(await reader.read([raw('select 1 as one')])).toEqual([[{ one: 1 }]]);
    await reader.stop();
    expect(reader.alive).toBe(false);
    await expect(reader.read([raw('select 1')])).rejects.toThrow(/exited/);
  });

  it('is absent on an in-memory store, whose file no second connection can open', async () => {
    const memory = openStore('sqlite::memory:');
    try {
      expect(memory.readAside).toBeUndefined();
    } finally {
      await memory.close();
    }
  });
});
