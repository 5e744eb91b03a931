import { Type } from 'typebox';
import { apiResponse, paginatedResponse, ref } from './common.js';

export const ClientCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255, pattern: '\\S', description: 'What the client is, for people reading the list.' }),
    scopes: Type.Array(Type.String(), { minItems: 1, maxItems: 20, description: 'Scopes the client may request, e.g. ["ous:read", "users:read"].' }),
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
