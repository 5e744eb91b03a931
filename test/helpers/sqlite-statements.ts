import SqliteDatabase from 'better-sqlite3';

/**
 * better-sqlite3's Statement prototype: every statement a SQLite store runs goes through its
 * `run` (no rows) or `all` (rows), with the statement as `this` and its SQL as `this.source`.
 * Spied on (vi.spyOn), it tells which statements ran; `statementSources` reads them back.
 */
export const sqliteStatementPrototype = (() => {
  const probe = new SqliteDatabase(':memory:');
  const prototype = Object.getPrototypeOf(probe.prepare('select 1')) as { run: (...args: unknown[]) => unknown; all: (...args: unknown[]) => unknown };
  probe.close();
  return prototype;
})();

/** The SQL of the statements a spy on sqliteStatementPrototype's methods saw, in call order per method. */
export function statementSources(...spies: { mock: { contexts: unknown[] } }[]): string[] {
  return spies.flatMap((spy) => spy.mock.contexts.map((statement) => (statement as { source: string }).source));
}
