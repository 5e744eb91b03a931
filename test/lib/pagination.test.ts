import { describe, expect, it } from 'vitest';
import { type PageWindow, RankIndexNotKept, offsetOf, pageWindow, readListing, readWindow, toPage, readPage } from '../../src/lib/pagination.js';
import { RankIndexes } from '../../src/lib/rank-index.js';

/*
 * pageWindow(request, total) says where a page is read: forwards from the start, or, past the
 * middle of a listing whose total is known, backwards from the end (the caller reads
 * ORDER BY … DESC and readWindow reverses the rows back). null: the page lies wholly past the end.
 */

/** What a query does with a window over `items` (already in ascending order). */
function simulatedRead<T>(items: T[], window: PageWindow): T[] {
  const ordered = window.descending ? [...items].reverse() : items;
  return ordered.slice(window.offset, window.offset + window.limit);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('pageWindow', () => {
  it('reads early pages forwards at offset (page - 1) * per_page with limit per_page', () => {
    expect(pageWindow({ page: 1, per_page: 20 }, 1000)).toEqual({ limit: 20, offset: 0, descending: false });
    expect(pageWindow({ page: 2, per_page: 20 }, 1000)).toEqual({ limit: 20, offset: 20, descending: false });
    expect(pageWindow({ page: 10, per_page: 3 }, 100)).toEqual({ limit: 3, offset: 27, descending: false });
  });

  it('reads a page whose centre is at or before the middle forwards, the next one backwards', () => {
    // total 10, per_page 5: page 1 covers [0, 5), its centre 2.5 before the middle 5.
    expect(pageWindow({ page: 1, per_page: 5 }, 10)).toEqual({ limit: 5, offset: 0, descending: false });
    expect(pageWindow({ page: 2, per_page: 5 }, 10)).toEqual({ limit: 5, offset: 0, descending: true });
    // total 10, per_page 2: page 3 covers [4, 6), centred on the middle: forwards.
    expect(pageWindow({ page: 3, per_page: 2 }, 10)).toEqual({ limit: 2, offset: 4, descending: false });
    expect(pageWindow({ page: 4, per_page: 2 }, 10)).toEqual({ limit: 2, offset: 2, descending: true });
  });

  it('reads pages past the middle backwards at offset total - offset - per_page', () => {
    // total 1000, per_page 20, page 40 covers [780, 800): 200 rows after it.
    expect(pageWindow({ page: 40, per_page: 20 }, 1000)).toEqual({ limit: 20, offset: 200, descending: true });
    // The last full page of an exact multiple: nothing after it.
    expect(pageWindow({ page: 50, per_page: 20 }, 1000)).toEqual({ limit: 20, offset: 0, descending: true });
    // total 10, per_page 3, page 3 covers [6, 9): one row (9) after it.
    expect(pageWindow({ page: 3, per_page: 3 }, 10)).toEqual({ limit: 3, offset: 1, descending: true });
  });

  it('reads a last partial page backwards with limit = the rows left and offset 0', () => {
    // total 10, per_page 3, page 4 covers [9, 10): one row.
    expect(pageWindow({ page: 4, per_page: 3 }, 10)).toEqual({ limit: 1, offset: 0, descending: true });
    // total 1003, per_page 20, page 51 covers [1000, 1003).
    expect(pageWindow({ page: 51, per_page: 20 }, 1003)).toEqual({ limit: 3, offset: 0, descending: true });
  });

  it('reads a single page larger than the total backwards, limited to the total', () => {
    expect(pageWindow({ page: 1, per_page: 100 }, 7)).toEqual({ limit: 7, offset: 0, descending: true });
    expect(pageWindow({ page: 1, per_page: 2 }, 1)).toEqual({ limit: 1, offset: 0, descending: true });
  });

  it('returns null for a page wholly past the end', () => {
    expect(pageWindow({ page: 5, per_page: 3 }, 10)).toBeNull();
    expect(pageWindow({ page: 2, per_page: 10 }, 10)).toBeNull();
    expect(pageWindow({ page: 3, per_page: 5 }, 10)).toBeNull();
    expect(pageWindow({ page: 2_147_483_647, per_page: 100 }, 1000)).toBeNull();
  });

  it('returns null for every page when the total is 0', () => {
    for (const per_page of [1, 20, 100]) {
      for (const page of [1, 2, 1000]) expect(pageWindow({ page, per_page }, 0)).toBeNull();
    }
  });

  it('never skips more than max(0, (total - per_page) / 2) rows, and never reads a backward window past the start', () => {
    for (let total = 0; total <= 60; total++) {
      for (let per_page = 1; per_page <= 9; per_page++) {
        for (let page = 1; (page - 1) * per_page < total; page++) {
          const window = pageWindow({ page, per_page }, total);
          const label = `total ${total}, per_page ${per_page}, page ${page}`;
          expect(window, label).not.toBeNull();
          expect(window!.offset, label).toBeGreaterThanOrEqual(0);
          expect(window!.offset, label).toBeLessThanOrEqual(Math.max(0, (total - per_page) / 2));
          expect(window!.limit, label).toBeGreaterThan(0);
          expect(window!.limit, label).toBeLessThanOrEqual(per_page);
          if (window!.descending) expect(window!.offset + window!.limit, label).toBeLessThanOrEqual(total);
        }
      }
    }
  });
});

describe('readWindow', () => {
  it('returns the rows of a forward read as read', async () => {
    const rows = await readWindow({ limit: 3, offset: 2, descending: false }, async () => ['c', 'd', 'e']);
    expect(rows).toEqual(['c', 'd', 'e']);
  });

  it('reverses the rows of a descending read into ascending order', async () => {
    const rows = await readWindow({ limit: 3, offset: 1, descending: true }, async () => [8, 7, 6]);
    expect(rows).toEqual([6, 7, 8]);
  });

  it('passes the window to the read unchanged', async () => {
    const seen: PageWindow[] = [];
    const window: PageWindow = { limit: 4, offset: 9, descending: true };
    await readWindow(window, async (w) => {
      seen.push(w);
      return [];
    });
    expect(seen).toEqual([{ limit: 4, offset: 9, descending: true }]);
  });

  it('returns [] for a null window without reading', async () => {
    let reads = 0;
    const rows = await readWindow<number>(null, async () => {
      reads++;
      return [1];
    });
    expect(rows).toEqual([]);
    expect(reads).toBe(0);
  });
});

describe('pageWindow with readWindow', () => {
  it('gives exactly items.slice(offset, offset + per_page) for totals 0..40, per_page 1..7 and every page up to two past the end', async () => {
    let checked = 0;
    let backward = 0;
    for (let total = 0; total <= 40; total++) {
      const items = range(total);
      for (let per_page = 1; per_page <= 7; per_page++) {
        const lastPage = Math.ceil(total / per_page);
        for (let page = 1; page <= lastPage + 2; page++) {
          const request = { page, per_page };
          const window = pageWindow(request, total);
          if (window?.descending) backward++;
          const rows = await readWindow(window, async (w) => simulatedRead(items, w));
          const offset = offsetOf(request);
          expect(rows, `total ${total}, per_page ${per_page}, page ${page}: ${JSON.stringify(window)}`).toEqual(
            items.slice(offset, offset + per_page),
          );
          expect(window === null, `total ${total}, per_page ${per_page}, page ${page}`).toBe(offset >= total);
          const pagination = toPage(rows, total, request).pagination;
          expect(pagination.total_pages).toBe(lastPage);
          checked++;
        }
      }
    }
    // Both directions were exercised, not only one of them.
    expect(checked).toBeGreaterThan(1000);
    expect(backward).toBeGreaterThan(checked / 4);
  });

  it('gives the pages that concatenate to the whole listing, each exactly once', async () => {
    for (const total of [1, 2, 13, 23, 100, 101]) {
      const items = range(total);
      for (const per_page of [1, 2, 5, 7, 10, 100]) {
        const pages: number[] = [];
        for (let page = 1; page <= Math.ceil(total / per_page); page++) {
          pages.push(...(await readWindow(pageWindow({ page, per_page }, total), async (w) => simulatedRead(items, w))));
        }
        expect(pages, `total ${total}, per_page ${per_page}`).toEqual(items);
      }
    }
  });
});

describe('readPage with a total that went stale before the rows were read', () => {
  const listing = (items: number[]) => async (w: PageWindow) => {
    const ordered = w.descending ? [...items].reverse() : items;
    return ordered.slice(w.offset, w.offset + w.limit);
  };
  const now = Array.from({ length: 9 }, (_, i) => i);

  it('answers a page past the real end with no rows, although the stale total still covered it', async () => {
    // 30 rows counted, 21 deleted before the page was read: page 3 of 10 is past the end now.
    expect(await readPage({ page: 3, per_page: 10 }, 30, listing(now))).toEqual([]);
  });

  it('answers a later page with the rows at its offset now, read forwards', async () => {
    expect(await readPage({ page: 2, per_page: 5 }, 30, listing(now))).toEqual([5, 6, 7, 8]);
  });

  it('reads backwards, as pageWindow says, when the total is exact', async () => {
    const windows: PageWindow[] = [];
    const items = Array.from({ length: 30 }, (_, i) => i);
    const rows = await readPage({ page: 3, per_page: 10 }, 30, async (w) => {
      windows.push(w);
      return listing(items)(w);
    });
    expect(rows).toEqual(items.slice(20, 30));
    expect(windows).toEqual([{ limit: 10, offset: 0, descending: true }]);
  });
});

describe('readListing of a keptOnly listing (a page read with no transaction)', () => {
  const keys = range(40).map((i) => `k${String(i).padStart(2, '0')}`);
  const listing = (cache: RankIndexes, version: number, build: (step: number) => Promise<string[]>) => ({
    id: ['kept-only'],
    total: keys.length,
    keyOf: (key: string) => key,
    read: async (window: PageWindow) => simulatedRead(keys.filter((key) => window.after === undefined || key > window.after), window),
    ranks: { cache, version, build, keptOnly: true },
  });
  const everyStep = async (step: number) => keys.filter((_, i) => (i + 1) % step === 0);

  it('throws RankIndexNotKept for a page that needs an index not kept at its version, and builds none', async () => {
    const cache = new RankIndexes(8, 0);
    let builds = 0;
    await cache.anchors(JSON.stringify(['kept-only']), 1, 5, () => everyStep(5));

    await expect(readListing({ page: 3, per_page: 4 }, listing(cache, 2, async (step) => (builds++, everyStep(step))))).rejects.toBeInstanceOf(RankIndexNotKept);

    expect(builds).toBe(0);
    // A page read by OFFSET alone needs no index: the first page.
    expect((await readListing({ page: 1, per_page: 4 }, listing(cache, 2, everyStep))).items).toEqual(keys.slice(0, 4));
  });

  it('reads a deep page through the index kept at its version, equal to the OFFSET page', async () => {
    const cache = new RankIndexes(8, 0);
    await cache.anchors(JSON.stringify(['kept-only']), 1, 5, () => everyStep(5));
    const windows: PageWindow[] = [];
    for (let page = 2; page <= 10; page++) {
      const kept = listing(cache, 1, everyStep);
      const read = kept.read;
      kept.read = (window) => (windows.push(window), read(window));
      expect((await readListing({ page, per_page: 4 }, kept)).items, `page ${page}`).toEqual(keys.slice((page - 1) * 4, page * 4));
    }
    // Seeks: page 10 starts at row 36, after the anchor of row 35 (k34), skipping one row.
    expect(windows[windows.length - 1]).toEqual({ limit: 4, offset: 1, descending: false, after: 'k34' });
  });
});
