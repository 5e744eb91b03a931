import { pick } from '../db/repositories/index.js';
import type { RoleAssignmentRow } from '../db/repositories/role-assignment-repository.js';
import type { Store } from '../db/store.js';
import { ConflictError, ForbiddenError, NotFoundError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { type Page, type PageRequest, type PageWindow, readListing } from '../lib/pagination.js';
import {
  type Access,
  type Permission,
  type PrincipalRef,
  ROLE_PERMISSIONS,
  type Role,
  assertReach,
  reachCovers,
  resolveSubtrees,
} from './access.js';
import { ouNotFound } from './org-unit-rules.js';
import { notFoundIn, requireTenant } from './tenant-guard.js';
import { grants, parseScopes, type Scope } from './token-service.js';
import { type Change, createUnitOfWork } from './unit-of-work.js';
import type { Actor, WriteContext } from './write-context.js';

export interface RoleAssignmentData {
  id: string;
  principal: PrincipalRef;
  role: Role;
  ou_id: string | null;
  expires_at: string | null;
  created_at: string;
  created_by: Actor;
}

export interface RoleAssignmentInput {
  principal: PrincipalRef;
  role: Role;
  ou_id?: string | null;
  expires_at?: string | null;
}

export function toRoleAssignmentData(row: RoleAssignmentRow): RoleAssignmentData {
  return {
    id: row.id,
    principal: { type: row.principal_type, id: row.principal_id },
    role: row.role as Role,
    ou_id: row.ou_id,
    expires_at: row.expires_at,
    created_at: row.created_at,
    created_by: JSON.parse(row.created_by) as Actor,
  };
}

/** A new assignment, made by the write's actor at `timestamp`. */
export function newAssignmentRow(
  ctx: WriteContext,
  tenantId: string,
  fields: { principal: PrincipalRef; role: Role; ou_id: string | null; expires_at: string | null },
  timestamp: string,
): RoleAssignmentRow {
  return {
    tenant_id: tenantId,
    id: newId('ra'),
    principal_type: fields.principal.type,
    principal_id: fields.principal.id,
    role: fields.role,
    ou_id: fields.ou_id,
    expires_at: fields.expires_at,
    created_at: timestamp,
    created_by: JSON.stringify(ctx.actor),
  };
}

/**
 * The event of an assignment given or taken away, wherever that happens (here, with a client,
 * with a deleted OU). `ouIdPath`: its OU's id_path, which a scoped reader's feed filters on;
 * undefined for a tenant-wide assignment or one whose OU is gone.
 */
export function assignmentChange(type: 'role_assignment.created' | 'role_assignment.deleted', row: RoleAssignmentRow, ouIdPath: string | undefined): Change {
  const fields = { principal: { type: row.principal_type, id: row.principal_id }, role: row.role, ou_id: row.ou_id, expires_at: row.expires_at };
  return {
    type,
    resource: { type: 'role_assignment', id: row.id },
    before: type === 'role_assignment.deleted' ? fields : null,
    after: type === 'role_assignment.created' ? fields : null,
    ouPaths: [ouIdPath],
  };
}

const assignmentNotFound = (id: string) => new NotFoundError('role_assignment.not_found', `Role assignment '${id}' does not exist in this tenant.`);

/**
 * The permissions an assignment of `role` would actually give `principal`: the role's, less
 * those its client's scopes can never carry (an external principal's scopes are not known).
 */
export function effectivePermissions(role: Role, clientScopes: ReadonlySet<string> | null): Permission[] {
  return ROLE_PERMISSIONS[role].filter((p) => clientScopes === null || grants(clientScopes, p as Scope));
}

/**
 * No escalation: the caller may hand out a permission only where it holds that permission
 * itself (tenant-wide for a tenant-wide assignment). Throws 403 naming what it lacks.
 */
export function assertMayGrant(access: Access, permissions: readonly Permission[], ou: { id_path: string } | null, what: string): void {
  const lacking = permissions.filter((p) => {
    const reach = access.reach(p);
    return ou === null ? reach !== 'tenant' : !reachCovers(reach, ou.id_path);
  });
  if (lacking.length > 0) {
    const where = ou === null ? 'tenant-wide' : 'at that OU';
    throw new ForbiddenError('role_assignment.escalation', `${what} would give ${lacking.join(', ')} ${where}, which this principal does not hold there itself.`);
  }
}

export interface RoleAssignmentServiceDeps {
  store: Pick<Store, 'db' | 'transaction' | 'snapshot'>;
  now?: () => string;
  onEventsCommitted?: (tenantId: string) => void;
  /** Told after assignments changed (the access cache of this instance forgets them). */
  onRolesChanged?: () => void;
}

/** Role assignments: who may do what, tenant-wide or in an OU's subtree (docs/delegated-admin.md). */
export function createRoleAssignmentService({ store, now = () => new Date().toISOString(), onEventsCommitted, onRolesChanged }: RoleAssignmentServiceDeps) {
  const read = pick(store.db, ['tenants', 'orgUnits', 'roleAssignments']);
  const write = createUnitOfWork(['tenants', 'orgUnits', 'roleAssignments', 'apiClients'], { store, now, onEventsCommitted });

  /** The OU an assignment names, if the caller may see it with `permission`; 404 otherwise. */
  async function visibleOu(repos: Pick<typeof read, 'orgUnits'>, access: Access, permission: Permission, tenantId: string, ouId: string) {
    const ou = await repos.orgUnits.getById(tenantId, ouId);
    if (!ou || !reachCovers(access.reach(permission), ou.id_path)) return undefined;
    return ou;
  }

  /** The assignment if the caller may see it: tenant-wide ones only with a tenant-wide roles:read. */
  async function getVisible(repos: typeof read, access: Access, tenantId: string, id: string): Promise<RoleAssignmentRow> {
    const row = await repos.roleAssignments.getById(tenantId, id);
    const visible =
      row !== undefined &&
      (access.reach('roles:read') === 'tenant' || (row.ou_id !== null && (await visibleOu(repos, access, 'roles:read', tenantId, row.ou_id)) !== undefined));
    if (!row || !visible) throw await notFoundIn(repos, tenantId, assignmentNotFound(id));
    return row;
  }

  return {
    async create(ctx: WriteContext, access: Access, tenantId: string, input: RoleAssignmentInput): Promise<RoleAssignmentData> {
      const ouId = input.ou_id ?? null;
      const expiresAt = input.expires_at ?? null;
      if (expiresAt !== null && !(Date.parse(expiresAt) > Date.parse(now()))) {
        throw new RequestValidationError([{ loc: ['body', 'expires_at'], type: 'value_error', msg: 'expires_at must be in the future.' }]);
      }
      if (access.principal && access.principal.type === input.principal.type && access.principal.id === input.principal.id) {
        throw new ForbiddenError('role_assignment.self', 'A principal cannot give itself a role; ask another administrator.');
      }
      const result = await write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        await requireTenant(repos, tenantId);
        const ou = ouId === null ? null : ((await repos.orgUnits.getById(tenantId, ouId)) ?? null);
        if (ouId !== null && ou === null) throw ouNotFound(ouId);
        assertReach(access, 'roles:write', 'roles:read', ou, () => ouNotFound(ouId as string));
        let clientScopes: ReadonlySet<string> | null = null;
        if (input.principal.type === 'client') {
          const client = await repos.apiClients.getById(tenantId, input.principal.id);
          if (!client) {
            throw new RequestValidationError([
              { loc: ['body', 'principal', 'id'], type: 'value_error', msg: `No API client '${input.principal.id}' in this tenant.` },
            ]);
          }
          clientScopes = new Set(parseScopes(client.scopes));
        }
        assertMayGrant(access, effectivePermissions(input.role, clientScopes), ou, `Assigning ${input.role}`);
        const row = newAssignmentRow(ctx, tenantId, { principal: input.principal, role: input.role, ou_id: ouId, expires_at: expiresAt }, timestamp);
        const same = await repos.roleAssignments.findSame(tenantId, row, timestamp);
        if (same) throw new ConflictError('role_assignment.exists', `This principal already holds ${row.role} ${ouId === null ? 'tenant-wide' : `at OU '${ouId}'`}: assignment '${same.id}'.`);
        await repos.roleAssignments.insert(row);
        scope.record(assignmentChange('role_assignment.created', row, ou?.id_path));
        return toRoleAssignmentData(row);
      });
      onRolesChanged?.();
      return result;
    },

    /**
     * `npm run token -- --tenant`: the operator (who holds the store itself) makes the token's
     * subject the tenant's administrator, once, with its event. Not reachable over HTTP.
     */
    async ensureOperatorAdmin(ctx: WriteContext, tenantId: string, subject: string): Promise<void> {
      await write(ctx, tenantId, async (scope) => {
        const { repos, timestamp } = scope;
        await requireTenant(repos, tenantId);
        const row = newAssignmentRow(ctx, tenantId, { principal: { type: 'client', id: subject }, role: 'tenant_admin', ou_id: null, expires_at: null }, timestamp);
        if (await repos.roleAssignments.findSame(tenantId, row, timestamp)) return;
        await repos.roleAssignments.insert(row);
        scope.record(assignmentChange('role_assignment.created', row, undefined));
      });
      onRolesChanged?.();
    },

    async get(access: Access, tenantId: string, id: string): Promise<RoleAssignmentData> {
      return toRoleAssignmentData(await getVisible(read, access, tenantId, id));
    },

    /** A page of assignments the caller may see (filtered in the query, before paging). */
    async list(
      access: Access,
      tenantId: string,
      filter: { principal_type?: PrincipalRef['type']; principal_id?: string; ou_id?: string },
      pageRequest: PageRequest,
    ): Promise<Page<RoleAssignmentData>> {
      return store.snapshot(async (db) => {
        const repos = pick(db, ['tenants', 'orgUnits', 'roleAssignments', 'events']);
        await requireTenant(repos, tenantId);
        const subtrees = await resolveSubtrees(repos.orgUnits, tenantId, access.reach('roles:read'));
        if (filter.ou_id !== undefined && !(await visibleOu(repos, access, 'roles:read', tenantId, filter.ou_id))) throw ouNotFound(filter.ou_id);
        const repoFilter = {
          principalType: filter.principal_type,
          principalId: filter.principal_id,
          ouId: filter.ou_id,
          ...(subtrees ? { withinSubtrees: subtrees.idPaths } : {}),
        };
        const page = await readListing(pageRequest, {
          id: ['role_assignments', tenantId, repoFilter],
          total: await repos.roleAssignments.count(tenantId, repoFilter),
          keyOf: (row) => row.id,
          read: (window: PageWindow) => repos.roleAssignments.list(tenantId, repoFilter, window),
          forwardOnly: true,
        });
        return { ...page, items: page.items.map(toRoleAssignmentData), eventSeq: await repos.events.lastSeq(tenantId) };
      });
    },

    async delete(ctx: WriteContext, access: Access, tenantId: string, id: string): Promise<void> {
      await write(ctx, tenantId, async (scope) => {
        const { repos } = scope;
        const row = await getVisible(repos, access, tenantId, id);
        await scope.precondition(() => toRoleAssignmentData(row));
        // An assignment whose OU is gone is treated as tenant-wide: only a tenant-wide caller removes it.
        const ou = row.ou_id === null ? null : ((await repos.orgUnits.getById(tenantId, row.ou_id)) ?? null);
        assertReach(access, 'roles:write', 'roles:read', ou, () => assignmentNotFound(id));
        // Removing a role is bounded like giving it: only by someone who holds what it gives there.
        const client = row.principal_type === 'client' ? await repos.apiClients.getById(tenantId, row.principal_id) : undefined;
        const clientScopes = client ? new Set(parseScopes(client.scopes)) : null;
        assertMayGrant(access, effectivePermissions(row.role as Role, clientScopes), ou, `Removing ${row.role}`);
        if (row.principal_type === 'external') {
          const [others, tenant] = await Promise.all([
            repos.roleAssignments.listForPrincipal(tenantId, 'external', row.principal_id),
            repos.tenants.getById(tenantId),
          ]);
          // With external_default=tenant, an external principal without assignments may do
          // everything: removing its last one would widen its rights, not narrow them.
          if (others.length === 1 && tenant?.external_default === 'tenant') {
            throw new ConflictError(
              'role_assignment.would_widen',
              `This is the last role assignment of external principal '${row.principal_id}', and the tenant's external_default is 'tenant': without it the principal could do everything. Set external_default to 'none' first (PATCH /api/v1/tenants/${tenantId}).`,
            );
          }
        }
        await repos.roleAssignments.deleteById(tenantId, id);
        scope.record(assignmentChange('role_assignment.deleted', row, ou?.id_path));
      });
      onRolesChanged?.();
    },
  };
}

export type RoleAssignmentService = ReturnType<typeof createRoleAssignmentService>;
