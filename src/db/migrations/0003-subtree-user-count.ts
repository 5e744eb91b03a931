import { type Kysely, sql } from 'kysely';

// Users of each OU's whole subtree, kept in step by every write that places, removes or moves
// users or OUs, so that `include_nested=true` never counts a subtree at read time (measured:
// tens to hundreds of ms at 10^6 users; see docs/benchmarks.md).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('org_units')
    .addColumn('subtree_user_count', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();
  // Backfill from the maintained direct counts: each OU sums user_count over its id_path range.
  await sql`
    update org_units set subtree_user_count = (
      select coalesce(sum(d.user_count), 0) from org_units d
      where d.tenant_id = org_units.tenant_id
        and d.id_path >= org_units.id_path
        and d.id_path < substr(org_units.id_path, 1, length(org_units.id_path) - 1) || '0'
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_units').dropColumn('subtree_user_count').execute();
}
