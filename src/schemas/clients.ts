import { type Static, Type } from 'typebox';
import { RoleName } from './role-assignments.js';
import { apiResponse, paginatedResponse, ref } from './common.js';

export const ClientCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255, pattern: '\\S', description: 'What the client is, for people reading the list.' }),
    scopes: Type.Array(Type.String(), { minItems: 1, maxItems: 20, description: 'Scopes the client may request, e.g. ["ous:read", "users:read"].' }),
    ou_ids: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: 50,
        description: 'Delegated client: it gets `role` in the subtree of each of these OUs instead of a tenant-wide tenant_admin (docs/delegated-admin.md).',
      }),
    ),
    role: Type.Optional(Type.Unsafe<Static<typeof RoleName>>({ ...RoleName, description: 'The role its assignments give: default ou_admin with ou_ids, tenant_admin without.' })),
  },
  { $id: 'ClientCreate', description: 'Schema for creating an API client.', additionalProperties: false },
);

const clientFields = {
  id: Type.String({ description: 'The client_id for the token endpoint.' }),
  tenant_id: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
};

export const ClientResponse = Type.Object(clientFields, { $id: 'ClientResponse', description: 'An API client (its secret is never shown again).' });

export const ClientCreatedResponse = Type.Object(
  {
    ...clientFields,
    client_secret: Type.Union([Type.String(), Type.Null()], {
      description: 'Shown once, now: Arbor keeps only a hash. null in a replay of an Idempotency-Key (the secret is never stored).',
    }),
  },
  { $id: 'ClientCreatedResponse', description: 'A new API client with its secret.' },
);

export const ApiResponseClientCreatedResponse = apiResponse('ApiResponse_ClientCreatedResponse_', ref(ClientCreatedResponse));
export const ApiResponseClientResponse = apiResponse('ApiResponse_ClientResponse_', ref(ClientResponse));
export const PaginatedResponseClientResponse = paginatedResponse('PaginatedResponse_ClientResponse_', ref(ClientResponse));

export const clientSchemas = [
  ClientCreate,
  ClientResponse,
  ClientCreatedResponse,
  ApiResponseClientCreatedResponse,
  ApiResponseClientResponse,
  PaginatedResponseClientResponse,
];
