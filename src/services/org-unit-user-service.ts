import { LRUCache } from 'lru-cache';
import { pick } from '../db/repositories/index.js';
import type { UserRow } from '../db/repositories/user-repository.js';
import type { CompiledQuery } from 'kysely';
import { type Access, reachCovers } from './access.js';
import type { Store } from '../db/store.js';
import { type Page, type PageRequest, type PageWindow, RankIndexBuilding, readListing } from '../lib/pagination.js';
import { RankIndexes } from '../lib/rank-index.js';
import { ouNotFound } from './org-unit-rules.js';
import { notFoundIn } from './tenant-guard.js';
import { type UserResponseData, toUserResponse } from './user-service.js';

export interface OrgUnitUserServiceDeps {
  store: Pick<Store, 'snapshot' | 'readAside'>;
  /** Largest subtree (in users) whose sorted ids are kept per instance; default SUBTREE_IDS_MAX. */
  subtreeIdsMax?: number;
  /** The rank indexes of deep pages (tests pass one with few keys, so short lists use it). */
  rankIndexes?: RankIndexes;
}

/**
 * A subtree with at most this many users keeps its sorted user ids per instance (about 40 bytes
 * each): any page, or a cursor, is then a slice and one read by primary key. Larger subtrees
 * (the whole tenant, typically) page through a rank index instead.
 */
export const SUBTREE_IDS_MAX = 50_000;

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
export function createOrgUnitUserService({ store, subtreeIdsMax = SUBTREE_IDS_MAX, rankIndexes = new RankIndexes() }: OrgUnitUserServiceDeps) {
  // One entry per OU, replaced by a newer version: at most 8 × SUBTREE_IDS_MAX ids (~16 MB) in all.
  const subtreeIds = new LRUCache<string, SubtreeIds>({ max: 1_000, maxSize: 8 * SUBTREE_IDS_MAX, sizeCalculation: (entry) => Math.max(1, entry.ids.length) });
  const building = new Map<string, Promise<string[]>>();

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

  /** One read of the users' page in one snapshot (listUsers says when `offsetWhileBuilding`). */
  async function readUsers(access: Access, tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest, offsetWhileBuilding: boolean): Promise<Page<UserResponseData>> {
    return store.snapshot(async (db) => {
      const repos = pick(db, ['tenants', 'orgUnits', 'users', 'events']);
      // The OU with the tenant's last event seq, which every write raises: the version of the
      // rank indexes and id lists read below.
      const ou = await repos.orgUnits.getForUserListing(tenantId, id, includeNested);
      if (!ou) throw await notFoundIn(repos, tenantId, ouNotFound(id));
      // A scope is whole subtrees: a visible OU's users, nested ones too, are all visible.
      if (!reachCovers(access.reach('users:read'), ou.id_path)) throw ouNotFound(id);
      const eventSeq = ou.event_seq;
      const lastSeq = () => repos.events.lastSeqQuery(tenantId);
      const listingId = ['ou_users', tenantId, id, includeNested];
      const finish = (page: Page<UserRow>): Page<UserResponseData> => ({ ...page, items: page.items.map(toUserResponse), eventSeq });
      // Both totals are maintained on the OU row: no count query.
      if (!includeNested) {
        return finish(
          await readListing(pageRequest, {
            id: listingId,
            total: ou.user_count,
            keyOf: (row) => row.id,
            read: (window: PageWindow) => repos.users.listInOu(tenantId, id, window),
            ranks: {
              cache: rankIndexes,
              version: eventSeq,
              build: (step) => repos.users.rankKeysInOu(tenantId, id, step),
              ...aside(lastSeq, (step) => repos.users.rankKeyQueries.inOu(tenantId, id, step), offsetWhileBuilding),
            },
          }),
        );
      }
      const total = ou.subtree_user_count;
      // A subtree holding every placed user (a single root, typically) is read in id order from
      // an index of all the tenant's placed users, rather than gathered from its OUs and sorted.
      // Its counts and that read are of this one snapshot: a user placed elsewhere meanwhile is
      // in neither, and counts that differ send the page the exact way below. Only for a
      // principal of the whole tenant: a subtree scope stays in the query, whatever a counter says.
      if (total > 0 && total === ou.placed_user_count && access.reach('users:read') === 'tenant') {
        return finish(
          await readListing(pageRequest, {
            id: listingId,
            total,
            keyOf: (row: UserRow) => row.id,
            read: (window: PageWindow) => repos.users.listInSubtree(tenantId, ou.id_path, window, true),
            ranks: {
              cache: rankIndexes,
              version: eventSeq,
              build: (step: number) => repos.users.rankKeysPlaced(tenantId, step),
              kind: 'placed',
              ...aside(lastSeq, (step) => repos.users.rankKeyQueries.placed(tenantId, step), offsetWhileBuilding),
            },
          }),
        );
      }
      if (total <= subtreeIdsMax) {
        // Sorted ids of the subtree at this version: a page is a slice of them, whatever its number.
        const ids = await idsOfSubtree(JSON.stringify([tenantId, id]), eventSeq, () => repos.users.idsInSubtree(tenantId, ou.id_path));
        return finish(
          await readListing(pageRequest, {
            id: listingId,
            total: ids.length,
            keyOf: (row) => row.id,
            read: (window: PageWindow) => {
              const start = (window.after === undefined ? 0 : indexAfter(ids, window.after)) + window.offset;
              return repos.users.listByIds(tenantId, ids.slice(start, start + window.limit));
            },
            forwardOnly: true,
          }),
        );
      }
      return finish(
        await readListing(pageRequest, {
          id: listingId,
          total,
          keyOf: (row) => row.id,
          read: (window: PageWindow) => repos.users.listInSubtree(tenantId, ou.id_path, window, false),
          ranks: {
            cache: rankIndexes,
            version: eventSeq,
            build: (step) => repos.users.rankKeysInSubtree(tenantId, ou.id_path, step),
            kind: 'subtree',
            ...aside(lastSeq, (step) => repos.users.rankKeyQueries.inSubtree(tenantId, ou.id_path, step), offsetWhileBuilding),
          },
        }),
      );
    });
  }

  return {
    /** Users of an OU, by id; with `includeNested` those of its whole subtree. */
    async listUsers(access: Access, tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest): Promise<Page<UserResponseData>> {
      try {
        return await readUsers(access, tenantId, id, includeNested, pageRequest, false);
      } catch (error) {
        if (!(error instanceof RankIndexBuilding)) throw error;
        // Waited for here, not in the snapshot: on SQLite it holds the process's one connection.
        await error.built;
        return readUsers(access, tenantId, id, includeNested, pageRequest, true);
      }
    },
  };
}

export type OrgUnitUserService = ReturnType<typeof createOrgUnitUserService>;
