import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname, tmpdir } from 'node:os';
import type { NewEventRow } from '../db/repositories/event-repository.js';
import type { ImportJobRow } from '../db/repositories/import-job-repository.js';
import { CompiledQuery, sql } from 'kysely';
import { EVENT_COLUMNS } from '../db/repositories/event-repository.js';
import { repositories } from '../db/repositories/index.js';
import { dialectOf } from '../db/sql.js';
import type { OrgUnitRow } from '../db/repositories/org-unit-repository.js';
import type { UserRow } from '../db/repositories/user-repository.js';
import type { Executor, Store } from '../db/store.js';
import { AppError, NotFoundError } from '../errors.js';
import { BloomFilter } from '../lib/bloom-filter.js';
import { heapPolicy } from '../lib/heap-policy.js';
import { newId } from '../lib/ids.js';
import { type Access, type Reach, reachCovers } from './access.js';
import type { ImportFormat, OuRecord, UserRecord, Where } from './import-formats.js';
import { readSpool } from './import-reader.js';
import { decodeAttributes, encodeAttributes } from './json-attributes.js';
import { ouNameKey } from './org-unit-names.js';
import { ouEventFields } from './org-unit-rules.js';
import { requireTenant } from './tenant-guard.js';
import { userEventFields } from './user-service.js';
import type { WriteContext } from './write-context.js';

/**
 * Imports (docs/import-export.md). The upload is written to a spool file as it arrives (outside
 * any transaction: a slow client holds nothing); the answer then names the job, which reads the
 * file once and applies each entry as it reads it, in one transaction under the tenant's lock,
 * with one event per resource it changes, every one carrying the job's id as its correlation_id.
 * Memory holds the tenant's OUs and the ids of the users the import touched, never the file.
 *
 * Each entry is checked on its own (import-formats.ts), against the file (duplicates) and against
 * the tenant (what exists, what the principal may reach, the depth limit). An atomic import (the
 * default) rolls everything back when anything is rejected; otherwise the rejected entries are
 * left out and the rest lands. A dry run does all of it and rolls back.
 */

export type OnConflict = 'fail' | 'skip' | 'overwrite';

export interface ImportOptions {
  format: ImportFormat;
  dry_run: boolean;
  on_conflict: OnConflict;
  base_dn: string | null;
  prune: boolean;
  max_deletes: number;
  atomic: boolean;
}

export interface Tally {
  created: number;
  updated: number;
  skipped: number;
  deleted: number;
}

export interface ImportProgress {
  bytes_read: number;
  entries_read: number;
  /** Entries of other object classes (LDIF), left alone. */
  ignored: number;
  rejected: number;
  ous: Tally;
  users: Tally;
}

export interface RejectedEntry {
  line: number | null;
  /** The entry as the file names it: DN, path or email. */
  ref: string;
  reason: string;
}

export interface ImportJob {
  id: string;
  tenant_id: string;
  state: 'running' | 'succeeded' | 'failed';
  phase: 'reading' | 'applying' | 'done';
  format: ImportFormat;
  options: Omit<ImportOptions, 'format'>;
  progress: ImportProgress;
  /** Every rejected entry, up to REPORT_LIMIT (then `rejected_truncated`). */
  rejected: RejectedEntry[];
  rejected_truncated: boolean;
  error: string | null;
  correlation_id: string;
  created_by: { type: string; id: string; client_id: string | null };
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** Rejected entries a report lists; an atomic import stops reading at this many. */
export const REPORT_LIMIT = 1000;
/** How often a running job's row is refreshed (progress while reading, a heartbeat always). */
const HEARTBEAT_MS = 2_000;
/** A running job not heard of for this long was left by an instance that stopped. */
const STALE_AFTER_MS = 120_000;
/**
 * Rows per write: OUs written at once, users a prune deletes per statement (ids as parameters:
 * SQLite takes 32,766, PostgreSQL 65,535). Created OUs wait in memory for at most this many: kept
 * until the first user, 100,000 of them held ~70 MB of heap at once.
 */
const WRITE_BATCH = 1000;
/** Users looked up at once while deciding. */
const LOOKUP_BATCH = 500;
/**
 * Events kept in memory before they are written (in the same transaction): about one batch of
 * users' worth, so that they die young. Kept for ten batches (5,000), they lived through
 * young-generation collections and were copied to the old one; writing them sooner moved the
 * peak RSS little (docs/benchmarks.md, "Why RSS misses").
 */
const EVENT_BATCH = 500;

/**
 * Indexes that a large import on SQLite builds after its rows instead of with them
 * (Store.deferIndexes), per table. users_ou_ix takes users in the order of their OUs, which is
 * not the file's: a million keys placed at random, where the other indexes of users and events
 * (by id, by seq) grow at their end. Measured outside the server, a million users and their
 * events in one transaction: 21.9 s with every index kept, 15.9 s with users_ou_ix built after
 * them (the build 1.7 s of it), 16.5 s with events_resource_ix and users_id_ou_ix built after too.
 * Nothing the import reads before its prune uses it; the prune does (an OU's delete looks for its
 * users by it), so it is built before.
 */
const DEFERRABLE_INDEXES = { users: ['users_ou_ix'] } as const;
type DeferrableTable = keyof typeof DEFERRABLE_INDEXES;
/** Files from this size (4 MiB) are worth the DDL (below it, indexes are kept) and a tighter heap. */
const DEFER_FROM_BYTES = 4 * 1024 * 1024;
/** The fewest bytes an entry takes in each format: a file's size over it bounds its entries from above. */
/**
 * The filter of users an import wrote into an empty tenant: sized at one key per this many bytes
 * of the file (an LDIF user is ~340 bytes with two keys, a Google CSV row ~60 with one), and at
 * most this many keys (2.4 MB); past its size it answers more false positives, never a wrong one.
 */
const BYTES_PER_USER_KEY = 150;
const MAX_FILTERED_KEYS = 2_000_000;
const MIN_ENTRY_BYTES: Record<ImportFormat, number> = { ldif: 200, csv: 50, json: 150 };

/**
 * The tables whose deferrable indexes an import of `bytes` builds afterwards: those to which the
 * file may add more rows than they hold (`holdsFewerThan` answers whether a table holds fewer
 * than n rows, reading at most n). Sorting the keys once then costs less than placing each new
 * one; a table holding more than the file can add keeps its indexes.
 */
export async function tablesToDefer(bytes: number, format: ImportFormat, holdsFewerThan: (table: DeferrableTable, n: number) => Promise<boolean>): Promise<DeferrableTable[]> {
  if (bytes < DEFER_FROM_BYTES) return [];
  const entries = Math.ceil(bytes / MIN_ENTRY_BYTES[format]);
  const tables: DeferrableTable[] = [];
  for (const table of Object.keys(DEFERRABLE_INDEXES) as DeferrableTable[]) if (await holdsFewerThan(table, entries)) tables.push(table);
  return tables;
}

const OU_COLUMNS = [
  'tenant_id', 'id', 'parent_id', 'name', 'name_key', 'description', 'custom_attributes', 'external_id', 'path', 'id_path', 'depth',
  'child_ou_count', 'user_count', 'subtree_user_count', 'children_version', 'created_at', 'updated_at',
] as const satisfies readonly (keyof OrgUnitRow)[];
const USER_COLUMNS = [
  'tenant_id', 'id', 'email', 'email_key', 'display_name', 'display_name_key', 'ou_id', 'status', 'custom_attributes', 'external_id', 'created_at', 'updated_at',
] as const satisfies readonly (keyof UserRow)[];

/**
 * A turn of the event loop. better-sqlite3 answers on this thread, and an await of it is only a
 * microtask: without a turn now and then, a long import would hold up every other request (on
 * SQLite they wait for the store anyway, but /healthz, metrics and the job's GET do not).
 */
const breathe = () => new Promise((resolve) => setImmediate(resolve));
const newTally = (): Tally => ({ created: 0, updated: 0, skipped: 0, deleted: 0 });
const pathKey = (names: readonly string[]) => names.map(ouNameKey).join('/');
const pathOf = (names: readonly string[]) => `/${names.join('/')}`;
const emailKey = (email: string) => email.trim().toLowerCase();
const searchKey = (text: string | null) => (text === null ? null : text.normalize('NFC').toLowerCase());

/**
 * A created user's event data: JSON.stringify({ before: null, after: userEventFields(row) }),
 * written without parsing the stored attributes only to write them again (7 s of a
 * million-user import). The stored text is JSON.stringify's own, so the result is the same
 * string (test/services/import-event-data.test.ts holds it to that).
 */
export function createdUserData(row: UserRow): string {
  const text = JSON.stringify;
  return `{"before":null,"after":{"email":${text(row.email)},"display_name":${text(row.display_name)},"ou_id":${text(row.ou_id)},"status":${text(row.status)},"custom_attributes":${row.custom_attributes ?? 'null'},"external_id":${text(row.external_id)}}}`;
}

/** Thrown through the apply transaction to roll it back (a dry run, or an atomic import with rejections). */
class Rollback extends Error {}

/** Whether an import's transaction ends in a rollback: a dry run, or an atomic import that rejected an entry (rejections only grow). */
const rollsBack = (options: ImportOptions, job: ImportJob) => options.dry_run || (options.atomic && job.progress.rejected > 0);

/** A job failing for a reason that is the input's, not a bug: its message is the job's error. */
class ImportRefused extends Error {}


export interface ImportServiceDeps {
  store: Pick<Store, 'db' | 'transaction' | 'insertMany' | 'deferIndexes'>;
  maxDepth: number;
  now?: () => string;
  onEventsCommitted?: (tenantId: string) => void;
  log: { warn(details: object, message: string): void; info(details: object, message: string): void };
  /** Where uploads wait to be applied (default: arbor-imports in the OS's temporary directory). */
  spoolDir?: string;
}

export function createImportService({ store, maxDepth, now = () => new Date().toISOString(), onEventsCommitted, log, spoolDir = join(tmpdir(), 'arbor-imports') }: ImportServiceDeps) {
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** Jobs this instance runs: GET answers from here (the store may be busy applying it). */
  const live = new Map<string, ImportJob>();
  const running = new Set<Promise<void>>();

  function toJob(row: ImportJobRow): ImportJob {
    const rejected = JSON.parse(row.rejected) as { entries: RejectedEntry[]; truncated: boolean };
    return {
      id: row.id,
      tenant_id: row.tenant_id,
      state: row.state,
      phase: row.phase,
      format: row.format,
      options: JSON.parse(row.options) as ImportJob['options'],
      progress: JSON.parse(row.progress) as ImportProgress,
      rejected: rejected.entries,
      rejected_truncated: rejected.truncated,
      error: row.error,
      correlation_id: row.id,
      created_by: JSON.parse(row.created_by) as ImportJob['created_by'],
      created_at: row.created_at,
      updated_at: row.updated_at,
      finished_at: row.finished_at,
    };
  }

  async function save(job: ImportJob): Promise<void> {
    job.updated_at = now();
    await repositories(store.db).importJobs.update(job.tenant_id, job.id, {
      state: job.state,
      phase: job.phase,
      options: JSON.stringify(job.options),
      progress: JSON.stringify(job.progress),
      rejected: JSON.stringify({ entries: job.rejected, truncated: job.rejected_truncated }),
      error: job.error,
      heartbeat_at: job.state === 'running' ? job.updated_at : null,
      updated_at: job.updated_at,
      finished_at: job.finished_at,
    });
  }

  function reject(job: ImportJob, at: Where, reason: string): void {
    job.progress.rejected++;
    if (job.rejected.length < REPORT_LIMIT) job.rejected.push({ line: at.line, ref: printable(at.ref), reason: printable(reason) });
    else job.rejected_truncated = true;
  }

  /**
   * Stores the job's final state, then shows it: GET answers from `live` while the job runs here,
   * and must not say it ended before its row does (whoever saw it end would find the row still
   * changing; the fuzz caught a request's "nothing changed" check seeing it).
   */
  async function finish(job: ImportJob, state: 'succeeded' | 'failed', error: string | null): Promise<void> {
    const final: ImportJob = { ...job, state, phase: 'done', error, finished_at: now() };
    await save(final);
    Object.assign(job, final);
    live.delete(job.id);
  }

  /**
   * Receives the body into the spool, then starts applying it (not awaited): the job as it
   * stands when the upload is complete. No tenant, or a file over `maxBytes`, throws.
   */
  async function start(ctx: WriteContext, access: Access, tenantId: string, options: ImportOptions, body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<ImportJob> {
    await requireTenant(repositories(store.db), tenantId);
    const timestamp = now();
    const { format, ...rest } = options;
    const job: ImportJob = {
      id: newId('imp'),
      tenant_id: tenantId,
      state: 'running',
      phase: 'reading',
      format,
      options: rest,
      progress: { bytes_read: 0, entries_read: 0, ignored: 0, rejected: 0, ous: newTally(), users: newTally() },
      rejected: [],
      rejected_truncated: false,
      error: null,
      correlation_id: '',
      created_by: ctx.actor,
      created_at: timestamp,
      updated_at: timestamp,
      finished_at: null,
    };
    job.correlation_id = job.id;
    await repositories(store.db).importJobs.insert({
      tenant_id: tenantId,
      id: job.id,
      state: 'running',
      phase: 'reading',
      format,
      options: JSON.stringify(rest),
      progress: JSON.stringify(job.progress),
      rejected: JSON.stringify({ entries: [], truncated: false }),
      error: null,
      created_by: JSON.stringify(ctx.actor),
      owner,
      heartbeat_at: timestamp,
      created_at: timestamp,
      updated_at: timestamp,
      finished_at: null,
    });
    live.set(job.id, job);
    log.info({ tenant_id: tenantId, import_id: job.id, format, dry_run: options.dry_run }, 'import started');

    // The upload is written to a file of its own first, outside any transaction: a slow client
    // never holds the store, and the file is then read once, as it is applied.
    const spool = join(spoolDir, `${job.id}.upload`);
    try {
      await mkdir(spoolDir, { recursive: true, mode: 0o700 });
      await receive(body, spool, job, maxBytes);
      if (job.progress.bytes_read === 0) throw new ImportRefused('the file is empty');
    } catch (error) {
      await rm(spool, { force: true });
      const refused = error instanceof ImportRefused;
      if (!refused) log.warn({ err: error, import_id: job.id }, 'import failed while receiving the file');
      await finish(job, 'failed', refused ? error.message : 'the upload did not complete; nothing was changed');
      if (error instanceof TooLarge) throw error;
      if (!refused) throw new AppError(400, 'request.invalid', 'The upload did not complete (the connection closed or failed before the end of the file); nothing was changed.');
      return { ...job };
    }
    job.phase = 'applying';
    await save(job);
    // An Idempotency-Key's answer is this one: a retry of the upload gets the same job, not a second import.
    if (ctx.idempotency) {
      const { status, headers, body } = ctx.idempotency.respond({ ...job });
      await repositories(store.db).idempotencyKeys.complete(ctx.idempotency.scope, ctx.idempotency.key, ctx.idempotency.claim, { status, headers: JSON.stringify(headers), body: JSON.stringify(body) });
      ctx.idempotency.stored = true;
    }
    const task = apply(ctx, access, job, options, spool)
      .catch(async (error: unknown) => {
        const refused = error instanceof ImportRefused || (error instanceof NotFoundError && error.code === 'tenant.not_found');
        if (!refused) log.warn({ err: error, import_id: job.id }, 'import failed while applying');
        await finish(job, 'failed', refused ? (error as Error).message : 'the import failed while applying; nothing was changed (the server log names the cause)').catch(
          (failure: unknown) => log.warn({ err: failure, import_id: job.id }, 'recording the import failure failed'),
        );
      })
      .finally(() => {
        running.delete(task);
        rm(spool, { force: true }).catch(() => {});
      });
    running.add(task);
    return { ...job };
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /**
   * Writes the body to `file`, counting it. Past `maxBytes` it stops reading and rejects with
   * TooLarge, leaving the request stream open: the route answers 413 and reads the rest away
   * (a destroyed request would reset the connection before the client saw the answer).
   */
  function receive(body: AsyncIterable<Uint8Array>, file: string, job: ImportJob, maxBytes: number): Promise<void> {
    const source = body as unknown as NodeJS.ReadableStream & { readableEnded?: boolean };
    const out = createWriteStream(file, { mode: 0o600 });
    return new Promise<void>((resolve, reject) => {
      let ended = false;
      const stop = (error: Error) => {
        source.removeListener('data', onData);
        source.pause();
        out.destroy();
        reject(error);
      };
      const onData = (chunk: Buffer) => {
        job.progress.bytes_read += chunk.length;
        if (job.progress.bytes_read > maxBytes) return stop(new TooLarge(maxBytes));
        if (!out.write(chunk)) {
          source.pause();
          out.once('drain', () => source.resume());
        }
      };
      source.on('data', onData);
      source.once('end', () => {
        ended = true;
        out.end();
      });
      source.once('error', (error: Error) => stop(error));
      source.once('close', () => {
        if (!ended) stop(new Error('the upload ended before the file did'));
      });
      out.once('error', (error) => stop(error));
      out.once('finish', () => resolve());
    });
  }

  // -------------------------------------------------------------------------------------------
  // Applying

  /**
   * An OU of the tenant as the import sees it: a tree, each node under its parent by name key.
   * Paths are derived from the tree when needed (idPathOf, pathOfNode): kept on every node,
   * with a map by full path, they were a third of the server's live heap while it imported
   * 100,000 OUs (35 of 110 MB in a heap snapshot).
   */
  interface OuNode {
    id: string;
    parent: OuNode | null;
    name: string;
    depth: number;
    /** Its children by name key (ouNameKey), from the first. */
    children?: Map<string, OuNode>;
    /** Where the file names it (its line, or its ref where the format has none), once placed. */
    seen?: number | string;
    /** Users this import placed in it, less those it took out. */
    delta: number;
    /** Existing rows as read; undefined for an OU this import creates. */
    row?: OrgUnitRow;
  }

  /** The OU's id_path: its row's, or built from its parent's for an OU this import creates. */
  function idPathOf(node: OuNode): string {
    return node.row?.id_path ?? `${node.parent ? idPathOf(node.parent) : '/'}${node.id}/`;
  }

  /** The OU's path, the same way. */
  function pathOfNode(node: OuNode): string {
    return node.row?.path ?? `${node.parent ? pathOfNode(node.parent) : ''}/${node.name}`;
  }

  async function apply(ctx: WriteContext, access: Access, job: ImportJob, options: ImportOptions, spool: string): Promise<void> {
    const tenantId = job.tenant_id;
    const size = (await stat(spool)).size;
    const heartbeat = setInterval(() => {
      // Outside the transaction: on SQLite it waits for it; on PostgreSQL it tells other instances the job is alive.
      repositories(store.db)
        .importJobs.update(tenantId, job.id, { heartbeat_at: now() })
        .catch(() => {});
    }, HEARTBEAT_MS * 5);
    heartbeat.unref();
    let wroteEvents = false;
    // Where the time went, in milliseconds, for the log line at the end (an operator's first question).
    const timings: Record<string, number> = {};
    let applied = 0;
    const deferred = { pending: false };
    // A large file: the heap is kept nearer what is alive while it applies (lib/heap-policy.ts).
    const releaseHeap = size >= DEFER_FROM_BYTES ? heapPolicy.hold() : null;
    try {
      await store
        .transaction(
          async (trx) => {
            wroteEvents = await applyIn(trx, ctx, access, job, options, spool, size, timings, deferred);
            applied = performance.now();
            if (rollsBack(options, job)) throw new Rollback();
            // Never reached while the rule above and applyIn's agree; a commit must not drop an index.
            if (deferred.pending) throw new Error('an index the import deferred was not built again; nothing was committed');
          },
          { lock: `tenant:${tenantId}`, bulk: true },
        )
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error;
          wroteEvents = false;
        });
      // The commit, or the rollback of a dry run or a failed atomic import.
      timings.commit_ms = Math.round(performance.now() - applied);
    } finally {
      clearInterval(heartbeat);
      releaseHeap?.();
    }
    if (wroteEvents) onEventsCommitted?.(tenantId);
    if (options.atomic && job.progress.rejected > 0) {
      await finish(job, 'failed', `${job.progress.rejected} entries were rejected; an atomic import changes nothing (see rejected, or retry with atomic=false to import the rest)`);
      return;
    }
    await finish(job, 'succeeded', null);
    log.info({ tenant_id: tenantId, import_id: job.id, progress: job.progress, dry_run: options.dry_run, timings }, 'import finished');
  }

  /** Reads the spooled file and applies it inside `trx`, as it reads; returns whether it wrote any event. */
  async function applyIn(
    trx: Executor,
    ctx: WriteContext,
    access: Access,
    job: ImportJob,
    options: ImportOptions,
    spool: string,
    size: number,
    timings: Record<string, number>,
    deferred: { pending: boolean },
  ): Promise<boolean> {
    let since = performance.now();
    const lap = (name: string) => {
      const at = performance.now();
      timings[`${name}_ms`] = Math.round(at - since);
      since = at;
    };
    const tenantId = job.tenant_id;
    const repos = repositories(trx);
    await requireTenant(repos, tenantId);
    // PostgreSQL plans each lookup from the statistics it has: after a table grows tenfold in
    // this transaction they are wrong (for an empty store, "no rows": it read the tenant's users
    // for every lookup, a million-user import still running after 12 minutes). ANALYZE runs in
    // the transaction, sees its rows, and is taken again each time the users have grown tenfold.
    const postgres = dialectOf(trx) === 'postgres';
    const before = postgres ? Number((await trx.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', tenantId).executeTakeFirst())?.n ?? 0) : 0;
    let analyzedAt = before;
    const reanalyze = async () => {
      const size = before + job.progress.users.created;
      if (!postgres || size < 10_000 || size < analyzedAt * 10) return;
      await trx.executeQuery(CompiledQuery.raw('analyze users, events, org_units'));
      analyzedAt = size;
    };
    const timestamp = now();
    const actor = JSON.stringify(ctx.actor);
    const ousReach: Reach = access.reach('ous:write');
    const usersReach: Reach = access.reach('users:write');
    const events: (NewEventRow & { seq: number })[] = [];
    let eventsWritten = 0;
    // Seqs are taken here, under the tenant's lock, in the order the events are recorded.
    let seq = await repos.events.lastSeq(tenantId);
    const recordData = (type: string, resourceType: 'ou' | 'user', id: string, data: string, paths: (string | null | undefined)[]) => {
      events.push({
        seq: ++seq,
        tenant_id: tenantId,
        id: newId('evt'),
        type,
        occurred_at: timestamp,
        actor,
        request_id: ctx.requestId,
        correlation_id: job.id,
        resource_type: resourceType,
        resource_id: id,
        data,
        ou_paths: paths.length === 1 ? (paths[0] ?? null) : [...new Set(paths.filter((p): p is string => typeof p === 'string'))].join(' ') || null,
        trace_id: ctx.traceId ?? null,
      });
    };
    const record = (type: string, resourceType: 'ou' | 'user', id: string, before: unknown, after: unknown, paths: (string | null | undefined)[]) =>
      recordData(type, resourceType, id, JSON.stringify({ before, after }), paths);
    const flushEvents = async (force = false) => {
      if (events.length === 0 || (!force && events.length < EVENT_BATCH)) return;
      eventsWritten += events.length;
      await store.insertMany(trx, 'events', [...EVENT_COLUMNS, 'seq'], events.splice(0));
    };

    // Every OU of the tenant, by path and by external_id: 100,000 of them are ~30 MB here.
    const existing = (await trx
      .selectFrom('org_units')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .execute()) as OrgUnitRow[];
    /** The top-level OUs by name key; below them, each node's children. */
    const top = new Map<string, OuNode>();
    const byId = new Map<string, OuNode>();
    /** The tenant's OUs by external_id (the file's own are told apart by ouExternalSeen). */
    const ouByExternal = new Map<string, OuNode>();
    const childrenOf = (parent: OuNode | null) => (parent === null ? top : (parent.children ??= new Map()));
    for (const row of existing) byId.set(row.id, { id: row.id, parent: null, name: row.name, depth: row.depth, delta: 0, row });
    for (const node of byId.values()) {
      const row = node.row as OrgUnitRow;
      node.parent = row.parent_id === null ? null : (byId.get(row.parent_id) ?? null);
      childrenOf(node.parent).set(row.name_key, node);
      if (row.external_id !== null) ouByExternal.set(row.external_id, node);
    }
    /** The OU at these names from the root, if the tenant or the file has placed it. */
    const find = (names: readonly string[], length = names.length): OuNode | undefined => {
      let node: OuNode | undefined;
      for (let i = 0; i < length; i++) {
        node = (i === 0 ? top : node?.children)?.get(ouNameKey(names[i] as string));
        if (node === undefined) return undefined;
      }
      return node;
    };
    const matchedOus = new Set<string>();
    /** The ids of the OUs this import creates (the recount's; their rows are not kept once written). */
    const newOus: string[] = [];
    /** Created OUs not yet written: written a batch at a time and before the next users, parents before children. */
    let unwrittenOus: OrgUnitRow[] = [];
    /** Existing OUs whose own fields an overwrite changes. */
    const ouEdits = new Map<string, Partial<OrgUnitRow>>();
    /** OUs of the file whose parent has not come yet, by the parent's path key. */
    const waitingOus = new Map<string, OuRecord[]>();
    /**
     * Where each OU path and external_id of the file was first: its line, or its ref where the
     * format has no lines (a DN each would be ~20 MB more at 100,000 OUs). A path moves to its
     * node's `seen` once placed: only the waiting and the rejected stay here.
     */
    const ouSeen = new Map<string, number | string>();
    const ouExternalSeen = new Map<string, number | string>();
    const placed = (node: OuNode, key: string) => {
      node.seen = ouSeen.get(key);
      ouSeen.delete(key);
    };

    /** Places one OU of the file: matched, created, or rejected; then the children that waited for it. */
    const placeOu = (first: OuRecord) => {
      const queue = [first];
      while (queue.length > 0) {
        const rec = queue.shift() as OuRecord;
        const key = pathKey(rec.names);
        const atPath = find(rec.names);
        let match = rec.externalId !== null ? ouByExternal.get(rec.externalId) : undefined;
        if (match && match !== atPath) {
          reject(job, rec.at, `its external_id belongs to the OU at ${pathOfNode(match)}: an import does not move OUs (move it first with PATCH parent_id, or fix the file)`);
          continue;
        }
        match ??= atPath;
        if (match) {
          placed(match, key);
          matchedOus.add(match.id);
          queue.push(...(waitingOus.get(key) ?? []));
          waitingOus.delete(key);
          if (!reachCovers(ousReach, idPathOf(match))) {
            reject(job, rec.at, `the OU ${pathOfNode(match)} is outside the subtrees you administer`);
            continue;
          }
          if (options.on_conflict === 'fail') {
            reject(job, rec.at, `an OU exists at ${pathOfNode(match)} (on_conflict=fail; use skip or overwrite)`);
            continue;
          }
          if (options.on_conflict === 'skip' || !match.row) {
            job.progress.ous.skipped++;
            continue;
          }
          const row = match.row;
          const edits: Partial<OrgUnitRow> = {};
          if (rec.description !== row.description) edits.description = rec.description;
          if (rec.attributes !== null && encodeAttributes(rec.attributes) !== row.custom_attributes) edits.custom_attributes = encodeAttributes(rec.attributes);
          if (rec.externalId !== null && rec.externalId !== row.external_id) {
            if (ouByExternal.has(rec.externalId)) {
              reject(job, rec.at, `the external_id '${rec.externalId}' belongs to another OU`);
              continue;
            }
            edits.external_id = rec.externalId;
            ouByExternal.set(rec.externalId, match);
          }
          if (Object.keys(edits).length === 0) {
            job.progress.ous.skipped++;
            continue;
          }
          ouEdits.set(row.id, edits);
          const after = { ...row, ...edits };
          record('ou.updated', 'ou', row.id, pick(ouEventFields(row), edits), pick(ouEventFields(after), edits), [row.id_path]);
          job.progress.ous.updated++;
          continue;
        }
        const parent = rec.names.length > 1 ? find(rec.names, rec.names.length - 1) : null;
        if (parent === undefined) {
          // Its parent may come later in the file (a CSV list in any order): it waits for it.
          const parentKey = pathKey(rec.names.slice(0, -1));
          const list = waitingOus.get(parentKey);
          if (list) list.push(rec);
          else waitingOus.set(parentKey, [rec]);
          continue;
        }
        if (parent ? !reachCovers(ousReach, idPathOf(parent)) : ousReach !== 'tenant') {
          reject(job, rec.at, parent ? `its parent ${pathOfNode(parent)} is outside the subtrees you administer` : 'creating an OU at the top level needs a tenant-wide role');
          continue;
        }
        if (rec.names.length > maxDepth) {
          reject(job, rec.at, `it would be ${rec.names.length} levels deep; the limit is ${maxDepth} (ARBOR_MAX_OU_DEPTH)`);
          continue;
        }
        const id = newId('ou');
        const name = rec.names[rec.names.length - 1] as string;
        const nameKey = ouNameKey(name);
        const row: OrgUnitRow = {
          tenant_id: tenantId,
          id,
          parent_id: parent?.id ?? null,
          name,
          name_key: nameKey,
          description: rec.description,
          custom_attributes: encodeAttributes(rec.attributes),
          external_id: rec.externalId,
          // Under the parent's path as stored, whatever case the file writes its names in.
          path: `${parent ? pathOfNode(parent) : ''}/${name}`,
          id_path: `${parent ? idPathOf(parent) : '/'}${id}/`,
          depth: rec.names.length,
          child_ou_count: 0,
          user_count: 0,
          subtree_user_count: 0,
          children_version: 0,
          created_at: timestamp,
          updated_at: timestamp,
        };
        const node: OuNode = { id, parent, name, depth: row.depth, delta: 0 };
        childrenOf(parent).set(nameKey, node);
        byId.set(id, node);
        placed(node, key);
        newOus.push(id);
        unwrittenOus.push(row);
        record('ou.created', 'ou', id, null, ouEventFields(row), [row.id_path]);
        job.progress.ous.created++;
        queue.push(...(waitingOus.get(key) ?? []));
        waitingOus.delete(key);
      }
    };
    const writeOus = async () => {
      if (unwrittenOus.length === 0) return;
      const rows = unwrittenOus;
      unwrittenOus = [];
      await store.insertMany(trx, 'org_units', OU_COLUMNS, rows);
    };

    // Users: decided a batch at a time (their lookups), written as they are decided.
    // Direct users per OU, as the import changes them: on each OU's node (a Map by id took 1.6 s
    // of a million-user import), gathered by userDeltas() for the prune and the recount.
    let usersShifted = false;
    const shift = (node: OuNode | null | undefined, by: number) => {
      if (!node) return;
      node.delta += by;
      usersShifted = true;
    };
    const userDeltas = () => {
      const deltas = new Map<string, number>();
      for (const node of byId.values()) if (node.delta !== 0) deltas.set(node.id, node.delta);
      return deltas;
    };
    const matchedUsers = new Set<string>();
    // Users this import created (a later entry that finds one repeats an earlier one's email or
    // external_id; a prune keeps them) are rows this transaction inserted, which each store tells
    // apart at no cost: SQLite gives a new row a rowid above the largest at the start; PostgreSQL
    // stamps it with the transaction's id (xmin; no savepoints here), as it does a row the import
    // updated, which keeps its created_at. A set of a million created ids held ~75 MB of heap.
    const newestBefore = postgres ? 0 : Number((await sql<{ n: number | null }>`select max(rowid) as n from users`.execute(trx)).rows[0]?.n ?? 0);
    const writtenHere = postgres ? sql<boolean>`(xmin::text = (txid_current() % 4294967296)::text and created_at = ${timestamp})` : sql<boolean>`(rowid > ${newestBefore})`;
    // Indexes built once the rows are in (SQLite, a large file into a smaller store); before the prune.
    let buildDeferred: (() => Promise<void>) | null = null;
    if (store.deferIndexes) {
      const tables = await tablesToDefer(size, options.format, async (table, n) => {
        const { rows } = await sql<{ n: number }>`select count(*) as n from (select 1 from ${sql.table(table)} limit ${n})`.execute(trx);
        return Number(rows[0]?.n ?? 0) < n;
      });
      if (tables.length > 0) {
        buildDeferred = await store.deferIndexes(trx, tables.flatMap((table) => DEFERRABLE_INDEXES[table]));
        deferred.pending = true;
      }
    }
    /** Rows of this batch not yet written, which the lookups found in memory. */
    const unwrittenUsers = new Set<string>();
    // Into a tenant that held no user when the import began, an entry can match only a user the
    // import wrote itself (a repeat in the file). The lookups then ask only for the keys that a
    // filter of those written may hold, about 1 %: asking for all took ~5 s of a million-user
    // import, index probes into a table growing to a million rows.
    const firstUsers = (await trx.selectFrom('users').select('id').where('tenant_id', '=', tenantId).limit(1).executeTakeFirst()) === undefined;
    const written = firstUsers ? new BloomFilter(Math.min(Math.max(size / BYTES_PER_USER_KEY, 1_000), MAX_FILTERED_KEYS)) : null;
    const wrote = (user: { email_key: string; external_id: string | null }) => {
      written?.add(`e:${user.email_key}`);
      if (user.external_id !== null) written?.add(`x:${user.external_id}`);
    };
    const createdHere = (user: { id: string; written_here?: unknown }) => Boolean(user.written_here) || unwrittenUsers.has(user.id);
    /** Users whose OU had not come yet when they were read (none in a file written parents first). */
    const waitingUsers: UserRecord[] = [];
    let batch: UserRecord[] = [];

    const placeUsers = async (users: UserRecord[], final: boolean) => {
      const emails = users.map((u) => emailKey(u.email));
      const externals = users.map((u) => u.externalId).filter((e): e is string => e !== null);
      // Two lookups, each one index range: an OR of the two made SQLite scan the tenant's users.
      const lookup = () => trx.selectFrom('users').selectAll().select(writtenHere.as('written_here')).where('tenant_id', '=', tenantId);
      const askEmails = written ? emails.filter((email) => written.mightHave(`e:${email}`)) : emails;
      const askExternals = written ? externals.filter((external) => written.mightHave(`x:${external}`)) : externals;
      const found: (UserRow & { written_here?: unknown })[] = askEmails.length > 0 ? await lookup().where('email_key', 'in', askEmails).execute() : [];
      if (askExternals.length > 0) found.push(...(await lookup().where('external_id', 'in', askExternals).execute()));
      const foundByEmail = new Map(found.map((u) => [u.email_key, u]));
      const foundByExternal = new Map(found.filter((u) => u.external_id !== null).map((u) => [u.external_id as string, u]));
      const newUsers: UserRow[] = [];
      for (const rec of users) {
        const ou = rec.ouNames === null ? null : find(rec.ouNames);
        if (ou === undefined) {
          if (final) reject(job, rec.at, `its OU ${pathOf(rec.ouNames ?? [])} is neither in the file nor in the tenant`);
          else waitingUsers.push(rec);
          continue;
        }
        const ouIdPath = ou ? idPathOf(ou) : null;
        if (ouIdPath !== null ? !reachCovers(usersReach, ouIdPath) : usersReach !== 'tenant') {
          reject(job, rec.at, ou ? `its OU ${pathOfNode(ou)} is outside the subtrees you administer` : 'placing a user outside every OU needs a tenant-wide role');
          continue;
        }
        const key = emailKey(rec.email);
        const byExternal = rec.externalId !== null ? foundByExternal.get(rec.externalId) : undefined;
        const byEmail = foundByEmail.get(key);
        const earlier = [byExternal, byEmail].find((u) => u !== undefined && createdHere(u));
        if (earlier) {
          reject(job, rec.at, earlier === byEmail ? `the email '${rec.email}' is already in the file` : `the external_id '${rec.externalId}' is already in the file`);
          continue;
        }
        if (byExternal && byEmail && byExternal.id !== byEmail.id) {
          reject(job, rec.at, `its external_id names one user and its email another (${byEmail.id})`);
          continue;
        }
        const match = byExternal ?? byEmail;
        if (match) {
          if (matchedUsers.has(match.id)) {
            reject(job, rec.at, `another entry of the file matches the same user (${match.id})`);
            continue;
          }
          matchedUsers.add(match.id);
          const from = match.ou_id === null ? null : byId.get(match.ou_id);
          const fromIdPath = from ? idPathOf(from) : null;
          if (fromIdPath !== null ? !reachCovers(usersReach, fromIdPath) : usersReach !== 'tenant') {
            reject(job, rec.at, 'the user it matches is outside the subtrees you administer');
            continue;
          }
          if (options.on_conflict === 'fail') {
            reject(job, rec.at, `a user with this ${byExternal ? 'external_id' : 'email'} exists (${match.id}; on_conflict=fail; use skip or overwrite)`);
            continue;
          }
          if (options.on_conflict === 'skip') {
            job.progress.users.skipped++;
            continue;
          }
          const changes: Partial<UserRow> = {};
          if (rec.email !== match.email) Object.assign(changes, { email: rec.email, email_key: key });
          if (rec.displayName !== match.display_name) Object.assign(changes, { display_name: rec.displayName, display_name_key: searchKey(rec.displayName) });
          if ((ou?.id ?? null) !== match.ou_id) changes.ou_id = ou?.id ?? null;
          if (rec.status !== match.status) changes.status = rec.status;
          if (rec.attributes !== null) {
            const merged = encodeAttributes({ ...(decodeAttributes(match.custom_attributes) ?? {}), ...decodeAttributes(rec.attributes) });
            if (merged !== match.custom_attributes) changes.custom_attributes = merged;
          }
          if (rec.externalId !== null && rec.externalId !== match.external_id) changes.external_id = rec.externalId;
          if (Object.keys(changes).length === 0) {
            job.progress.users.skipped++;
            continue;
          }
          changes.updated_at = timestamp;
          await trx.updateTable('users').set(changes).where('tenant_id', '=', tenantId).where('id', '=', match.id).execute();
          wrote({ email_key: changes.email_key ?? match.email_key, external_id: changes.external_id ?? match.external_id });
          if (changes.ou_id !== undefined) {
            shift(from, -1);
            shift(ou, 1);
          }
          const after = { ...match, ...changes };
          const fields = Object.keys(changes).filter((f) => f !== 'updated_at' && !f.endsWith('_key'));
          const type = changes.ou_id !== undefined ? 'user.moved' : 'user.updated';
          record(type, 'user', match.id, pick(userEventFields(match), fields), pick(userEventFields(after), fields), [fromIdPath, ouIdPath]);
          job.progress.users.updated++;
          continue;
        }
        const row: UserRow = {
          tenant_id: tenantId,
          id: newId('usr'),
          email: rec.email,
          email_key: key,
          display_name: rec.displayName,
          display_name_key: searchKey(rec.displayName),
          ou_id: ou?.id ?? null,
          status: rec.status,
          custom_attributes: rec.attributes,
          external_id: rec.externalId,
          created_at: timestamp,
          updated_at: timestamp,
        };
        newUsers.push(row);
        unwrittenUsers.add(row.id);
        // Later entries of this batch see it as the lookup would have.
        foundByEmail.set(key, row);
        if (row.external_id !== null) foundByExternal.set(row.external_id, row);
        wrote(row);
        shift(ou, 1);
        recordData('user.created', 'user', row.id, createdUserData(row), [ouIdPath]);
        job.progress.users.created++;
      }
      await writeOus();
      await store.insertMany(trx, 'users', USER_COLUMNS, newUsers);
      unwrittenUsers.clear();
      await flushEvents();
      await reanalyze();
      await breathe();
    };

    // One pass over the file, applying as it goes.
    const duplicate = (seen: Map<string, number | string>, key: string, at: Where, what: string, earlier = seen.get(key)) => {
      if (earlier !== undefined) {
        reject(job, at, `${what} is already in the file (${typeof earlier === 'number' ? `line ${earlier}` : earlier})`);
        return true;
      }
      seen.set(key, at.line ?? at.ref);
      return false;
    };
    const records = readSpool(options.format, spool, {
      ...(options.base_dn !== null ? { baseDn: options.base_dn } : {}),
      onBaseDn: (dn) => {
        job.options.base_dn = dn;
      },
    });
    for await (const recs of records) {
      for (const rec of recs) {
        job.progress.entries_read++;
        if (rec.kind === 'ignored') job.progress.ignored++;
        else if (rec.kind === 'rejected') reject(job, rec.at, rec.reason);
        else if (rec.kind === 'ou') {
          if (duplicate(ouSeen, pathKey(rec.names), rec.at, `the OU ${pathOf(rec.names)}`, find(rec.names)?.seen)) continue;
          if (rec.externalId !== null && duplicate(ouExternalSeen, rec.externalId, rec.at, `the external_id '${rec.externalId}'`)) continue;
          placeOu(rec);
          if (unwrittenOus.length >= WRITE_BATCH) {
            await writeOus();
            await flushEvents();
          }
        } else {
          batch.push(rec);
          if (batch.length >= LOOKUP_BATCH) {
            await placeUsers(batch, false);
            batch = [];
          }
        }
        if (options.atomic && job.rejected_truncated) {
          throw new ImportRefused(`more than ${REPORT_LIMIT} entries were rejected; the import stopped and changed nothing (the first ${REPORT_LIMIT} are listed)`);
        }
      }
    }
    if (job.progress.entries_read === 0) throw new ImportRefused('the file holds no entries');
    if (batch.length > 0) await placeUsers(batch, false);
    for (const list of waitingOus.values()) {
      for (const rec of list) reject(job, rec.at, `its parent OU ${pathOf(rec.names.slice(0, -1))} is neither in the file nor in the tenant`);
    }
    for (let i = 0; i < waitingUsers.length; i += LOOKUP_BATCH) await placeUsers(waitingUsers.slice(i, i + LOOKUP_BATCH), true);
    await writeOus();
    lap('entries');
    // An import that will roll back (a dry run, or an atomic one with rejected entries) restores
    // the indexes with it; it builds them only for its prune, whose deletes use them.
    if (buildDeferred && (options.prune || !rollsBack(options, job))) {
      await buildDeferred();
      deferred.pending = false;
      await breathe();
    }
    lap('indexes');

    // Prune: what the file lacks, within the principal's reach, up to max_deletes.
    const deletedOus = new Set<string>();
    if (options.prune) {
      const doomedUsers: { id: string; ou_id: string | null }[] = [];
      const all = await trx.selectFrom('users').select(['id', 'ou_id', writtenHere.as('written_here')]).where('tenant_id', '=', tenantId).execute();
      for (const user of all) {
        if (matchedUsers.has(user.id) || createdHere(user)) continue;
        const ou = user.ou_id === null ? null : byId.get(user.ou_id);
        if (ou ? !reachCovers(usersReach, idPathOf(ou)) : usersReach !== 'tenant') continue;
        doomedUsers.push(user);
      }
      const remaining = new Map<string, number>();
      const userDelta = userDeltas();
      for (const row of existing) remaining.set(row.id, row.user_count + (userDelta.get(row.id) ?? 0));
      for (const user of doomedUsers) if (user.ou_id !== null) remaining.set(user.ou_id, (remaining.get(user.ou_id) ?? 0) - 1);
      // OUs deepest first; one is deleted when nothing is left in it.
      const children = new Map<string, number>();
      for (const node of byId.values()) if (node.parent !== null) children.set(node.parent.id, (children.get(node.parent.id) ?? 0) + 1);
      const candidates = existing.filter((row) => !matchedOus.has(row.id) && reachCovers(ousReach, row.id_path) && !(ousReach !== 'tenant' && ousReach.includes(row.id)));
      candidates.sort((a, b) => b.depth - a.depth);
      const doomedOus: OrgUnitRow[] = [];
      for (const row of candidates) {
        if ((remaining.get(row.id) ?? 0) > 0 || (children.get(row.id) ?? 0) > 0) {
          reject(job, { line: null, ref: row.path }, 'not pruned: it still holds users or OUs the file names');
          continue;
        }
        doomedOus.push(row);
        if (row.parent_id !== null) children.set(row.parent_id, (children.get(row.parent_id) ?? 0) - 1);
      }
      const total = doomedUsers.length + doomedOus.length;
      if (total > options.max_deletes) {
        throw new ImportRefused(
          `prune would delete ${total} entries (${doomedUsers.length} users, ${doomedOus.length} OUs), more than max_deletes=${options.max_deletes}; nothing was changed (raise max_deletes to allow it)`,
        );
      }
      for (let i = 0; i < doomedUsers.length; i += WRITE_BATCH) {
        const ids = doomedUsers.slice(i, i + WRITE_BATCH).map((u) => u.id);
        const rows = (await trx.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('id', 'in', ids).execute()) as UserRow[];
        await trx.deleteFrom('users').where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
        for (const user of rows) {
          const ou = user.ou_id === null ? null : byId.get(user.ou_id);
          shift(ou, -1);
          record('user.deleted', 'user', user.id, userEventFields(user), null, [ou ? idPathOf(ou) : null]);
          job.progress.users.deleted++;
        }
        await flushEvents();
        await breathe();
      }
      for (const row of doomedOus) {
        await trx.deleteFrom('org_units').where('tenant_id', '=', tenantId).where('id', '=', row.id).execute();
        deletedOus.add(row.id);
        byId.delete(row.id);
        record('ou.deleted', 'ou', row.id, ouEventFields(row), null, [row.id_path]);
        if (++job.progress.ous.deleted % 500 === 0) {
          await flushEvents();
          await breathe();
        }
      }
    }

    lap('prune');
    // The maintained counts of every OU this changed, and of their ancestors.
    await recount(trx, tenantId, existing, newOus, byId, userDeltas(), ouEdits, deletedOus, timestamp);
    const ouDelta = job.progress.ous.created - job.progress.ous.deleted;
    const ouChanged = job.progress.ous.created + job.progress.ous.updated + job.progress.ous.deleted > 0;
    if (ouChanged || usersShifted) await repos.tenants.recordOuWrite(tenantId, ouDelta);
    await flushEvents(true);
    lap('recount');
    return eventsWritten > 0;
  }

  /**
   * Brings child_ou_count, user_count and subtree_user_count in step: computed in memory from
   * what was read and what the import did, then written for the existing OUs whose values (or
   * fields) changed, with their children_version raised so kept answers are not served.
   */
  async function recount(
    trx: Executor,
    tenantId: string,
    existing: OrgUnitRow[],
    created: string[],
    byId: Map<string, OuNode>,
    userDelta: Map<string, number>,
    ouEdits: Map<string, Partial<OrgUnitRow>>,
    deleted: Set<string>,
    timestamp: string,
  ): Promise<void> {
    if (created.length === 0 && userDelta.size === 0 && ouEdits.size === 0 && deleted.size === 0) return;
    const direct = new Map<string, number>();
    const childCount = new Map<string, number>();
    for (const row of existing) if (!deleted.has(row.id)) direct.set(row.id, row.user_count + (userDelta.get(row.id) ?? 0));
    for (const id of created) direct.set(id, userDelta.get(id) ?? 0);
    for (const node of byId.values()) if (node.parent !== null) childCount.set(node.parent.id, (childCount.get(node.parent.id) ?? 0) + 1);
    const subtree = new Map<string, number>(direct);
    const nodes = [...byId.values()].sort((a, b) => b.depth - a.depth);
    for (const node of nodes) if (node.parent !== null) subtree.set(node.parent.id, (subtree.get(node.parent.id) ?? 0) + (subtree.get(node.id) ?? 0));
    // New OUs were inserted with zero counts: every one gets its values (one UPDATE each, in the transaction).
    const touched = new Set<string>(ouEdits.keys());
    for (const row of existing) {
      if (deleted.has(row.id)) continue;
      if (row.user_count !== direct.get(row.id) || row.child_ou_count !== (childCount.get(row.id) ?? 0) || row.subtree_user_count !== subtree.get(row.id)) touched.add(row.id);
    }
    // A parent lists its children with their user counts: it changes when one of them does.
    const deletedParents = new Map(existing.filter((r) => deleted.has(r.id)).map((r) => [r.id, r.parent_id]));
    for (const id of [...touched, ...created, ...deleted]) {
      const parent = byId.get(id)?.parent?.id ?? deletedParents.get(id);
      if (parent && !deleted.has(parent) && byId.get(parent)?.row) touched.add(parent);
    }
    const updates: { id: string; set: { user_count: number; child_ou_count: number; subtree_user_count: number }; bump: boolean }[] = [];
    for (const id of touched) {
      const node = byId.get(id);
      if (!node?.row) continue;
      updates.push({ id, set: { user_count: direct.get(id) ?? 0, child_ou_count: childCount.get(id) ?? 0, subtree_user_count: subtree.get(id) ?? 0 }, bump: true });
    }
    for (const id of created) {
      const set = { user_count: direct.get(id) ?? 0, child_ou_count: childCount.get(id) ?? 0, subtree_user_count: subtree.get(id) ?? 0 };
      if (set.user_count !== 0 || set.child_ou_count !== 0 || set.subtree_user_count !== 0) updates.push({ id, set, bump: false });
    }
    // The edited OUs one by one (an overwrite's few); the counts of all, a thousand per statement.
    for (const [id, edits] of ouEdits) {
      if (byId.get(id)?.row) await trx.updateTable('org_units').set({ ...edits, updated_at: timestamp }).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    }
    const postgres = dialectOf(trx) === 'postgres';
    for (let i = 0; i < updates.length; i += 1000) {
      const batch = updates.slice(i, i + 1000);
      const parameters: unknown[] = [tenantId];
      const mark = (value: unknown) => {
        parameters.push(value);
        return postgres ? `$${parameters.length}` : '?';
      };
      const tuples = batch.map(({ id, set, bump }) => `(${mark(id)}, ${mark(set.user_count)}, ${mark(set.child_ou_count)}, ${mark(set.subtree_user_count)}, ${mark(bump ? 1 : 0)})`);
      await trx.executeQuery(
        CompiledQuery.raw(
          `with v (id, users, children, subtree, bump) as (values ${tuples.join(', ')})
           update org_units set user_count = cast(v.users as integer), child_ou_count = cast(v.children as integer),
             subtree_user_count = cast(v.subtree as integer), children_version = children_version + cast(v.bump as integer)
           from v where org_units.tenant_id = ${postgres ? '$1' : '?'} and org_units.id = v.id`,
          postgres ? parameters : [...parameters.slice(1), tenantId],
        ),
      );
      await breathe();
    }
  }

  return {
    start,

    /** The job as it stands: from this instance's memory while it runs here, else from the store. */
    async get(access: Access, tenantId: string, id: string): Promise<ImportJob> {
      // A delegated administrator sees its own imports only: a report names entries anywhere in the file.
      const visible = (job: ImportJob) => access.reach('ous:write') === 'tenant' || (access.principal !== null && job.created_by.id === access.principal.id);
      const current = live.get(id);
      if (current && current.tenant_id === tenantId) {
        if (!visible(current)) throw importNotFound(id);
        return structuredClone(current);
      }
      const repos = repositories(store.db);
      let row = await repos.importJobs.get(tenantId, id);
      if (!row) throw importNotFound(id);
      if (row.state === 'running' && !live.has(id) && row.heartbeat_at !== null && Date.parse(row.heartbeat_at) < Date.now() - STALE_AFTER_MS) {
        const at = now();
        await repos.importJobs.update(tenantId, id, { state: 'failed', phase: 'done', error: 'the server running the import stopped before it finished; nothing was changed', updated_at: at, finished_at: at, heartbeat_at: null });
        row = (await repos.importJobs.get(tenantId, id)) as ImportJobRow;
      }
      const job = toJob(row);
      if (!visible(job)) throw importNotFound(id);
      return job;
    },

    /** Jobs left running by a stopped instance (this one, on SQLite, before a restart) are failed; uploads a day old are removed. */
    async failAbandoned(): Promise<number> {
      const at = now();
      const names = await readdir(spoolDir).catch(() => [] as string[]);
      for (const name of names) {
        const file = join(spoolDir, name);
        const info = await stat(file).catch(() => null);
        if (info && info.mtimeMs < Date.now() - 86_400_000) await rm(file, { force: true });
      }
      return repositories(store.db).importJobs.failStale(new Date(Date.now() - STALE_AFTER_MS).toISOString(), 'the server running the import stopped before it finished; nothing was changed', at);
    },

    /** Waits for the imports this instance is applying (shutdown, tests). */
    async settled(): Promise<void> {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}

export type ImportService = ReturnType<typeof createImportService>;

/** Thrown while the body is read past the limit: the route answers 413. */
export class TooLarge extends ImportRefused {
  constructor(readonly limit: number) {
    super(`the file is larger than ARBOR_IMPORT_MAX_BYTES (${limit} bytes)`);
  }
}

export const importNotFound = (id: string) => new NotFoundError('import.not_found', `Import '${id}' does not exist in this tenant.`);

/** Text from a file as a report shows it: control characters made visible, at most 300 characters. */
function printable(text: string): string {
  const visible = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\uFFFD');
  return visible.length > 300 ? `${visible.slice(0, 299)}…` : visible;
}

/** The fields of `fields` (an event's halves carry only what changed). */
function pick(values: Record<string, unknown>, fields: object | string[]): Record<string, unknown> {
  const names = Array.isArray(fields) ? fields : Object.keys(fields);
  return Object.fromEntries(names.filter((f) => f in values).map((f) => [f, values[f]]));
}
