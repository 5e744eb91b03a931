import { Type } from 'typebox';
import { MAX_OU_NAME_LENGTH } from '../services/org-unit-names.js';
import { Attributes, ExternalId, Nullable, apiResponse, paginatedResponse, ref } from './common.js';

const nameRule = `1-${MAX_OU_NAME_LENGTH} characters after trimming; no '/' and no control characters; unique among siblings, case-insensitively.`;

export const OUCreate = Type.Object(
  {
    // Length is checked after trimming, in the service: a schema maxLength would count the spaces.
    name: Type.String({ description: nameRule }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 4096, description: 'Free text.' }))),
    parent_id: Type.Optional(Nullable(Type.String({ description: 'An OU of the same tenant; absent or null: a root OU.' }))),
    custom_attributes: Type.Optional(Nullable(Attributes)),
    external_id: Type.Optional(Nullable(ExternalId)),
  },
  { $id: 'OUCreate', description: 'Schema for creating an OU.', additionalProperties: false },
);

export const OUUpdate = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ description: `${nameRule} Absent or null: unchanged.` }))),
    description: Type.Optional(Nullable(Type.String({ maxLength: 4096, description: 'Absent: unchanged; null: cleared.' }))),
    parent_id: Type.Optional(Nullable(Type.String({ description: 'Absent: unchanged; null: move to the root; an OU id: move under it (not itself or a descendant).' }))),
    custom_attributes: Type.Optional(Nullable(Attributes, 'Absent: unchanged; an object replaces the whole object; null: cleared.')),
    external_id: Type.Optional(Nullable(ExternalId, 'Absent: unchanged; null: cleared.')),
  },
  { $id: 'OUUpdate', description: 'Schema for updating an OU.', additionalProperties: false },
);

export const OUChildInfo = Type.Object(
  {
    ou_id: Type.String(),
    name: Type.String(),
    path: Type.String(),
    user_count: Type.Optional(Type.Integer({ default: 0 })),
    children: Type.Optional(Type.Array(Type.Ref('OUChildInfo'))),
  },
  { $id: 'OUChildInfo', description: 'Child OU info.' },
);

export const OUListItem = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    path: Type.String(),
    parent_id: Type.Optional(Nullable(Type.String())),
    user_count: Type.Optional(Type.Integer({ default: 0 })),
    child_ou_count: Type.Optional(Type.Integer({ default: 0, description: 'Direct child OUs (all visible to whoever sees this OU: a delegated scope is whole subtrees).' })),
    nested_user_count: Type.Optional(
      Type.Integer({
        default: 0,
        description: "Users placed in this OU and every OU below it (the total of GET …/ous/{ou_id}/users?include_nested=true). Not in OUResponse, whose ETag would then change with every user write below the OU.",
      }),
    ),
  },
  { $id: 'OUListItem', description: 'Abbreviated OU info for lists.' },
);

export const OUResponse = Type.Object(
  {
    name: Type.String(),
    description: Type.Optional(Nullable(Type.String())),
    id: Type.String(),
    path: Type.String(),
    parent_id: Type.Optional(Nullable(Type.String())),
    child_ou_count: Type.Optional(Type.Integer({ default: 0 })),
    user_count: Type.Optional(Type.Integer({ default: 0 })),
    children: Type.Optional(Nullable(Type.Array(ref(OUChildInfo)))),
    custom_attributes: Type.Optional(Nullable(Attributes)),
    external_id: Type.Optional(Nullable(ExternalId)),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
  },
  { $id: 'OUResponse', description: 'Full OU response.' },
);

export const OUTreeNode = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    path: Type.String(),
    children: Type.Optional(Nullable(Type.Array(Type.Ref('OUTreeNode')))),
  },
  { $id: 'OUTreeNode', description: 'Tree node for OU hierarchy.' },
);

export const OUAncestor = Type.Object(
  {
    ...OUListItem.properties,
    position: Type.Integer({
      minimum: 0,
      description: "0-based: how many OUs come before it in the list it is read from: its parent's children (parent_id=), or for the first, the caller's top level (top_level=true). Its page there is floor(position / per_page) + 1.",
    }),
  },
  { $id: 'OUAncestor', description: "An OU on the path to another, as a tree browser lists it, and where." },
);

export const ApiResponseOUResponse = apiResponse('ApiResponse_OUResponse_', ref(OUResponse));
export const ApiResponseListOUAncestor = apiResponse('ApiResponse_list_OUAncestor__', Type.Array(Type.Ref('OUAncestor')));
export const ApiResponseListOUTreeNode = apiResponse('ApiResponse_list_OUTreeNode__', Type.Array(Type.Ref('OUTreeNode')));
export const PaginatedResponseOUListItem = paginatedResponse('PaginatedResponse_OUListItem_', ref(OUListItem));

export const DeleteStrategy = Type.Unsafe<'BLOCK' | 'MOVE_UP' | 'CASCADE'>({
  type: 'string',
  enum: ['BLOCK', 'MOVE_UP', 'CASCADE'],
  default: 'BLOCK',
  description: 'BLOCK: fail if the OU has users or child OUs. MOVE_UP: move users and child OUs to the parent. CASCADE: delete child OUs (users moved to the parent).',
} as never);

export const OUDeleteOutcome = Type.Object(
  {
    ous_deleted: Type.Integer({ description: 'OUs that would be deleted (CASCADE: the whole subtree).' }),
    ous_moved: Type.Integer({ description: 'Child OUs that would get a new parent (MOVE_UP).' }),
    users_moved: Type.Integer({ description: 'Users that would move to the parent OU (or to no OU).' }),
  },
  { $id: 'OUDeleteOutcome', description: 'What a DELETE with dry_run=true would do.' },
);

export const ApiResponseOUDeleteOutcome = apiResponse('ApiResponse_OUDeleteOutcome_', ref(OUDeleteOutcome));

export const orgUnitSchemas = [
  OUDeleteOutcome,
  ApiResponseOUDeleteOutcome,
  OUChildInfo,
  OUCreate,
  OUUpdate,
  OUListItem,
  OUResponse,
  OUTreeNode,
  ApiResponseOUResponse,
  ApiResponseListOUTreeNode,
  PaginatedResponseOUListItem,
  OUAncestor,
  ApiResponseListOUAncestor,
];
