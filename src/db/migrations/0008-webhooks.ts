import type { Kysely } from 'kysely';

// Webhooks (docs/webhooks.md): subscriptions, and the log of their deliveries.
//
// A subscription is its own delivery queue: `cursor_seq` is the last event of its tenant it has
// handled (delivered, given up, or not of its types), so the events it still owes are the feed
// after it, and nothing is copied per event. One instance at a time works a subscription: it
// holds the lease (`lease_owner` until `lease_until`), taken with FOR UPDATE SKIP LOCKED on
// PostgreSQL; a lease that expires (the instance died) is taken over by another.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('tenant_id', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('url', 'text', (col) => col.notNull())
    .addColumn('description', 'text')
    // JSON array of patterns: exact types, `<resource>.*`, or `*`.
    .addColumn('event_types', 'text', (col) => col.notNull())
    .addColumn('enabled', 'integer', (col) => col.notNull())
    // Why it is disabled: `manual`, `gone` (the receiver answered 410) or `failing` (days of failures).
    .addColumn('disabled_reason', 'text')
    // Encrypted (webhook-secrets.ts): never the secret itself.
    .addColumn('secret', 'text', (col) => col.notNull())
    .addColumn('previous_secret', 'text')
    .addColumn('previous_secret_expires_at', 'text')
    .addColumn('cursor_seq', 'bigint', (col) => col.notNull())
    // When the event at the head may be tried again; null: as soon as there is one.
    .addColumn('next_attempt_at', 'text')
    // The first failure since the last success: 5 days of nothing else disables the subscription.
    .addColumn('failing_since', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'text')
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('webhooks_pk', ['tenant_id', 'id'])
    .execute();
  // What every instance's dispatcher looks through a few times a second.
  await db.schema.createIndex('webhooks_due_ix').on('webhooks').columns(['enabled', 'next_attempt_at']).execute();
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('tenant_id', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('webhook_id', 'text', (col) => col.notNull())
    // The webhook-id header: the event's id (a ping's own id).
    .addColumn('event_id', 'text', (col) => col.notNull())
    // Null for a ping.
    .addColumn('event_seq', 'bigint')
    .addColumn('event_type', 'text', (col) => col.notNull())
    // 1: the head of the subscription's ordered stream; 0: a ping or a manual re-send, on its own.
    .addColumn('in_sequence', 'integer', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull())
    .addColumn('next_attempt_at', 'text')
    .addColumn('last_attempt_at', 'text')
    .addColumn('last_response_status', 'integer')
    .addColumn('last_latency_ms', 'integer')
    .addColumn('last_error', 'text')
    // At most 1 KiB of what the receiver answered.
    .addColumn('last_response_body', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'text')
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('webhook_deliveries_pk', ['tenant_id', 'id'])
    .execute();
  // A subscription's log, newest first (ids are ULIDs).
  await db.schema.createIndex('webhook_deliveries_webhook_ix').on('webhook_deliveries').columns(['tenant_id', 'webhook_id', 'id']).execute();
  // Its pending head (read at every turn of the dispatcher), and the log filtered by status.
  await db.schema
    .createIndex('webhook_deliveries_status_ix')
    .on('webhook_deliveries')
    .columns(['tenant_id', 'webhook_id', 'status', 'in_sequence', 'id'])
    .execute();
  // Retention: finished deliveries by age.
  await db.schema.createIndex('webhook_deliveries_updated_ix').on('webhook_deliveries').columns(['updated_at']).execute();
  // Pings and re-sends due: few rows are pending at any time.
  await db.schema.createIndex('webhook_deliveries_due_ix').on('webhook_deliveries').columns(['status', 'in_sequence', 'next_attempt_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webhook_deliveries').execute();
  await db.schema.dropTable('webhooks').execute();
}
