import { LRUCache } from 'lru-cache';

/** A rank index keeps the sort key of every RANK_STEP-th row of a listing. */
export const RANK_STEP = 256;

/**
 * Pages that start this far in or less are read with OFFSET (and pages past the middle from the
 * end): skipping a few thousand index entries costs less than building an index would.
 */
export const RANK_MIN_OFFSET = 4 * RANK_STEP;

interface Entry {
  version: number;
  anchors: string[];
}

/** Where to start reading a page: after the key `after` (none: from the start), skipping `skip` rows. */
export interface RankSeek {
  after?: string;
  skip: number;
}

/**
 * The row at `offset`, found in a rank index: the anchor that closes the block before it, then
 * fewer than RANK_STEP rows skipped. `anchors[i]` is the key of row (i + 1) × RANK_STEP (1-based).
 */
export function seekFor(anchors: readonly string[], offset: number, step = RANK_STEP): RankSeek {
  const blocks = Math.min(Math.floor(offset / step), anchors.length);
  if (blocks === 0) return { skip: offset };
  return { after: anchors[blocks - 1], skip: offset - blocks * step };
}

/**
 * Sparse rank indexes of long listings, kept per instance. B-trees have no ranks, so page N of a
 * listing is an OFFSET that steps over (N - 1) × per_page index entries; with every RANK_STEP-th
 * key at hand it is a seek and fewer than RANK_STEP steps. An index is valid for one version of
 * the listing's rows (a counter every write to them raises, read in the same snapshot as the
 * page): a page read through it is the page OFFSET would read at that version. One entry per
 * listing, replaced by a newer version; building is shared by concurrent requests.
 */
export class RankIndexes {
  private readonly kept: LRUCache<string, Entry>;
  private readonly building = new Map<string, Promise<string[]>>();

  /**
   * `step`: keys kept per index (every step-th); `minOffset`: a page starting this far in or less
   * is read without one. Tests use small values to exercise the index on short listings.
   */
  constructor(
    readonly step = RANK_STEP,
    readonly minOffset = RANK_MIN_OFFSET,
    maxKeys = 2_000_000,
  ) {
    // Sized by key characters (~2 bytes each): the default keeps about 4 MB of anchors.
    this.kept = new LRUCache<string, Entry>({
      max: 10_000,
      maxSize: maxKeys,
      sizeCalculation: (entry) => entry.anchors.reduce((sum, key) => sum + key.length + 8, 16),
    });
  }

  /** The anchors of `listing` at `version`, built with `build` (in the caller's snapshot) when not kept. */
  async anchors(listing: string, version: number, build: () => Promise<string[]>): Promise<string[]> {
    const entry = this.kept.get(listing);
    if (entry?.version === version) return entry.anchors;
    const flight = `${version}\u0000${listing}`;
    let pending = this.building.get(flight);
    if (!pending) {
      pending = build().finally(() => this.building.delete(flight));
      this.building.set(flight, pending);
      const anchors = await pending;
      // An older snapshot finishing late never replaces a newer version's index.
      const current = this.kept.get(listing);
      if (!current || current.version < version) this.kept.set(listing, { version, anchors });
      return anchors;
    }
    return pending;
  }
}
