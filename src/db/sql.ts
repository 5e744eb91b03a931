import { PostgresAdapter, type RawBuilder, sql } from 'kysely';
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
