import type { Kysely } from 'kysely';

// OAuth clients (client_credentials), and retirement of signing keys for rotation.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_clients')
    .addColumn('id', 'text', (col) => col.primaryKey())
    // Null for platform clients; a tenant's clients go with it.
    .addColumn('tenant_id', 'text', (col) => col.references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('secret_hash', 'text', (col) => col.notNull())
    .addColumn('scopes', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('api_clients_tenant_ix').on('api_clients').columns(['tenant_id', 'id']).execute();
  // A retired key no longer signs; it verifies until the tokens it signed have expired.
  await db.schema.alterTable('signing_keys').addColumn('retired_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('signing_keys').dropColumn('retired_at').execute();
  await db.schema.dropTable('api_clients').execute();
}
