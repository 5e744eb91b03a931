export interface PageRequest {
  page: number;
  per_page: number;
}

export interface Page<T> {
  items: T[];
  pagination: { page: number; per_page: number; total_items: number; total_pages: number };
  /** The tenant's last event seq the page reflects (read in the same snapshot), where a listing says. */
  eventSeq?: number;
}

export function offsetOf(request: PageRequest): number {
  return (request.page - 1) * request.per_page;
}

export function toPage<T>(items: T[], total: number, request: PageRequest): Page<T> {
  return {
    items,
    pagination: {
      page: request.page,
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

/** The number of rows a page holds when `total` is exact. */
export function expectedRows(request: PageRequest, total: number): number {
  return Math.max(0, Math.min(request.per_page, total - offsetOf(request)));
}
