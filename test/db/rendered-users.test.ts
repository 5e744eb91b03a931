import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { USER_RESPONSE_COLUMNS, createUserRepository } from '../../src/db/repositories/user-repository.js';
import { UserResponse } from '../../src/schemas/users.js';
import { FULL_ACCESS } from '../../src/services/access.js';
import { toUserResponse } from '../../src/services/user-service.js';
import { systemWrite } from '../../src/services/write-context.js';
import { type ServiceFixture, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';
import { isPostgresPass } from '../helpers/test-store.js';

/*
 * On PostgreSQL a page of an OU's users read without a snapshot is rendered by the statement
 * (PageReadOptions.rendered): each row's UserResponse as JSON text, sent as it is
 * (http/rendered-page.ts). It must be what the API would have serialized, byte for byte.
 */

describe('USER_RESPONSE_COLUMNS', () => {
  it('are the fields of UserResponse in its order, nullable exactly where the schema allows null', () => {
    const schema = UserResponse.properties as Record<string, { anyOf?: { type: string }[] }>;
    expect(USER_RESPONSE_COLUMNS.map(([column]) => column)).toEqual(Object.keys(schema));
    for (const [column, , nullable] of USER_RESPONSE_COLUMNS) {
      expect(schema[column].anyOf?.some((option) => option.type === 'null') ?? false, column).toBe(nullable);
    }
    // Its JSON column is the one the schema says is an object: the text is embedded as stored.
    expect(USER_RESPONSE_COLUMNS.filter(([, kind]) => kind === 'json').map(([column]) => column)).toEqual(['custom_attributes']);
  });
});

/** Text PostgreSQL can hold (no NUL, no lone surrogate), from every plane, controls and quotes included. */
const text = fc.string({ unit: 'binary', maxLength: 24 }).filter((value) => !value.includes('\u0000') && value.isWellFormed());
const attributes = fc.option(fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }).filter((value) => JSON.stringify(value) !== undefined && !JSON.stringify(value).includes('\\u0000')), { maxKeys: 4 }), { nil: null });

let fixture: ServiceFixture;

beforeEach(async () => {
  fixture = await openServiceFixture(4, 'Rendered users');
});

afterEach(async () => {
  await closeServiceFixture(fixture, 4);
});

// Skipped on the SQLite pass: SQLite's pages are objects serialized by the route (rendered is PostgreSQL's only).
describe.skipIf(!isPostgresPass)('users rendered by PostgreSQL (PostgreSQL only)', () => {
  it('are JSON.stringify of toUserResponse byte for byte, whatever their strings and attributes hold', async () => {
    const { store, tenantId } = fixture;
    const users = createUserRepository(store.db);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({ local: text, display_name: fc.option(text, { nil: null }), external_id: fc.option(text, { nil: null }), custom_attributes: attributes, disabled: fc.boolean() }),
        async (value) => {
          n++;
          const id = `usr_rendered${String(n).padStart(6, '0')}`;
          const email = `${value.local}${n}@x.io`;
          await store.db
            .insertInto('users')
            .values({
              tenant_id: tenantId,
              id,
              email,
              email_key: email.toLowerCase(),
              display_name: value.display_name,
              display_name_key: value.display_name?.toLowerCase() ?? null,
              ou_id: null,
              status: value.disabled ? 'disabled' : 'active',
              custom_attributes: value.custom_attributes === null ? null : JSON.stringify(value.custom_attributes),
              external_id: value.external_id === null ? null : `${value.external_id}${n}`,
              created_at: '2026-12-05T06:00:00.000Z',
              updated_at: '2026-12-05T07:00:00.123Z',
            })
            .execute();
          const [row] = await users.listByIds(tenantId, [id]);
          const [rendered] = await users.listByIds(tenantId, [id], { rendered: true });

          expect(rendered.id).toBe(id);
          expect(rendered.json).toBe(JSON.stringify(toUserResponse(row)));
        },
      ),
      { numRuns: 150, seed: 20261205 },
    );
  });

  it('are the rows of the same page in the same order, forwards and backwards, each stamped with the seq when asked', async () => {
    const { store, tenantId, ous, users: service } = fixture;
    const ou = await ous.create(systemWrite(), FULL_ACCESS, tenantId, { name: 'a' });
    for (let i = 0; i < 7; i++) await service.create(systemWrite(), FULL_ACCESS, tenantId, { email: `u${i}@x.io`, ou_id: ou.id });
    const users = createUserRepository(store.db);
    const { id_path: idPath } = await store.db.selectFrom('org_units').select('id_path').where('tenant_id', '=', tenantId).where('id', '=', ou.id).executeTakeFirstOrThrow();

    for (const window of [
      { limit: 3, offset: 1, descending: false },
      { limit: 3, offset: 1, descending: true },
      { limit: 10, offset: 0, descending: false, after: (await users.listInOu(tenantId, ou.id, { limit: 1, offset: 2, descending: false }))[0].id },
    ]) {
      const rows = await users.listInOu(tenantId, ou.id, window, { withLastSeq: true });
      const rendered = await users.listInOu(tenantId, ou.id, window, { withLastSeq: true, rendered: true });
      expect(rendered.map((row) => row.id), JSON.stringify(window)).toEqual(rows.map((row) => row.id));
      expect(rendered.map((row) => JSON.parse(row.json))).toEqual(rows.map(toUserResponse));
      expect(rendered.map((row) => Number(row.last_seq))).toEqual(rows.map((row) => Number(row.last_seq)));
      expect(rows.every((row) => Number(row.last_seq) > 0)).toBe(true);
    }
    for (const holdsEveryPlacedUser of [true, false]) {
      const window = { limit: 4, offset: 2, descending: true };
      const rows = await users.listInSubtree(tenantId, idPath, window, holdsEveryPlacedUser);
      const rendered = await users.listInSubtree(tenantId, idPath, window, holdsEveryPlacedUser, { rendered: true });
      expect(rendered.map((row) => JSON.parse(row.json)), `holds every placed user: ${holdsEveryPlacedUser}`).toEqual(rows.map(toUserResponse));
    }
  });
});
