import type { Generated } from 'kysely';

/** Row types of Arbor's tables, as Kysely sees them. Timestamps are RFC 3339 UTC strings. */
export interface TenantTable {
  id: string;
  name: string;
  /** The name as a search compares it: NFC, lowercased (set by the repository from `name`). */
  name_key: Generated<string>;
  slug: string;
  /** OUs in the tenant, maintained on every write. */
  ou_count: Generated<number>;
  /** Raised by every write to the tenant's OUs: a read can tell whether they changed. */
  ou_version: Generated<number>;
  /** What an external principal with no role assignment may do: `tenant` (everything) or `none`. */
  external_default: Generated<'tenant' | 'none'>;
  created_at: string;
  updated_at: string;
}

export interface OrgUnitTable {
  tenant_id: string;
  id: string;
  /** The truth of the hierarchy; everything below is derived from it and kept in step. */
  parent_id: string | null;
  name: string;
  /** Lower-cased name: sibling uniqueness and search compare this. */
  name_key: string;
  description: string | null;
  /** JSON text, or null. */
  custom_attributes: string | null;
  /** `/` + names from the root, e.g. `/Engineering/Backend`. */
  path: string;
  /** `/` + ids from the root + `/`, e.g. `/ou_a/ou_b/`: a subtree is one index range. */
  id_path: string;
  /** 1 for a root OU. */
  depth: number;
  /** Direct child OUs, maintained on every write. */
  child_ou_count: Generated<number>;
  /** Direct users, maintained on every write. */
  user_count: Generated<number>;
  /** Users of this OU and all its descendants, maintained on every write. */
  subtree_user_count: Generated<number>;
  /**
   * Raised by every write that changes this OU's children as GET shows them (one added, removed,
   * renamed or moved; a child's user count): migration 0010. A new path above them changes the
   * OU's own path too, which a kept answer is also compared on.
   */
  children_version: Generated<number>;
  /** The source directory's identifier (entryUUID, objectGUID), unique per tenant; null: none (migration 0011). */
  external_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface UserTable {
  tenant_id: string;
  id: string;
  email: string;
  /** Lower-cased email: uniqueness per tenant is case-insensitive. */
  email_key: string;
  display_name: string | null;
  /** Lower-cased display name for search (SQLite's lower() only folds ASCII). */
  display_name_key: string | null;
  ou_id: string | null;
  status: 'active' | 'disabled';
  custom_attributes: string | null;
  /** The source directory's identifier (entryUUID, objectGUID), unique per tenant; null: none (migration 0011). */
  external_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface SigningKeyTable {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
  /** Set when a newer key took over signing. */
  retired_at: string | null;
}

export interface ApiClientTable {
  id: string;
  /** Null for a platform client. */
  tenant_id: string | null;
  name: string;
  /** scrypt$N$r$p$salt$hash, all base64url. */
  secret_hash: string;
  /** Space-separated. */
  scopes: string;
  created_at: string;
}

export interface Database {
  tenants: TenantTable;
  org_units: OrgUnitTable;
  users: UserTable;
  signing_keys: SigningKeyTable;
  api_clients: ApiClientTable;
  store_probe: StoreProbeTable;
  events: EventTable;
  idempotency_keys: IdempotencyKeyTable;
  role_assignments: RoleAssignmentTable;
  webhooks: WebhookTable;
  webhook_deliveries: WebhookDeliveryTable;
  import_jobs: ImportJobTable;
}

/** An import (migration 0011, services/import-service.ts): options, progress and report; never the file. */
export interface ImportJobTable {
  tenant_id: string;
  id: string;
  state: 'running' | 'succeeded' | 'failed';
  phase: 'reading' | 'applying' | 'done';
  format: 'ldif' | 'csv' | 'json';
  /** JSON of the job's options. */
  options: string;
  /** JSON of the counters. */
  progress: string;
  /** JSON list of rejected entries. */
  rejected: string;
  error: string | null;
  /** JSON actor `{type, id, client_id}`. */
  created_by: string;
  owner: string | null;
  heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** A role a principal holds in a tenant, over the whole tenant or one OU's subtree (migration 0007). */
export interface RoleAssignmentTable {
  tenant_id: string;
  id: string;
  principal_type: 'client' | 'external';
  /** An API client's id, or the `sub` of an external identity provider's token. */
  principal_id: string;
  role: string;
  /** Null: the whole tenant. */
  ou_id: string | null;
  expires_at: string | null;
  created_at: string;
  /** JSON actor `{type, id, client_id}`. */
  created_by: string;
}

/** One row, rewritten by the readiness check's write probe (migration 0005). */
export interface StoreProbeTable {
  id: number;
  probed_at: string;
}

/** The audit log and change feed: one row per change of one resource (migration 0006). */
export interface EventTable {
  tenant_id: string;
  /**
   * Per tenant: 1, 2, 3, ... in commit order, never reused: the next is the tenant's largest
   * plus one, taken under the tenant's lock, and retention always keeps a live tenant's newest.
   */
  seq: number;
  id: string;
  type: string;
  occurred_at: string;
  /** JSON `{type, id, client_id}`. */
  actor: string;
  request_id: string | null;
  correlation_id: string | null;
  resource_type: string;
  resource_id: string;
  /** JSON `{before, after}`. */
  data: string;
  /**
   * The id_paths of the OUs the resource was in before and after, ' '-separated (null: none, a
   * tenant or a client): a reader scoped to OU X sees the events whose paths contain `/X/`.
   */
  ou_paths: string | null;
  /** The W3C trace id of the request that wrote the event (32 hex digits); null outside a request (migration 0009). */
  trace_id: string | null;
}

/** A request made with an Idempotency-Key: claimed while it runs, then its stored response. */
export interface IdempotencyKeyTable {
  /** Whose key: `<tenant id or ->` + ` ` + the token's client (or subject). */
  scope: string;
  key: string;
  /** SHA-256 of method, route and body: the same key with another request is refused. */
  fingerprint: string;
  /** Who holds the claim while the first request runs; null once its response is stored. */
  claim: string | null;
  /** Until when a claim holds; after it (the instance died) another request may take the key over. */
  claimed_until: string;
  response_status: number | null;
  /** JSON object of the response headers worth replaying (ETag). */
  response_headers: string | null;
  /** JSON text of the response body. */
  response_body: string | null;
  created_at: string;
  expires_at: string;
}

/** A webhook subscription, and where its ordered delivery stands (migration 0008). */
export interface WebhookTable {
  tenant_id: string;
  id: string;
  url: string;
  description: string | null;
  /** JSON array of patterns: exact types, `<resource>.*`, or `*`. */
  event_types: string;
  /** 1 or 0. */
  enabled: number;
  disabled_reason: 'manual' | 'gone' | 'failing' | null;
  /** The signing secret, encrypted (services/webhook-secrets.ts). */
  secret: string;
  /** The secret before the last rotation, encrypted, signed with too until it expires. */
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  /** The last seq of the tenant's feed this subscription has handled. */
  cursor_seq: number;
  /** When the head event may be tried again; null: now. */
  next_attempt_at: string | null;
  /** The first failure since the last success. */
  failing_since: string | null;
  /** The instance working this subscription, until `lease_until`. */
  lease_owner: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}

/** One message to one subscription, and how its attempts went (migration 0008). */
export interface WebhookDeliveryTable {
  tenant_id: string;
  id: string;
  webhook_id: string;
  event_id: string;
  /** Null for a ping. */
  event_seq: number | null;
  event_type: string;
  /** 1: the head of the ordered stream; 0: a ping or a manual re-send. */
  in_sequence: number;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_response_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  last_response_body: string | null;
  lease_owner: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}
