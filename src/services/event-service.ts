import { pick } from '../db/repositories/index.js';
import type { Access } from './access.js';
import type { EventFilter, EventRow } from '../db/repositories/event-repository.js';
import type { Store } from '../db/store.js';
import { AppError, RequestValidationError } from '../errors.js';
import { decodeCursor, encodeCursor } from '../lib/cursor.js';
import type { ChangeSignal } from './change-signal.js';
import { EVENT_TYPES } from './event-types.js';
import { tenantNotFound } from './tenant-guard.js';

/** An event as the feed returns it. */
export interface EventData {
  id: string;
  seq: number;
  type: string;
  occurred_at: string;
  tenant_id: string;
  actor: { type: string; id: string; client_id: string | null };
  request_id: string | null;
  correlation_id: string | null;
  trace_id: string | null;
  resource: { type: string; id: string };
  data: { before: Record<string, unknown> | null; after: Record<string, unknown> | null };
}

export interface EventQuery {
  after: number;
  /** A `next_cursor` of the same feed (type and resource_id filters): read on from it, in place of `after`. */
  cursor?: string;
  limit: number;
  /** Comma-separated exact types, `<resource>.*` or `*`. */
  type?: string;
  resource_id?: string;
  /** Seconds to hold an empty answer for an event to commit (`asc` only). */
  wait: number;
  /**
   * `asc` (the default): oldest first, the feed to follow. `desc`: newest first, the audit view
   * (an OU's history): from the newest event, or below the seq of a `desc` cursor, down to the
   * oldest kept, so never 410.
   */
  order?: 'asc' | 'desc';
}

export interface EventPage {
  items: EventData[];
  /** `asc`: the cursor to pass as `after` next. `desc`: the seq the next (older) page reads below. */
  next: number;
  /** The same position, opaque and bound to this feed's filters: pass as `cursor` next. Null: read newest first to the oldest kept, nothing is left. */
  nextCursor: string | null;
}

/**
 * What a feed's cursor is bound to: the tenant, the filters and, for `desc`, the order (an `asc`
 * cursor's binding is what it was before `order` existed, so cursors already handed out stay good).
 */
const feedListing = (tenantId: string, query: EventQuery) => [
  'events',
  tenantId,
  query.type ?? null,
  query.resource_id ?? null,
  ...(query.order === 'desc' ? ['desc', query.after] : []),
];

/** The seq a feed's cursor stands for (422 for one of another feed, or none of Arbor's); undefined without one. */
function cursorSeq(tenantId: string, query: EventQuery): number | undefined {
  if (!query.cursor) return undefined;
  const seq = Number(decodeCursor(feedListing(tenantId, query), query.cursor).after);
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RequestValidationError([{ loc: ['query', 'cursor'], type: 'value_error.cursor', msg: 'This is not a cursor of the change feed. Pass the next_cursor of the previous answer unchanged.' }]);
  }
  return seq;
}

const RESOURCES = [...new Set(EVENT_TYPES.map((t) => t.split('.')[0]))];

/** Parses `type=`; null: every type. */
export function parseTypeFilter(text: string | undefined): EventFilter['types'] | null {
  if (text === undefined || text === '') return null;
  const exact: string[] = [];
  const prefixes: string[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '*') return null;
    const wildcard = /^([a-z_]+)\.\*$/.exec(part);
    if (wildcard && RESOURCES.includes(wildcard[1])) prefixes.push(`${wildcard[1]}.`);
    else if ((EVENT_TYPES as readonly string[]).includes(part)) exact.push(part);
    else {
      throw new RequestValidationError([
        {
          loc: ['query', 'type'],
          msg: `Unknown event type '${part}'. Use a comma-separated list of ${EVENT_TYPES.join(', ')}, or ${RESOURCES.map((r) => `${r}.*`).join(', ')}, or *.`,
          type: 'value_error',
        },
      ]);
    }
  }
  return { exact, prefixes };
}

/** An event row as the feed (and a webhook delivery's `data`) shows it. */
export function toEventData(row: EventRow): EventData {
  return {
    id: row.id,
    seq: row.seq,
    type: row.type,
    occurred_at: row.occurred_at,
    tenant_id: row.tenant_id,
    actor: JSON.parse(row.actor),
    request_id: row.request_id,
    correlation_id: row.correlation_id,
    trace_id: row.trace_id,
    resource: { type: row.resource_type, id: row.resource_id },
    data: JSON.parse(row.data),
  };
}

const cursorExpired = (after: number, firstKept: number, tenantId: string) =>
  new AppError(
    410,
    'events.cursor_expired',
    `Events up to seq ${firstKept - 1} are past retention (ARBOR_EVENT_RETENTION_DAYS) and your cursor is at ${after}. ` +
      `Re-read a snapshot (GET /api/v1/tenants/${tenantId}/ous/tree, or a list), then follow the feed from its meta.event_seq.`,
  );

export interface EventServiceDeps {
  store: Pick<Store, 'db' | 'snapshot'>;
  signal: ChangeSignal;
  /** Events older than this many days are pruned (ARBOR_EVENT_RETENTION_DAYS). */
  retentionDays: number;
  /** The longest a request is held, whatever `wait` it asks for (ARBOR_FEED_MAX_WAIT_SECONDS; default 30). */
  maxWaitSeconds?: number;
  now?: () => number;
}

/** The change feed: every change of a tenant, in seq order, with long polling. */
export function createEventService({ store, signal, retentionDays, maxWaitSeconds = 30, now = () => Date.now() }: EventServiceDeps) {
  const filterOf = (query: EventQuery, types: EventFilter['types'] | null, within: readonly string[] | null): EventFilter => ({
    ...(types ? { types } : {}),
    ...(query.resource_id !== undefined ? { resourceId: query.resource_id } : {}),
    ...(within ? { withinOus: within } : {}),
  });

  async function readOnce(tenantId: string, query: EventQuery, types: EventFilter['types'] | null, within: readonly string[] | null): Promise<EventPage> {
    return store.snapshot(async (db) => {
      const repos = pick(db, ['events', 'tenants']);
      const bounds = await repos.events.bounds(tenantId);
      // A tenant with no event yet may still exist; one deleted keeps its feed until it expires.
      if (!bounds && !(await repos.tenants.exists(tenantId))) throw tenantNotFound(tenantId);
      // Seqs have no gaps: a first seq kept above after + 1 means events after the cursor are gone.
      if (bounds && query.after + 1 < bounds.firstSeq) throw cursorExpired(query.after, bounds.firstSeq, tenantId);
      const rows = await repos.events.list(tenantId, query.after, query.limit, filterOf(query, types, within));
      // A short page has read everything up to the head (filtered or not): the cursor moves past it.
      const next = rows.length === query.limit ? rows[rows.length - 1].seq : Math.max(query.after, bounds?.lastSeq ?? 0);
      return { items: rows.map(toEventData), next, nextCursor: encodeCursor(feedListing(tenantId, query), { after: String(next), offset: next + 1 }) };
    });
  }

  /** Newest first, below `before` (none: from the newest) and above `query.after`: what is kept, never 410. */
  async function readBackwards(tenantId: string, query: EventQuery, before: number | undefined, types: EventFilter['types'] | null, within: readonly string[] | null): Promise<EventPage> {
    return store.snapshot(async (db) => {
      const repos = pick(db, ['events', 'tenants']);
      if (!(await repos.events.bounds(tenantId)) && !(await repos.tenants.exists(tenantId))) throw tenantNotFound(tenantId);
      const rows = await repos.events.listBackwards(tenantId, query.after, before, query.limit, filterOf(query, types, within));
      // A short page has read down to `after`: nothing is left, and the listing ends (no cursor).
      const full = rows.length === query.limit;
      const next = full ? rows[rows.length - 1].seq : query.after;
      return { items: rows.map(toEventData), next, nextCursor: full ? encodeCursor(feedListing(tenantId, query), { after: String(next), offset: 1 }) : null };
    });
  }

  return {
    /**
     * Events after `query.after`. With `wait`, an empty answer is held until an event after the
     * cursor commits (on any instance), the wait ends, or `abort` fires (the client went away).
     */
    async list(access: Access, tenantId: string, query: EventQuery, abort?: AbortSignal): Promise<EventPage> {
      const types = parseTypeFilter(query.type);
      // A scoped reader sees only the events of resources in its subtrees (docs/delegated-admin.md).
      const reach = access.reach('events:read');
      const within = reach === 'tenant' ? null : reach;
      if (query.order === 'desc') {
        if (query.wait > 0) {
          throw new RequestValidationError([
            { loc: ['query', 'wait'], type: 'value_error', msg: 'wait holds an answer for new events, which order=desc does not read: follow the feed with order=asc (the default), or drop wait.' },
          ]);
        }
        return readBackwards(tenantId, query, cursorSeq(tenantId, query), types, within);
      }
      const deadline = now() + Math.min(query.wait, maxWaitSeconds) * 1000;
      query = { ...query, after: cursorSeq(tenantId, query) ?? query.after };
      for (;;) {
        const page = await readOnce(tenantId, query, types, within);
        const remaining = deadline - now();
        if (page.items.length > 0 || remaining <= 0 || abort?.aborted) return page;
        await signal.wait(tenantId, page.next, remaining, abort);
        if (abort?.aborted) return page;
        // Filters may skip what woke us: read again from the new cursor.
        query = { ...query, after: page.next };
      }
    },

    /**
     * Deletes events past retention, tenant by tenant, in batches; returns how many. A live
     * tenant keeps its newest event whatever its age (its next seq follows it); a deleted
     * tenant's feed goes entirely once expired.
     */
    async pruneExpired(batch = 10_000): Promise<number> {
      const cutoff = new Date(now() - retentionDays * 86_400_000).toISOString();
      const repos = pick(store.db, ['events', 'tenants']);
      let total = 0;
      for (const tenantId of await repos.events.tenantsWithEvents()) {
        const lastSeq = await repos.events.lastSeq(tenantId);
        const keepFrom = (await repos.tenants.exists(tenantId)) ? lastSeq : lastSeq + 1;
        for (;;) {
          const deleted = await repos.events.pruneOldest(tenantId, cutoff, keepFrom, batch);
          total += deleted;
          if (deleted < batch) break;
        }
      }
      return total;
    },
  };
}

export type EventService = ReturnType<typeof createEventService>;
