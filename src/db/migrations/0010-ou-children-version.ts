import type { Kysely } from 'kysely';

// org_units.children_version: raised by every write that changes what GET of the OU lists as its
// children (a child added, removed, renamed or moved, a child's user count; a new path above
// them changes the OU's own path, which is compared too).
// With the OU's own row, it tells whether a rendered answer kept by an instance is still the
// answer (services/org-unit-detail-cache.ts): one primary-key read instead of reading and
// rendering the children again (10,000 of them for the widest OU of the benchmark store).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_units').addColumn('children_version', 'integer', (col) => col.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_units').dropColumn('children_version').execute();
}
