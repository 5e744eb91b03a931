import { ERROR_CODES, type ErrorCode } from '../error-codes.js';
import { type Static, type TProperties, type TSchema, Type } from 'typebox';

/**
 * A reference to a named schema: `{"$ref": "OUResponse"}` on the wire (so the OpenAPI document
 * names it as a component), the referenced type in TypeScript.
 */
export function ref<T extends TSchema & { $id?: string }>(schema: T) {
  if (!schema.$id) throw new Error('ref() needs a schema with an $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id));
}

/** `T | null`. The description goes on the union, where OpenAPI tools look for it. */
export function Nullable<T extends TSchema>(schema: T, description?: string) {
  const text = description ?? (schema as { description?: string }).description;
  return Type.Union([schema, Type.Null()], text ? { description: text } : {});
}

/** A success response: the named body schema, described as FastAPI describes it. */
export function success<T extends TSchema>(schema: T) {
  return Type.Unsafe<Static<T>>({ ...schema, description: 'Successful Response' } as never);
}

/** The ETag response header (declared for OpenAPI; http/write-context.ts sets it). */
export const ETagResponseHeader = {
  type: 'string',
  description: "Strong validator of this resource's representation (its `data`): send it as If-None-Match or If-Match.",
};

/** A success response with one resource: its named body schema and its ETag header. */
export function resource<T extends TSchema>(schema: T) {
  return Type.Unsafe<Static<T>>({ ...schema, description: 'Successful Response', headers: { etag: ETagResponseHeader } } as never);
}

/** Free-form JSON object of the client's own attributes. */
export const Attributes = Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true } as never);

export const MetaResponse = Type.Object(
  {
    request_id: Type.Optional(Nullable(Type.String())),
    timestamp: Type.Optional(Type.String({ format: 'date-time' })),
    event_seq: Type.Optional(
      Type.Integer({ description: 'Lists and the tree: the last event seq this answer reflects (read in one snapshot); follow the feed with after=event_seq.' }),
    ),
    dry_run: Type.Optional(
      Type.Object(
        { descendant_paths_changed: Type.Integer({ description: 'How many descendants would get a new path.' }) },
        { description: 'Set on the answer to a PATCH with dry_run=true: nothing was changed.' },
      ),
    ),
  },
  { $id: 'MetaResponse', description: 'Metadata included in API responses.' },
);

export const PaginationMeta = Type.Object(
  {
    page: Type.Integer(),
    per_page: Type.Integer(),
    total_items: Type.Integer(),
    total_pages: Type.Integer(),
  },
  { $id: 'PaginationMeta', description: 'Pagination metadata.' },
);

const NextCursor = Nullable(
  Type.String({ description: 'Pass as `cursor` to read the next page (same `per_page` and filters); null on the last page. Walking a listing by cursor costs its length, whatever its size.' }),
);

/** `ApiResponse[T]` of the spec: `{data, meta}`. */
export function apiResponse<T extends TSchema>(id: string, data: T) {
  return Type.Object({ data, meta: Type.Optional(ref(MetaResponse)) }, { $id: id });
}

/** `PaginatedResponse[T]` of the spec: `{data, pagination, meta}`. */
export function paginatedResponse<T extends TSchema>(id: string, item: T, description?: string) {
  return Type.Object(
    { data: Type.Array(item), pagination: ref(PaginationMeta), next_cursor: Type.Optional(NextCursor), meta: Type.Optional(ref(MetaResponse)) },
    { $id: id, ...(description === undefined ? {} : { description }) },
  );
}

export const ValidationError = Type.Object(
  {
    loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
    msg: Type.String(),
    type: Type.String(),
  },
  { $id: 'ValidationError' },
);

export const HTTPValidationError = Type.Object(
  { detail: Type.Optional(Type.Array(ref(ValidationError))) },
  { $id: 'HTTPValidationError' },
);

export const ErrorResponse = Type.Object(
  {
    detail: Type.String({ description: 'What went wrong, and what to do about it, in one sentence.' }),
    code: Type.Unsafe<ErrorCode>({
      type: 'string',
      enum: Object.keys(ERROR_CODES),
      // Read by generators that name enum values (openapi-generator) and by docs/api.
      'x-enum-descriptions': Object.values(ERROR_CODES),
      description: 'Stable machine-readable key, e.g. `ou.not_found`: one of these, each with its meaning in `x-enum-descriptions`. New codes may be added; a client treats an unknown one by its status.',
    }),
  },
  { $id: 'ErrorResponse', description: 'Every error other than a validation error.' },
);

export const PageQuery = {
  // The upper bound keeps the offset an exact 64-bit integer for the database.
  page: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 1 }),
  per_page: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(
    Nullable(Type.String({ maxLength: 1024, description: "The previous page's `next_cursor`: the page after it (`page` is then ignored)." })),
  ),
};

/**
 * A query-string schema whose parameters with a default are optional on the wire (OpenAPI shows
 * them so) but always present in the handler: validation fills the default in.
 */
export function Query<T extends TProperties>(properties: T) {
  const schema = Type.Object(properties);
  const required = ((schema.required ?? []) as string[]).filter((name: string) => !('default' in (properties[name] as object)));
  return Object.assign(schema, { required: required.length > 0 ? required : undefined });
}

/** Path ids: opaque strings; an unknown one is a 404, an absurd one a 422. */
export const IdParam = Type.String({ minLength: 1, maxLength: 64 });

const error = (description: string) => ({ ...ref(ErrorResponse), description });

/** The error responses a route may return, by status; every route declares the ones it can. */
export const errors = {
  401: error('Missing, malformed, expired or badly signed bearer token.'),
  403: error('The token lacks the scope, or belongs to another tenant.'),
  404: error('The tenant or the resource does not exist (or belongs to another tenant).'),
  409: error('Conflicts with the current state.'),
  413: error('The request body is larger than the limit.'),
  415: error('The request body is not JSON.'),
  410: error('The feed cursor is older than the events kept (events.cursor_expired): re-read a snapshot.'),
  412: {
    ...error('If-Match does not match the current ETag (precondition_failed); the answer carries the current ETag.'),
    headers: { etag: { type: 'string', description: 'The current ETag of the resource.' } },
  },
  422: { ...ref(HTTPValidationError), description: 'Validation Error' },
  503: error('The server is not configured for this (webhook.secrets_key_missing: ARBOR_SECRETS_KEY is not set).'),
} as const;

/** 304 to a GET whose If-None-Match names the current ETag: no body. */
export const NotModified = Type.Unsafe<null>({ type: 'null', description: 'Not Modified: the If-None-Match ETag is current.', headers: { etag: ETagResponseHeader } });

const ETagHeader = Type.String({ maxLength: 1024 });

/** Headers of a GET of one resource. */
export const ReadHeaders = Type.Object({
  'if-none-match': Type.Optional({ ...ETagHeader, description: 'An ETag from an earlier answer: 304 if it is still current.' }),
});

/** Headers of a PATCH or DELETE of one resource. */
export const ConditionalWriteHeaders = Type.Object({
  'if-match': Type.Optional({ ...ETagHeader, description: 'The ETag you read (or *): 412 unless it is still current, checked in the write transaction.' }),
});

/** `dry_run` of a PATCH or DELETE. */
export const DryRunQuery = {
  dry_run: Type.Boolean({ default: false, description: 'true: run every check and answer what would happen; change nothing, write no event.' }),
};

export const commonSchemas = [
  MetaResponse,
  PaginationMeta,
  ValidationError,
  HTTPValidationError,
  ErrorResponse,
];

/** The identifier a source directory gave an OU or user (entryUUID, objectGUID): unique per tenant, matched first by imports. */
export const ExternalId = Type.String({
  minLength: 1,
  maxLength: 255,
  description: "The source directory's identifier for this entry (OpenLDAP entryUUID, Active Directory objectGUID): optional, unique per tenant; imports match by it first.",
});
