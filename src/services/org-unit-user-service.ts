import { pick } from '../db/repositories/index.js';
import { type Access, reachCovers } from './access.js';
import type { Store } from '../db/store.js';
import { type Page, type PageRequest, expectedRows, readPage, toPage } from '../lib/pagination.js';
import { ouNotFound } from './org-unit-rules.js';
import { notFoundIn } from './tenant-guard.js';
import { type UserResponseData, toUserResponse } from './user-service.js';

export interface OrgUnitUserServiceDeps {
  store: Pick<Store, 'snapshot'>;
}

/** The users of an OU (the seventh endpoint of the OU contract): direct, or its whole subtree. */
export function createOrgUnitUserService({ store }: OrgUnitUserServiceDeps) {
  return {
    /** Users of an OU, by id; with `includeNested` those of its whole subtree. */
    async listUsers(access: Access, tenantId: string, id: string, includeNested: boolean, pageRequest: PageRequest): Promise<Page<UserResponseData>> {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'orgUnits', 'users', 'events']);
        const ou = await repos.orgUnits.getById(tenantId, id);
        if (!ou) throw await notFoundIn(repos, tenantId, ouNotFound(id));
        // A scope is whole subtrees: a visible OU's users, nested ones too, are all visible.
        if (!reachCovers(access.reach('users:read'), ou.id_path)) throw ouNotFound(id);
        const eventSeq = await repos.events.lastSeq(tenantId);
        // Both totals are maintained on the OU row: no count query.
        const total = includeNested ? ou.subtree_user_count : ou.user_count;
        if (!includeNested) {
          const rows = await readPage(pageRequest, total, (w) => repos.users.listInOu(tenantId, id, w));
          return { ...toPage(rows.map(toUserResponse), total, pageRequest), eventSeq };
        }
        // A subtree holding every placed user (a single root, typically) is read in id order from
        // an index of all the tenant's users, rather than gathered from its OUs and sorted. That
        // read keeps only rows of the subtree: if a concurrent write placed a user elsewhere in
        // between, it comes up short, and the page is read again the exact way.
        const fast = total > 0 && total === (await repos.orgUnits.placedUserCount(tenantId));
        let rows = await readPage(pageRequest, total, (w) => repos.users.listInSubtree(tenantId, ou.id_path, w, fast));
        if (fast && rows.length < expectedRows(pageRequest, total)) {
          rows = await readPage(pageRequest, total, (w) => repos.users.listInSubtree(tenantId, ou.id_path, w, false));
        }
        return { ...toPage(rows.map(toUserResponse), total, pageRequest), eventSeq };
      });
    },
  };
}

export type OrgUnitUserService = ReturnType<typeof createOrgUnitUserService>;
