import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pick } from '../../src/db/repositories/index.js';
import { compiledOnce } from '../../src/db/sql.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { systemWrite } from '../../src/services/write-context.js';
import { sqliteStatementPrototype, statementSources } from '../helpers/sqlite-statements.js';
import { isPostgresPass } from '../helpers/test-store.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/*
 * SQLite runs compiledOnce's batched reads (the OU by primary key) of one event-loop turn
 * together, in one read transaction, outside Kysely's executor (db/sqlite-store.ts). PostgreSQL
 * runs them as any query, so these are SQLite's.
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
