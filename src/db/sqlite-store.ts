import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, type QueryResult, SqliteDialect, type SqliteDialectConfig, sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import { sqliteFile } from '../config.js';
import type { Database } from './schema.js';
import { type DirectRead, readDirectlyThrough } from './sql.js';
import { type AsideReader, startAsideReader } from './sqlite-aside-reader.js';
import { type Checkpointer, startCheckpointer } from './sqlite-checkpointer.js';
import { type Store, type StoreOptions, probeWrite } from './store.js';

/** SQLite's own default: what the connection falls back to if the checkpoint worker is gone. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/**
 * How often the worker checkpoints the WAL. Often, so that the backstop checkpoint of the writing
 * connection finds little left to copy: in-process, a create's commit took 96 µs with the worker
 * every 20 ms and 119 µs every 200 ms; 25 ms is between the two, nearer the first. A checkpoint with
 * nothing to copy only reads the WAL index (no fsync).
 */
const CHECKPOINT_INTERVAL_MS = 25;
/** Least time between two starts of the reader worker. */
const ASIDE_RESTART_MS = 5_000;

export function openSqlite(databaseUrl: string, options: StoreOptions = {}): Store {
  const file = sqliteFile(databaseUrl);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  // Another process may hold the write lock: wait for it rather than fail. First, because
  // switching to WAL needs that lock too: set after it, a start racing another instance's
  // migrations failed with SQLITE_BUSY (seen in CI's start-up race test).
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  // Checkpoints run in a worker thread (sqlite-checkpointer.ts); this connection checkpoints
  // only past 10,000 WAL pages (~40 MB), as the backstop that lets the WAL restart.
  const background = file === ':memory:' ? null : startBackgroundCheckpoints(sqlite, file, options);
  const checkpointer = background?.checkpointer ?? null;
  sqlite.pragma('foreign_keys = ON');
  const statements = reusingStatements(sqlite);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
  readDirectlyThrough(
    db,
    batchedReads(
      sqlite,
      statements.prepare,
      (text, parameters) => db.executeQuery<unknown>(CompiledQuery.raw(text, [...parameters])),
      (error) => options.onBackgroundError?.(error, 'ending a batch of reads failed'),
    ),
  );
  // Transactions and snapshots waiting for the one connection (metrics); single statements queued
  // behind an open transaction wait inside Kysely, where they cannot be counted.
  let waiting = 0;
  /** Bulk transactions begun whose WAL the worker has not yet checkpointed. */
  let bulkUnsettled = 0;
  // BEGIN IMMEDIATE takes the write lock up front: two processes on one file can then never
  // both read, then both try to upgrade to writing (which SQLite can only resolve by failing one).
  const transaction: Store['transaction'] = (fn, { bulk = false } = {}) => {
    waiting++;
    return db.connection().execute(async (connection) => {
      waiting--;
      // Measured outside the server on 1,000,000 users and their events in one transaction: 49 s
      // with the default 2 MB cache, 40 s with 256 MB; a commit that then checkpointed its 2 GB
      // of WAL on this thread took 6-8 s. In the server (heap capped, one run each) the import
      // took 82.6 s with a 64 MB cache and 62.8 s with this one.
      const restore = bulk && checkpointer ? { cache: sqlite.pragma('cache_size', { simple: true }) } : null;
      if (restore) {
        sqlite.pragma(`cache_size = -${BULK_CACHE_KIB}`);
        sqlite.pragma('wal_autocheckpoint = 0');
        bulkUnsettled++;
      }
      try {
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
      } finally {
        if (restore && sqlite.open) {
          // Shrinking the cache frees its pages now.
          sqlite.pragma(`cache_size = ${restore.cache}`);
          // The WAL now holds the whole transaction (2 GB for a million-user import). The
          // worker checkpoints it; this connection's backstop comes back once it has: back at
          // once, the next commit (the import job's own row) copied it all on the event loop,
          // 9 s in the benchmark.
          void checkpointer?.checkpointed().then(() => {
            if (--bulkUnsettled === 0 && sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${background?.backstopPages() ?? DEFAULT_AUTOCHECKPOINT_PAGES}`);
          });
        }
      }
    });
  };
  // Measured on OU creates at 16 connections: the same four statements through `transaction`
  // are seven awaits, each a query built and run through Kysely's asynchronous executor
  // (docs/benchmarks.md).
  const lockedStatement: Store['lockedStatement'] = <R>(_lock: string, queries: readonly CompiledQuery[]) => {
    waiting++;
    return db.connection().execute(async () => {
      waiting--;
      return runLocked<R>(sqlite, statements.prepare, queries);
    });
  };
  // A deferred BEGIN reads one WAL snapshot and holds this process's one connection, so no
  // write of this process can come between the snapshot's statements either.
  const snapshot: Store['snapshot'] = (fn) => {
    waiting++;
    return db.connection().execute(async (connection) => {
      waiting--;
      await sql`begin`.execute(connection);
      try {
        return await fn(connection);
      } finally {
        if (sqlite.inTransaction) await sql`commit`.execute(connection);
      }
    });
  };
  // Started at the first read aside (most processes never need the thread), and again if it has
  // gone, at most every few seconds: until then reads aside fail, and their callers read without.
  let asideReader: AsideReader | undefined;
  let asideStartedAt = 0;
  const readAside = (queries: readonly CompiledQuery[]) => {
    if (!asideReader?.alive && Date.now() - asideStartedAt >= ASIDE_RESTART_MS) {
      if (asideReader) options.onBackgroundError?.(new Error('the SQLite reader worker stopped'), 'starting it again; until it is back, deep pages of long listings are read by OFFSET');
      asideReader = startAsideReader(file);
      asideStartedAt = Date.now();
    }
    return asideReader!.read(queries);
  };
  // A connection of its own per long read: its BEGIN is a WAL snapshot that writers do not wait
  // for. Statements still run on this thread, a batch at a time; the caller keeps batches small.
  const longSnapshot: Store['longSnapshot'] = async (fn) => {
    if (file === ':memory:') return snapshot(fn);
    const reader = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
    reader.pragma('busy_timeout = 5000');
    const readerDb = new Kysely<Database>({ dialect: new SqliteDialect({ database: reader }) });
    try {
      return await readerDb.connection().execute(async (connection) => {
        await sql`begin`.execute(connection);
        try {
          return await fn(connection);
        } finally {
          if (reader.inTransaction) await sql`commit`.execute(connection);
        }
      });
    } finally {
      await readerDb.destroy();
    }
  };
  return {
    db,
    dialect: 'sqlite',
    description: databaseUrl,
    transaction,
    lockedStatement,
    snapshot,
    longSnapshot,
    ...(file === ':memory:' ? {} : { readAside }),
    // Without statistics SQLite's planner can put the wrong table outside a range or join
    // (measured 800x slower on subtree reads); `PRAGMA optimize` runs ANALYZE where it pays.
    optimize: async () => {
      await sql`PRAGMA optimize=0x10002`.execute(db);
    },
    // On the one connection, which the caller's transaction holds (checked: outside one, each
    // row would be a transaction of its own).
    insertMany: async (_trx, table, columns, rows) => {
      if (!sqlite.inTransaction) throw new Error('insertMany runs inside a transaction of its store');
      const statement = statements.prepare(`insert into ${table} (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`);
      // One array of parameters, refilled: SQLite copies them at each run.
      const parameters: unknown[] = new Array(columns.length);
      for (const row of rows) {
        for (let i = 0; i < columns.length; i++) parameters[i] = (row as Record<string, unknown>)[columns[i]];
        statement.run(parameters);
      }
    },
    deferIndexes: async (trx, names) => {
      if (!sqlite.inTransaction) throw new Error('deferIndexes runs inside a transaction of its store');
      const { rows } = await sql<{ name: string; sql: string | null }>`select name, sql from sqlite_master where type = 'index' and name in (${sql.join(names)})`.execute(trx);
      const missing = names.filter((name) => !rows.some((row) => row.name === name));
      if (missing.length > 0) throw new Error(`deferIndexes: no index named ${missing.join(', ')}`);
      for (const row of rows) {
        // An automatic index (a primary key's or UNIQUE constraint's) has no SQL; a unique one enforces.
        if (row.sql === null || /^\s*create\s+unique\b/i.test(row.sql)) throw new Error(`deferIndexes: ${row.name} enforces a constraint and stays`);
      }
      // DROP INDEX also deletes the index's planner statistics, which CREATE INDEX does not
      // write: they are put back as they were (the next PRAGMA optimize refreshes them).
      const analyzed = (await sql<{ n: number }>`select count(*) as n from sqlite_master where name = 'sqlite_stat1'`.execute(trx)).rows[0].n > 0;
      const stats = analyzed ? (await sql<{ tbl: string; idx: string; stat: string }>`select tbl, idx, stat from sqlite_stat1 where idx in (${sql.join(names)})`.execute(trx)).rows : [];
      for (const row of rows) await sql`drop index ${sql.id(row.name)}`.execute(trx);
      return async () => {
        // Built with SQLite's default 2 MB cache, the bulk one back after: on the benchmark's
        // store three such indexes took 4.4 s to build so and 6.3 s with the 128 MB cache (the
        // sorter spills to temporary files either way).
        const cache = sqlite.pragma('cache_size', { simple: true });
        sqlite.pragma('cache_size = -2000');
        try {
          for (const row of rows) await sql.raw(row.sql as string).execute(trx);
        } finally {
          sqlite.pragma(`cache_size = ${cache}`);
        }
        for (const stat of stats) await sql`insert into sqlite_stat1 (tbl, idx, stat) values (${stat.tbl}, ${stat.idx}, ${stat.stat})`.execute(trx);
      };
    },
    healthDb: db,
    probeWrite: () => probeWrite(transaction),
    poolStats: () => ({ size: 1, max: 1, inUse: sqlite.inTransaction ? 1 : 0, waiting }),
    close: async () => {
      await asideReader?.stop();
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** The writing connection's backstop while the worker checkpoints: ~40 MB of WAL. */
const BACKSTOP_PAGES = 10_000;

/** The checkpoint worker, and the wal_autocheckpoint the writing connection keeps beside it. */
function startBackgroundCheckpoints(sqlite: SqliteDatabase.Database, file: string, options: StoreOptions): { checkpointer: Checkpointer; backstopPages: () => number } {
  sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  let gone = false;
  const checkpointer = startCheckpointer(file, {
    intervalMs: CHECKPOINT_INTERVAL_MS,
    onError: (error) => options.onBackgroundError?.(error, 'a WAL checkpoint failed; the next one retries'),
    onExit: (error) => {
      if (gone) return;
      gone = true;
      // Without the worker, this connection checkpoints as SQLite does by default (a bulk
      // transaction still open sets it when it ends).
      if (sqlite.open && sqlite.pragma('wal_autocheckpoint', { simple: true }) !== 0) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      options.onBackgroundError?.(error, 'the WAL checkpoint worker stopped; commits checkpoint again');
    },
  });
  return { checkpointer, backstopPages: () => (gone ? DEFAULT_AUTOCHECKPOINT_PAGES : BACKSTOP_PAGES) };
}

/**
 * Store.lockedStatement on SQLite: BEGIN IMMEDIATE, each statement, COMMIT, with nothing awaited
 * between them, so nothing else can run on the connection meanwhile. Called while Kysely's
 * connection is held, so no transaction of Kysely's is open across it.
 */
function runLocked<R>(sqlite: SqliteDatabase.Database, prepare: (text: string) => SqliteDatabase.Statement, queries: readonly CompiledQuery[]): R[] {
  prepare('begin immediate').run();
  try {
    let rows: unknown[] = [];
    for (const query of queries) {
      rows = prepare(query.sql).all(query.parameters as unknown[]);
      if (rows.length === 0) {
        prepare('rollback').run();
        return [];
      }
    }
    prepare('commit').run();
    return rows as R[];
  } catch (error) {
    // As in `transaction`: SQLite may have rolled back already after a failed write.
    if (sqlite.inTransaction) prepare('rollback').run();
    throw error;
  }
}

const STATEMENT_CACHE_SIZE = 500;
/** A bulk transaction's page cache (Store TransactionOptions.bulk): 128 MiB, freed at its end. */
const BULK_CACHE_KIB = 131_072;

/**
 * compiledOnce's batched reads (the OU by primary key that every OU request reads): those asked
 * for in one event-loop turn run together at its end, synchronously, in one read transaction.
 * Each statement outside a transaction is a transaction of its own, and beginning and ending one
 * costs three system calls (the WAL's read lock taken and released, the file's size): 7 of a
 * primary-key read's 11.5 µs on the benchmark machine, where it is 4 µs inside a transaction.
 *
 * Safe on the one connection Kysely also uses: the batch runs only while no transaction is open
 * on it (a transaction or snapshot of Kysely's holds it across awaits, and its uncommitted rows
 * must never be read outside it); otherwise the reads queue behind it through Kysely like any
 * query. Nothing can interleave with the batch, which does not await. A read never runs before it
 * was asked for, so it sees every commit that preceded the call.
 */
function batchedReads(
  sqlite: SqliteDatabase.Database,
  prepare: (text: string) => SqliteDatabase.Statement,
  throughKysely: (text: string, parameters: readonly unknown[]) => Promise<QueryResult<unknown>>,
  onError: (error: Error) => void,
): DirectRead {
  type Pending = { text: string; parameters: readonly unknown[]; resolve: (rows: unknown[]) => void; reject: (error: unknown) => void };
  let pending: Pending[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    if (sqlite.inTransaction || !sqlite.open) {
      for (const read of batch) throughKysely(read.text, read.parameters).then((result) => read.resolve(result.rows), read.reject);
      return;
    }
    const together = batch.length > 1;
    try {
      if (together) prepare('begin').run();
    } catch (error) {
      for (const read of batch) read.reject(error);
      return;
    }
    try {
      for (const read of batch) {
        try {
          read.resolve(prepare(read.text).all(read.parameters));
        } catch (error) {
          read.reject(error);
        }
      }
    } finally {
      if (together && sqlite.inTransaction) endReadTransaction();
    }
  };
  // Ending a read transaction changes nothing, but one left open would make the next write's
  // BEGIN fail: roll back if the commit fails, and tell (this runs outside any request).
  const endReadTransaction = () => {
    try {
      prepare('commit').run();
    } catch (error) {
      onError(error as Error);
      try {
        if (sqlite.inTransaction) prepare('rollback').run();
      } catch (rollbackError) {
        onError(rollbackError as Error);
      }
    }
  };
  return (text, parameters) =>
    new Promise((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ text, parameters, resolve, reject });
    });
}

/**
 * The database as Kysely's SQLite driver sees it, with prepared statements reused by SQL text:
 * the driver prepares every query anew, which cost more than running it (a profile of the
 * single-OU read: 13 % of the server's time in prepare). Safe because the driver runs one
 * query at a time on its one connection; SQLite re-prepares a statement after a schema change.
 */
function reusingStatements(sqlite: SqliteDatabase.Database): SqliteDialectConfig['database'] & { prepare(text: string): SqliteDatabase.Statement } {
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
