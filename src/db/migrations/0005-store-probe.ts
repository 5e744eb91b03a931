import type { Kysely } from 'kysely';

// One row that /readyz rewrites after the store has refused a write (disk full, read-only
// file): a read alone would pass while every write fails, and the instance would stay in the
// load balancer without being able to change anything.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('store_probe')
    .addColumn('id', 'integer', (col) => col.primaryKey())
    .addColumn('probed_at', 'text', (col) => col.notNull())
    .execute();
  await db.insertInto('store_probe' as never).values({ id: 1, probed_at: new Date(0).toISOString() } as never).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('store_probe').execute();
}
