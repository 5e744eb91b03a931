import { hash } from 'node:crypto';
import { RequestValidationError } from '../errors.js';

/** Where a cursor resumes: after the row whose sort key is `after`, which was row `offset - 1`. */
export interface CursorPosition {
  after: string;
  /** The number of rows before the resumed page (for `pagination.page`). */
  offset: number;
}

const VERSION = 1;

/**
 * A short digest of what a listing is (its kind, tenant and filters): a cursor carries it, so a
 * cursor taken from one listing is refused by another instead of silently paging the wrong rows.
 */
function listingTag(listing: readonly unknown[]): string {
  return hash('sha256', JSON.stringify(listing), 'base64url').slice(0, 12);
}

/**
 * An opaque `next_cursor`: base64url of the resume position and the listing's tag. Not signed:
 * a client that forges one can only resume some other place in a listing it may already read
 * (the query still filters by tenant and scope).
 */
export function encodeCursor(listing: readonly unknown[], position: CursorPosition): string {
  return Buffer.from(JSON.stringify([VERSION, listingTag(listing), position.after, position.offset])).toString('base64url');
}

function invalidCursor(msg: string): RequestValidationError {
  return new RequestValidationError([{ loc: ['query', 'cursor'], type: 'value_error.cursor', msg }]);
}

/** The position a cursor of `listing` resumes at; 422 for a cursor that is not one of this listing's. */
export function decodeCursor(listing: readonly unknown[], cursor: string): CursorPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 4 || parsed[0] !== VERSION) {
    throw invalidCursor('This is not a cursor Arbor issued. Pass the next_cursor of the previous page unchanged, or page with page= instead.');
  }
  const [, tag, after, offset] = parsed as unknown[];
  if (typeof after !== 'string' || !Number.isSafeInteger(offset) || (offset as number) < 1) {
    throw invalidCursor('This is not a cursor Arbor issued. Pass the next_cursor of the previous page unchanged, or page with page= instead.');
  }
  if (tag !== listingTag(listing)) {
    throw invalidCursor('This cursor belongs to another listing (other filters, tenant or OU). Start again without a cursor, or with the same filters as the page it came from.');
  }
  return { after, offset: offset as number };
}
