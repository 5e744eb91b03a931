/** Runs `write`; a unique-index refusal becomes `conflict()` (the database, not a prior read, enforces uniqueness). */
export async function onUniqueViolation<T>(write: () => Promise<T>, conflict: () => Error): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict();
    throw error;
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
