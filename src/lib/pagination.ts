import { decodeCursor, encodeCursor } from './cursor.js';
import { type RankIndexes, rankStep, seekFor } from './rank-index.js';

export interface PageRequest {
  page: number;
  per_page: number;
  /** A `next_cursor` of the listing: resume after its last row (then `page` is ignored). */
  cursor?: string | null;
}

export interface Page<T> {
  items: T[];
  pagination: { page: number; per_page: number; total_items: number; total_pages: number };
  /** The tenant's last event seq the page reflects (read in the same snapshot), where a listing says. */
  eventSeq?: number;
  /** Resumes after this page's last row; null on the last page. */
  nextCursor: string | null;
}

export function offsetOf(request: PageRequest): number {
  return (request.page - 1) * request.per_page;
}

export function toPage<T>(items: T[], total: number, request: PageRequest, at: { page: number; nextCursor: string | null } = { page: request.page, nextCursor: null }): Page<T> {
  return {
    items,
    nextCursor: at.nextCursor,
    pagination: {
      page: at.page,
      per_page: request.per_page,
      total_items: total,
      total_pages: Math.ceil(total / request.per_page),
    },
  };
}

/** The rows of a page as a query reads them: `limit` rows after `offset`, in one direction. */
export interface PageWindow {
  limit: number;
  offset: number;
  /** Read in reverse order (the caller reverses the rows back). */
  descending: boolean;
  /** Only rows whose sort key is greater than this (never with `descending`). */
  after?: string;
}

/**
 * Where to read a page: forwards from the start, or, when the page lies past the middle and the
 * total is known, backwards from the end. An OFFSET costs one index step per skipped row, so a
 * deep page then costs what an early one does; the worst page is the middle one.
 * Returns null when the page lies wholly past the end.
 */
export function pageWindow(request: PageRequest, total: number): PageWindow | null {
  const offset = offsetOf(request);
  if (offset >= total) return null;
  if (offset + request.per_page / 2 <= total / 2) return { limit: request.per_page, offset, descending: false };
  const limit = Math.min(request.per_page, total - offset);
  return { limit, offset: total - offset - limit, descending: true };
}

/** Runs `read` for the window (none: no rows) and returns the rows in ascending order. */
export async function readWindow<T>(window: PageWindow | null, read: (window: PageWindow) => Promise<T[]>): Promise<T[]> {
  if (window === null) return [];
  const rows = await read(window);
  return window.descending ? rows.reverse() : rows;
}

/**
 * Reads one page of a listing whose total was read beforehand (a maintained count). That
 * total can be stale by a write that committed in between: a backward read that comes up short
 * means rows went away and its offset no longer points at this page, so the page is read
 * again forwards, as it is now.
 */
export async function readPage<T>(request: PageRequest, total: number, read: (window: PageWindow) => Promise<T[]>): Promise<T[]> {
  const window = pageWindow(request, total);
  const rows = await readWindow(window, read);
  if (window?.descending && rows.length < window.limit) return read({ limit: request.per_page, offset: offsetOf(request), descending: false });
  return rows;
}

/** A listing as readListing pages it: rows ordered by a unique string key. */
export interface Listing<R> {
  /** What the listing is (kind, tenant, filters): a cursor is bound to it, a rank index kept per it. */
  id: readonly unknown[];
  /** Its length (a maintained count or one counted in the page's snapshot). */
  total: number;
  keyOf(row: R): string;
  /** Rows in key order; must honour every field of the window, `after` included. */
  read(window: PageWindow): Promise<R[]>;
  /**
   * For long listings: a rank index for deep page numbers, valid at `version` (a counter that
   * every write to the listing's rows raises, read in the same snapshot), and how to build it:
   * the keys of rows `step`, 2 × `step`, … (1-based), in order.
   */
  ranks?: {
    cache: RankIndexes;
    version: number;
    build(step: number): Promise<string[]>;
    /**
     * Where the store can read off the event loop (a SQLite file): the same keys read in a
     * snapshot of their own, with the version they are of. A page that finds no index of its
     * version waits for the build outside its snapshot (RankIndexBuilding), then reads again; it
     * reads without one with `offsetWhileBuilding`, or when the build running was started for an
     * older version.
     */
    buildAside?(step: number): Promise<{ version: number; anchors: string[] }>;
    /**
     * Which of several reads of the same listing `build` is (a subtree holding every placed user
     * is read from all placed users): the index is kept per kind. A build aside reads a later
     * version than the one its kind was chosen at, where the other kind may be the right one.
     */
    kind?: string;
    /**
     * With `buildAside`, when no index is kept at `version`: false (default), readListing throws
     * RankIndexBuilding, so that the caller waits for the build outside its snapshot (which, on
     * SQLite, holds the process's one connection) and reads again; true, the page is read without.
     */
    offsetWhileBuilding?: boolean;
    /**
     * Only an index kept at `version` is used, none built: a page that needs one throws
     * RankIndexNotKept (a page read with no transaction, whose caller then reads it in a snapshot).
     */
    keptOnly?: boolean;
    /** A filtered listing (a search) uses its index from page 2 on: 0. Default: the cache's. */
    minOffset?: number;
  };
  /** Its query reads forwards only (short listings): a page number is then always an OFFSET. */
  forwardOnly?: boolean;
}

/**
 * One page of a listing, by page number or by cursor, with the cursor of the next page.
 * A cursor is a keyset seek (`key > last`): walking a whole listing costs its length. A page
 * number deep in a long listing seeks through the rank index; near either end it is an OFFSET.
 */
export async function readListing<R>(request: PageRequest, listing: Listing<R>): Promise<Page<R>> {
  const { per_page } = request;
  const next = (rows: R[], offset: number, more: boolean) =>
    more && rows.length > 0 ? encodeCursor(listing.id, { after: listing.keyOf(rows[rows.length - 1]), offset: offset + rows.length }) : null;
  if (request.cursor) {
    const position = decodeCursor(listing.id, request.cursor);
    const rows = await listing.read({ limit: per_page + 1, offset: 0, descending: false, after: position.after });
    const more = rows.length > per_page;
    if (more) rows.length = per_page;
    const page = Math.floor(position.offset / per_page) + 1;
    return toPage(rows, listing.total, request, { page, nextCursor: next(rows, position.offset, more) });
  }
  const offset = offsetOf(request);
  const window = pageWindow(request, listing.total);
  let rows: R[];
  // A filtered listing (minOffset 0) seeks for any page past the first, its last page included:
  // read backwards, the last page of a search also steps over every OU that does not match.
  const minOffset = listing.ranks?.minOffset ?? listing.ranks?.cache.minOffset ?? 0;
  if (window !== null && listing.ranks && (minOffset === 0 ? offset > 0 : window.offset > minOffset)) {
    rows = await readRanked(request, listing, listing.ranks);
  } else if (listing.forwardOnly) {
    rows = await listing.read({ limit: per_page, offset, descending: false });
  } else {
    rows = await readPage(request, listing.total, listing.read);
  }
  return toPage(rows, listing.total, request, { page: request.page, nextCursor: next(rows, offset, rows.length === per_page && offset + per_page < listing.total) });
}

/**
 * Thrown by readListing when the listing's rank index is being built aside: wait for `built`
 * (it never rejects) outside the snapshot, then read again, with `offsetWhileBuilding` in case a
 * write came in between and the index is of another version.
 */
export class RankIndexBuilding extends Error {
  constructor(readonly built: Promise<void>) {
    super('a rank index is being built aside');
  }
}

/** Thrown by readListing when a page needs a rank index that is not kept and the listing is `keptOnly`. */
export class RankIndexNotKept extends Error {
  constructor() {
    super('no rank index is kept at this version');
  }
}

/** The page at `offset` through the listing's rank index; without one when it is being built aside. */
async function readRanked<R>(request: PageRequest, listing: Listing<R>, ranks: NonNullable<Listing<R>['ranks']>): Promise<R[]> {
  const { cache, version, build, buildAside } = ranks;
  const offset = offsetOf(request);
  const step = rankStep(listing.total, cache.maxKeys);
  const id = JSON.stringify(ranks.kind === undefined ? listing.id : [...listing.id, ranks.kind]);
  let anchors: string[] | undefined;
  if (ranks.keptOnly) {
    anchors = cache.keptAt(id, version, step);
    if (!anchors) throw new RankIndexNotKept();
  } else if (buildAside) {
    anchors = cache.keptAt(id, version, step);
    if (!anchors) {
      const { built, worthWaiting } = cache.buildAside(id, version, step, () => buildAside(step));
      // A build for an older version (writes keep coming): this page is read without an index.
      if (!ranks.offsetWhileBuilding && worthWaiting) throw new RankIndexBuilding(built);
    }
  } else {
    anchors = await cache.anchors(id, version, step, () => build(step));
  }
  if (!anchors) return readPage(request, listing.total, listing.read);
  const seek = seekFor(anchors, offset, step);
  // No more than the rows left: at the version the index was built for the total is exact, and
  // a filtered read that asked for more would scan the rest of the index for matches that are
  // not there (a search's last page: p99 64 ms at 16 clients).
  const limit = Math.min(request.per_page, listing.total - offset);
  return limit <= 0 ? [] : listing.read({ limit, offset: seek.skip, descending: false, ...(seek.after === undefined ? {} : { after: seek.after }) });
}
