import { Type } from 'typebox';
import { Attributes, ExternalId, Nullable, apiResponse, paginatedResponse, ref } from './common.js';

const Status = Type.Unsafe<'active' | 'disabled'>({ type: 'string', enum: ['active', 'disabled'] } as never);
const Email = Type.String({ format: 'email', maxLength: 320, description: 'Unique per tenant, compared case-insensitively.' });
const DisplayName = Type.String({ maxLength: 255 });
const OuId = Type.String({ description: 'An OU of the same tenant; null: in no OU.' });

export const UserCreate = Type.Object(
  {
    email: Email,
    display_name: Type.Optional(Nullable(DisplayName)),
    ou_id: Type.Optional(Nullable(OuId)),
    status: Type.Optional({ ...Status, default: 'active' }),
    custom_attributes: Type.Optional(Nullable(Attributes)),
    external_id: Type.Optional(Nullable(ExternalId)),
  },
  { $id: 'UserCreate', description: 'Schema for creating a user.', additionalProperties: false },
);

export const UserUpdate = Type.Object(
  {
    email: Type.Optional(Email),
    display_name: Type.Optional(Nullable(DisplayName)),
    ou_id: Type.Optional(Nullable(OuId)),
    status: Type.Optional(Status),
    custom_attributes: Type.Optional(Nullable(Attributes)),
    external_id: Type.Optional(Nullable(ExternalId, 'Absent: unchanged; null: cleared.')),
  },
  { $id: 'UserUpdate', description: 'Schema for updating a user: absent fields are unchanged.', additionalProperties: false },
);

export const UserResponse = Type.Object(
  {
    id: Type.String(),
    email: Type.String({ format: 'email' }),
    display_name: Nullable(Type.String()),
    ou_id: Nullable(Type.String()),
    status: Status,
    custom_attributes: Nullable(Attributes),
    external_id: Nullable(ExternalId),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'UserResponse', description: 'A user of a tenant.' },
);

export const ApiResponseUserResponse = apiResponse('ApiResponse_UserResponse_', ref(UserResponse));
export const PaginatedResponseUserResponse = paginatedResponse('PaginatedResponse_UserResponse_', ref(UserResponse));
/**
 * The contract's name for the OU-users page (`GET …/ous/{ou_id}/users`), whose items it leaves
 * untyped (`array of any`): the same JSON, with its items declared, so that a generated client
 * reads them as users.
 */
export const PaginatedResponse = paginatedResponse('PaginatedResponse', ref(UserResponse), 'Paginated API response wrapper: a page of an OU\'s users.');
export const UserStatus = Status;

export const userSchemas = [UserCreate, UserUpdate, UserResponse, ApiResponseUserResponse, PaginatedResponseUserResponse, PaginatedResponse];
