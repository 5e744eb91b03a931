import type { Kysely } from 'kysely';

// The W3C trace id of the request that wrote each event (null: written outside a request, or
// before this migration): a change in the feed or a webhook delivery can be followed back to the
// request's log lines and on into the caller's own traces (docs/events.md). Nullable and without
// a default, so adding it rewrites no row on either store, and instances still running the
// previous code keep inserting without it during a rolling upgrade.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('events').addColumn('trace_id', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('events').dropColumn('trace_id').execute();
}
