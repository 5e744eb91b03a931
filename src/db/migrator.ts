import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import * as initial from './migrations/0001-initial.js';
import * as apiClients from './migrations/0002-api-clients.js';
import * as subtreeUserCount from './migrations/0003-subtree-user-count.js';
import * as listIndexes from './migrations/0004-list-indexes.js';
import * as storeProbe from './migrations/0005-store-probe.js';
import * as eventsAndIdempotency from './migrations/0006-events-and-idempotency.js';
import * as roleAssignments from './migrations/0007-role-assignments.js';
import * as webhooks from './migrations/0008-webhooks.js';
import * as eventTraceId from './migrations/0009-event-trace-id.js';
import * as ouChildrenVersion from './migrations/0010-ou-children-version.js';
import * as imports from './migrations/0011-imports.js';
import * as tenantNameKey from './migrations/0012-tenant-name-key.js';
import { dialectOf } from './sql.js';
import type { Database } from './schema.js';

// Listed here rather than read from a folder, so the same code runs from src/ (tsx) and dist/.
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-api-clients': apiClients,
  '0003-subtree-user-count': subtreeUserCount,
  '0004-list-indexes': listIndexes,
  '0005-store-probe': storeProbe,
  '0006-events-and-idempotency': eventsAndIdempotency,
  '0007-role-assignments': roleAssignments,
  '0008-webhooks': webhooks,
  '0009-event-trace-id': eventTraceId,
  '0010-ou-children-version': ouChildrenVersion,
  '0011-imports': imports,
  '0012-tenant-name-key': tenantNameKey,
};

/** Every migration this code knows, oldest first. */
export const MIGRATION_NAMES = Object.keys(migrations);

/**
 * Kysely looks for its bookkeeping tables in every schema it can see; on PostgreSQL it is told
 * the one in use, or a store in one schema would take another schema's tables for its own.
 */
export async function migratorFor(db: Kysely<Database>): Promise<Migrator> {
  const schema =
    dialectOf(db) === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema : undefined;
  return new Migrator({ db, provider: { getMigrations: async () => migrations }, ...(schema ? { migrationTableSchema: schema } : {}) });
}

export interface MigrationOutcome {
  applied: string[];
}

/**
 * Brings the schema up to date; throws with the failing migration's error. On PostgreSQL,
 * Kysely's migration lock row serializes instances starting together. On SQLite Kysely has no
 * lock across processes, so the whole run is one `BEGIN IMMEDIATE` transaction: an instance
 * starting beside another waits for its write lock (busy_timeout, then again until
 * `waitMs`), then finds the work done; and a start that dies half-way leaves nothing applied.
 */
export async function migrateToLatest(db: Kysely<Database>, waitMs = 60_000): Promise<MigrationOutcome> {
  const migrator = await migratorFor(db);
  if (dialectOf(db) !== 'sqlite') return outcomeOf(await migrator.migrateToLatest());
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`begin immediate`.execute(db);
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 1000)));
      continue;
    }
    let outcome: MigrationOutcome;
    try {
      outcome = outcomeOf(await migrator.migrateToLatest());
    } catch (error) {
      // SQLite may have rolled back already (disk full, I/O error): a failing rollback must not
      // hide the error that says why the migration failed.
      await sql`rollback`.execute(db).catch(() => undefined);
      throw error;
    }
    await sql`commit`.execute(db);
    return outcome;
  }
}

function outcomeOf({ error, results = [] }: MigrationResultSet): MigrationOutcome {
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

/** Names of the migrations this code knows that the store has not applied. */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrator = await migratorFor(db);
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
