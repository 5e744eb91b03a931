import { Type } from 'typebox';
import { SLUG_PATTERN } from '../services/tenant-service.js';
import { apiResponse, paginatedResponse, ref } from './common.js';

const Name = Type.String({ minLength: 1, maxLength: 255, pattern: '\\S', description: 'Display name; not blank.' });
const slugRule = `Unique, stored lower-case; must match ${SLUG_PATTERN} once lower-cased.`;
const Slug = Type.String({ minLength: 1, maxLength: 63, description: slugRule });
const ExternalDefault = Type.Union([Type.Literal('tenant'), Type.Literal('none')], {
  description: "What a token of the external identity provider whose `sub` holds no role assignment may do: 'tenant' (everything its scopes allow) or 'none'.",
});

export const TenantCreate = Type.Object(
  {
    name: Name,
    slug: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: `${slugRule} Absent: derived from the name.` })),
    external_default: Type.Optional(ExternalDefault),
  },
  { $id: 'TenantCreate', description: 'Schema for creating a tenant.', additionalProperties: false },
);

export const TenantUpdate = Type.Object(
  { name: Type.Optional(Name), slug: Type.Optional(Slug), external_default: Type.Optional(ExternalDefault) },
  { $id: 'TenantUpdate', description: 'Schema for updating a tenant: absent fields are unchanged.', additionalProperties: false },
);

export const TenantResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    slug: Type.String(),
    external_default: ExternalDefault,
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'TenantResponse', description: 'A tenant: the boundary of everything else.' },
);

export const ApiResponseTenantResponse = apiResponse('ApiResponse_TenantResponse_', ref(TenantResponse));
export const PaginatedResponseTenantResponse = paginatedResponse('PaginatedResponse_TenantResponse_', ref(TenantResponse));

export const tenantSchemas = [TenantCreate, TenantUpdate, TenantResponse, ApiResponseTenantResponse, PaginatedResponseTenantResponse];
