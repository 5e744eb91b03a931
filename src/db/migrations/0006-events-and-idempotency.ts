import type { Kysely } from 'kysely';

// The change feed and audit log (events, event_heads) and stored responses of requests made
// with an Idempotency-Key (idempotency_keys). See docs/events.md.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('events')
    .addColumn('tenant_id', 'text', (col) => col.notNull())
    .addColumn('seq', 'bigint', (col) => col.notNull())
    // Not indexed: ULIDs do not collide, and nothing looks an event up by id alone (one index
    // less on every event written).
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('occurred_at', 'text', (col) => col.notNull())
    .addColumn('actor', 'text', (col) => col.notNull())
    .addColumn('request_id', 'text')
    .addColumn('correlation_id', 'text')
    .addColumn('resource_type', 'text', (col) => col.notNull())
    .addColumn('resource_id', 'text', (col) => col.notNull())
    .addColumn('data', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('events_pk', ['tenant_id', 'seq'])
    .execute();
  // resource_id= follows one resource's history; retention deletes by age.
  await db.schema.createIndex('events_resource_ix').on('events').columns(['tenant_id', 'resource_id', 'seq']).execute();
  await db.schema.createIndex('events_occurred_ix').on('events').columns(['occurred_at']).execute();
  await db.schema
    .createTable('event_heads')
    .addColumn('tenant_id', 'text', (col) => col.primaryKey())
    .addColumn('last_seq', 'bigint', (col) => col.notNull())
    .addColumn('pruned_through', 'bigint', (col) => col.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('fingerprint', 'text', (col) => col.notNull())
    .addColumn('claim', 'text')
    .addColumn('claimed_until', 'text', (col) => col.notNull())
    .addColumn('response_status', 'integer')
    .addColumn('response_headers', 'text')
    .addColumn('response_body', 'text')
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
    .execute();
  await db.schema.createIndex('idempotency_keys_expires_ix').on('idempotency_keys').columns(['expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute();
  await db.schema.dropTable('event_heads').execute();
  await db.schema.dropTable('events').execute();
}
