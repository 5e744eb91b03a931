import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { PoolExhaustedError } from '../errors.js';
import { pgBatchedReads } from './postgres-batched-reads.js';
import { insertValues, preparedStatementNames, readDirectlyThrough } from './sql.js';
import { type LockedStatements, type Store, type StoreOptions, probeWrite } from './store.js';

const PREPARING = Symbol('preparing named statements');

/**
 * Runs the statements db/sql.ts names (preparedStatementNames) as named prepared statements on
 * this connection: node-postgres then parses them once per connection. Kysely passes only the
 * text and the values, so the name is looked up by text.
 */
function preparingNamedStatements(client: pg.PoolClient): void {
  const marked = client as pg.PoolClient & { [PREPARING]?: true };
  if (marked[PREPARING]) return;
  marked[PREPARING] = true;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (text: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof text === 'string' ? preparedStatementNames.get(text) : undefined;
    return name === undefined ? query(text, values, callback) : query({ name, text, values }, callback);
  };
}

/** `value` as a PostgreSQL literal, for a message in the simple query protocol (which takes no parameters). */
export function pgLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isFinite(value))) {
    // In parentheses: `x - -1` written without its space would start a comment.
    return value < 0 ? `(${value})` : String(value);
  }
  throw new TypeError(`no PostgreSQL literal for a ${typeof value} parameter`);
}

/**
 * The statement's text with each `$n` replaced by its parameter as a literal. Kysely writes
 * values only as `$n` (never into the text), so every `$` followed by digits is a parameter.
 */
export function inlineParameters(query: CompiledQuery): string {
  return query.sql.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index >= query.parameters.length) throw new RangeError(`$${n} has no parameter`);
    return pgLiteral(query.parameters[index]);
  });
}

/** Statements sent together at most, in one message of Store.lockedStatement. */
const GROUP_MAX = 32;

/**
 * Store.lockedStatement on PostgreSQL, from `send`, which sends statements with BEGIN, the lock
 * and COMMIT as one message and returns each one's rows. A call whose lock has a message in
 * flight from this process waits, and the calls that waited are then sent together, up to
 * GROUP_MAX a message (a group commit): one round trip, one lock and one commit flush for
 * several creates in one tenant, where each held the lock through its own before. Each
 * statement still runs alone in effect: the ones before it in the message are what it would have
 * found committed, and it returns its own rows. When a grouped message fails (one statement hit
 * a unique index), all of it was rolled back, and each is sent again alone, so each caller gets
 * the answer it would have got alone.
 */
function groupingByLock(send: (lock: string, queries: readonly CompiledQuery[]) => Promise<unknown[][]>): NonNullable<Store['lockedStatement']> {
  interface Call {
    query: CompiledQuery;
    resolve: (rows: unknown[]) => void;
    reject: (error: unknown) => void;
  }
  /** Per lock with a message in flight: the calls waiting for it. */
  const waiting = new Map<string, Call[]>();
  const sendAlone = async (lock: string, call: Call) => {
    try {
      call.resolve((await send(lock, [call.query]))[0]);
    } catch (error) {
      call.reject(error);
    }
  };
  const sendGroup = async (lock: string, group: Call[]) => {
    if (group.length === 1) return sendAlone(lock, group[0]);
    let rows: unknown[][];
    try {
      rows = await send(lock, group.map((call) => call.query));
    } catch {
      for (const call of group) await sendAlone(lock, call);
      return;
    }
    group.forEach((call, i) => call.resolve(rows[i]));
  };
  const sendUntilNoneWait = async (lock: string, first: Call) => {
    let group = [first];
    while (group.length > 0) {
      await sendGroup(lock, group);
      group = waiting.get(lock)!.splice(0, GROUP_MAX);
    }
    waiting.delete(lock);
  };
  return <R>(lock: string, statements: LockedStatements<R>) => {
    // Several statements of one call would each need the one before them checked for a row.
    if (statements.length !== 1) return Promise.reject(new TypeError(`lockedStatement sends one statement on PostgreSQL, not ${statements.length}`));
    return new Promise<R[]>((resolve, reject) => {
      const call: Call = { query: statements[0], resolve: resolve as (rows: unknown[]) => void, reject };
      const queue = waiting.get(lock);
      if (queue) {
        queue.push(call);
        return;
      }
      waiting.set(lock, []);
      void sendUntilNoneWait(lock, call);
    });
  };
}

export function openPostgres(databaseUrl: string, options: StoreOptions): Store {
  const idleConnectionFailed = (error: Error) => options.onBackgroundError?.(error, 'a PostgreSQL connection failed outside a query; the pool replaces it');
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
  pool.on('error', (error) => idleConnectionFailed(error));
  // The pool listens for errors only on idle connections. One checked out by Kysely (inside a
  // transaction, between statements) that loses its server would emit an error nobody hears,
  // which ends the process; the statement that then runs on it fails and gets a 503, and the
  // pool discards the connection when it comes back.
  pool.on('connect', (client) => client.on('error', (error) => idleConnectionFailed(error)));
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
      if (options.preparedStatements !== false) preparingNamedStatements(client);
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
  // The primary-key reads of an OU asked for in one turn share one statement (postgres-batched-reads.ts).
  readDirectlyThrough(
    db,
    pgBatchedReads(
      async (text, parameters) => (await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, [...parameters]))).rows,
      (error) => options.onBackgroundError?.(error, 'PostgreSQL refused a batched read; the reads of its statement are sent one by one from now on'),
    ),
  );
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
  healthPool.on('error', (error) => idleConnectionFailed(error));
  healthPool.on('connect', (client) => client.on('error', (error) => idleConnectionFailed(error)));
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
    lockedStatement: groupingByLock(async (lock, queries) => {
      const client = await telling.connect();
      let broken: Error | undefined;
      try {
        const message = `begin; select pg_advisory_xact_lock(hashtextextended(${pgLiteral(lock)}, 0)); ${queries.map(inlineParameters).join('; ')}; commit`;
        const results = (await client.query(message)) as unknown as pg.QueryResult[];
        return queries.map((_, i) => results[2 + i].rows);
      } catch (error) {
        // The message stopped at the failing statement, inside its open transaction.
        await client.query('rollback').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.release(broken);
      }
    }),
    snapshot: (fn) => db.transaction().setIsolationLevel('repeatable read').execute(fn),
    longSnapshot: (fn) => db.transaction().setIsolationLevel('repeatable read').execute(fn),
    insertMany: (trx, table, columns, rows) => {
      // Outside a transaction each batch would commit alone.
      if (!trx.isTransaction) return Promise.reject(new Error('insertMany runs inside a transaction of its store'));
      return insertValues(trx, table, columns, rows);
    },
    // autovacuum keeps PostgreSQL's statistics.
    optimize: async () => {},
    healthDb,
    probeWrite: () => probeWrite((fn) => healthDb.transaction().execute(fn)),
    poolStats: () => ({ size: pool.totalCount, max, inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      await healthDb.destroy();
      await db.destroy();
    },
  };
}
