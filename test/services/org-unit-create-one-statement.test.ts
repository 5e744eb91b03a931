import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pick } from '../../src/db/repositories/index.js';
import type { Store } from '../../src/db/store.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { type OrgUnitService, createOrgUnitService } from '../../src/services/org-unit-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';

/*
 * A create reads its parent without the tenant's lock, then writes the OU, the parent's count,
 * the tenant's bookkeeping and the event at once under the lock (Store.lockedStatement): on
 * PostgreSQL one statement sent with its BEGIN, lock and COMMIT as one message; on SQLite four
 * statements run with nothing awaited between them. It lands only if the parent is still as
 * read; otherwise the unit of work runs the create and decides. These tests put a write between
 * the read and the statement.
 */

const W = systemWrite();
const MAX_DEPTH = 6;

describe('a create as one locked write, the parent read before it', () => {
  let fixture: ServiceFixture;
  let ous: OrgUnitService;
  /** Runs once, right before the next one-message statement is sent. */
  let beforeStatement: (() => Promise<unknown>) | undefined;
  let lockedStatement: ReturnType<typeof vi.fn>;
  let transaction: ReturnType<typeof vi.spyOn>;

  beforeEach(async () => {
    fixture = await openServiceFixture(MAX_DEPTH, 'Acme');
    const store = fixture.store;
    const real = store.lockedStatement!.bind(store);
    lockedStatement = vi.fn(async (lock: string, query: Parameters<NonNullable<Store['lockedStatement']>>[1]) => {
      const interleave = beforeStatement;
      beforeStatement = undefined;
      await interleave?.();
      return real(lock, query);
    });
    (store as { lockedStatement?: Store['lockedStatement'] }).lockedStatement = lockedStatement as Store['lockedStatement'];
    transaction = vi.spyOn(store, 'transaction');
    ous = createOrgUnitService({ store, maxDepth: MAX_DEPTH });
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await closeServiceFixture(fixture, MAX_DEPTH);
  });

  const events = () => pick(fixture.store.db, ['events']).events.list(fixture.tenantId, 0, 1_000);
  const row = (id: string) => pick(fixture.store.db, ['orgUnits']).orgUnits.getById(fixture.tenantId, id);
  const tenantRow = () => fixture.store.db.selectFrom('tenants').selectAll().where('id', '=', fixture.tenantId).executeTakeFirstOrThrow();

  it('writes a plain create at once, with no transaction through Kysely: the OU, its event, the counts', async () => {
    const parent = await ous.create(W, ALL, fixture.tenantId, { name: 'Sales' });
    const versionBefore = (await tenantRow()).ou_version;
    lockedStatement.mockClear();
    transaction.mockClear();

    const created = await ous.create(W, ALL, fixture.tenantId, { name: 'EMEA', parent_id: parent.id, description: 'Europe' });

    expect(lockedStatement).toHaveBeenCalledTimes(1);
    expect(lockedStatement.mock.calls[0][0]).toBe(`tenant:${fixture.tenantId}`);
    expect(transaction).not.toHaveBeenCalled();
    expect(created).toMatchObject({ name: 'EMEA', path: '/Sales/EMEA', parent_id: parent.id, description: 'Europe' });
    expect(await ous.get(ALL, fixture.tenantId, created.id)).toEqual(created);
    expect((await row(parent.id))?.child_ou_count).toBe(1);
    const tenant = await tenantRow();
    expect(tenant.ou_count).toBe(2);
    expect(tenant.ou_version).toBe(versionBefore + 1);
    const last = (await events()).at(-1)!;
    expect(last).toMatchObject({ type: 'ou.created', resource_id: created.id, ou_paths: `/${parent.id}/${created.id}/` });
    expect(JSON.parse(last.data)).toEqual({ before: null, after: expect.objectContaining({ name: 'EMEA', path: '/Sales/EMEA', parent_id: parent.id }) });
  });

  it('writes an OU at the top the same way, and numbers its event after the last', async () => {
    await ous.create(W, ALL, fixture.tenantId, { name: 'A' });
    const seqBefore = (await events()).at(-1)!.seq;
    lockedStatement.mockClear();

    const top = await ous.create(W, ALL, fixture.tenantId, { name: 'B' });

    expect(lockedStatement).toHaveBeenCalledTimes(1);
    expect(top.path).toBe('/B');
    expect((await events()).at(-1)).toMatchObject({ type: 'ou.created', resource_id: top.id, seq: seqBefore + 1 });
  });

  it('puts the OU under the path its parent has after a move made between the read and the write', async () => {
    const a = await ous.create(W, ALL, fixture.tenantId, { name: 'A' });
    const z = await ous.create(W, ALL, fixture.tenantId, { name: 'Z' });
    beforeStatement = () => ous.update(W, ALL, fixture.tenantId, a.id, { parent_id: z.id });

    const created = await ous.create(W, ALL, fixture.tenantId, { name: 'New', parent_id: a.id });

    expect(created.path).toBe('/Z/A/New');
    expect((await row(created.id))?.id_path).toBe(`/${z.id}/${a.id}/${created.id}/`);
    expect((await row(a.id))?.child_ou_count).toBe(1);
    expect((await events()).filter((event) => event.type === 'ou.created' && event.resource_id === created.id)).toHaveLength(1);
  });

  it('answers 404 and writes nothing when the parent is deleted between the read and the write', async () => {
    const a = await ous.create(W, ALL, fixture.tenantId, { name: 'A' });
    beforeStatement = () => ous.delete(W, ALL, fixture.tenantId, a.id, 'BLOCK');
    const eventsBefore = (await events()).length;

    await expect(ous.create(W, ALL, fixture.tenantId, { name: 'New', parent_id: a.id })).rejects.toMatchObject({ status: 404, code: "ou.parent_not_found" });

    expect((await events()).map((event) => event.type).slice(eventsBefore)).toEqual(['ou.deleted']);
    expect((await tenantRow()).ou_count).toBe(0);
  });

  it('answers 409 when a sibling took the name between the read and the write, and the failed message left nothing', async () => {
    const a = await ous.create(W, ALL, fixture.tenantId, { name: 'A' });
    beforeStatement = () => ous.create(W, ALL, fixture.tenantId, { name: 'new', parent_id: a.id });
    const eventsBefore = (await events()).length;

    await expect(ous.create(W, ALL, fixture.tenantId, { name: 'NEW', parent_id: a.id })).rejects.toMatchObject({ status: 409, code: "ou.name_conflict" });

    expect((await events()).length).toBe(eventsBefore + 1);
    expect((await row(a.id))?.child_ou_count).toBe(1);
    expect((await tenantRow()).ou_count).toBe(2);
    // The pool's connections all still work after the message that failed inside its transaction.
    await Promise.all(Array.from({ length: 6 }, (_, i) => ous.create(W, ALL, fixture.tenantId, { name: `After ${i}`, parent_id: a.id })));
    expect((await row(a.id))?.child_ou_count).toBe(7);
  });

  it('leaves a dry run and an If-Match to the unit of work', async () => {
    const a = await ous.create(W, ALL, fixture.tenantId, { name: 'A' });
    lockedStatement.mockClear();

    const dry = await ous.create(systemWrite({ dryRun: true }), ALL, fixture.tenantId, { name: 'Dry', parent_id: a.id });

    expect(dry.path).toBe('/A/Dry');
    expect(lockedStatement).not.toHaveBeenCalled();
    expect((await row(a.id))?.child_ou_count).toBe(0);
    await ous.create(systemWrite({ ifMatch: '*' }), ALL, fixture.tenantId, { name: 'Matched', parent_id: a.id });
    expect(lockedStatement).not.toHaveBeenCalled();
  });

  it('writes nothing at all when the guard finds the parent changed: no OU, no event, no count, no version', async () => {
    const a = await ous.create(W, ALL, fixture.tenantId, { name: 'A' });
    const parent = (await row(a.id))!;
    const before = { tenant: await tenantRow(), parent, events: (await events()).length };
    const repos = pick(fixture.store.db, ['orgUnits']);
    const ouRow = {
      tenant_id: fixture.tenantId,
      id: 'ou_stale_guard_probe',
      parent_id: a.id,
      name: 'X',
      name_key: 'x',
      description: null,
      custom_attributes: null,
      external_id: null,
      path: '/A/X',
      id_path: `${parent.id_path}ou_stale_guard_probe/`,
      depth: 2,
      created_at: parent.created_at,
      updated_at: parent.created_at,
    };
    const event = {
      tenant_id: fixture.tenantId,
      id: 'evt_stale_guard_probe',
      type: 'ou.created',
      occurred_at: parent.created_at,
      actor: '{}',
      request_id: null,
      correlation_id: null,
      resource_type: 'ou',
      resource_id: ouRow.id,
      data: '{}',
      ou_paths: null,
      trace_id: null,
    };

    const stale = { id: a.id, id_path: parent.id_path, path: '/Renamed' };
    expect(await fixture.store.lockedStatement!(`tenant:${fixture.tenantId}`, repos.orgUnits.insertWithEvent(ouRow, stale, event))).toEqual([]);

    expect(await row(ouRow.id)).toBeUndefined();
    expect((await events()).length).toBe(before.events);
    expect(await row(a.id)).toEqual(before.parent);
    expect(await tenantRow()).toEqual(before.tenant);
  });
});
