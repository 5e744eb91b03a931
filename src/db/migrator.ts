import { type Kysely, type Migration, Migrator, sql } from 'kysely';
import * as initial from './migrations/0001-initial.js';
import * as apiClients from './migrations/0002-api-clients.js';
import * as subtreeUserCount from './migrations/0003-subtree-user-count.js';
import * as listIndexes from './migrations/0004-list-indexes.js';
import * as storeProbe from './migrations/0005-store-probe.js';
import { dialectOf } from './database.js';
import type { Database } from './schema.js';

// Listed here rather than read from a folder, so the same code runs from src/ (tsx) and dist/.
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-api-clients': apiClients,
  '0003-subtree-user-count': subtreeUserCount,
  '0004-list-indexes': listIndexes,
  '0005-store-probe': storeProbe,
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
 * Kysely's migration lock row serializes instances starting together. On SQLite it has no
 * lock across processes, so a start that loses the race (the file is busy, or the table it
 * creates now exists) waits and tries again, and then finds the work done.
 */
export async function migrateToLatest(db: Kysely<Database>, attempts = 5): Promise<MigrationOutcome> {
  const migrator = await migratorFor(db);
  for (let attempt = 1; ; attempt++) {
    const { error, results = [] } = await migrator.migrateToLatest();
    if (!error) return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) };
    if (attempt >= attempts || dialectOf(db) !== 'sqlite') throw error instanceof Error ? error : new Error(String(error));
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
}

/** Names of the migrations this code knows that the store has not applied. */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrator = await migratorFor(db);
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
