import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pick } from '../../src/db/repositories/index.js';
import { pgBatchedReads } from '../../src/db/postgres-batched-reads.js';
import { compiledOnce, readDirectlyThrough } from '../../src/db/sql.js';
import { CompiledQuery } from 'kysely';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { systemWrite } from '../../src/services/write-context.js';
import { sqliteStatementPrototype, statementSources } from '../helpers/sqlite-statements.js';
import { isPostgresPass } from '../helpers/test-store.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/*
 * Both stores run compiledOnce's batched reads (the OU by primary key) of one event-loop turn
 * together, outside Kysely's executor: SQLite in one read transaction (db/sqlite-store.ts),
 * PostgreSQL in one statement per SQL text (db/postgres-batched-reads.ts).
 */

const MAX_DEPTH = 8;
const W = systemWrite();

describe.skipIf(isPostgresPass)('batched reads on SQLite', () => {
  let fixture: ServiceFixture;

  beforeEach(async () => {
    fixture = await openServiceFixture(MAX_DEPTH, 'Batched reads');
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await closeServiceFixture(fixture, MAX_DEPTH);
  });

  const repository = () => pick(fixture.store.db, ['orgUnits']).orgUnits;

  it('answers each of the reads asked for in one turn with its own row', async () => {
    const ous = [];
    for (let i = 0; i < 5; i++) ous.push(await fixture.ous.create(W, ALL, fixture.tenantId, { name: `OU ${i}` }));
    const ids = [...ous.map((ou) => ou.id), 'ou_missing', ous[2].id];

    const together = await Promise.all(ids.map((id) => repository().getById(fixture.tenantId, id)));

    expect(together.map((row) => row?.name)).toEqual(['OU 0', 'OU 1', 'OU 2', 'OU 3', 'OU 4', undefined, 'OU 2']);
    expect(await Promise.all(ids.map((id) => repository().getById('tnt_other', id)))).toEqual(ids.map(() => undefined));
  });

  it('runs the reads of one turn in one read transaction', async () => {
    const ou = await fixture.ous.create(W, ALL, fixture.tenantId, { name: 'Read' });
    const run = vi.spyOn(sqliteStatementPrototype, 'run');
    const begins = () => statementSources(run).filter((source) => source === 'begin').length;

    await Promise.all(Array.from({ length: 10 }, () => repository().getById(fixture.tenantId, ou.id)));
    expect(begins()).toBe(1);

    // One read alone is a transaction of its own, without BEGIN.
    await repository().getById(fixture.tenantId, ou.id);
    expect(begins()).toBe(1);
    expect(fixture.store.poolStats().inUse).toBe(0);
  });

  it('never reads the uncommitted rows of an open transaction, and sees its commit', async () => {
    const ou = await fixture.ous.create(W, ALL, fixture.tenantId, { name: 'Committed' });
    let readDuringRolledBack: Promise<unknown> | undefined;
    await expect(
      fixture.store.transaction(async (trx) => {
        await trx.updateTable('org_units').set({ description: 'rolled back' }).where('tenant_id', '=', fixture.tenantId).where('id', '=', ou.id).execute();
        readDuringRolledBack = repository().getById(fixture.tenantId, ou.id);
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await readDuringRolledBack).toMatchObject({ name: 'Committed', description: null });

    // A read asked for during a transaction that then commits answers after the commit, with its rows.
    let readDuringCommitted: Promise<unknown> | undefined;
    await fixture.store.transaction(async (trx) => {
      await trx.updateTable('org_units').set({ description: 'committed later' }).where('tenant_id', '=', fixture.tenantId).where('id', '=', ou.id).execute();
      readDuringCommitted = repository().getById(fixture.tenantId, ou.id);
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    expect(await readDuringCommitted).toMatchObject({ description: 'committed later' });
  });

  it('rejects only the read that fails, and leaves no transaction open', async () => {
    const ou = await fixture.ous.create(W, ALL, fixture.tenantId, { name: 'Fine' });
    const broken = compiledOnce(['id'], (db, values) => db.selectFrom('org_units').select('id').where('no_such_column' as 'id', '=', values.id), { batched: true });

    const [good, bad] = await Promise.allSettled([repository().getById(fixture.tenantId, ou.id), broken(fixture.store.db, { id: ou.id })]);

    expect(good).toMatchObject({ status: 'fulfilled', value: { name: 'Fine' } });
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: expect.stringContaining('no_such_column') } });
    expect(fixture.store.poolStats().inUse).toBe(0);
    // The connection takes writes after it: no read transaction was left open.
    await fixture.ous.update(W, ALL, fixture.tenantId, ou.id, { description: 'after' });
  });
});

describe.skipIf(!isPostgresPass)('batched reads on PostgreSQL', () => {
  let fixture: ServiceFixture;

  beforeEach(async () => {
    fixture = await openServiceFixture(MAX_DEPTH, 'Batched reads');
  });

  afterEach(async () => {
    await closeServiceFixture(fixture, MAX_DEPTH);
  });

  const repository = () => pick(fixture.store.db, ['orgUnits']).orgUnits;

  /** The store's batcher again, with every statement it sends recorded. */
  function recordingStatements(): string[] {
    const sent: string[] = [];
    const db = fixture.store.db;
    readDirectlyThrough(
      db,
      pgBatchedReads(async (text, parameters) => {
        sent.push(text);
        return (await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, [...parameters]))).rows;
      }),
    );
    return sent;
  }

  it('answers the reads of one turn in one statement, each with its own row, PostgreSQL running the rewritten text', async () => {
    const ous = [];
    for (let i = 0; i < 5; i++) ous.push(await fixture.ous.create(W, ALL, fixture.tenantId, { name: `OU ${i}` }));
    const ids = [...ous.map((ou) => ou.id), 'ou_missing', ous[2].id];
    const sent = recordingStatements();

    const together = await Promise.all(ids.map((id) => repository().getById(fixture.tenantId, id)));

    expect(together.map((row) => row?.name)).toEqual(['OU 0', 'OU 1', 'OU 2', 'OU 3', 'OU 4', undefined, 'OU 2']);
    // One statement, the batched one: had PostgreSQL refused it, each read would have been sent again alone.
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^select arbor_batch\.ord/);
    // Each row is the whole OU, typed as a read alone types it.
    expect(together[0]).toEqual(await repository().getById(fixture.tenantId, ous[0].id));
    expect(await Promise.all(ids.map((id) => repository().getById('tnt_other', id)))).toEqual(ids.map(() => undefined));
  });

  it('sees every commit that preceded the reads, and never the rows of a transaction still open', async () => {
    const ou = await fixture.ous.create(W, ALL, fixture.tenantId, { name: 'Committed' });
    const sent = recordingStatements();
    let during: Promise<unknown[]> | undefined;
    await fixture.store.transaction(async (trx) => {
      await trx.updateTable('org_units').set({ description: 'open' }).where('tenant_id', '=', fixture.tenantId).where('id', '=', ou.id).execute();
      during = Promise.all([repository().getById(fixture.tenantId, ou.id), repository().getById(fixture.tenantId, ou.id)]);
      await during;
    });
    expect(await during).toEqual([expect.objectContaining({ description: null }), expect.objectContaining({ description: null })]);
    const after = await Promise.all([repository().getById(fixture.tenantId, ou.id), repository().getById(fixture.tenantId, ou.id)]);
    expect(after).toEqual([expect.objectContaining({ description: 'open' }), expect.objectContaining({ description: 'open' })]);
    // Both pairs were read batched, each in a statement of its own.
    expect(sent).toHaveLength(2);
    expect(sent.every((text) => text.startsWith('select arbor_batch.ord'))).toBe(true);
  });
});
