import type { Selectable } from 'kysely';
import type { Executor } from '../store.js';
import type { SigningKeyTable } from '../schema.js';

export type SigningKeyRow = Selectable<SigningKeyTable>;

/** Token signing keys; global, not tenant-scoped. */
export function createSigningKeyRepository(db: Executor) {
  return {
    /** Newest first: the first one signs, all of them verify. */
    async listNewestFirst(): Promise<SigningKeyRow[]> {
      return db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid', 'desc').execute();
    },

    async insert(row: SigningKeyRow): Promise<void> {
      await db.insertInto('signing_keys').values(row).execute();
    },

    /** Marks every key but `kid` as retired (those already retired keep their date). */
    async retireAllExcept(kid: string, retiredAt: string): Promise<void> {
      await db.updateTable('signing_keys').set({ retired_at: retiredAt }).where('kid', '!=', kid).where('retired_at', 'is', null).execute();
    },

    /** Forgets keys retired before `before`: every token they signed has expired. */
    async deleteRetiredBefore(before: string): Promise<void> {
      await db.deleteFrom('signing_keys').where('retired_at', '<', before).execute();
    },
  };
}
