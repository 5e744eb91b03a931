import { type Kysely, type Migration, Migrator } from 'kysely';
import * as initial from './migrations/0001-initial.js';
import * as apiClients from './migrations/0002-api-clients.js';
import type { Database } from './schema.js';

// Listed here rather than read from a folder, so the same code runs from src/ (tsx) and dist/.
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-api-clients': apiClients,
};

export interface MigrationOutcome {
  applied: string[];
}

/** Brings the schema up to date; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationOutcome> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
