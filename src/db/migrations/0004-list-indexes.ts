import { type Kysely, sql } from 'kysely';
import { dialectOf } from '../sql.js';

// What the benchmark at 10^5 OUs and 10^6 users showed the list endpoints need
// (docs/benchmarks.md):
// - tenants.ou_count, maintained: the unfiltered OU list's total_items without counting
//   (a count over the tenant's index took 8 ms at 10^5 OUs);
// - tenants.ou_version, raised by every OU write: a name search's count, once made, is kept
//   (per instance) until the tenant's OUs change;
// - (tenant_id, name_key): a name search scans this small index instead of the table (33 ms to
//   7.6 ms for a count at 10^5 OUs);
// - (tenant_id, parent_id, path): one parent's children in path order, for `parent_id=`
//   (otherwise the path index is walked from the start until the parent's children come up:
//   90,000 rows before the first child of the last parent, 473 ms);
// - (tenant_id, id, ou_id): the users of a subtree holding every placed user are read in id
//   order from this index alone, instead of collecting and sorting 10^6 rows (5.9 s to 0.1 s
//   for the last page).
export async function up(db: Kysely<unknown>): Promise<void> {
  // Sibling order by name_key compares bytes on both stores, as paths do (0001): on PostgreSQL
  // the column followed the database's locale, so GET OU's children and the tree (sorted by code
  // point) could disagree for non-ASCII names. Equality, hence uniqueness, is unchanged.
  if (dialectOf(db) === 'postgres') await sql`alter table org_units alter column name_key type text collate "C"`.execute(db);
  await db.schema.alterTable('tenants').addColumn('ou_count', 'integer', (col) => col.notNull().defaultTo(0)).execute();
  await sql`update tenants set ou_count = (select count(*) from org_units where org_units.tenant_id = tenants.id)`.execute(db);
  await db.schema.alterTable('tenants').addColumn('ou_version', 'integer', (col) => col.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('org_units_name_key_ix').on('org_units').columns(['tenant_id', 'name_key']).execute();
  await db.schema.createIndex('org_units_parent_path_ix').on('org_units').columns(['tenant_id', 'parent_id', 'path']).execute();
  await db.schema.createIndex('users_id_ou_ix').on('users').columns(['tenant_id', 'id', 'ou_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('users_id_ou_ix').execute();
  await db.schema.dropIndex('org_units_parent_path_ix').execute();
  await db.schema.dropIndex('org_units_name_key_ix').execute();
  await db.schema.alterTable('tenants').dropColumn('ou_version').execute();
  await db.schema.alterTable('tenants').dropColumn('ou_count').execute();
}
