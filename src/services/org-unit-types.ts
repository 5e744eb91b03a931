/** The shapes the OU services take and return (the HTTP schemas mirror them). */

export type DeleteStrategy = 'BLOCK' | 'MOVE_UP' | 'CASCADE';

export interface OrgUnitCreateInput {
  name: string;
  description?: string | null;
  parent_id?: string | null;
  custom_attributes?: Record<string, unknown> | null;
  external_id?: string | null;
}

/** Absent fields stay as they are; see docs/org-units.md for what `null` means per field. */
export interface OrgUnitUpdateInput {
  name?: string | null;
  description?: string | null;
  parent_id?: string | null;
  custom_attributes?: Record<string, unknown> | null;
  external_id?: string | null;
}

export interface OrgUnitChildInfo {
  ou_id: string;
  name: string;
  path: string;
  user_count: number;
}

export interface OrgUnitDetail {
  id: string;
  name: string;
  description: string | null;
  path: string;
  parent_id: string | null;
  external_id: string | null;
  child_ou_count: number;
  user_count: number;
  children: OrgUnitChildInfo[];
  custom_attributes: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

/** An update's outcome: the OU as it now is (or would be, in a dry run) and how many descendants' paths followed. */
export interface OrgUnitUpdateResult {
  ou: OrgUnitDetail;
  descendantPathsChanged: number;
}

/** What a delete did (or would do, in a dry run). */
export interface OrgUnitDeleteOutcome {
  ous_deleted: number;
  /** Child OUs given a new parent (MOVE_UP); their descendants' paths follow. */
  ous_moved: number;
  users_moved: number;
}

export interface OrgUnitListItem {
  id: string;
  name: string;
  path: string;
  parent_id: string | null;
  user_count: number;
  child_ou_count: number;
  nested_user_count: number;
}

/** An OU on the way down to another, and where a tree browser lists it (ancestry). */
export interface OrgUnitAncestor extends OrgUnitListItem {
  /** 0-based: its place among its siblings in path order, or among the principal's top level. */
  position: number;
}

/**
 * An OU as the tree is built: its row, with its children attached in sibling order. Its path
 * is not carried: it follows from its ancestors' names, and http/tree-json.ts writes it out.
 */
export interface OrgUnitTreeEntry {
  id: string;
  parent_id: string | null;
  name: string;
  name_key: string;
  children: OrgUnitTreeEntry[];
  /** A scoped principal's root: the path of its parent, which the tree does not show. */
  basePath?: string;
}
