import type { NewEventRow } from '../db/repositories/event-repository.js';
import { isUniqueViolation } from '../db/store-errors.js';
import { type RepositoryName, type Repositories, pick } from '../db/repositories/index.js';
import type { LockedStatements, Store } from '../db/store.js';
import { PreconditionFailedError } from '../errors.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { etagOf, ifMatchAllows } from '../lib/etag.js';
import { newId } from '../lib/ids.js';
import type { EventType, ResourceType } from './event-types.js';
import type { WriteContext } from './write-context.js';

/** A change to one resource, as a service reports it; the unit of work makes it an event. */
export interface Change {
  type: EventType;
  resource: { type: ResourceType; id: string };
  /** The fields that changed, as they were (null: the resource did not exist). */
  before: Record<string, unknown> | null;
  /** The fields that changed, as they are now (null: the resource is gone). */
  after: Record<string, unknown> | null;
  /**
   * The id_paths of the OUs the resource was in (an OU: its own) before and after the change;
   * none for a tenant or a client. A reader scoped to an OU subtree sees the event when one of
   * them lies in its subtree (docs/delegated-admin.md).
   */
  ouPaths?: readonly (string | null | undefined)[];
}

/** What a service's write sees inside its transaction. */
export interface WriteScope<K extends RepositoryName> {
  /** Only the repositories the service declared, bound to the transaction. */
  repos: Pick<Repositories, K>;
  /** One timestamp for everything the write stamps. */
  timestamp: string;
  /** Records a change: written as an event in this transaction, if it commits. */
  record(change: Change): void;
  /**
   * Enforces the request's If-Match against the resource's current representation (as GET
   * shows it), inside the transaction and under the tenant's lock: of two writers that read
   * the same ETag, only the first wins; the second gets 412. No If-Match: no check, and
   * `current` is not computed.
   */
  precondition(current: () => unknown): Promise<void>;
}

export interface UnitOfWorkDeps {
  store: Pick<Store, 'transaction'>;
  now?: () => string;
  /** Told after a commit that wrote events of a tenant (wakes long-polling feed readers). */
  onEventsCommitted?: (tenantId: string) => void;
}

/** The default clock of a write's timestamp. */
const isoNow = () => new Date().toISOString();

/** Thrown through the transaction to roll a dry run back; carries its result out. */
class DryRunRollback {
  constructor(readonly result: unknown) {}
}

/**
 * The one way every write runs: one transaction holding the tenant's lock (every instance's
 * writes of a tenant are serialized, so their events' seqs follow commit order), the service's
 * work on the repositories it declared, then in the same transaction its events and the
 * response of an Idempotency-Key. Anything thrown rolls all of it back; a dry run rolls back
 * on purpose and returns the result it computed.
 */
export function createUnitOfWork<K extends RepositoryName>(uses: readonly K[], { store, now = isoNow, onEventsCommitted }: UnitOfWorkDeps) {
  return async function write<T>(ctx: WriteContext, tenantId: string, work: (scope: WriteScope<K>) => Promise<T>): Promise<T> {
    let eventCount = 0;
    let result: T;
    try {
      result = await store.transaction(
        async (trx) => {
          const changes: Change[] = [];
          const timestamp = now();
          const scope: WriteScope<K> = {
            repos: pick(trx, uses),
            timestamp,
            record: (change) => void changes.push(change),
            async precondition(current) {
              if (ctx.ifMatch === undefined) return;
              const etag = etagOf(await current());
              if (!ifMatchAllows(ctx.ifMatch, etag)) throw new PreconditionFailedError(etag);
            },
          };
          const outcome = await work(scope);
          if (ctx.dryRun) throw new DryRunRollback(outcome);
          const own = pick(trx, ['events', 'idempotencyKeys']);
          if (changes.length > 0) {
            const actor = JSON.stringify(ctx.actor);
            const rows = changes.map((change) => toEventRow(ctx, actor, tenantId, timestamp, change));
            await own.events.append(tenantId, rows, ouCountDelta(changes));
          }
          if (ctx.idempotency) {
            const { status, headers, body } = ctx.idempotency.respond(outcome);
            const response = { status, headers: JSON.stringify(headers), body: JSON.stringify(body) };
            await own.idempotencyKeys.complete(ctx.idempotency.scope, ctx.idempotency.key, ctx.idempotency.claim, response);
          }
          eventCount = changes.length;
          return outcome;
        },
        { lock: `tenant:${tenantId}` },
      );
    } catch (error) {
      if (error instanceof DryRunRollback) return error.result as T;
      throw error;
    }
    if (ctx.idempotency) ctx.idempotency.stored = true;
    if (eventCount > 0) onEventsCommitted?.(tenantId);
    return result;
  };
}

/**
 * What the changes do to the tenant's OU bookkeeping (its OU count, and the OU version that
 * keys cached search counts): null when no OU changed. Derived here, from the changes the
 * services record, so that no service keeps it by hand.
 */
function ouCountDelta(changes: readonly Change[]): number | null {
  let delta: number | null = null;
  for (const { type } of changes) {
    if (!type.startsWith('ou.')) continue;
    delta = (delta ?? 0) + (type === 'ou.created' ? 1 : type === 'ou.deleted' ? -1 : 0);
  }
  return delta;
}

export type UnitOfWork<K extends RepositoryName> = ReturnType<typeof createUnitOfWork<K>>;

/** A write planned as one statement, given the event it records (createOneStatementWrite). */
export interface OneStatementPlan<T> {
  change: Change;
  /** The write and the event's insert; the last returns a row when it wrote, none when a guard found what was read has changed. */
  statement: (event: NewEventRow) => LockedStatements<unknown>;
  /** What the write returns when it lands. */
  result: T;
}

/**
 * The fast path of a write that is one statement once its event is known (on SQLite a few, run
 * with nothing awaited between them), on a store that runs it with its BEGIN, lock and COMMIT
 * at once (Store.lockedStatement; docs/architecture.md). The caller reads what the write depends on first, without
 * the lock, and plans a statement guarded by what it read. `write` (createUnitOfWork) stays the
 * one that decides: this returns undefined, having written nothing, when the store has no such
 * path, when the request needs what only `write` does (a dry run, an Idempotency-Key, If-Match),
 * when the statement wrote nothing (its guard
 * found the rows changed since they were read), or when it hit a unique index; the caller then
 * runs the write through `write`, which gives each refusal its answer.
 */
export function createOneStatementWrite({
  store,
  now = isoNow,
  onEventsCommitted,
}: Omit<UnitOfWorkDeps, 'store'> & { store: Pick<Store, 'lockedStatement'> }) {
  const lockedStatement = store.lockedStatement;
  const applies = (ctx: WriteContext): boolean =>
    lockedStatement !== undefined && !ctx.dryRun && ctx.idempotency === undefined && ctx.ifMatch === undefined;
  return {
    /** Whether this request may take the fast path at all (so a caller skips its reads when not). */
    applies,

    async write<T>(ctx: WriteContext, tenantId: string, plan: (timestamp: string) => OneStatementPlan<T>): Promise<T | undefined> {
      if (lockedStatement === undefined || !applies(ctx)) return undefined;
      const timestamp = now();
      const planned = plan(timestamp);
      const event = toEventRow(ctx, JSON.stringify(ctx.actor), tenantId, timestamp, planned.change);
      let rows: unknown[];
      try {
        rows = await lockedStatement(`tenant:${tenantId}`, planned.statement(event));
      } catch (error) {
        if (isUniqueViolation(error)) return undefined;
        throw error;
      }
      if (rows.length === 0) return undefined;
      onEventsCommitted?.(tenantId);
      return planned.result;
    },
  };
}

function toEventRow(ctx: WriteContext, actor: string, tenantId: string, timestamp: string, change: Change): NewEventRow {
  return {
    tenant_id: tenantId,
    id: newId('evt'),
    type: change.type,
    occurred_at: timestamp,
    actor,
    request_id: ctx.requestId,
    correlation_id: ctx.correlationId,
    resource_type: change.resource.type,
    resource_id: change.resource.id,
    data: JSON.stringify({ before: change.before, after: change.after }),
    ou_paths: [...new Set(change.ouPaths?.filter((p): p is string => typeof p === 'string'))].join(' ') || null,
    trace_id: ctx.traceId ?? null,
  };
}

/**
 * The fields among `fields` whose values differ between `before` and `after`, as the
 * `before` / `after` halves of an event; null when nothing changed.
 */
export function changedFields<F extends string>(
  before: Record<F, unknown>,
  after: Record<F, unknown>,
  fields: readonly F[],
): { before: Record<string, unknown>; after: Record<string, unknown> } | null {
  const was: Record<string, unknown> = {};
  const is: Record<string, unknown> = {};
  for (const field of fields) {
    if (canonicalJson(before[field]) === canonicalJson(after[field])) continue;
    was[field] = before[field];
    is[field] = after[field];
  }
  return Object.keys(is).length > 0 ? { before: was, after: is } : null;
}
