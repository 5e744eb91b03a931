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

/** The kinds of store outage, a fixed set: metrics count them by kind. */
export const STORE_ERROR_KINDS = [
  'disk_full',
  'read_only',
  'io_error',
  'cannot_open',
  'busy',
  'unreachable',
  'connection_closed',
  'resources',
  'read_only_server',
  'credentials',
] as const;
export type StoreErrorKind = (typeof STORE_ERROR_KINDS)[number];

/** The kind of outage `error` says the store has, else null: a bug or a bad request is not an outage. */
export function storeErrorKind(error: unknown): StoreErrorKind | null {
  if (!(error instanceof Error)) return null;
  const code = String((error as { code?: unknown }).code ?? '');
  if (code === 'SQLITE_FULL') return 'disk_full';
  if (code.startsWith('SQLITE_READONLY')) return 'read_only';
  if (code.startsWith('SQLITE_IOERR')) return 'io_error';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'cannot_open';
  if (code.startsWith('SQLITE_BUSY')) return 'busy';
  if (UNREACHABLE_NETWORK_CODES.has(code) || LOST_CONNECTION.test(error.message)) return 'unreachable';
  // SQLSTATE classes: 08 connection exception, 53 insufficient resources (disk full, out of
  // memory, too many connections), 57P0x the server is shutting down or starting.
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code)) return 'connection_closed';
  if (/^53/.test(code)) return 'resources';
  // A primary demoted to a read-only standby during a failover; credentials rotated under us.
  if (code === '25006') return 'read_only_server';
  if (code === '28P01' || code === '28000') return 'credentials';
  return null;
}

const OUTAGE_REASONS: Record<Exclude<StoreErrorKind, 'resources'>, string> = {
  disk_full: 'the disk holding the SQLite file is full',
  read_only: 'the SQLite file or its folder is read-only',
  io_error: 'the disk holding the SQLite file reported an I/O error',
  cannot_open: 'the SQLite file cannot be opened',
  busy: 'another process has held the SQLite write lock for longer than 5 s',
  unreachable: 'PostgreSQL cannot be reached',
  connection_closed: 'PostgreSQL closed the connection or is not accepting connections',
  read_only_server: 'PostgreSQL accepts no writes (a read-only server: a failover in progress?)',
  credentials: 'PostgreSQL refuses the credentials in DATABASE_URL',
};

/**
 * Why the store cannot serve right now, when `error` says so (in words for the 503's detail),
 * else null: a bug or a bad request is not an outage.
 */
export function storeUnavailableReason(error: unknown): string | null {
  const kind = storeErrorKind(error);
  if (kind === null) return null;
  return kind === 'resources' ? `PostgreSQL lacks resources (${(error as Error).message})` : OUTAGE_REASONS[kind];
}

/** True when `error` is the store refusing a duplicate in a unique index. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
