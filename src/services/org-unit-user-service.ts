import { LRUCache } from 'lru-cache';
import { pick } from '../db/repositories/index.js';
import type { OrgUnitForUserListing } from '../db/repositories/org-unit-repository.js';
import type { PageReadOptions, StampedUserRow, UserPageRow, UserRepository } from '../db/repositories/user-repository.js';
import { dialectOf } from '../db/sql.js';
import type { CompiledQuery } from 'kysely';
import { type Access, reachCovers } from './access.js';
import type { Store } from '../db/store.js';
import { type Listing, type Page, type PageRequest, RankIndexBuilding, RankIndexNotKept, readListing } from '../lib/pagination.js';
import { RankIndexes } from '../lib/rank-index.js';
import { ouNotFound } from './org-unit-rules.js';
import { notFoundIn } from './tenant-guard.js';
import { type UserResponseData, toUserResponse } from './user-service.js';

export interface OrgUnitUserServiceDeps {
  store: Pick<Store, 'db' | 'snapshot' | 'readAside'>;
  /** Largest subtree (in users) whose sorted ids are kept per instance; default SUBTREE_IDS_MAX. */
  subtreeIdsMax?: number;
  /** The rank indexes of deep pages (tests pass one with few keys, so short lists use it). */
  rankIndexes?: RankIndexes;
  /**
   * Whether a page is first read with no transaction (readWithoutSnapshot). Default: on
   * PostgreSQL, where it saves two or three round trips (A/B in docs/benchmarks.md); not on SQLite, whose
   * snapshot costs no round trip. Tests turn it on for both stores.
   */
  withoutSnapshot?: boolean;
}

/** Thrown through readListing when a page read with no transaction must be read in a snapshot. */
const READ_IN_SNAPSHOT = Symbol('the page must be read in a snapshot');

/** How usersListing's reads are made: in a snapshot, or each statement stamped with its version. */
interface Reading {
  users: UserRepository;
  /** Runs a page's read. */
  rows(read: (options: PageReadOptions) => Promise<StampedUserRow[]>): Promise<UserPageRow[]>;
  /** The subtree's sorted user ids at `version` (idsOfSubtree), gathered by `gather` if it may. */
  subtreeIds(key: string, version: number, gather: () => Promise<string[]>): Promise<string[]>;
  /** The listing's rank index at `version`: its keys' statement, run here or aside (SQLite). */
  ranks(version: number, build: (step: number) => Promise<string[]>, asideKeys: (step: number) => CompiledQuery, kind?: string): NonNullable<Listing<UserPageRow>['ranks']>;
}

/**
 * A subtree with at most this many users keeps its sorted user ids per instance (about 40 bytes
 * each): any page, or a cursor, is then a slice and one read by primary key. Larger subtrees
 * (the whole tenant, typically) page through a rank index instead.
 */
export const SUBTREE_IDS_MAX = 50_000;

/** What a page of an OU's users needs of the OU (usersListing), as read at `event_seq`. */
type ListedOu = Pick<OrgUnitForUserListing, 'id' | 'id_path' | 'event_seq' | 'user_count' | 'subtree_user_count' | 'placed_user_count'>;

/** How many OUs' users listings (direct and nested count apart) a service plans from their last read. */
export const OUS_LAST_READ = 10_000;

interface SubtreeIds {
  version: number;
  ids: string[];
}

/** The first index in sorted `ids` whose id is greater than `after`. */
function indexAfter(ids: readonly string[], after: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ids[middle] <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The users of an OU (the seventh endpoint of the OU contract): direct, or its whole subtree. */
export function createOrgUnitUserService({
  store,
  subtreeIdsMax = SUBTREE_IDS_MAX,
  rankIndexes = new RankIndexes(),
  withoutSnapshot = dialectOf(store.db) === 'postgres',
}: OrgUnitUserServiceDeps) {
  const direct = pick(store.db, ['orgUnits', 'users']);
  // One entry per OU, replaced by a newer version: at most 8 × SUBTREE_IDS_MAX ids (~16 MB) in all.
  const subtreeIds = new LRUCache<string, SubtreeIds>({ max: 1_000, maxSize: 8 * SUBTREE_IDS_MAX, sizeCalculation: (entry) => Math.max(1, entry.ids.length) });
  const building = new Map<string, Promise<string[]>>();
  // Per OU and kind (direct, nested), what a page needs of the OU as readWithoutSnapshot last
  // read it (about 200 bytes, not its attributes): its next page is planned from it. An entry is
  // trusted only through the seq its rows carry. The TTL bounds how long a page could be planned
  // from an OU that a write changed without appending an event (none does: each appends one).
  const lastRead = new LRUCache<string, ListedOu>({ max: OUS_LAST_READ, ttl: 60_000 });

  /**
   * The subtree's user ids in id order at `version` (the tenant's last event seq, which every
   * write raises): kept, or gathered from the subtree's OUs (in the caller's snapshot) and sorted.
   */
  async function idsOfSubtree(key: string, version: number, gather: () => Promise<string[]>): Promise<string[]> {
    const kept = subtreeIds.get(key);
    if (kept?.version === version) return kept.ids;
    const flight = `${version}\u0000${key}`;
    const pending = building.get(flight);
    if (pending) return pending;
    const build = gather()
      // Ids are ASCII: code-unit order is the database's order.
      .then((ids) => ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
      .finally(() => building.delete(flight));
    building.set(flight, build);
    const ids = await build;
    const current = subtreeIds.get(key);
    if (!current || current.version < version) subtreeIds.set(key, { version, ids });
    return ids;
  }

  /**
   * Where the store reads aside (a SQLite file), a users rank index is built there, with the
   * tenant's last event seq as its version: over a million users it took 0.55–1.3 s, which on the
   * event loop stopped every request of every tenant.
   */
  const readAside = store.readAside;
  const aside = (lastSeq: () => CompiledQuery, keys: (step: number) => CompiledQuery, offsetWhileBuilding: boolean) =>
    readAside
      ? {
          offsetWhileBuilding,
          buildAside: async (step: number) => {
            const [seq, rows] = (await readAside([lastSeq(), keys(step)])) as [{ seq: number | null }[], { id: string }[]];
            return { version: Number(seq[0]?.seq ?? 0), anchors: rows.map((row) => row.id) };
          },
        }
      : {};

  /**
   * The listing of the OU's users (direct, or its whole subtree) at the OU's version, its rows
   * read as `reading` says. Throws ouNotFound when the principal may not see the OU.
   */
  async function usersListing(access: Access, tenantId: string, ou: ListedOu, includeNested: boolean, reading: Reading): Promise<Listing<UserPageRow>> {
    const { users } = reading;
    // A scope is whole subtrees: a visible OU's users, nested ones too, are all visible.
    if (!reachCovers(access.reach('users:read'), ou.id_path)) throw ouNotFound(ou.id);
    const version = ou.event_seq;
    const id: readonly unknown[] = ['ou_users', tenantId, ou.id, includeNested];
    const keyOf = (row: UserPageRow) => row.id;
    // Both totals are maintained on the OU row: no count query.
    if (!includeNested) {
      return {
        id,
        total: ou.user_count,
        keyOf,
        read: (window) => reading.rows((options) => users.listInOu(tenantId, ou.id, window, options)),
        ranks: reading.ranks(version, (step) => users.rankKeysInOu(tenantId, ou.id, step), (step) => users.rankKeyQueries.inOu(tenantId, ou.id, step)),
      };
    }
    const total = ou.subtree_user_count;
    // A subtree holding every placed user (a single root, typically) is read in id order from
    // an index of all the tenant's placed users, rather than gathered from its OUs and sorted.
    // Its counts and that read are of one version: a user placed elsewhere meanwhile is in
    // neither, and counts that differ send the page the exact way below. Only for a principal
    // of the whole tenant: a subtree scope stays in the query, whatever a counter says.
    if (total > 0 && total === ou.placed_user_count && access.reach('users:read') === 'tenant') {
      return {
        id,
        total,
        keyOf,
        read: (window) => reading.rows((options) => users.listInSubtree(tenantId, ou.id_path, window, true, options)),
        ranks: reading.ranks(version, (step) => users.rankKeysPlaced(tenantId, step), (step) => users.rankKeyQueries.placed(tenantId, step), 'placed'),
      };
    }
    if (total <= subtreeIdsMax) {
      // Sorted ids of the subtree at this version: a page is a slice of them, whatever its number.
      const ids = await reading.subtreeIds(JSON.stringify([tenantId, ou.id]), version, () => users.idsInSubtree(tenantId, ou.id_path));
      return {
        id,
        total: ids.length,
        keyOf,
        read: (window) => {
          const start = (window.after === undefined ? 0 : indexAfter(ids, window.after)) + window.offset;
          const slice = ids.slice(start, start + window.limit);
          // No id, no row: the ids are of the listing's version already, nothing to read or stamp.
          return slice.length === 0 ? Promise.resolve([]) : reading.rows((options) => users.listByIds(tenantId, slice, options));
        },
        forwardOnly: true,
      };
    }
    return {
      id,
      total,
      keyOf,
      read: (window) => reading.rows((options) => users.listInSubtree(tenantId, ou.id_path, window, false, options)),
      ranks: reading.ranks(version, (step) => users.rankKeysInSubtree(tenantId, ou.id_path, step), (step) => users.rankKeyQueries.inSubtree(tenantId, ou.id_path, step), 'subtree'),
    };
  }

  /** One read of the users' page in one snapshot (listUsers says when `offsetWhileBuilding`). */
  async function readInSnapshot(access: Access, tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest, offsetWhileBuilding: boolean): Promise<Page<UserResponseData>> {
    return store.snapshot(async (db) => {
      const repos = pick(db, ['tenants', 'orgUnits', 'users', 'events']);
      // The OU with the tenant's last event seq, which every write raises: the version of the
      // rank indexes and id lists read below.
      const ou = await repos.orgUnits.getForUserListing(tenantId, id, includeNested);
      if (!ou) throw await notFoundIn(repos, tenantId, ouNotFound(id));
      const lastSeq = () => repos.events.lastSeqQuery(tenantId);
      const reading: Reading = {
        users: repos.users,
        rows: (read) => read({}),
        subtreeIds: idsOfSubtree,
        ranks: (version, build, asideKeys, kind) => ({
          cache: rankIndexes,
          version,
          build,
          ...(kind === undefined ? {} : { kind }),
          ...aside(lastSeq, asideKeys, offsetWhileBuilding),
        }),
      };
      const page = await readListing(pageRequest, await usersListing(access, tenantId, ou, includeNested, reading));
      return { ...page, items: page.items.map(toUserResponse), eventSeq: ou.event_seq };
    });
  }

  /**
   * The page's rows read with no transaction, from `ou` as read at its `event_seq`, each row
   * stamped with the tenant's last event seq by the same statement. Seqs follow commit order
   * (events.append) and every write raises them, so rows stamped with the OU's seq are of the
   * same version as the OU and its counts: no write of the tenant committed after it was read.
   * Undefined when a read's seq differs, when a read finds no row (it carries no seq), or when the
   * page needs a rank index or id list not kept at that version (building one takes the snapshot).
   * `stamped`: at least one row was read and checked.
   */
  async function readStamped(
    access: Access,
    tenantId: string,
    ou: ListedOu,
    includeNested: boolean,
    pageRequest: PageRequest,
  ): Promise<{ page: Page<UserResponseData>; stamped: boolean } | undefined> {
    let stamped = false;
    const reading: Reading = {
      users: direct.users,
      rows: async (read) => {
        const rows = await read({ withLastSeq: true });
        if (rows.length === 0 || rows.some((row) => Number(row.last_seq) !== ou.event_seq)) throw READ_IN_SNAPSHOT;
        stamped = true;
        return rows;
      },
      subtreeIds: async (key, version) => {
        const kept = subtreeIds.get(key);
        if (kept?.version !== version) throw READ_IN_SNAPSHOT;
        return kept.ids;
      },
      ranks: (version, build, _asideKeys, kind) => ({ cache: rankIndexes, version, build, keptOnly: true, ...(kind === undefined ? {} : { kind }) }),
    };
    try {
      const page = await readListing(pageRequest, await usersListing(access, tenantId, ou, includeNested, reading));
      return { page: { ...page, items: page.items.map(toUserResponse), eventSeq: ou.event_seq }, stamped };
    } catch (error) {
      if (error === READ_IN_SNAPSHOT || error instanceof RankIndexNotKept) return undefined;
      throw error;
    }
  }

  /**
   * The page read with no transaction (PostgreSQL: one or two round trips where a snapshot takes
   * four). First in one statement, the rows', planned from the OU as this service last read it:
   * kept when the rows carry that OU's seq (then the OU is unchanged), and only when a row was
   * read, since a page that reads none (past the end, an empty id slice) proves nothing. Else in
   * two: the OU with the tenant's last event seq, then the rows. Undefined, for listUsers to read
   * the page in a snapshot, when those fail too or the OU is not found.
   */
  async function readWithoutSnapshot(access: Access, tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest): Promise<Page<UserResponseData> | undefined> {
    const key = JSON.stringify([tenantId, id, includeNested]);
    const seen = lastRead.get(key);
    // A principal the OU as last read is hidden from reads it as it is now: it may have moved in.
    if (seen && reachCovers(access.reach('users:read'), seen.id_path)) {
      const planned = await readStamped(access, tenantId, seen, includeNested, pageRequest);
      if (planned?.stamped) return planned.page;
    }
    const ou = await direct.orgUnits.getForUserListing(tenantId, id, includeNested, true);
    if (!ou) {
      lastRead.delete(key);
      return undefined;
    }
    if ((lastRead.get(key)?.event_seq ?? -1) < ou.event_seq) {
      const { id_path, event_seq, user_count, subtree_user_count, placed_user_count } = ou;
      lastRead.set(key, { id: ou.id, id_path, event_seq, user_count, subtree_user_count, placed_user_count });
    }
    return (await readStamped(access, tenantId, ou, includeNested, pageRequest))?.page;
  }

  return {
    /** Users of an OU, by id; with `includeNested` those of its whole subtree. */
    async listUsers(access: Access, tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest): Promise<Page<UserResponseData>> {
      const fast = withoutSnapshot ? await readWithoutSnapshot(access, tenantId, id, includeNested, pageRequest) : undefined;
      if (fast) return fast;
      try {
        return await readInSnapshot(access, tenantId, id, includeNested, pageRequest, false);
      } catch (error) {
        if (!(error instanceof RankIndexBuilding)) throw error;
        // Waited for here, not in the snapshot: on SQLite it holds the process's one connection.
        await error.built;
        return readInSnapshot(access, tenantId, id, includeNested, pageRequest, true);
      }
    },
  };
}

export type OrgUnitUserService = ReturnType<typeof createOrgUnitUserService>;
