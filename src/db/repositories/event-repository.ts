import type { Selectable } from 'kysely';
import type { Executor } from '../store.js';
import type { EventTable } from '../schema.js';

export type EventRow = Selectable<EventTable>;
export type NewEventRow = Omit<EventRow, 'seq'>;

export interface EventFilter {
  /** Exact types, or prefixes (`ou.`) for `ou.*`. */
  types?: { exact: string[]; prefixes: string[] };
  resourceId?: string;
}

/** Rows per INSERT: 11 parameters each, well under SQLite's and PostgreSQL's limits. */
const INSERT_BATCH = 500;

/** All SQL on `events` and `event_heads`. Every method is scoped by tenant first. */
export function createEventRepository(db: Executor) {
  return {
    /**
     * Appends `rows` after the tenant's last event and returns their seqs' first value. Call
     * under the tenant's lock, in the transaction of the change: the head's row update
     * serializes too, so seqs follow commit order with no gap and no reuse.
     */
    async append(tenantId: string, rows: NewEventRow[]): Promise<number> {
      const head = await db
        .insertInto('event_heads')
        .values({ tenant_id: tenantId, last_seq: rows.length, pruned_through: 0 })
        .onConflict((oc) => oc.column('tenant_id').doUpdateSet((eb) => ({ last_seq: eb('event_heads.last_seq', '+', rows.length) })))
        .returning('last_seq')
        .executeTakeFirstOrThrow();
      const first = Number(head.last_seq) - rows.length + 1;
      for (let i = 0; i < rows.length; i += INSERT_BATCH) {
        const batch = rows.slice(i, i + INSERT_BATCH).map((row, j) => ({ ...row, seq: first + i + j }));
        await db.insertInto('events').values(batch).execute();
      }
      return first;
    },

    /** The tenant's last seq and the last one pruned (0, 0 before its first event). */
    async head(tenantId: string): Promise<{ lastSeq: number; prunedThrough: number } | undefined> {
      const row = await db.selectFrom('event_heads').select(['last_seq', 'pruned_through']).where('tenant_id', '=', tenantId).executeTakeFirst();
      return row && { lastSeq: Number(row.last_seq), prunedThrough: Number(row.pruned_through) };
    },

    /** The last seq of each tenant named (those with events). */
    async lastSeqs(tenantIds: string[]): Promise<Map<string, number>> {
      if (tenantIds.length === 0) return new Map();
      const rows = await db.selectFrom('event_heads').select(['tenant_id', 'last_seq']).where('tenant_id', 'in', tenantIds).execute();
      return new Map(rows.map((r) => [r.tenant_id, Number(r.last_seq)]));
    },

    /** Up to `limit` events after `afterSeq`, in seq order. */
    async list(tenantId: string, afterSeq: number, limit: number, filter: EventFilter = {}): Promise<EventRow[]> {
      let query = db.selectFrom('events').selectAll().where('tenant_id', '=', tenantId).where('seq', '>', afterSeq);
      if (filter.resourceId !== undefined) query = query.where('resource_id', '=', filter.resourceId);
      const types = filter.types;
      if (types) {
        query = query.where((eb) =>
          eb.or([
            ...(types.exact.length > 0 ? [eb('type', 'in', types.exact)] : []),
            // Prefixes are `<word>.`; a type is ASCII, so a range on it is exact.
            ...types.prefixes.map((prefix) => eb.and([eb('type', '>=', prefix), eb('type', '<', `${prefix.slice(0, -1)}/`)])),
          ]),
        );
      }
      const rows = await query.orderBy('seq').limit(limit).execute();
      return rows.map((row) => ({ ...row, seq: Number(row.seq) }));
    },

    /**
     * Deletes events that occurred before `cutoff`, at most `limit` of them, and records for
     * each tenant affected the last seq it pruned. Returns how many it deleted.
     */
    async prune(cutoff: string, limit: number): Promise<number> {
      const doomed = await db
        .selectFrom('events')
        .select(['tenant_id', 'seq'])
        .where('occurred_at', '<', cutoff)
        .orderBy('occurred_at')
        .limit(limit)
        .execute();
      if (doomed.length === 0) return 0;
      const through = new Map<string, number>();
      for (const row of doomed) through.set(row.tenant_id, Math.max(through.get(row.tenant_id) ?? 0, Number(row.seq)));
      for (const [tenantId, seq] of through) {
        // Seqs follow commit order, so everything up to the newest expired one goes (give or
        // take the clock skew between instances): the feed never has a hole in its middle.
        await db.deleteFrom('events').where('tenant_id', '=', tenantId).where('seq', '<=', seq).execute();
        await db.updateTable('event_heads').set({ pruned_through: seq }).where('tenant_id', '=', tenantId).where('pruned_through', '<', seq).execute();
      }
      return doomed.length;
    },
  };
}

export type EventRepository = ReturnType<typeof createEventRepository>;
