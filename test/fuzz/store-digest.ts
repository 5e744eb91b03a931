import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Store } from '../../src/db/store.js';
import type { Database } from '../../src/db/schema.js';

/**
 * A digest of everything Arbor keeps in its store, to prove that a request changed nothing.
 *
 * Every table of src/db/schema.ts with its primary key. The type makes this list complete: a table
 * added to `Database` without a line here is a compile error, and `undigestedTables()` compares the
 * list with the tables the store really has (migration bookkeeping aside).
 */
export const DIGESTED_TABLES: { readonly [T in keyof Database]: readonly (keyof Database[T] & string)[] } = {
  tenants: ['id'],
  org_units: ['tenant_id', 'id'],
  users: ['tenant_id', 'id'],
  signing_keys: ['kid'],
  api_clients: ['id'],
  store_probe: ['id'],
  events: ['tenant_id', 'seq'],
  idempotency_keys: ['scope', 'key'],
  role_assignments: ['tenant_id', 'id'],
  webhooks: ['tenant_id', 'id'],
  webhook_deliveries: ['tenant_id', 'id'],
  import_jobs: ['tenant_id', 'id'],
};

/**
 * Tables a successful read may legitimately write: /readyz rewrites the probe row after a store
 * outage (migration 0005). No table may change on a 4xx; these are exempt only from the
 * "a GET writes nothing" check.
 */
export const WRITTEN_BY_READS: ReadonlySet<string> = new Set(['store_probe']);

/** sha256 of each table's rows, by table name. */
export type StoreDigest = Readonly<Record<string, string>>;

/** Kysely's migration bookkeeping: written by migrations only, never by a request. */
const BOOKKEEPING = /^kysely_migration/;

/** Rows as text that does not depend on the order of columns (both dialects return plain values here). */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/**
 * Tables no statement ever updates (src/db/repositories/event-repository.ts only inserts and
 * deletes): their row count and the sum and maximum of their key tell whether a request added
 * or removed a row. Hashing every row instead made the fuzz suite ten times slower: every write
 * adds an event, and the store is digested around every refused request.
 */
const APPEND_ONLY: ReadonlySet<string> = new Set(['events']);

/**
 * sha256 over every row of each table, ordered by its primary key (an append-only table: over
 * its count and key bounds): equal digests mean equal stores. Cheap on the fuzzer's small store.
 */
export async function storeDigest(store: Pick<Store, 'db'>): Promise<StoreDigest> {
  const digest: Record<string, string> = {};
  const events = await store.db
    .selectFrom('events')
    .select((eb) => [eb.fn.countAll<number>().as('rows'), eb.fn.sum<number>('seq').as('total'), eb.fn.max<number>('seq').as('last')])
    .executeTakeFirstOrThrow();
  digest.events = createHash('sha256').update(`${Number(events.rows)} ${Number(events.total ?? 0)} ${Number(events.last ?? 0)}`).digest('hex');
  for (const [table, key] of Object.entries(DIGESTED_TABLES) as [keyof Database, readonly string[]][]) {
    if (APPEND_ONLY.has(table)) continue;
    // The same query on the same store orders the same way: two digests compare.
    const rows = await key.reduce((query, column) => query.orderBy(sql.ref(column)), store.db.selectFrom(table).selectAll()).execute();
    const hash = createHash('sha256').update(`${rows.length}\n`);
    for (const row of rows) hash.update(`${canonical(row)}\n`);
    digest[table] = hash.digest('hex');
  }
  return digest;
}

/** The tables whose rows differ between two digests; [] when the store did not change. */
export function changedTables(before: StoreDigest, after: StoreDigest): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((table) => before[table] !== after[table]).sort();
}

/** Tables the store has that the digest does not cover (migration bookkeeping aside); [] when complete. */
export async function undigestedTables(store: Pick<Store, 'db' | 'dialect'>): Promise<string[]> {
  let tables = await store.db.introspection.getTables();
  if (store.dialect === 'postgres') {
    // The introspector lists every schema of the database; ours is the first on the search path.
    const current = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db);
    tables = tables.filter((t) => t.schema === current.rows[0]?.schema);
  }
  const covered = new Set(Object.keys(DIGESTED_TABLES));
  return tables
    .filter((t) => !t.isView && !BOOKKEEPING.test(t.name) && !covered.has(t.name))
    .map((t) => t.name)
    .sort();
}
