import { type ExpressionBuilder, type Selectable, sql } from 'kysely';
import { compiledOnce, dialectOf, escapeLike, seqBound } from '../sql.js';
import type { Executor } from '../store.js';
import type { Database, EventTable } from '../schema.js';
import { createTenantRepository } from './tenant-repository.js';

export type EventRow = Selectable<EventTable>;
export type NewEventRow = Omit<EventRow, 'seq'>;

export interface EventFilter {
  /** Exact types, or prefixes (`ou.`) for `ou.*`. */
  types?: { exact: string[]; prefixes: string[] };
  resourceId?: string;
  /**
   * Only events of resources in the subtrees of these OUs (a scoped reader): those whose
   * `ou_paths` name one of them. An OU's id is on the id_path of everything below it, wherever
   * the subtree has moved since, so the match needs no path of today.
   */
  withinOus?: readonly string[];
}

/** What is kept of a tenant's feed: its first and last seq. */
export interface FeedBounds {
  firstSeq: number;
  lastSeq: number;
}

/** Rows per INSERT: 12 parameters each, well under SQLite's and PostgreSQL's limits. */
const INSERT_BATCH = 500;

export const EVENT_COLUMNS = ['tenant_id', 'id', 'type', 'occurred_at', 'actor', 'request_id', 'correlation_id', 'resource_type', 'resource_id', 'data', 'ou_paths', 'trace_id'] as const;

/** The tenant's next seq, as a subquery of the INSERT that takes it. */
const nextSeq = (eb: ExpressionBuilder<Database, 'events'>, tenantId: string) =>
  eb.selectFrom('events').select(sql<number>`coalesce(max(seq), 0) + 1`.as('seq')).where('tenant_id', '=', tenantId);

/** One event after the tenant's last, in one statement (compiled once: every write runs it). */
const appendOne = compiledOnce(EVENT_COLUMNS, (db, row) =>
  db
    .insertInto('events')
    .values((eb) => ({ ...row, seq: nextSeq(eb, row.tenant_id) }))
    .returning('seq'),
);

/**
 * PostgreSQL: the same, and the tenant's OU bookkeeping in the same statement (a data-modifying
 * WITH, which SQLite lacks). Every OU write runs it under the tenant's lock; as two statements
 * it was one more round trip there, and OU creates at 16 connections went from 415 to 331 a
 * second (docs/benchmarks.md).
 */
const appendOneCountingOus = compiledOnce([...EVENT_COLUMNS, 'ou_delta'], (db, { ou_delta: delta, ...row }) =>
  db
    .with('counted', (qc) =>
      qc
        .updateTable('tenants')
        .set((eb) => ({ ou_count: eb('ou_count', '+', sql<number>`${delta}`), ou_version: eb('ou_version', '+', 1) }))
        .where('id', '=', row.tenant_id),
    )
    .insertInto('events')
    .values((eb) => ({ ...row, seq: nextSeq(eb, row.tenant_id) }))
    .returning('seq'),
);

/** All SQL on `events`. Every method is scoped by tenant first. */
export function createEventRepository(db: Executor) {
  /** The tenant's events after `afterSeq` that pass `filter`, unordered. */
  const filtered = (tenantId: string, afterSeq: number, filter: EventFilter) => {
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
    const within = filter.withinOus;
    if (within) {
      const matches = within.map((id) => sql<boolean>`ou_paths like ${`%/${escapeLike(id)}/%`} escape '\\'`);
      query = query.where(matches.length > 0 ? sql<boolean>`(${sql.join(matches, sql` or `)})` : sql<boolean>`1 = 0`);
    }
    return query;
  };
  const lastSeqQuery = (tenantId: string) => db.selectNoFrom(seqBound(tenantId, 'max').as('seq')).compile();
  return {
    /**
     * Appends `rows` after the tenant's last event and returns the first seq given. Call under
     * the tenant's lock, in the transaction of the change: the last seq is read under that lock,
     * so seqs follow commit order with no gap and no reuse. With `ouCountDelta` (the write
     * changed OUs), also raises the tenant's OU version and adds the delta to its OU count. One
     * event (most writes) is one statement on PostgreSQL: one round trip while the lock is held.
     */
    async append(tenantId: string, rows: NewEventRow[], ouCountDelta: number | null = null): Promise<number> {
      if (rows.length === 1 && ouCountDelta !== null && dialectOf(db) === 'postgres') {
        const [{ seq }] = await appendOneCountingOus(db, { ...rows[0], tenant_id: tenantId, ou_delta: ouCountDelta });
        return Number(seq);
      }
      if (ouCountDelta !== null) await createTenantRepository(db).recordOuWrite(tenantId, ouCountDelta);
      if (rows.length === 1) {
        const [{ seq }] = await appendOne(db, { ...rows[0], tenant_id: tenantId });
        return Number(seq);
      }
      const last = await db.selectNoFrom(seqBound(tenantId, 'max').as('seq')).executeTakeFirst();
      const first = Number(last?.seq ?? 0) + 1;
      for (let i = 0; i < rows.length; i += INSERT_BATCH) {
        const batch = rows.slice(i, i + INSERT_BATCH).map((row, j) => ({ ...row, seq: first + i + j }));
        await db.insertInto('events').values(batch).execute();
      }
      return first;
    },

    /** The tenant's last seq (0 before its first event): what a snapshot read with it reflects. */
    async lastSeq(tenantId: string): Promise<number> {
      const row = (await db.executeQuery(lastSeqQuery(tenantId))).rows[0];
      return Number(row?.seq ?? 0);
    },

    /** The statement of `lastSeq`, compiled (for a read aside, Store.readAside). */
    lastSeqQuery,

    /** The first and last seq the tenant's feed still holds; undefined before its first event. */
    async bounds(tenantId: string): Promise<FeedBounds | undefined> {
      // Two subqueries, not min() and max() in one: each is then one seek of the primary key.
      const row = await db
        .selectNoFrom([seqBound(tenantId, 'min').as('first_seq'), seqBound(tenantId, 'max').as('last_seq')])
        .executeTakeFirst();
      if (row?.last_seq == null) return undefined;
      return { firstSeq: Number(row.first_seq), lastSeq: Number(row.last_seq) };
    },

    /**
     * The last seq of each tenant named that has events, deleted tenants included (the feed of a
     * tenant being deleted ends with tenant.deleted, which its readers wait for too): one seek per
     * tenant, in one statement.
     */
    async lastSeqs(tenantIds: string[]): Promise<Map<string, number>> {
      if (tenantIds.length === 0) return new Map();
      const row = await db.selectNoFrom(tenantIds.map((id, i) => seqBound(id, 'max').as(`s${i}`))).executeTakeFirstOrThrow();
      const seqs = row as Record<string, number | string | null>;
      return new Map(tenantIds.flatMap((id, i) => (seqs[`s${i}`] == null ? [] : [[id, Number(seqs[`s${i}`])] as const])));
    },

    /** Up to `limit` events after `afterSeq`, in seq order. */
    async list(tenantId: string, afterSeq: number, limit: number, filter: EventFilter = {}): Promise<EventRow[]> {
      const rows = await filtered(tenantId, afterSeq, filter).orderBy('seq').limit(limit).execute();
      return rows.map((row) => ({ ...row, seq: Number(row.seq) }));
    },

    /** Up to `limit` events after `afterSeq` and before `beforeSeq` (none: to the newest), newest first. */
    async listBackwards(tenantId: string, afterSeq: number, beforeSeq: number | undefined, limit: number, filter: EventFilter = {}): Promise<EventRow[]> {
      let query = filtered(tenantId, afterSeq, filter);
      if (beforeSeq !== undefined) query = query.where('seq', '<', beforeSeq);
      const rows = await query.orderBy('seq', 'desc').limit(limit).execute();
      return rows.map((row) => ({ ...row, seq: Number(row.seq) }));
    },

    /**
     * Every tenant id that has events, deleted tenants included: one seek per tenant (a loose
     * index scan), not a read of every event.
     */
    async tenantsWithEvents(): Promise<string[]> {
      const { rows } = await sql<{ tenant_id: string | null }>`
        with recursive t(tenant_id) as (
          select min(tenant_id) from events
          union all
          select (select min(e.tenant_id) from events e where e.tenant_id > t.tenant_id) from t where t.tenant_id is not null
        )
        select tenant_id from t where tenant_id is not null`.execute(db);
      return rows.map((r) => r.tenant_id as string);
    },

    /**
     * Deletes up to `limit` of the tenant's oldest events that occurred before `cutoff`, as one
     * run from its first seq: the feed never gets a hole in its middle. Events stop at the first
     * one not yet expired (seqs follow commit order, so their times do too, give or take the
     * clock skew between instances), and at `keepFrom`: the newest event of a live tenant is
     * kept, so that its next seq never reuses a number. Returns how many it deleted.
     */
    async pruneOldest(tenantId: string, cutoff: string, keepFrom: number, limit: number): Promise<number> {
      const oldestFirst = (count: number) =>
        db.selectFrom('events').select(['seq', 'occurred_at']).where('tenant_id', '=', tenantId).where('seq', '<', keepFrom).orderBy('seq').limit(count).execute();
      // Most runs find nothing expired: one row tells, before reading up to `limit` of them.
      const [first] = await oldestFirst(1);
      if (first === undefined || first.occurred_at >= cutoff) return 0;
      const oldest = await oldestFirst(limit);
      let through: number | undefined;
      for (const row of oldest) {
        if (row.occurred_at >= cutoff) break;
        through = Number(row.seq);
      }
      if (through === undefined) return 0;
      const { numDeletedRows } = await db.deleteFrom('events').where('tenant_id', '=', tenantId).where('seq', '<=', through).executeTakeFirst();
      return Number(numDeletedRows);
    },
  };
}

export type EventRepository = ReturnType<typeof createEventRepository>;
