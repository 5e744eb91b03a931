import type { ChildSummary, OrgUnitRow } from '../db/repositories/org-unit-repository.js';
import { ConflictError, NotFoundError, RequestValidationError } from '../errors.js';
import { decodeAttributes } from './json-attributes.js';
import type { OrgUnitDetail } from './org-unit-types.js';

/** The errors of the hierarchy rules, and the derivations every OU write shares. */

export const ouNotFound = (id: string) => new NotFoundError('ou.not_found', `OU '${id}' does not exist in this tenant.`);
export const topLevelWithParent = () =>
  new RequestValidationError([
    { loc: ['query', 'top_level'], type: 'value_error', msg: 'top_level=true lists the OUs with no parent; it cannot be combined with parent_id. Send one or the other.' },
  ]);
export const parentNotFound = (id: string) => new NotFoundError('ou.parent_not_found', `Parent OU '${id}' does not exist in this tenant.`);
export const nameConflict = (name: string) =>
  new ConflictError('ou.name_conflict', `An OU named '${name}' already exists at this level (names are compared case-insensitively).`);
export const ouExternalIdConflict = (externalId: string) =>
  new ConflictError('ou.external_id_conflict', `Another OU of this tenant already has the external_id '${externalId}'.`);
export const cycle = () => new ConflictError('ou.cycle', 'An OU cannot be moved under itself or one of its descendants.');
export const depthExceeded = (maxDepth: number) =>
  new ConflictError('ou.depth_exceeded', `This would place an OU deeper than the limit of ${maxDepth} levels (ARBOR_MAX_OU_DEPTH).`);

/** Path of the parent, derived from an OU's own path and name (`''` for a root). */
export function parentPathOf(ou: Pick<OrgUnitRow, 'path' | 'name'>): string {
  return ou.path.slice(0, ou.path.length - ou.name.length - 1);
}

/** Path of the parent, in ids (`/` for a root). */
export function parentIdPathOf(ou: Pick<OrgUnitRow, 'id_path' | 'id'>): string {
  return ou.id_path.slice(0, -(ou.id.length + 1));
}

/** An OU as GET shows it (and as its ETag covers it). */
export function toDetail(row: OrgUnitRow, children: ChildSummary[]): OrgUnitDetail {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    path: row.path,
    parent_id: row.parent_id,
    external_id: row.external_id,
    child_ou_count: row.child_ou_count,
    user_count: row.user_count,
    children: children.map((child) => ({ ou_id: child.id, name: child.name, path: child.path, user_count: child.user_count })),
    custom_attributes: decodeAttributes(row.custom_attributes),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The fields of an OU its events carry. */
export const OU_EVENT_FIELDS = ['name', 'path', 'parent_id', 'description', 'custom_attributes', 'external_id'] as const;

export function ouEventFields(row: Pick<OrgUnitRow, 'name' | 'path' | 'parent_id' | 'description' | 'custom_attributes' | 'external_id'>) {
  return {
    external_id: row.external_id,
    name: row.name,
    path: row.path,
    parent_id: row.parent_id,
    description: row.description,
    custom_attributes: decodeAttributes(row.custom_attributes),
  };
}
