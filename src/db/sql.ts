import { hash } from 'node:crypto';
import { type Compilable, CompiledQuery, type Kysely, PostgresAdapter, type RawBuilder, sql } from 'kysely';
import type { Database } from './schema.js';
import type { Dialect } from './store.js';

/** The dialect a Kysely instance speaks (migrations use it for the few differences). */
export function dialectOf(db: { getExecutor(): { adapter: unknown } }): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
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

/**
 * `column` lies in one of the subtrees whose roots have `idPaths` (none: nothing matches). The
 * caller passes roots none of which lies below another (access.ts), so the ranges are disjoint.
 */
export function inAnySubtree(column: string, idPaths: readonly string[]): RawBuilder<boolean> {
  if (idPaths.length === 0) return sql<boolean>`1 = 0`;
  if (idPaths.length === 1) return inSubtree(column, idPaths[0]);
  return sql<boolean>`(${sql.join(idPaths.map((p) => inSubtree(column, p)), sql` or `)})`;
}

/**
 * `column` (an OU path) lies in one of the subtrees whose roots have `paths`: the root's own
 * path, or the range [`/A/B/`, `/A/B0`) below it (names contain no '/'). Lists ordered by path
 * filter on the same index they are ordered by.
 */
export function inAnyPathSubtree(column: string, paths: readonly string[]): RawBuilder<boolean> {
  if (paths.length === 0) return sql<boolean>`1 = 0`;
  // One index range [p, p0) and a residual test inside it: `p = x or p/ <= x` alone made SQLite
  // scan the tenant's whole range of the index (the OR hides the range from the planner).
  const one = (p: string) =>
    sql<boolean>`(${sql.ref(column)} >= ${p} and ${sql.ref(column)} < ${`${p}0`} and (${sql.ref(column)} = ${p} or ${sql.ref(column)} >= ${`${p}/`}))`;
  return paths.length === 1 ? one(paths[0]) : sql<boolean>`(${sql.join(paths.map(one), sql` or `)})`;
}

/**
 * The first or last seq of a tenant's change feed, as a subquery: one seek of the events' primary
 * key. Alone in its SELECT: beside another aggregate, min() or max() reads the tenant's whole
 * range instead. `tenantId` is a value, or a column of the outer query (`sql.ref('tenants.id')`).
 */
export function seqBound(tenantId: string | RawBuilder<unknown>, bound: 'min' | 'max'): RawBuilder<number | null> {
  return bound === 'max'
    ? sql<number | null>`(select max(seq) from events where tenant_id = ${tenantId})`
    : sql<number | null>`(select min(seq) from events where tenant_id = ${tenantId})`;
}

/**
 * Whether `query` (a SELECT) finds a row. The dispatcher's claims look before they write on
 * SQLite: there an UPDATE is a write transaction of its own even when it changes nothing (the
 * write lock, a commit), and the claims run after every commit that wrote events: with no
 * webhook due, they were 230 of a create's 1,300 us (in-process, the benchmark store).
 */
export async function anyRow(db: Kysely<Database>, query: RawBuilder<unknown>): Promise<boolean> {
  const { rows } = await sql<{ found: number }>`select exists (${query}) as found`.execute(db);
  return Number(rows[0]?.found ?? 0) !== 0;
}

/**
 * PostgreSQL statements (by text) that postgres-store.ts runs as named prepared statements:
 * parsed and planned once per connection instead of on every call. Only compiledOnce's, whose
 * text is fixed and whose result is not `*` (a prepared `select *` fails after a migration adds
 * a column, which an instance still running old code would meet during a rolling upgrade).
 */
export const preparedStatementNames = new Map<string, string>();

/**
 * Runs a read of compiledOnce's (its SQL text and parameters) outside Kysely's executor, as a
 * store chooses: those asked for in one event-loop turn together, in one read transaction on
 * SQLite's connection (sqlite-store.ts's `batchedReads`), in one statement per text on
 * PostgreSQL (postgres-batched-reads.ts).
 */
export type DirectRead = (sqlText: string, parameters: readonly unknown[]) => Promise<unknown[]>;
const directReads = new WeakMap<object, DirectRead>();

/** Lets compiledOnce's reads marked `batched` on the handle `db` (not on its transactions) go through `read`. */
export function readDirectlyThrough(db: Kysely<Database>, read: DirectRead): void {
  directReads.set(db, read);
}

/**
 * A query Kysely builds and compiles once per dialect, then runs with each call's values.
 * Kysely builds and compiles every query anew, which on SQLite costs more than running a
 * one-row insert; for the statements every write runs, compiling once pays (docs/benchmarks.md).
 * On PostgreSQL the statement is also prepared once per connection (preparedStatementNames).
 * `build` receives a stand-in for each named value and must use each where the value goes;
 * any other parameter of the query is a constant of it.
 */
export function compiledOnce<N extends string, R>(
  names: readonly N[],
  build: (db: Kysely<Database>, values: Record<N, string>) => Compilable<R>,
  options: {
    /**
     * A read that a store may run with others of the same moment, outside Kysely's executor
     * (readDirectlyThrough): never a write, and nothing a caller needs to run before its next
     * statement within one transaction (a transaction's handle never takes that path). Its
     * rows may come in any order; PostgreSQL batches it only with string values, each standing
     * where a `text` value is accepted (they are passed as text arrays).
     */
    batched?: boolean;
  } = {},
) {
  // Per parameter of the compiled query: the name of the value that goes there, or the
  // constant the query itself holds (a `+ 1`).
  type Slot = { name: N } | { constant: unknown };
  const compiledFor = new Map<Dialect, { sql: string; slots: Slot[] }>();
  return async (db: Kysely<Database>, values: Record<N, unknown>): Promise<R[]> => {
    const dialect = dialectOf(db);
    let compiled = compiledFor.get(dialect);
    if (compiled === undefined) {
      const standIns = Object.fromEntries(names.map((name) => [name, `\u0000${name}\u0000`])) as Record<N, string>;
      // Without the handle's plugins: the text is shared by every later caller, whatever their handle.
      const query = build(db.withoutPlugins(), standIns).compile();
      const slots = query.parameters.map((parameter): Slot => {
        const name = names.find((n) => standIns[n] === parameter);
        return name === undefined ? { constant: parameter } : { name };
      });
      const unused = names.filter((name) => !slots.some((slot) => 'name' in slot && slot.name === name));
      if (unused.length > 0) throw new Error(`compiledOnce: ${unused.join(', ')} not used by ${query.sql}`);
      compiled = { sql: query.sql, slots };
      compiledFor.set(dialect, compiled);
      if (dialect === 'postgres') preparedStatementNames.set(query.sql, `arbor_${hash('sha1', query.sql, 'hex').slice(0, 16)}`);
    }
    const parameters = compiled.slots.map((slot) => ('name' in slot ? values[slot.name] : slot.constant));
    const direct = options.batched ? directReads.get(db) : undefined;
    if (direct !== undefined) return (await direct(compiled.sql, parameters)) as R[];
    const result = await db.executeQuery<R>(CompiledQuery.raw(compiled.sql, parameters));
    return result.rows;
  };
}

/**
 * Inserts `rows` as multi-row INSERTs written by hand (Store.insertMany on PostgreSQL). Batches
 * stay under both stores' parameter limits (SQLite 32,766, PostgreSQL 65,535).
 */
export async function insertValues<R extends object>(trx: Kysely<Database>, table: string, columns: readonly (keyof R & string)[], rows: readonly R[]): Promise<void> {
  const postgres = dialectOf(trx) === 'postgres';
  const size = Math.floor(30_000 / columns.length);
  const head = `insert into ${table} (${columns.map((c) => `"${c}"`).join(', ')}) values `;
  for (let i = 0; i < rows.length; i += size) {
    const batch = rows.slice(i, i + size);
    const parameters: unknown[] = [];
    const tuples: string[] = [];
    for (const row of batch) {
      const marks: string[] = [];
      for (const column of columns) {
        parameters.push((row as Record<string, unknown>)[column]);
        marks.push(postgres ? `$${parameters.length}` : '?');
      }
      tuples.push(`(${marks.join(', ')})`);
    }
    await trx.executeQuery(CompiledQuery.raw(head + tuples.join(', '), parameters));
  }
}
