import type { Executor } from '../store.js';
import type { ImportJobTable } from '../schema.js';

export type ImportJobRow = ImportJobTable;
export type ImportJobPatch = Partial<Omit<ImportJobRow, 'tenant_id' | 'id' | 'created_at' | 'created_by' | 'format'>>;

/** Import jobs (migration 0011): their options, progress and report; never the file. */
export function createImportJobRepository(db: Executor) {
  return {
    async insert(row: ImportJobRow): Promise<void> {
      await db.insertInto('import_jobs').values(row).execute();
    },

    async get(tenantId: string, id: string): Promise<ImportJobRow | undefined> {
      return db.selectFrom('import_jobs').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    },

    async update(tenantId: string, id: string, patch: ImportJobPatch): Promise<void> {
      await db.updateTable('import_jobs').set(patch).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },

    /** Marks running jobs whose runner has not said it still runs them since `before` as failed: their instance stopped. */
    async failStale(before: string, error: string, now: string): Promise<number> {
      const result = await db
        .updateTable('import_jobs')
        .set({ state: 'failed', phase: 'done', error, updated_at: now, finished_at: now })
        .where('state', '=', 'running')
        .where((eb) => eb.or([eb('heartbeat_at', '<', before), eb('heartbeat_at', 'is', null)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
  };
}

export type ImportJobRepository = ReturnType<typeof createImportJobRepository>;
