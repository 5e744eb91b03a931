import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresAdapter, PostgresDialect, type RawBuilder, SqliteDialect, type SqliteDialectConfig, sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { isPostgresUrl, sqliteFile } from '../config.js';
import type { Database } from './schema.js';

/** A Kysely handle or a transaction on it: repositories take either. */
export type Executor = Kysely<Database>;

export type Dialect = 'sqlite' | 'postgres';

export interface TransactionOptions {
  /**
   * Serializes this transaction with every other one holding the same key, across all
   * instances on the store (PostgreSQL: a transaction-level advisory lock; SQLite: every write
   * transaction is exclusive anyway). Writes of a tenant's hierarchy lock `tenant:<id>`.
   */
  lock?: string;
}

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Human description for the startup line, e.g. `sqlite:./data/arbor.sqlite` (no password). */
  readonly description: string;
  /** Runs `fn` in one transaction: everything or nothing. */
  transaction<T>(fn: (trx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T>;
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
  close(): Promise<void>;
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
   * Told of a PostgreSQL connection that failed outside a query (the server restarted or the
   * network dropped it). The pool discards it; unheard, the error would end the process.
   */
  onIdleConnectionError?: (error: Error) => void;
}

/** Opens the store a `DATABASE_URL` names: `postgres://…` or `sqlite:<file>`. */
export function openStore(databaseUrl: string, options: StoreOptions = {}): Store {
  return isPostgresUrl(databaseUrl) ? openPostgres(databaseUrl, options) : openSqlite(databaseUrl);
}

function openSqlite(databaseUrl: string): Store {
  const file = sqliteFile(databaseUrl);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  // Another process may hold the write lock: wait for it rather than fail. First, because
  // switching to WAL needs that lock too: set after it, a start racing another instance's
  // migrations failed with SQLITE_BUSY (seen in CI's start-up race test).
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }) });
  // BEGIN IMMEDIATE takes the write lock up front: two processes on one file can then never
  // both read, then both try to upgrade to writing (which SQLite can only resolve by failing one).
  const transaction: Store['transaction'] = (fn) =>
    db.connection().execute(async (connection) => {
      await sql`begin immediate`.execute(connection);
      try {
        const result = await fn(connection);
        await sql`commit`.execute(connection);
        return result;
      } catch (error) {
        // After a failed write (disk full, I/O error) SQLite may have rolled back already;
        // a second rollback would fail and hide the error that says why.
        if (sqlite.inTransaction) await sql`rollback`.execute(connection);
        throw error;
      }
    });
  return {
    db,
    dialect: 'sqlite',
    description: databaseUrl,
    transaction,
    // Without statistics SQLite's planner can put the wrong table outside a range or join
    // (measured 800x slower on subtree reads); `PRAGMA optimize` runs ANALYZE where it pays.
    optimize: async () => {
      await sql`PRAGMA optimize=0x10002`.execute(db);
    },
    healthDb: db,
    probeWrite: () => probeWrite(transaction),
    close: () => db.destroy(),
  };
}

const STATEMENT_CACHE_SIZE = 500;

/**
 * The database as Kysely's SQLite driver sees it, with prepared statements reused by SQL text:
 * the driver prepares every query anew, which cost more than running it (a profile of the
 * single-OU read: 13 % of the server's time in prepare). Safe because the driver runs one
 * query at a time on its one connection; SQLite re-prepares a statement after a schema change.
 */
function reusingStatements(sqlite: SqliteDatabase.Database): SqliteDialectConfig['database'] {
  const statements = new LRUCache<string, SqliteDatabase.Statement>({ max: STATEMENT_CACHE_SIZE });
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = sqlite.prepare(text);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

function openPostgres(databaseUrl: string, options: StoreOptions): Store {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // Fail fast when the server is unreachable (a request then gets 503), and notice a dead
    // peer on an idle connection through TCP keep-alive.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    // A query with no answer at all (the network dropped it) fails after this, not after TCP's
    // 15 minutes; and an idle connection's peer is probed after 10 s.
    query_timeout: options.queryTimeoutMs ?? 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', (error) => options.onIdleConnectionError?.(error));
  // The pool listens for errors only on idle connections. One checked out by Kysely (inside a
  // transaction, between statements) that loses its server would emit an error nobody hears,
  // which ends the process; the statement that then runs on it fails and gets a 503, and the
  // pool discards the connection when it comes back.
  pool.on('connect', (client) => client.on('error', (error) => options.onIdleConnectionError?.(error)));
  const max = options.poolSize ?? 10;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  let checkedOut = 0;
  // What Kysely sees of the pool. Two things the pool cannot tell by itself:
  // - it reports the same timeout whether the server did not answer or every connection stayed
  //   busy; only the first is an outage, the second is this instance's overload (counted here:
  //   the pool's own count includes connections still trying to connect to a dead server);
  // - a connection whose query timed out (no answer: the network dropped it) still waits for
  //   that answer; handed out again, every later query would queue behind it. It is discarded.
  const telling = {
    connect: async () => {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        if (checkedOut >= max && /^timeout exceeded when trying to connect/.test((error as Error).message)) {
          throw new PoolExhaustedError(max, connectTimeoutMs);
        }
        throw error;
      }
      checkedOut++;
      const release = client.release.bind(client);
      let released = false;
      client.release = (error?: Error | boolean) => {
        if (released) return release(error);
        released = true;
        checkedOut--;
        // Kysely passes false (keep) or true (discard); node-postgres keeps the query it still waits for.
        const stuck = (client as unknown as { _activeQuery?: unknown })._activeQuery != null;
        return release(error || (stuck ? new Error('a query on this connection timed out') : undefined));
      };
      return client;
    },
    end: () => pool.end(),
  };
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: telling }) });
  const healthTimeoutMs = Math.min(connectTimeoutMs, 2_000);
  const healthPool = new pg.Pool({
    connectionString: databaseUrl,
    max: 1,
    connectionTimeoutMillis: healthTimeoutMs,
    query_timeout: healthTimeoutMs,
    // Reopened for each check after an idle second: a connection left from before an outage is
    // not trusted, and the server keeps no idle connection for it.
    idleTimeoutMillis: 1_000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  healthPool.on('error', (error) => options.onIdleConnectionError?.(error));
  healthPool.on('connect', (client) => client.on('error', (error) => options.onIdleConnectionError?.(error)));
  const healthDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: healthPool }) });
  const url = new URL(databaseUrl);
  url.password = url.password ? '***' : '';
  return {
    db,
    dialect: 'postgres',
    description: url.toString() + (options.schema ? ` (schema ${options.schema})` : ''),
    transaction: (fn, { lock } = {}) =>
      db.transaction().execute(async (trx) => {
        if (lock !== undefined) await sql`select pg_advisory_xact_lock(hashtextextended(${lock}, 0))`.execute(trx);
        return fn(trx);
      }),
    // autovacuum keeps PostgreSQL's statistics.
    optimize: async () => {},
    healthDb,
    probeWrite: () => probeWrite((fn) => healthDb.transaction().execute(fn)),
    close: async () => {
      await healthDb.destroy();
      await db.destroy();
    },
  };
}

async function probeWrite(transaction: Store['transaction']): Promise<void> {
  await transaction((trx) => trx.updateTable('store_probe').set({ probed_at: new Date().toISOString() }).where('id', '=', 1).execute());
}

/** The dialect a Kysely instance speaks (migrations use it for the few differences). */
export function dialectOf(db: { getExecutor(): { adapter: unknown } }): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** Runs `write`; a unique-index refusal becomes `conflict()` (the database, not a prior read, enforces uniqueness). */
export async function onUniqueViolation<T>(write: () => Promise<T>, conflict: () => Error): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict();
    throw error;
  }
}

/** Every PostgreSQL connection of this instance stayed busy for the whole connect timeout. */
export class PoolExhaustedError extends Error {
  constructor(
    readonly poolSize: number,
    readonly waitedMs: number,
  ) {
    super(`all ${poolSize} PostgreSQL connections of this instance stayed busy for ${waitedMs} ms`);
    this.name = 'PoolExhaustedError';
  }
}

const UNREACHABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** node-postgres reports a lost or unobtainable connection in messages without a code. */
const LOST_CONNECTION =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end)/;

/**
 * Why the store cannot serve right now, when `error` says so (in words for the 503's detail),
 * else null: a bug or a bad request is not an outage.
 */
export function storeUnavailableReason(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = String((error as { code?: unknown }).code ?? '');
  if (code === 'SQLITE_FULL') return 'the disk holding the SQLite file is full';
  if (code.startsWith('SQLITE_READONLY')) return 'the SQLite file or its folder is read-only';
  if (code.startsWith('SQLITE_IOERR')) return 'the disk holding the SQLite file reported an I/O error';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'the SQLite file cannot be opened';
  if (code.startsWith('SQLITE_BUSY')) return 'another process has held the SQLite write lock for longer than 5 s';
  if (UNREACHABLE_NETWORK_CODES.has(code) || LOST_CONNECTION.test(error.message)) return 'PostgreSQL cannot be reached';
  // SQLSTATE classes: 08 connection exception, 53 insufficient resources (disk full, out of
  // memory, too many connections), 57P0x the server is shutting down or starting.
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code)) return 'PostgreSQL closed the connection or is not accepting connections';
  if (/^53/.test(code)) return `PostgreSQL lacks resources (${error.message})`;
  // A primary demoted to a read-only standby during a failover; credentials rotated under us.
  if (code === '25006') return 'PostgreSQL accepts no writes (a read-only server: a failover in progress?)';
  if (code === '28P01' || code === '28000') return 'PostgreSQL refuses the credentials in DATABASE_URL';
  return null;
}

/** True when `error` is the store refusing a duplicate in a unique index. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/** Escapes `%`, `_` and `\` so that a LIKE pattern matches them literally (with `ESCAPE '\'`). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * `column` lies in the subtree whose root has `idPath` (root included): the index range
 * [`/a/b/`, `/a/b0`), as '0' follows '/' and ids contain no '/'. Binary collation assumed.
 */
export function inSubtree(column: string, idPath: string): RawBuilder<boolean> {
  return sql<boolean>`(${sql.ref(column)} >= ${idPath} and ${sql.ref(column)} < ${`${idPath.slice(0, -1)}0`})`;
}
