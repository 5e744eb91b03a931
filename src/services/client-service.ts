import { pick, repositories } from '../db/repositories/index.js';
import type { Store } from '../db/store.js';
import type { ApiClientRow } from '../db/repositories/api-client-repository.js';
import { ForbiddenError, NotFoundError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { type PageRequest, type PageWindow, readListing } from '../lib/pagination.js';
import { type Access, type Role, reachCovers, resolveSubtrees } from './access.js';
import { ouNotFound } from './org-unit-rules.js';
import { assertMayGrant, assignmentChange, effectivePermissions, newAssignmentRow } from './role-assignment-service.js';
import { generateSecret, hashSecret, verifySecret } from './secret-hash.js';
import { requireTenant } from './tenant-guard.js';
import { PLATFORM_SCOPE, type Principal, type Scope, TENANT_SCOPES, UMBRELLA_SCOPES, grants, parseScopes } from './token-service.js';
import { createUnitOfWork } from './unit-of-work.js';
import type { WriteContext } from './write-context.js';

/** Scopes a tenant's client may hold. */
export const CLIENT_SCOPES: readonly string[] = [...TENANT_SCOPES, ...UMBRELLA_SCOPES];

export interface ClientData {
  id: string;
  tenant_id: string | null;
  name: string;
  scopes: string[];
  created_at: string;
}

export function toClientData(row: ApiClientRow): ClientData {
  return { id: row.id, tenant_id: row.tenant_id, name: row.name, scopes: parseScopes(row.scopes), created_at: row.created_at };
}

export interface ClientServiceDeps {
  store: Pick<Store, 'db' | 'transaction' | 'snapshot'>;
  now?: () => string;
  /** Told after a write committed events (wakes feed readers). */
  onEventsCommitted?: (tenantId: string) => void;
  /** Told after role assignments changed (a client's come and go with it). */
  onRolesChanged?: () => void;
}

/** What a client's events carry: never its secret or the secret's hash. */
const clientEventFields = (row: ApiClientRow) => ({ name: row.name, scopes: parseScopes(row.scopes) });

const clientNotFound = (id: string) => new NotFoundError('client.not_found', `API client '${id}' does not exist in this tenant.`);

/** OAuth clients of a tenant, and the platform client that bootstraps everything. */
export interface ClientCreateInput {
  name: string;
  scopes: string[];
  /** Scoped clients: one assignment of `role` at each of these OUs instead of a tenant-wide tenant_admin. */
  ou_ids?: string[];
  role?: Role;
}

export function createClientService({ store, now = () => new Date().toISOString(), onEventsCommitted, onRolesChanged }: ClientServiceDeps) {
  const read = pick(store.db, ['tenants', 'orgUnits', 'apiClients']);
  const write = createUnitOfWork(['tenants', 'apiClients', 'orgUnits', 'roleAssignments'], { store, now, onEventsCommitted });

  /** The subtrees a scoped principal's `permission` on clients covers (null: tenant-wide). */
  const subtreesFor = (repos: Pick<typeof read, 'orgUnits'>, access: Access, tenantId: string, permission: 'clients:read' | 'clients:write') =>
    resolveSubtrees(repos.orgUnits, tenantId, access.reach(permission));

  return {
    /**
     * Creates a client; the secret is in the result and nowhere else, ever. The caller may
     * hand out only scopes it holds itself (a platform principal: any), so a token with
     * clients:write cannot mint a client with more power than its own.
     */
    async create(ctx: WriteContext, principal: Principal, access: Access, tenantId: string, input: ClientCreateInput): Promise<ClientData & { client_secret: string }> {
      const mayGrant = (scope: string) => principal.kind === 'platform' || grants(principal.scopes, scope as Scope);
      const unknown = input.scopes.filter((s) => !CLIENT_SCOPES.includes(s));
      if (unknown.length > 0) {
        throw new RequestValidationError([
          { loc: ['body', 'scopes'], type: 'value_error', msg: `Unknown scope(s) ${unknown.join(', ')}; allowed: ${CLIENT_SCOPES.join(', ')}` },
        ]);
      }
      const notHeld = input.scopes.filter((s) => !mayGrant(s));
      if (notHeld.length > 0) {
        throw new ForbiddenError('client.scope_not_held', `A client can only be given scopes the caller holds; this token lacks ${notHeld.join(', ')}.`);
      }
      const secret = generateSecret();
      const row: ApiClientRow = {
        id: newId('cli'),
        tenant_id: tenantId,
        name: input.name.trim(),
        secret_hash: await hashSecret(secret), // slow by design: before the lock, not under it
        scopes: [...new Set(input.scopes)].join(' '),
        created_at: now(),
      };
      // Under the tenant's lock, so a tenant being deleted meanwhile gives a 404, not a dangling row.
      const ouIds = [...new Set(input.ou_ids ?? [])];
      const role: Role = input.role ?? (input.ou_ids ? 'ou_admin' : 'tenant_admin');
      const permissions = effectivePermissions(role, new Set(parseScopes(row.scopes)));
      const result = await write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        await requireTenant(repos, tenantId);
        // Where the new client may act: no wider than where the caller may (no escalation).
        const places: ({ id: string; id_path: string } | null)[] = [];
        if (input.ou_ids === undefined) places.push(null);
        for (const ouId of ouIds) {
          const ou = await repos.orgUnits.getById(tenantId, ouId);
          if (!ou || !reachCovers(access.reach('clients:write'), ou.id_path)) throw ouNotFound(ouId);
          places.push(ou);
        }
        for (const ou of places) assertMayGrant(access, permissions, ou, `A client with ${role}`);
        await repos.apiClients.insert(row);
        scope.record({ type: 'client.created', resource: { type: 'client', id: row.id }, before: null, after: clientEventFields(row) });
        for (const ou of places) {
          const assignment = newAssignmentRow(ctx, tenantId, { principal: { type: 'client', id: row.id }, role, ou_id: ou?.id ?? null, expires_at: null }, timestamp);
          await repos.roleAssignments.insert(assignment);
          scope.record(assignmentChange('role_assignment.created', assignment, ou?.id_path));
        }
        return { ...toClientData(row), client_secret: secret };
      });
      onRolesChanged?.();
      return result;
    },

    async get(access: Access, tenantId: string, id: string): Promise<ClientData> {
      const subtrees = await subtreesFor(read, access, tenantId, 'clients:read');
      const row = await read.apiClients.getWithin(tenantId, id, subtrees?.idPaths);
      if (!row) throw clientNotFound(id);
      return toClientData(row);
    },

    /** A page of the tenant's clients, with the event seq it reflects (one snapshot). */
    async list(access: Access, tenantId: string, pageRequest: PageRequest) {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'orgUnits', 'apiClients', 'events']);
        await requireTenant(repos, tenantId);
        const within = (await subtreesFor(repos, access, tenantId, 'clients:read'))?.idPaths;
        const page = await readListing(pageRequest, {
          id: ['clients', tenantId, within ?? null],
          total: await repos.apiClients.count(tenantId, within),
          keyOf: (row) => row.id,
          read: (window: PageWindow) => repos.apiClients.list(tenantId, window, within),
          forwardOnly: true,
        });
        return { ...page, items: page.items.map(toClientData), eventSeq: await repos.events.lastSeq(tenantId) };
      });
    },

    /** Deletes a client: its next token request fails; tokens already issued live until they expire. */
    async delete(ctx: WriteContext, access: Access, tenantId: string, id: string): Promise<void> {
      await write(ctx, tenantId, async (scope) => {
        const { repos } = scope;
        const subtrees = await subtreesFor(repos, access, tenantId, 'clients:write');
        const row = await repos.apiClients.getWithin(tenantId, id, subtrees?.idPaths);
        if (!row) throw clientNotFound(id);
        await scope.precondition(() => toClientData(row));
        // Its role assignments go with it, each with its event.
        const assignments = await repos.roleAssignments.listForPrincipal(tenantId, 'client', id);
        await repos.roleAssignments.deleteByIds(tenantId, assignments.map((a) => a.id));
        await repos.apiClients.deleteById(tenantId, id);
        // Their OUs' id_paths (for a scoped reader's feed) in one read.
        const ous = await repos.orgUnits.getIdPaths(tenantId, assignments.flatMap((a) => (a.ou_id === null ? [] : [a.ou_id])));
        const idPathOf = new Map(ous.map((ou) => [ou.id, ou.id_path]));
        for (const a of assignments) scope.record(assignmentChange('role_assignment.deleted', a, a.ou_id === null ? undefined : idPathOf.get(a.ou_id)));
        scope.record({ type: 'client.deleted', resource: { type: 'client', id }, before: clientEventFields(row), after: null });
      });
      onRolesChanged?.();
    },

    /**
     * Start-up: with `configured` credentials, makes sure that platform client exists with that
     * secret. Without, creates one platform client if there is none and returns its secret so it
     * can be shown once.
     */
    async ensurePlatformClient(configured: { id: string; secret: string } | null): Promise<{ id: string; secret: string } | null> {
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        if (configured) {
          const existing = await repos.apiClients.getForAuthentication(configured.id);
          if (existing && existing.tenant_id !== null) {
            throw new Error(`ARBOR_ADMIN_CLIENT_ID '${configured.id}' is a client of tenant ${existing.tenant_id}; choose another id.`);
          }
          if (existing && existing.scopes === PLATFORM_SCOPE && (await verifySecret(configured.secret, existing.secret_hash))) return null;
          const hash = await hashSecret(configured.secret);
          if (existing) await repos.apiClients.updateSecretAndScopes(configured.id, hash, PLATFORM_SCOPE);
          else {
            await repos.apiClients.insert({
              id: configured.id,
              tenant_id: null,
              name: 'Platform administrator (from ARBOR_ADMIN_CLIENT_ID)',
              secret_hash: hash,
              scopes: PLATFORM_SCOPE,
              created_at: now(),
            });
          }
          return null;
        }
        if (await repos.apiClients.hasPlatformClient()) return null;
        const secret = generateSecret();
        const id = newId('cli');
        await repos.apiClients.insert({
          id,
          tenant_id: null,
          name: 'Platform administrator (generated at first start)',
          secret_hash: await hashSecret(secret),
          scopes: PLATFORM_SCOPE,
          created_at: now(),
        });
        return { id, secret };
      }, { lock: 'bootstrap-client' });
    },

    /**
     * A new secret for a platform client (`id`, or the only one there is), or a new platform
     * client when there is none: the way back in when the secret printed at first start is lost.
     * Run on the server's machine, against its store; the old secret stops working at once, and
     * tokens issued with it keep working until they expire.
     */
    async resetPlatformSecret(id?: string): Promise<{ id: string; secret: string; created: boolean }> {
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        const platform = await repos.apiClients.listPlatformClients();
        const secret = generateSecret();
        const hash = await hashSecret(secret);
        if (id === undefined && platform.length === 0) {
          const created = newId('cli');
          await repos.apiClients.insert({ id: created, tenant_id: null, name: 'Platform administrator (from admin reset-secret)', secret_hash: hash, scopes: PLATFORM_SCOPE, created_at: now() });
          return { id: created, secret, created: true };
        }
        if (id === undefined && platform.length > 1) {
          throw new Error(`There are ${platform.length} platform clients (${platform.map((client) => client.id).join(', ')}): name the one to reset (--id).`);
        }
        const target = id ?? platform[0].id;
        if (!platform.some((client) => client.id === target)) {
          throw new Error(`'${target}' is not a platform client; platform clients: ${platform.map((client) => client.id).join(', ') || 'none'}.`);
        }
        await repos.apiClients.updateSecretAndScopes(target, hash, PLATFORM_SCOPE);
        return { id: target, secret, created: false };
      }, { lock: 'bootstrap-client' });
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
