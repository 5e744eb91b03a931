import { LRUCache } from 'lru-cache';
import { pick } from '../db/repositories/index.js';
import type { Store } from '../db/store.js';
import { type Access, FULL_ACCESS, type PrincipalRef, accessFrom } from './access.js';
import type { Principal } from './token-service.js';

export interface AccessServiceDeps {
  store: Pick<Store, 'db'>;
  /**
   * How long an instance may answer from the assignments it read (ms). A change made through
   * another instance takes effect here within this long; one made here, at once. Default 1 s
   * (issue 12: "any cache invalidated within 1 s"); 0 reads them on every request.
   */
  cacheMs?: number;
  now?: () => number;
}

interface Loaded {
  tenantExists: boolean;
  externalDefault: 'tenant' | 'none';
  assignments: { role: string; ou_id: string | null; expires_at: string | null }[];
}

/** Who a tenant principal is for role assignments: an Arbor client by id, an external identity by `sub`. */
export function principalRefOf(principal: Principal): PrincipalRef | null {
  if (principal.kind === 'platform') return null;
  return { type: principal.issuer === 'external' ? 'external' : 'client', id: principal.subject };
}

/** Computes a request's access from its token and the principal's role assignments. */
export function createAccessService({ store, cacheMs = 1_000, now = () => Date.now() }: AccessServiceDeps) {
  const read = pick(store.db, ['tenants', 'roleAssignments']);
  // Per instance, a few hundred bytes per principal; entries live `cacheMs` at most.
  const cache = cacheMs > 0 ? new LRUCache<string, Loaded>({ max: 10_000, ttl: cacheMs, ttlAutopurge: false }) : null;

  async function load(tenantId: string, ref: PrincipalRef): Promise<Loaded> {
    const key = `${tenantId}\n${ref.type}\n${ref.id}`;
    const cached = cache?.get(key);
    if (cached) return cached;
    const [tenant, assignments] = await Promise.all([
      read.tenants.getById(tenantId),
      read.roleAssignments.listForPrincipal(tenantId, ref.type, ref.id),
    ]);
    const loaded: Loaded = {
      tenantExists: tenant !== undefined,
      externalDefault: tenant?.external_default ?? 'tenant',
      assignments: assignments.map((a) => ({ role: a.role, ou_id: a.ou_id, expires_at: a.expires_at })),
    };
    cache?.set(key, loaded);
    return loaded;
  }

  return {
    async accessOf(principal: Principal): Promise<Access> {
      const ref = principalRefOf(principal);
      if (principal.kind === 'platform' || ref === null) return FULL_ACCESS;
      const loaded = await load(principal.tenantId, ref);
      // A tenant that does not exist has nothing to protect: the request goes on to its 404.
      if (!loaded.tenantExists) return accessFrom(ref, principal.scopes, [{ role: 'tenant_admin', ou_id: null }]);
      // Expiry is checked against the clock on every request, cached or not.
      const at = new Date(now()).toISOString();
      const live = loaded.assignments.filter((a) => a.expires_at === null || a.expires_at > at);
      if (ref.type === 'external' && loaded.assignments.length === 0 && loaded.externalDefault === 'tenant') {
        return accessFrom(ref, principal.scopes, [{ role: 'tenant_admin', ou_id: null }]);
      }
      return accessFrom(ref, principal.scopes, live);
    },

    /** Forgets what this instance read: called after a change to assignments or tenant settings. */
    invalidate(): void {
      cache?.clear();
    },
  };
}

export type AccessService = ReturnType<typeof createAccessService>;
