import { type Kysely, sql } from 'kysely';
import { dialectOf } from '../sql.js';

// The change feed and audit log (events) and stored responses of requests made with an
// Idempotency-Key (idempotency_keys). See docs/events.md.
//
// `events` is clustered on (tenant_id, seq) on SQLite (WITHOUT ROWID): a page of the feed is
// one range of one b-tree, and an append touches that b-tree and the resource index only. A
// tenant's next seq is its largest plus one, read under the tenant's lock, so there is no table
// of counters to keep in step; retention walks a tenant's oldest seqs (no index on the time).
export async function up(db: Kysely<unknown>): Promise<void> {
  const clustered = dialectOf(db) === 'sqlite' ? sql`without rowid` : sql``;
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
    .modifyEnd(clustered)
    .execute();
  // resource_id= follows one resource's history (an OU's page in the console, an audit).
  await db.schema.createIndex('events_resource_ix').on('events').columns(['tenant_id', 'resource_id', 'seq']).execute();
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
  await db.schema.dropTable('events').execute();
}
