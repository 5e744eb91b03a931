import { isPostgresUrl } from '../config.js';
import type { CompiledQuery, Kysely } from 'kysely';
import { openPostgres } from './postgres-store.js';
import type { Database } from './schema.js';
import { openSqlite } from './sqlite-store.js';

/** A Kysely handle or a transaction on it: repositories take either. */
export type Executor = Kysely<Database>;

export type Dialect = 'sqlite' | 'postgres';

/** What Store.lockedStatement runs: statements in order, the last one's rows returned. */
export type LockedStatements<R> = readonly [...CompiledQuery[], CompiledQuery<R>];

export interface TransactionOptions {
  /**
   * Serializes this transaction with every other one holding the same key, across all
   * instances on the store (PostgreSQL: a transaction-level advisory lock; SQLite: every write
   * transaction is exclusive anyway). Writes of a tenant's hierarchy lock `tenant:<id>`.
   */
  lock?: string;
  /**
   * A bulk load (an import of a directory): SQLite gives the connection a page cache of
   * BULK_CACHE_KIB for the transaction, so that a million rows' random index keys are not read
   * back and spilled again page by page, and leaves the checkpoint of its commit's WAL to the
   * background worker instead of running it on this thread. PostgreSQL ignores it.
   */
  bulk?: boolean;
}

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Human description for the startup line, e.g. `sqlite:./data/arbor.sqlite` (no password). */
  readonly description: string;
  /** Runs `fn` in one transaction: everything or nothing. */
  transaction<T>(fn: (trx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Runs `statements` in order in one transaction holding `lock` and returns the last one's rows;
   * the first statement that returns no row ends it, rolled back, and the answer is no row. It is
   * the fast path of a write whose statements are known before it starts (createOneStatementWrite):
   * the lock is held for the statements and the commit only, not across turns of the event loop
   * or round trips (a create under the lock took four of them). A failure rolls it back and is
   * thrown. Undefined on a store with no such path.
   * - PostgreSQL: one statement only (a data-modifying WITH holds a whole write), sent with its
   *   BEGIN, the lock and the COMMIT as one message; its parameters are written into the text as
   *   escaped literals, since a message of several statements takes none. Calls with one lock
   *   made while one is in flight from this process are sent together after it, one statement
   *   after another in one message (a group commit); if that message fails, each is sent again
   *   alone, so every caller gets the answer it would have got alone.
   * - SQLite: BEGIN IMMEDIATE, the statements and COMMIT run synchronously on the one connection,
   *   with no await between them; the lock is SQLite's own write lock, which covers every tenant.
   */
  readonly lockedStatement?: <R>(lock: string, statements: LockedStatements<R>) => Promise<R[]>;
  /**
   * Runs the reads of `fn` in one consistent snapshot: a listing and the event seq it reflects
   * agree, whatever commits meanwhile (PostgreSQL: REPEATABLE READ; SQLite: a read transaction).
   */
  snapshot<T>(fn: (trx: Executor) => Promise<T>): Promise<T>;
  /**
   * A SQLite file only (undefined elsewhere): runs read statements in one read transaction on a
   * second connection in a worker thread, so that a long read never stops the event loop
   * (sqlite-aside-reader.ts). Its snapshot is its own, not a caller's: whoever uses the rows
   * checks the version they were read at.
   */
  readonly readAside?: (queries: readonly CompiledQuery[]) => Promise<unknown[][]>;
  /**
   * A long read in one consistent snapshot (an export) that must not hold what other requests
   * need: on a SQLite file, a read-only connection of its own (WAL: writers go on meanwhile),
   * opened for it and closed after; elsewhere `snapshot` (PostgreSQL: one pool connection,
   * REPEATABLE READ; in-memory SQLite, tests only: the one connection).
   */
  longSnapshot<T>(fn: (trx: Executor) => Promise<T>): Promise<T>;
  /**
   * Inserts many rows into `table` inside `trx`, a transaction of this store, in the form each
   * store takes fastest: PostgreSQL multi-row INSERTs (a round trip each); SQLite one prepared
   * single-row INSERT run per row on the transaction's connection. Measured on a million users
   * and their events in one transaction: SQLite took 48 s as INSERTs of 2,500 rows, 29 s row by
   * row; building the rows through Kysely's query tree cost more than either (25 µs a row).
   * Columns are trusted names (the caller's constants), values are parameters.
   */
  insertMany<R extends object>(trx: Executor, table: string, columns: readonly (keyof R & string)[], rows: readonly R[]): Promise<void>;
  /**
   * SQLite only (undefined on PostgreSQL, where the DDL would lock the table for every tenant):
   * drops the named indexes inside `trx`, a write transaction of this store, and returns what
   * creates them again from their own definitions, in the same transaction. A bulk load that adds
   * more rows than a table holds builds an index faster by sorting once afterwards than by
   * inserting a million keys into it one at a time; nothing outside the transaction ever sees
   * the index missing (the DDL commits or rolls back with the rows), and its planner statistics are
   * put back as they were. Indexes that enforce
   * anything (unique ones) are refused: they must check every row as it comes.
   */
  readonly deferIndexes?: (trx: Executor, names: readonly string[]) => Promise<() => Promise<void>>;
  /** Refreshes planner statistics where they are stale; cheap when nothing changed much. */
  optimize(): Promise<void>;
  /**
   * The database as readiness checks reach it: on PostgreSQL one connection of its own with
   * short timeouts, so that a pool busy with requests neither delays nor fails the check, and an
   * outage fails it quickly; on SQLite the same connection as everything else.
   */
  readonly healthDb: Kysely<Database>;
  /** Writes the probe row in a transaction (through healthDb): throws when the store cannot take a write. */
  probeWrite(): Promise<void>;
  /** The connections of `db` right now, for metrics (cheap: no I/O). */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

/** A store's connections at one moment. */
export interface PoolStats {
  /** Connections open (PostgreSQL: connecting ones included; SQLite: its one). */
  size: number;
  /** The most there may be (ARBOR_DB_POOL_SIZE; SQLite: 1). */
  max: number;
  /** Checked out (PostgreSQL); SQLite: 1 while a transaction or snapshot holds the connection. */
  inUse: number;
  /** Waiting for a connection (PostgreSQL: any query; SQLite: transactions and snapshots queued behind the one holding it). */
  waiting: number;
}

export interface StoreOptions {
  /** PostgreSQL connection pool size. */
  poolSize?: number;
  /** PostgreSQL schema to work in (tests isolate themselves with one each). */
  schema?: string;
  /** How long to wait for a new PostgreSQL connection before failing (default 5 s). */
  connectTimeoutMs?: number;
  /** How long to wait for the answer to a PostgreSQL query before failing (default 30 s). */
  queryTimeoutMs?: number;
  /**
   * PostgreSQL: run db/sql.ts's compiledOnce statements as named prepared statements, parsed once
   * per connection (default true). Off behind a pooler in transaction mode that does not keep them.
   */
  preparedStatements?: boolean;
  /**
   * Told of a failure outside any request, with what it means: a PostgreSQL connection that
   * failed outside a query (the server restarted or the network dropped it; the pool discards
   * it, and unheard the error would end the process), or a SQLite WAL checkpoint that failed.
   */
  onBackgroundError?: (error: Error, meaning: string) => void;
}

/** Opens the store a `DATABASE_URL` names: `postgres://…` or `sqlite:<file>`. */
export function openStore(databaseUrl: string, options: StoreOptions = {}): Store {
  return isPostgresUrl(databaseUrl) ? openPostgres(databaseUrl, options) : openSqlite(databaseUrl, options);
}

/** Writes the probe row in a transaction: throws when the store cannot take a write. */
export async function probeWrite(transaction: Store['transaction']): Promise<void> {
  await transaction((trx) => trx.updateTable('store_probe').set({ probed_at: new Date().toISOString() }).where('id', '=', 1).execute());
}
