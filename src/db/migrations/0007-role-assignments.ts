import { type Kysely, sql } from 'kysely';
import { newId } from '../../lib/ids.js';

// Delegated administration (docs/delegated-admin.md): role assignments, the tenant setting for
// external principals without one, and the OU paths each event touched (the feed of a scoped
// reader is filtered by them).
//
// Every API client that exists when this runs gets a tenant-wide tenant_admin assignment, so
// that what worked before the upgrade keeps working: rights now come only from assignments.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('role_assignments')
    .addColumn('tenant_id', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('principal_type', 'text', (col) => col.notNull())
    .addColumn('principal_id', 'text', (col) => col.notNull())
    .addColumn('role', 'text', (col) => col.notNull())
    // Null: the whole tenant. Not a foreign key: an OU's delete removes its assignments itself,
    // with an event for each (org-unit-delete.ts).
    .addColumn('ou_id', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('created_at', 'text', (col) => col.notNull())
    // JSON actor, as events record it.
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('role_assignments_pk', ['tenant_id', 'id'])
    .execute();
  // Every authenticated request of a tenant principal reads its assignments by this key.
  await db.schema
    .createIndex('role_assignments_principal_ix')
    .on('role_assignments')
    .columns(['tenant_id', 'principal_type', 'principal_id'])
    .execute();
  await db.schema.createIndex('role_assignments_ou_ix').on('role_assignments').columns(['tenant_id', 'ou_id']).execute();
  await db.schema
    .alterTable('tenants')
    .addColumn('external_default', 'text', (col) => col.notNull().defaultTo('tenant'))
    .execute();
  // ' '-separated id_paths of the OUs an event's resource was in, before and after (null: none).
  await db.schema.alterTable('events').addColumn('ou_paths', 'text').execute();

  const clients = await sql<{ id: string; tenant_id: string }>`select id, tenant_id from api_clients where tenant_id is not null`.execute(db);
  const now = new Date().toISOString();
  const createdBy = JSON.stringify({ type: 'system', id: 'migration 0007', client_id: null });
  for (const client of clients.rows) {
    await sql`insert into role_assignments (tenant_id, id, principal_type, principal_id, role, ou_id, expires_at, created_at, created_by)
      values (${client.tenant_id}, ${newId('ra')}, 'client', ${client.id}, 'tenant_admin', null, null, ${now}, ${createdBy})`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('events').dropColumn('ou_paths').execute();
  await db.schema.alterTable('tenants').dropColumn('external_default').execute();
  await db.schema.dropTable('role_assignments').execute();
}
