import type { Selectable } from 'kysely';
import type { Executor } from '../store.js';
import type { IdempotencyKeyTable } from '../schema.js';

export type IdempotencyKeyRow = Selectable<IdempotencyKeyTable>;

/** All SQL on `idempotency_keys`. Every method is scoped by the key's owner first. */
export function createIdempotencyRepository(db: Executor) {
  return {
    async get(scope: string, key: string): Promise<IdempotencyKeyRow | undefined> {
      return db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key).executeTakeFirst();
    },

    /** Inserts a claim; false when the key already has a row (the primary key refuses it). */
    async insertClaim(row: IdempotencyKeyRow): Promise<boolean> {
      const result = await db
        .insertInto('idempotency_keys')
        .values(row)
        .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /**
     * Takes over a row whose claim lapsed or whose stored response expired, if it is still as
     * `seen` (another request taking it first wins); true when taken.
     */
    async takeOver(seen: IdempotencyKeyRow, row: IdempotencyKeyRow): Promise<boolean> {
      const result = await db
        .updateTable('idempotency_keys')
        .set(row)
        .where('scope', '=', seen.scope)
        .where('key', '=', seen.key)
        .where('claimed_until', '=', seen.claimed_until)
        .where('expires_at', '=', seen.expires_at)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Stores the response of the claim `claim` (in the transaction of its change). */
    async complete(scope: string, key: string, claim: string, response: { status: number; headers: string; body: string }): Promise<void> {
      await db
        .updateTable('idempotency_keys')
        .set({ claim: null, response_status: response.status, response_headers: response.headers, response_body: response.body })
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('claim', '=', claim)
        .execute();
    },

    /** Gives up a claim that stored no response (the request failed or changed nothing). */
    async release(scope: string, key: string, claim: string): Promise<void> {
      await db.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).where('claim', '=', claim).execute();
    },

    /** Deletes expired rows, at most `limit`; returns how many. */
    async prune(now: string, limit: number): Promise<number> {
      const doomed = db.selectFrom('idempotency_keys').select(['scope', 'key']).where('expires_at', '<', now).limit(limit);
      const rows = await doomed.execute();
      for (const row of rows) await db.deleteFrom('idempotency_keys').where('scope', '=', row.scope).where('key', '=', row.key).where('expires_at', '<', now).execute();
      return rows.length;
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
