import { describe, expect, it } from 'vitest';
import { PG_BATCH_MAX, batchedText, pgBatchedReads } from '../../src/db/postgres-batched-reads.js';
import { preparedStatementNames } from '../../src/db/sql.js';

/*
 * How PostgreSQL's store sends compiledOnce's batched reads (db/postgres-batched-reads.ts), with a
 * recording stand-in for the database; batched-reads.test.ts runs them on a real PostgreSQL.
 */

const BY_ID = 'select "id", "name" from "org_units" where "tenant_id" = $1 and "id" = $2';

/** A database of rows keyed "tenant/id" that answers the plain text and its batched form. */
function fakeDatabase(rows: Record<string, { id: string; name: string }>, fail?: (text: string, parameters: readonly unknown[]) => Error | undefined) {
  const calls: { text: string; parameters: readonly unknown[] }[] = [];
  const run = async (text: string, parameters: readonly unknown[]) => {
    calls.push({ text, parameters });
    const failure = fail?.(text, parameters);
    if (failure) throw failure;
    if (text === BY_ID) {
      const row = rows[`${parameters[0]}/${parameters[1]}`];
      return row ? [row] : [];
    }
    if (!text.startsWith('select arbor_batch.ord')) return [];
    const [tenants, ids] = parameters as string[][];
    return tenants.flatMap((tenant, i) => {
      const row = rows[`${tenant}/${ids[i]}`];
      return row ? [{ arbor_batch_ord: String(i + 1), ...row }] : [];
    });
  };
  return { calls, read: pgBatchedReads(run) };
}

function sqlError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const ROWS = { 't1/a': { id: 'a', name: 'A' }, 't1/b': { id: 'b', name: 'B' }, 't2/a': { id: 'a', name: 'A of t2' } };

describe('batched reads on PostgreSQL (the batcher)', () => {
  it('sends the reads of one text asked for in one turn as one statement, each answered with its own rows', async () => {
    const { calls, read } = fakeDatabase(ROWS);
    const keys = [['t1', 'a'], ['t1', 'b'], ['t1', 'missing'], ['t2', 'a'], ['t1', 'a']];

    const answers = await Promise.all(keys.map((key) => read(BY_ID, key)));

    expect(answers).toEqual([[ROWS['t1/a']], [ROWS['t1/b']], [], [ROWS['t2/a']], [ROWS['t1/a']]]);
    expect(calls).toHaveLength(1);
    expect(calls[0].text).toBe(batchedText(BY_ID, 2));
    expect(calls[0].parameters).toEqual([keys.map((k) => k[0]), keys.map((k) => k[1])]);
    // Prepared once per connection, like the text it wraps.
    expect(preparedStatementNames.get(calls[0].text)).toMatch(/^arbor_b_[0-9a-f]{16}$/);
  });

  it('sends a read alone as its own text, and reads of later turns in statements of their own', async () => {
    const { calls, read } = fakeDatabase(ROWS);

    expect(await read(BY_ID, ['t1', 'a'])).toEqual([ROWS['t1/a']]);
    await Promise.all([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t1', 'b'])]);
    await Promise.all([read(BY_ID, ['t1', 'b']), read(BY_ID, ['t2', 'a'])]);

    expect(calls.map((call) => call.text)).toEqual([BY_ID, batchedText(BY_ID, 2), batchedText(BY_ID, 2)]);
  });

  it(`sends at most ${PG_BATCH_MAX} reads in one statement`, async () => {
    const { calls, read } = fakeDatabase(ROWS);
    const count = PG_BATCH_MAX * 2 + 1;

    const answers = await Promise.all(Array.from({ length: count }, (_, i) => read(BY_ID, ['t1', i % 2 === 0 ? 'a' : 'b'])));

    expect(answers.map((rows) => (rows as { id: string }[])[0].id)).toEqual(Array.from({ length: count }, (_, i) => (i % 2 === 0 ? 'a' : 'b')));
    // Two full statements, and the last read alone.
    expect(calls.map((call) => (call.text === BY_ID ? 1 : (call.parameters[0] as unknown[]).length))).toEqual([PG_BATCH_MAX, PG_BATCH_MAX, 1]);
    expect(calls[2]).toEqual({ text: BY_ID, parameters: ['t1', 'a'] });
  });

  it('runs each read of a statement PostgreSQL refused for a value again alone: only the read that fails alone is rejected', async () => {
    const { calls, read } = fakeDatabase(ROWS, (text, parameters) =>
      text !== BY_ID ? sqlError('22P02', 'a value the batch holds') : parameters[1] === 'b' ? sqlError('22P02', 'b fails') : undefined,
    );

    const outcomes = await Promise.allSettled([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t1', 'b']), read(BY_ID, ['t2', 'a'])]);

    expect(outcomes).toEqual([
      { status: 'fulfilled', value: [ROWS['t1/a']] },
      { status: 'rejected', reason: expect.objectContaining({ message: 'b fails' }) },
      { status: 'fulfilled', value: [ROWS['t2/a']] },
    ]);
    expect(calls.map((call) => call.text)).toEqual([batchedText(BY_ID, 2), BY_ID, BY_ID, BY_ID]);
    // The batched form itself is fine: the next turn's reads are batched again.
    calls.length = 0;
    await Promise.allSettled([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t2', 'a'])]);
    expect(calls[0].text).toBe(batchedText(BY_ID, 2));
  });

  it('stops batching a text whose batched form PostgreSQL refuses, says so once, and answers every read alone', async () => {
    const refusals: Error[] = [];
    const calls: string[] = [];
    const read = pgBatchedReads(async (text, parameters) => {
      calls.push(text);
      if (text !== BY_ID) throw sqlError('42883', 'operator does not exist: integer = text');
      return [ROWS[`${parameters[0]}/${parameters[1]}` as keyof typeof ROWS]].filter(Boolean);
    }, (error) => refusals.push(error));

    expect(await Promise.all([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t1', 'b'])])).toEqual([[ROWS['t1/a']], [ROWS['t1/b']]]);
    expect(await Promise.all([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t2', 'a'])])).toEqual([[ROWS['t1/a']], [ROWS['t2/a']]]);

    expect(calls).toEqual([batchedText(BY_ID, 2), BY_ID, BY_ID, BY_ID, BY_ID]);
    expect(refusals.map((error) => error.message)).toEqual(['operator does not exist: integer = text']);
  });

  it('answers every read of a batch with its failure when PostgreSQL did not refuse it (the pool, the connection), sending none again', async () => {
    const exhausted = new Error('no connection of the pool became free within 5000 ms');
    const { calls, read } = fakeDatabase(ROWS, () => exhausted);

    const outcomes = await Promise.allSettled([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t1', 'b']), read(BY_ID, ['t2', 'a'])]);

    expect(outcomes).toEqual([0, 1, 2].map(() => ({ status: 'rejected', reason: exhausted })));
    expect(calls).toHaveLength(1);
  });

  it('sends alone the reads it cannot put in text arrays: a parameter that is not a string', async () => {
    const { calls, read } = fakeDatabase(ROWS);
    const other = 'select "id" from "org_units" where "depth" = $1';

    await Promise.all([read(other, [1]), read(other, [2]), read(BY_ID, ['t1', 'a'])]);

    expect(calls).toEqual([
      { text: other, parameters: [1] },
      { text: other, parameters: [2] },
      { text: BY_ID, parameters: ['t1', 'a'] },
    ]);
  });

  it('rewrites each parameter of the text to its column, and refuses a text where a `$k` might not be a parameter, or with none', () => {
    expect(batchedText('select 1 from t where a = $1 and b = $2 and c = $10', 10)).toBe(
      'select arbor_batch.ord as arbor_batch_ord, arbor_read.* from unnest(' +
        Array.from({ length: 10 }, (_, k) => `$${k + 1}::text[]`).join(', ') +
        ') with ordinality as arbor_batch(p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, ord) cross join lateral (select 1 from t where a = arbor_batch.p1 and b = arbor_batch.p2 and c = arbor_batch.p10) as arbor_read',
    );
    expect(batchedText('select "x$1" from t where a = $1 and "b""c" = $2', 2)).toBeUndefined();
    expect(batchedText('select 1 from "t" where "a""b" = $1', 1)).toBe(
      'select arbor_batch.ord as arbor_batch_ord, arbor_read.* from unnest($1::text[]) with ordinality as arbor_batch(p1, ord) cross join lateral (select 1 from "t" where "a""b" = arbor_batch.p1) as arbor_read',
    );
    for (const refused of [
      "select 1 from t where a = $1 and b = '$2'",
      'select $q$ $2 $q$ from t where a = $1',
      'select $$ $2 $$ from t where a = $1',
      'select 1 from t where a = $1 -- and b = $2',
      'select 1 from t where a = $1 /* and b = $2 */',
      'select x$1 from t where a = $1',
    ]) {
      expect(batchedText(refused, 2), refused).toBeUndefined();
    }
    expect(batchedText('select 1', 0)).toBeUndefined();
  });
});
