import { type Kysely, sql } from 'kysely';

// tenants.name_key: the name as a search compares it (NFC, lowercased, as an OU's name_key), so
// `GET /api/v1/tenants?search=` matches "ärzte" to "Ärzte" on SQLite too, whose lower() folds
// ASCII only. Tenants are few: they are backfilled one by one, and searched without an index.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tenants').addColumn('name_key', 'text', (col) => col.notNull().defaultTo('')).execute();
  const { rows } = await sql<{ id: string; name: string }>`select id, name from tenants`.execute(db);
  for (const { id, name } of rows) {
    await sql`update tenants set name_key = ${name.normalize('NFC').toLowerCase()} where id = ${id}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tenants').dropColumn('name_key').execute();
}
