import { LRUCache } from 'lru-cache';

const noop = () => {};

/** Most keys one rank index holds: its step is the listing's length / RANK_KEYS, rounded up. */
export const RANK_KEYS = 8192;

/**
 * Pages of an unfiltered listing that start this far in or less are read with OFFSET (and pages
 * past the middle from the end): skipping a thousand index entries costs less than building an
 * index would. A filtered listing (a search) steps over many non-matching rows per row it skips,
 * so it uses its index from page 2 on.
 */
export const RANK_MIN_OFFSET = 1024;

/** The step of a rank index of a listing of `total` rows: at most `maxKeys` keys. */
export function rankStep(total: number, maxKeys = RANK_KEYS): number {
  return Math.max(1, Math.ceil(total / maxKeys));
}

interface Entry {
  version: number;
  step: number;
  anchors: string[];
}

/** Where to start reading a page: after the key `after` (none: from the start), skipping `skip` rows. */
export interface RankSeek {
  after?: string;
  skip: number;
}

/**
 * The row at `offset`, found in a rank index: the anchor that closes the block before it, then
 * fewer than `step` rows skipped. `anchors[i]` is the key of row (i + 1) × step (1-based).
 */
export function seekFor(anchors: readonly string[], offset: number, step: number): RankSeek {
  const blocks = Math.min(Math.floor(offset / step), anchors.length);
  if (blocks === 0) return { skip: offset };
  return { after: anchors[blocks - 1], skip: offset - blocks * step };
}

/**
 * Sparse rank indexes of long listings, kept per instance. B-trees have no ranks, so page N of a
 * listing is an OFFSET that steps over (N - 1) × per_page index entries; with every step-th key
 * at hand it is a seek and fewer than `step` steps. An index is valid for one version of the
 * listing's rows (a counter every write to them raises, read in the same snapshot as the page):
 * a page read through it is the page OFFSET would read at that version. One entry per listing,
 * replaced by a newer version; building is shared by concurrent requests.
 */
export class RankIndexes {
  private readonly kept: LRUCache<string, Entry>;
  private readonly building = new Map<string, Promise<string[]>>();
  private readonly buildingAside = new Map<string, { done: Promise<string[]>; startedFor: number }>();

  /**
   * `maxKeys`: keys per index (its step follows); `minOffset`: an unfiltered listing's pages up
   * to this offset are read without one. Tests pass small values to use them on short listings.
   */
  constructor(
    readonly maxKeys = RANK_KEYS,
    readonly minOffset = RANK_MIN_OFFSET,
    keptChars = 4_000_000,
  ) {
    // Sized by key characters (~2 bytes each): the default keeps about 8 MB of anchors, a dozen
    // indexes of listings of a million rows.
    this.kept = new LRUCache<string, Entry>({
      max: 10_000,
      maxSize: keptChars,
      sizeCalculation: (entry) => entry.anchors.reduce((sum, key) => sum + key.length + 8, 16),
    });
  }

  /** The anchors kept for `listing` at `version` and `step`, if any: never waits for a build. */
  keptAt(listing: string, version: number, step: number): string[] | undefined {
    const entry = this.kept.get(listing);
    return entry?.version === version && entry.step === step ? entry.anchors : undefined;
  }

  /**
   * Starts `build` unless one of `listing` is running already, for a request at `version`. The
   * build reads in a snapshot of its own (a read aside, Store.readAside) and says which version it
   * read; its anchors are kept under that version, so a request at any other version never uses
   * them (`keptAt`). A build that fails leaves nothing: the next request that misses starts another.
   * `built` settles (never rejecting) when the build ends; `worthWaiting` says whether it may serve
   * a request at `version`: one started for another version reads at a version that is not this
   * one, or may be, and is not worth waiting for.
   */
  buildAside(listing: string, version: number, step: number, build: () => Promise<{ version: number; anchors: string[] }>): { built: Promise<void>; worthWaiting: boolean } {
    const flight = `aside\u0000${listing}`;
    const running = this.buildingAside.get(flight);
    if (running) return { built: running.done.then(noop, noop), worthWaiting: running.startedFor === version };
    const done = build()
      .then(({ version: read, anchors }) => {
        const current = this.kept.get(listing);
        if (!current || current.version <= read) this.kept.set(listing, { version: read, step, anchors });
        return anchors;
      })
      .finally(() => {
        this.buildingAside.delete(flight);
        this.building.delete(flight);
      });
    this.buildingAside.set(flight, { done, startedFor: version });
    // Counted with the other builds, so that settled() waits for it too.
    this.building.set(flight, done);
    return { built: done.then(noop, noop), worthWaiting: true };
  }

  /** Settles when no build is running (tests). */
  async settled(): Promise<void> {
    while (this.building.size > 0) await Promise.allSettled([...this.building.values()]);
  }

  /** The anchors of `listing` at `version` and `step`, built with `build` (in the caller's snapshot) when not kept. */
  async anchors(listing: string, version: number, step: number, build: () => Promise<string[]>): Promise<string[]> {
    const entry = this.kept.get(listing);
    if (entry?.version === version && entry.step === step) return entry.anchors;
    const flight = `${version}\u0000${step}\u0000${listing}`;
    const pending = this.building.get(flight);
    if (pending) return pending;
    const built = build().finally(() => this.building.delete(flight));
    this.building.set(flight, built);
    const anchors = await built;
    // An older snapshot finishing late never replaces a newer version's index.
    const current = this.kept.get(listing);
    if (!current || current.version <= version) this.kept.set(listing, { version, step, anchors });
    return anchors;
  }
}
