import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { inSubtree } from '../../src/db/sql.js';
import { expectData, expectError, expectPageData } from '../helpers/assertions.js';
import { type OuData, createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useTestApp } from '../helpers/test-app.js';
import { isPostgresPass } from '../helpers/test-store.js';

// What only PostgreSQL can get wrong: text comparison follows the database's locale unless a
// column says otherwise, and unique violations arrive as SQLSTATE 23505 rather than SQLite's codes.
// PostgreSQL-only: on the SQLite pass every comparison is binary and these checks have no subject.

/** Byte-wise (UTF-8) order, what the "C" collation gives and SQLite's default BINARY collation too. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A tenant's paths in `ORDER BY path` of the store, optionally under another collation. */
async function pathsOrdered(ctx: TestContext, tenantId: string, collation?: string): Promise<string[]> {
  const order = collation ? sql`path collate ${sql.id(collation)}` : sql`path`;
  const { rows } = await sql<{ path: string }>`select path from org_units where tenant_id = ${tenantId} order by ${order}, id`.execute(ctx.store.db);
  return rows.map((r) => r.path);
}

/** True when this server has the named collation (ICU ones need a build with ICU). */
async function hasCollation(ctx: TestContext, name: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_collation where collname = ${name}`.execute(ctx.store.db);
  return rows[0].n > 0;
}

/**
 * Roots 'a', 'B', 'b-c', 'é' with children, one user in every OU. Byte order puts 'B' before 'a'
 * and 'é' last; a locale collation interleaves cases and weighs '/' and '-' differently.
 */
async function localeSensitiveTree(ctx: TestContext, tenantId: string) {
  const ous: OuData[] = [];
  const ou = async (name: string, parent?: OuData) => {
    const created = await createOu(ctx, tenantId, { name, parent_id: parent?.id ?? null });
    ous.push(created);
    return created;
  };
  const a = await ou('a');
  const upperB = await ou('B');
  const bc = await ou('b-c');
  const e = await ou('é');
  await ou('B', a);
  await ou('é', a);
  await ou('a', upperB);
  const nested = await ou('b-c', upperB);
  await ou('a', nested);
  await ou('a', bc);
  await ou('B', e);
  const userOf = new Map<string, string>();
  for (const o of ous) userOf.set(o.id, (await createUser(ctx, tenantId, { ou_id: o.id })).id);
  return { ous, userOf, roots: { a, upperB, bc, e } };
}

/** The OUs of the subtree of `root` (itself included), computed from the paths. */
const subtreeOf = (ous: OuData[], root: OuData) => ous.filter((o) => o.path === root.path || o.path.startsWith(`${root.path}/`));

describe.skipIf(!isPostgresPass)('PostgreSQL specifics', () => {
  const t = useTestApp();

  it('declares the "C" collation on org_units.path and org_units.id_path', async () => {
    const { rows } = await sql<{ column_name: string; collation_name: string | null }>`
      select column_name, collation_name from information_schema.columns
      where table_schema = current_schema() and table_name = 'org_units' and column_name in ('path', 'id_path')
      order by column_name`.execute(t.ctx.store.db);
    expect(rows).toEqual([
      { column_name: 'id_path', collation_name: 'C' },
      { column_name: 'path', collation_name: 'C' },
    ]);
  });

  it('orders OUs by path byte-wise, in the store and through GET /ous, although a locale collation would not', async () => {
    const tenant = await createTenant(t.ctx);
    const { ous } = await localeSensitiveTree(t.ctx, tenant.id);
    const expected = ous.map((o) => o.path).sort(byteOrder);
    expect(expected.slice(0, 4)).toEqual(['/B', '/B/a', '/B/b-c', '/B/b-c/a']);
    expect(expected.at(-1)).toBe('/é/B');

    expect(await pathsOrdered(t.ctx, tenant.id)).toEqual(expected);
    const listed = expectPageData(
      await t.ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.id}/ous`, query: { per_page: '100' }, headers: t.ctx.platformHeaders }),
    ) as { path: string }[];
    expect(listed.map((o) => o.path)).toEqual(expected);

    // The fixture has teeth: under a locale collation the same ORDER BY gives another order.
    if (await hasCollation(t.ctx, 'und-x-icu')) expect(await pathsOrdered(t.ctx, tenant.id, 'und-x-icu')).not.toEqual(expected);
  });

  it('answers a subtree (id_path range) with exactly the subtree: nested users, the range itself, CASCADE', async () => {
    const tenant = await createTenant(t.ctx);
    const { ous, userOf, roots } = await localeSensitiveTree(t.ctx, tenant.id);
    const db = t.ctx.store.db;

    for (const root of ous) {
      const expectedOus = subtreeOf(ous, root).map((o) => o.id).sort();
      const { id_path: idPath } = await db.selectFrom('org_units').select('id_path').where('tenant_id', '=', tenant.id).where('id', '=', root.id).executeTakeFirstOrThrow();
      const inRange = await db.selectFrom('org_units').select('id').where('tenant_id', '=', tenant.id).where(inSubtree('id_path', idPath)).execute();
      expect(inRange.map((r) => r.id).sort(), `id_path range of ${root.path}`).toEqual(expectedOus);

      const nested = expectPageData(
        await t.ctx.app.inject({
          method: 'GET',
          url: `/api/v1/tenants/${tenant.id}/ous/${root.id}/users`,
          query: { include_nested: 'true', per_page: '100' },
          headers: t.ctx.platformHeaders,
        }),
      ) as { id: string }[];
      expect(nested.map((u) => u.id).sort(), `nested users of ${root.path}`).toEqual(expectedOus.map((id) => userOf.get(id)).sort());
    }

    // CASCADE removes the subtree of /B and nothing of /b-c, /a/B or /é/B.
    const deleted = await t.ctx.app.inject({
      method: 'DELETE',
      url: `/api/v1/tenants/${tenant.id}/ous/${roots.upperB.id}`,
      query: { strategy: 'CASCADE' },
      headers: t.ctx.platformHeaders,
    });
    expect(deleted.statusCode, deleted.body).toBe(204);
    const removed = new Set(subtreeOf(ous, roots.upperB).map((o) => o.path));
    expect(await pathsOrdered(t.ctx, tenant.id)).toEqual(ous.map((o) => o.path).filter((p) => !removed.has(p)).sort(byteOrder));
  });

  it('would miss the descendants with a locale-style comparison of id_path (the "C" collation is what makes the range work)', async (context) => {
    // glibc locales such as en_US.UTF-8 ignore punctuation at first; ICU's alternate=shifted does
    // the same, so this stands for a database created with such a locale.
    if (!(await hasCollation(t.ctx, 'und-x-icu'))) context.skip('this PostgreSQL has no ICU collations');
    const tenant = await createTenant(t.ctx);
    const { roots } = await localeSensitiveTree(t.ctx, tenant.id);
    const db = t.ctx.store.db;
    await sql`create collation arbor_test_shifted (provider = icu, locale = 'und-u-ka-shifted')`.execute(db);
    const { id_path: idPath } = await db.selectFrom('org_units').select('id_path').where('tenant_id', '=', tenant.id).where('id', '=', roots.upperB.id).executeTakeFirstOrThrow();
    const count = async (collation: string) => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from org_units
        where tenant_id = ${tenant.id}
          and id_path collate ${sql.id(collation)} >= ${idPath}
          and id_path collate ${sql.id(collation)} < ${`${idPath.slice(0, -1)}0`}`.execute(db);
      return rows[0].n;
    };
    expect(await count('C')).toBe(4); // /B, /B/a, /B/b-c, /B/b-c/a
    expect(await count('arbor_test_shifted')).toBeLessThan(4);
  });

  it('maps unique violations (SQLSTATE 23505) to 409, and the store keeps working after the rolled-back transaction', async () => {
    const tenant = await createTenant(t.ctx, { slug: 'unique-pg' });
    const headers = t.ctx.platformHeaders;
    const ous = `/api/v1/tenants/${tenant.id}/ous`;
    const parent = await createOu(t.ctx, tenant.id, { name: 'Parent' });
    const child = await createOu(t.ctx, tenant.id, { name: 'Child', parent_id: parent.id });
    const sibling = await createOu(t.ctx, tenant.id, { name: 'Sibling', parent_id: parent.id });

    // Same sibling name in another case: the unique index on (tenant_id, parent_id, name_key).
    expectError(await t.ctx.app.inject({ method: 'POST', url: ous, headers, payload: { name: 'child', parent_id: parent.id } }), 409, 'ou.name_conflict');
    // Two roots: the partial unique index of roots.
    expectError(await t.ctx.app.inject({ method: 'POST', url: ous, headers, payload: { name: 'PARENT' } }), 409, 'ou.name_conflict');
    // A rename onto a sibling's name.
    expectError(await t.ctx.app.inject({ method: 'PATCH', url: `${ous}/${sibling.id}`, headers, payload: { name: 'CHILD' } }), 409, 'ou.name_conflict');
    // Users' emails and tenants' slugs go the same way.
    await createUser(t.ctx, tenant.id, { email: 'dup@x.io' });
    expectError(
      await t.ctx.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenant.id}/users`, headers, payload: { email: 'DUP@x.io' } }),
      409,
      'user.email_conflict',
    );
    expectError(await t.ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers, payload: { name: 'Again', slug: 'unique-pg' } }), 409, 'tenant.slug_conflict');

    // Nothing was half written, and the next writes go through.
    expect(await pathsOrdered(t.ctx, tenant.id)).toEqual(['/Parent', '/Parent/Child', '/Parent/Sibling']);
    const created = expectData(await t.ctx.app.inject({ method: 'POST', url: ous, headers, payload: { name: 'Another', parent_id: parent.id } }), 201);
    expect(created.path).toBe('/Parent/Another');
    expect(child.path).toBe('/Parent/Child');
  });
});
