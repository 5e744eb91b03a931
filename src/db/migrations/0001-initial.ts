import { type Kysely, sql } from 'kysely';
import { dialectOf } from '../sql.js';

// Every tenant-owned table is keyed by tenant_id first, and no foreign key crosses tenants,
// so the schema can later be distributed by tenant_id.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Paths are compared byte-wise: the subtree range [`/a/`, `/a0`) and ORDER BY path rely on it.
  // SQLite's default collation is binary; PostgreSQL's follows the locale unless told.
  const binaryText = dialectOf(db) === 'postgres' ? sql`text collate "C"` : sql`text`;

  await db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('slug', 'text', (col) => col.notNull().unique())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('org_units')
    .addColumn('tenant_id', 'text', (col) => col.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('parent_id', 'text')
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('name_key', 'text', (col) => col.notNull())
    .addColumn('description', 'text')
    .addColumn('custom_attributes', 'text')
    .addColumn('path', binaryText, (col) => col.notNull())
    .addColumn('id_path', binaryText, (col) => col.notNull())
    .addColumn('depth', 'integer', (col) => col.notNull())
    .addColumn('child_ou_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('user_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('org_units_pk', ['tenant_id', 'id'])
    // Deferred to commit: MOVE_UP deletes an OU before its children move up, so that a child
    // with the deleted OU's own name can take its place.
    .addForeignKeyConstraint('org_units_parent_fk', ['tenant_id', 'parent_id'], 'org_units', ['tenant_id', 'id'], (fk) =>
      fk.deferrable().initiallyDeferred(),
    )
    .execute();
  // Sibling names are unique case-insensitively. Roots have no parent, and NULLs never collide
  // in a unique index, so they get their own partial index.
  await db.schema
    .createIndex('org_units_sibling_name_uq')
    .on('org_units')
    .columns(['tenant_id', 'parent_id', 'name_key'])
    .unique()
    .where(sql.ref('parent_id'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('org_units_root_name_uq')
    .on('org_units')
    .columns(['tenant_id', 'name_key'])
    .unique()
    .where(sql.ref('parent_id'), 'is', null)
    .execute();
  await db.schema.createIndex('org_units_id_path_uq').on('org_units').columns(['tenant_id', 'id_path']).unique().execute();
  await db.schema.createIndex('org_units_path_ix').on('org_units').columns(['tenant_id', 'path']).execute();

  await db.schema
    .createTable('users')
    .addColumn('tenant_id', 'text', (col) => col.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('email', 'text', (col) => col.notNull())
    .addColumn('email_key', 'text', (col) => col.notNull())
    .addColumn('display_name', 'text')
    .addColumn('display_name_key', 'text')
    .addColumn('ou_id', 'text')
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('custom_attributes', 'text')
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('users_pk', ['tenant_id', 'id'])
    .addForeignKeyConstraint('users_ou_fk', ['tenant_id', 'ou_id'], 'org_units', ['tenant_id', 'id'])
    .addUniqueConstraint('users_email_uq', ['tenant_id', 'email_key'])
    .execute();
  await db.schema.createIndex('users_ou_ix').on('users').columns(['tenant_id', 'ou_id', 'id']).execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (col) => col.primaryKey())
    .addColumn('alg', 'text', (col) => col.notNull())
    .addColumn('private_jwk', 'text', (col) => col.notNull())
    .addColumn('public_jwk', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['signing_keys', 'users', 'org_units', 'tenants']) {
    await db.schema.dropTable(table).execute();
  }
}
