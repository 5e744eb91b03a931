import fc from 'fast-check';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inlineParameters, pgLiteral } from '../../src/db/postgres-store.js';
import type { Store } from '../../src/db/store.js';
import { TEST_DATABASE_URL, closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';

/*
 * Store.lockedStatement: statements run in one transaction under a lock with nothing between
 * them, the last one's rows returned, the first that returns no row ending it rolled back.
 * PostgreSQL: one statement sent with BEGIN, the advisory lock and COMMIT as one message in the
 * simple query protocol, its parameters written in as literals. SQLite: run synchronously.
 */

/** Every test's store, fresh, with a table `probe` of its own. */
let store: Store;
const probe = async () => (await sql<{ k: string; n: number }>`select k, n from probe order by k`.execute(store.db)).rows;
const insert = (k: string, n: number) => sql<{ k: string }>`insert into probe (k, n) values (${k}, ${n}) returning k`.compile(store.db);

beforeEach(async () => {
  store = await openTestStore();
  await sql`create table probe (k text primary key, n integer)`.execute(store.db);
});

afterEach(async () => {
  await closeTestStore(store);
});

describe('lockedStatement (both stores)', () => {
  it('returns the last statement\'s rows and commits what it wrote', async () => {
    expect(await store.lockedStatement!('probe', [insert('a', 1)])).toEqual([{ k: 'a' }]);
    expect(await probe()).toEqual([{ k: 'a', n: 1 }]);
  });

  it('rolls back everything and writes nothing when a statement fails, and the store goes on', async () => {
    await store.lockedStatement!('probe', [insert('a', 1)]);
    // A repeated key: the unique index refuses the statement.
    await expect(store.lockedStatement!('probe', [insert('a', 2)])).rejects.toThrow(/unique|duplicate/i);
    expect(await probe()).toEqual([{ k: 'a', n: 1 }]);
    expect(await store.transaction(async (trx) => (await sql<{ k: string }>`insert into probe (k, n) values ('b', 2) returning k`.execute(trx)).rows)).toEqual([{ k: 'b' }]);
  });

  it('waits for a transaction open on the store and never writes inside it', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const open = store.transaction(async (trx) => {
      await sql`insert into probe (k, n) values ('t', 0)`.execute(trx);
      entered();
      await held;
      throw new Error('rolled back on purpose');
    });
    await inside;
    const pending = store.lockedStatement!('probe', [insert('w', 1)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await expect(open).rejects.toThrow('rolled back on purpose');
    expect(await pending).toEqual([{ k: 'w' }]);
    // The write was not part of the rolled back transaction.
    expect(await probe()).toEqual([{ k: 'w', n: 1 }]);
  });
});

describe.skipIf(isPostgresPass)('lockedStatement of several statements (SQLite)', () => {
  it('runs them in order in one transaction and returns the last one\'s rows', async () => {
    const bump = sql<{ n: number }>`update probe set n = n + 10 where k = 'a' returning n`.compile(store.db);
    expect(await store.lockedStatement!('probe', [insert('a', 1), bump])).toEqual([{ n: 11 }]);
    expect(await probe()).toEqual([{ k: 'a', n: 11 }]);
  });

  it('rolls back the statements before one that returns no row, and runs none after it', async () => {
    const none = sql`select k from probe where k = 'missing'`.compile(store.db);
    expect(await store.lockedStatement!('probe', [insert('a', 1), none, insert('b', 2)])).toEqual([]);
    expect(await probe()).toEqual([]);
  });

  it('rolls back the statements before one that fails', async () => {
    await expect(store.lockedStatement!('probe', [insert('a', 1), insert('a', 2)])).rejects.toThrow(/UNIQUE/);
    expect(await probe()).toEqual([]);
  });
});

describe.skipIf(!isPostgresPass)('lockedStatement (PostgreSQL: one message)', () => {
  it('writes every parameter as a literal that PostgreSQL reads back as the same value', async () => {
    const text = fc.string({ unit: fc.constantFrom('a', "'", '\\', '$', '1', '-', ' ', ';', '"', '\n', 'é', '😀', 'E', '\t') });
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await fc.assert(
        fc.asyncProperty(text, fc.integer({ min: -2_000_000, max: 2_000_000 }), fc.option(text), fc.boolean(), async (s, n, maybe, b) => {
          const query = CompiledQuery.raw('select $1::text as s, 1 - $2::int as n, $3::text as maybe, $4::boolean as b, $1::text || $3::text as both', [s, n, maybe, b]);
          const inlined = await client.query(inlineParameters(query));
          const bound = await client.query(query.sql, [...query.parameters]);
          expect(inlined.rows).toEqual(bound.rows);
          expect(inlined.rows[0]).toMatchObject({ s, maybe });
        }),
        { numRuns: 150 },
      );
    } finally {
      await client.end();
    }
  });

  it('refuses several statements, which one message could not check one by one', async () => {
    const one = sql`insert into probe (k, n) values ('a', 1) returning k`.compile(store.db);
    await expect(store.lockedStatement!('probe', [one, one])).rejects.toThrow(TypeError);
    expect(await sql`select k from probe`.execute(store.db)).toMatchObject({ rows: [] });
  });

  it('does not read `$n` inside a parameter as another parameter, and refuses values it cannot write', () => {
    expect(inlineParameters(CompiledQuery.raw('select $1, $2', ['$2', 'x']))).toBe(`select '$2', 'x'`);
    expect(pgLiteral(-3)).toBe('(-3)');
    expect(() => pgLiteral(Number.NaN)).toThrow(TypeError);
    expect(() => pgLiteral({})).toThrow(TypeError);
    expect(() => inlineParameters(CompiledQuery.raw('select $2', ['only one']))).toThrow(RangeError);
  });

  it('waits for the lock another transaction holds, and writes once it is released', async () => {
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    try {
      const lock = `tenant:probe-${Date.now()}`;
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [lock]);
      const insert = sql`insert into probe (k, n) values (${'waited'}, ${1}) returning k`.compile(store.db);
      const pending = store.lockedStatement!(lock, [insert]);
      // The store's connection is seen waiting on an advisory lock before the holder lets go.
      await expect.poll(async () => (await holder.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`)).rows[0].n, { timeout: 5_000 }).toBe(1);
      expect(await sql`select k from probe`.execute(store.db)).toMatchObject({ rows: [] });
      await holder.query('commit');
      expect(await pending).toEqual([{ k: 'waited' }]);
    } finally {
      await holder.end();
    }
  });

  it('rolls back everything of a statement that fails, and leaves every connection usable', async () => {
    const failing = sql`with written as (insert into probe (k, n) values (${'gone'}, ${0}) returning n) select 1 / n from written`.compile(store.db);
    await expect(store.lockedStatement!('probe', [failing])).rejects.toThrow(/division by zero/);

    expect(await sql`select k from probe`.execute(store.db)).toMatchObject({ rows: [] });
    const inserts = Array.from({ length: 8 }, (_, i) => store.lockedStatement!('probe', [sql`insert into probe (k, n) values (${`k${i}`}, ${i}) returning k`.compile(store.db)]));
    expect((await Promise.all(inserts)).flat()).toHaveLength(8);
  });

  describe('calls with one lock made while one is in flight (a group commit)', () => {
    let holder: pg.Client;
    const lock = 'tenant:grouped';
    /** Inserts `k` with the id of the transaction that wrote it. */
    const insertTx = (k: string) => sql<{ k: string }>`insert into probe (k, n) values (${k}, txid_current()::int) returning k`.compile(store.db);
    const txOf = async () => new Map((await sql<{ k: string; n: number }>`select k, n from probe`.execute(store.db)).rows.map((row) => [row.k, row.n]));

    beforeEach(async () => {
      holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await holder.connect();
    });

    afterEach(async () => {
      await holder.end();
    });

    /** Runs `calls` while another session holds `lock`: the first call's message waits inside PostgreSQL, the rest in this process. */
    async function behindTheLock<T>(calls: () => Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [lock]);
      const pending = calls();
      await expect.poll(async () => (await holder.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`)).rows[0].n, { timeout: 5_000 }).toBe(1);
      await holder.query('commit');
      return Promise.allSettled(pending);
    }

    it('sends the calls that waited together, in one transaction after the first, each with its own rows', async () => {
      const results = await behindTheLock(() => ['first', 'a', 'b', 'c', 'd'].map((k) => store.lockedStatement!(lock, [insertTx(k)])));

      expect(results).toEqual(['first', 'a', 'b', 'c', 'd'].map((k) => ({ status: 'fulfilled', value: [{ k }] })));
      const tx = await txOf();
      expect(new Set(['a', 'b', 'c', 'd'].map((k) => tx.get(k))).size).toBe(1);
      expect(tx.get('a')).not.toBe(tx.get('first'));
    });

    it('gives each statement of a group what the ones before it wrote, and no row where its guard finds none', async () => {
      const bump = sql<{ n: number }>`update probe set n = n + 1 where k = 'x' returning n`.compile(store.db);
      const results = await behindTheLock((): Promise<unknown[]>[] => [
        store.lockedStatement!(lock, [insert('first', 0)]),
        store.lockedStatement!(lock, [bump]),
        store.lockedStatement!(lock, [insert('x', 10)]),
        store.lockedStatement!(lock, [bump]),
      ]);

      expect(results.map((result) => (result.status === 'fulfilled' ? result.value : result.reason))).toEqual([[{ k: 'first' }], [], [{ k: 'x' }], [{ n: 11 }]]);
    });

    it('answers a failing call with its error and still writes the others of its group', async () => {
      await store.lockedStatement!(lock, [insert('taken', 0)]);
      const results = await behindTheLock(() => ['first', 'a', 'taken', 'b'].map((k) => store.lockedStatement!(lock, [insertTx(k)])));

      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/duplicate key/);
      const tx = await txOf();
      expect([...tx.keys()].sort()).toEqual(['a', 'b', 'first', 'taken']);
      expect(tx.get('taken')).toBe(0);
    });
  });
});
