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

  it('runs each read of a failed statement again alone: only the read that fails alone is rejected', async () => {
    const { calls, read } = fakeDatabase(ROWS, (text, parameters) =>
      text !== BY_ID ? new Error('the batch failed') : parameters[1] === 'b' ? new Error('b fails') : undefined,
    );

    const outcomes = await Promise.allSettled([read(BY_ID, ['t1', 'a']), read(BY_ID, ['t1', 'b']), read(BY_ID, ['t2', 'a'])]);

    expect(outcomes).toEqual([
      { status: 'fulfilled', value: [ROWS['t1/a']] },
      { status: 'rejected', reason: new Error('b fails') },
      { status: 'fulfilled', value: [ROWS['t2/a']] },
    ]);
    expect(calls.map((call) => call.text)).toEqual([batchedText(BY_ID, 2), BY_ID, BY_ID, BY_ID]);
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

  it('rewrites each parameter of the text to its column, and refuses a text with a string literal or no parameter', () => {
    expect(batchedText('select 1 from t where a = $1 and b = $2 and c = $10', 10)).toBe(
      'select arbor_batch.ord as arbor_batch_ord, arbor_read.* from unnest(' +
        Array.from({ length: 10 }, (_, k) => `$${k + 1}::text[]`).join(', ') +
        ') with ordinality as arbor_batch(p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, ord) cross join lateral (select 1 from t where a = arbor_batch.p1 and b = arbor_batch.p2 and c = arbor_batch.p10) as arbor_read',
    );
    expect(batchedText("select 1 from t where a = $1 and b = '$2'", 1)).toBeUndefined();
    expect(batchedText('select 1', 0)).toBeUndefined();
  });
});
