import fc from 'fast-check';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inlineParameters, pgLiteral } from '../../src/db/postgres-store.js';
import type { Store } from '../../src/db/store.js';
import { TEST_DATABASE_URL, closeTestStore, isPostgresPass, openTestStore } from '../helpers/test-store.js';

/*
 * Store.lockedStatement (PostgreSQL): one statement sent with BEGIN, the advisory lock and COMMIT
 * as one message in the simple query protocol, its parameters written in as literals.
 */

describe.skipIf(!isPostgresPass)('lockedStatement (PostgreSQL only; SQLite has none)', () => {
  let store: Store;

  beforeEach(async () => {
    store = await openTestStore();
    await sql`create table probe (k text primary key, n integer)`.execute(store.db);
  });

  afterEach(async () => {
    await closeTestStore(store);
  });

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
      const pending = store.lockedStatement!(lock, insert);
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
    await expect(store.lockedStatement!('probe', failing)).rejects.toThrow(/division by zero/);

    expect(await sql`select k from probe`.execute(store.db)).toMatchObject({ rows: [] });
    const inserts = Array.from({ length: 8 }, (_, i) => store.lockedStatement!('probe', sql`insert into probe (k, n) values (${`k${i}`}, ${i}) returning k`.compile(store.db)));
    expect((await Promise.all(inserts)).flat()).toHaveLength(8);
  });
});
