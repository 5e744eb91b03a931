import type { OrgUnitRow } from '../db/repositories/org-unit-repository.js';
import { onUniqueViolation } from '../db/store-errors.js';
import { ConflictError } from '../errors.js';
import { OU_EVENT_FIELDS, nameConflict, ouEventFields, parentIdPathOf, parentPathOf } from './org-unit-rules.js';
import type { DeleteStrategy, OrgUnitDeleteOutcome } from './org-unit-types.js';
import { assignmentChange } from './role-assignment-service.js';
import type { WriteScope } from './unit-of-work.js';

type Scope = WriteScope<'orgUnits' | 'users' | 'tenants' | 'roleAssignments'>;

/** The id_path of the parent `ou`'s users and children go to; null when it is a root (they go to no OU / the top). */
const destinationIdPath = (ou: OrgUnitRow) => (ou.parent_id === null ? null : parentIdPathOf(ou));

/** Records the events of users leaving their OU (at `from`, its id_path) for `to` (null: no OU). */
function recordUsersMoved(scope: Scope, users: { id: string; ou_id: string; id_path: string }[], to: string | null, toIdPath: string | null): void {
  for (const user of users) {
    scope.record({
      type: 'user.moved',
      resource: { type: 'user', id: user.id },
      before: { ou_id: user.ou_id },
      after: { ou_id: to },
      ouPaths: [user.id_path, toIdPath],
    });
  }
}

function recordOuDeleted(scope: Scope, ou: OrgUnitRow): void {
  const fields = ouEventFields(ou);
  scope.record({ type: 'ou.deleted', resource: { type: 'ou', id: ou.id }, before: pickFields(fields), after: null, ouPaths: [ou.id_path] });
}

/**
 * Role assignments of clients at OUs that are going away go with them, each with its event: an
 * OU id is never reused, so they could grant nothing, but a list should not show ghosts. An
 * external principal's stay (inert): without any assignment left it would fall back to the
 * tenant's external_default, which may be everything, and a delete must never widen rights.
 */
async function removeAssignments(scope: Scope, ou: OrgUnitRow, wholeSubtree: boolean): Promise<void> {
  const { repos } = scope;
  const found = await repos.roleAssignments.listAtSubtree(ou.tenant_id, ou.id_path);
  const rows = found.filter((row) => row.principal_type === 'client' && (wholeSubtree || row.ou_id === ou.id));
  if (rows.length === 0) return;
  await repos.roleAssignments.deleteByIds(ou.tenant_id, rows.map((r) => r.id));
  for (const { ou_id_path, ...row } of rows) scope.record(assignmentChange('role_assignment.deleted', row, ou_id_path));
}

const pickFields = (fields: ReturnType<typeof ouEventFields>) => Object.fromEntries(OU_EVENT_FIELDS.map((f) => [f, fields[f]]));

async function deleteIfEmpty(scope: Scope, ou: OrgUnitRow): Promise<OrgUnitDeleteOutcome> {
  const { repos } = scope;
  if (ou.child_ou_count > 0 || ou.user_count > 0) {
    throw new ConflictError(
      'ou.not_empty',
      `OU '${ou.path}' has ${ou.child_ou_count} child OU(s) and ${ou.user_count} user(s). Move or delete them first, or delete with strategy=MOVE_UP or strategy=CASCADE.`,
    );
  }
  await removeAssignments(scope, ou, false);
  await repos.orgUnits.deleteById(ou.tenant_id, ou.id);
  await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: -1 });
  recordOuDeleted(scope, ou);
  return { ous_deleted: 1, ous_moved: 0, users_moved: 0 };
}

/**
 * Children and users of `ou` go to its parent (or become roots / OU-less). Subtree counts
 * stay as they are: the parent's already held these users, the children's are unchanged.
 * Events: each user moved, each child moved (its descendants' paths follow), the OU deleted.
 */
async function deleteMovingUp(scope: Scope, ou: OrgUnitRow): Promise<OrgUnitDeleteOutcome> {
  const { repos, timestamp } = scope;
  const clashes = await repos.orgUnits.findChildNameClashes(ou.tenant_id, ou.id, ou.parent_id);
  if (clashes.length > 0) {
    throw new ConflictError(
      'ou.name_conflict',
      `Cannot move the children of '${ou.path}' up: the parent level already has OUs named ${clashes.map((n) => `'${n}'`).join(', ')}. Rename them first.`,
    );
  }
  const userIds = ou.user_count > 0 ? await repos.users.listIdsInOu(ou.tenant_id, ou.id) : [];
  const children = ou.child_ou_count > 0 ? await repos.orgUnits.listChildren(ou.tenant_id, ou.id) : [];
  await removeAssignments(scope, ou, false);
  await repos.users.moveAllFromOu(ou.tenant_id, ou.id, ou.parent_id, timestamp);
  await repos.orgUnits.rewriteSubtree(
    ou.tenant_id,
    { idPath: ou.id_path, path: ou.path },
    { idPath: parentIdPathOf(ou), path: parentPathOf(ou) },
    -1,
    timestamp,
    true,
  );
  // Delete first (the parent FK is deferred): a child named like the deleted OU takes its place.
  await repos.orgUnits.deleteById(ou.tenant_id, ou.id);
  await onUniqueViolation(
    () => repos.orgUnits.reparentChildren(ou.tenant_id, ou.id, ou.parent_id),
    () => nameConflict(ou.name),
  );
  await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: ou.child_ou_count - 1, users: ou.user_count });
  recordUsersMoved(scope, userIds.map((id) => ({ id, ou_id: ou.id, id_path: ou.id_path })), ou.parent_id, destinationIdPath(ou));
  for (const child of children) {
    scope.record({
      type: 'ou.moved',
      resource: { type: 'ou', id: child.id },
      before: { parent_id: ou.id, path: child.path },
      after: { parent_id: ou.parent_id, path: `${parentPathOf(ou)}/${child.name}` },
      ouPaths: [`${ou.id_path}${child.id}/`, `${parentIdPathOf(ou)}${child.id}/`],
    });
  }
  recordOuDeleted(scope, ou);
  return { ous_deleted: 1, ous_moved: children.length, users_moved: userIds.length };
}

/**
 * The whole subtree goes; every user in it moves to the parent of `ou` (or to no OU). The
 * ancestors' subtree counts stay as they are: those users are still beneath them.
 * Events: each user moved, then each OU deleted, deepest first.
 */
async function deleteCascading(scope: Scope, ou: OrgUnitRow): Promise<OrgUnitDeleteOutcome> {
  const { repos, timestamp } = scope;
  const placements = ou.subtree_user_count > 0 ? await repos.users.listPlacementsInSubtree(ou.tenant_id, ou.id_path) : [];
  const subtree = await repos.orgUnits.listSubtree(ou.tenant_id, ou.id_path);
  await removeAssignments(scope, ou, true);
  await repos.users.moveAllFromSubtree(ou.tenant_id, ou.id_path, ou.parent_id, timestamp);
  const deleted = await repos.orgUnits.deleteSubtree(ou.tenant_id, ou.id_path);
  await repos.orgUnits.adjustCounts(ou.tenant_id, ou.parent_id, { childOus: -1, users: ou.subtree_user_count });
  recordUsersMoved(scope, placements, ou.parent_id, destinationIdPath(ou));
  for (const row of subtree) recordOuDeleted(scope, row);
  return { ous_deleted: deleted, ous_moved: 0, users_moved: placements.length };
}

export const DELETE_STRATEGIES: Record<DeleteStrategy, (scope: Scope, ou: OrgUnitRow) => Promise<OrgUnitDeleteOutcome>> = {
  BLOCK: deleteIfEmpty,
  MOVE_UP: deleteMovingUp,
  CASCADE: deleteCascading,
};

