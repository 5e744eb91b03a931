import { Type } from 'typebox';
import { Nullable, apiResponse, paginatedResponse, ref } from './common.js';

// Spelled out for the types; test/services/access.test.ts checks it lists ROLES exactly.
export const RoleName = Type.Union(
  [Type.Literal('tenant_admin'), Type.Literal('ou_admin'), Type.Literal('user_manager'), Type.Literal('viewer')],
  { description: 'tenant_admin: everything; ou_admin: OUs, users and role assignments; user_manager: read OUs, manage users; viewer: read. See docs/delegated-admin.md.' },
);

export const RolePrincipal = Type.Object(
  {
    type: Type.Union([Type.Literal('client'), Type.Literal('external')], { description: 'client: an Arbor API client; external: a token of the configured identity provider.' }),
    id: Type.String({ minLength: 1, maxLength: 255, description: "The API client's id, or the external token's `sub`." }),
  },
  { $id: 'RolePrincipal', additionalProperties: false },
);

export const RoleAssignmentCreate = Type.Object(
  {
    principal: ref(RolePrincipal),
    role: RoleName,
    ou_id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }), 'The OU whose subtree the role covers; null or absent: the whole tenant.')),
    expires_at: Type.Optional(Nullable(Type.String({ format: 'date-time' }), 'When the assignment stops working; null or absent: never.')),
  },
  { $id: 'RoleAssignmentCreate', description: 'Gives a principal a role over the tenant or an OU subtree.', additionalProperties: false },
);

export const RoleAssignmentResponse = Type.Object(
  {
    id: Type.String(),
    principal: ref(RolePrincipal),
    role: RoleName,
    ou_id: Nullable(Type.String()),
    expires_at: Nullable(Type.String({ format: 'date-time' })),
    created_at: Type.String({ format: 'date-time' }),
    created_by: Type.Object({ type: Type.String(), id: Type.String(), client_id: Nullable(Type.String()) }),
  },
  { $id: 'RoleAssignmentResponse', description: 'A role a principal holds, tenant-wide (ou_id null) or in the subtree of ou_id.' },
);

export const ApiResponseRoleAssignmentResponse = apiResponse('ApiResponse_RoleAssignmentResponse_', ref(RoleAssignmentResponse));
export const PaginatedResponseRoleAssignmentResponse = paginatedResponse('PaginatedResponse_RoleAssignmentResponse_', ref(RoleAssignmentResponse));

export const roleAssignmentSchemas = [
  RolePrincipal,
  RoleAssignmentCreate,
  RoleAssignmentResponse,
  ApiResponseRoleAssignmentResponse,
  PaginatedResponseRoleAssignmentResponse,
];
