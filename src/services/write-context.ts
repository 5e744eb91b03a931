/** Who made a change, as its events record it. */
export interface Actor {
  /** `client`: an Arbor API client's token; `external`: an external identity provider's; `cli`: a command on the server. */
  type: 'client' | 'external' | 'cli' | 'system';
  /** The token's subject (for an Arbor client, its client id), or the operating-system user of a CLI. */
  id: string;
  client_id: string | null;
}

/** A response as stored for an idempotent replay. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The Idempotency-Key a request claimed: the unit of work stores its response with the change. */
export interface IdempotencyClaim {
  scope: string;
  key: string;
  claim: string;
  /** The response to store for `result` (the service's return value). */
  respond(result: unknown): StoredResponse;
  /** Set once the response was committed with the change. */
  stored: boolean;
}

/** What every write carries besides its input: who, which request, and how to carry it out. */
export interface WriteContext {
  actor: Actor;
  requestId: string | null;
  /** Ties together the events of one operation (a request, an import job). */
  correlationId: string | null;
  /** The W3C trace id of the request (its `traceparent`'s, or one Arbor started), stored on its events; null outside a request. */
  traceId: string | null;
  /** The If-Match header: the write fails with 412 unless the resource's current ETag matches. */
  ifMatch?: string;
  /** Run every check and compute the result, then roll back: nothing changes, no event is written. */
  dryRun?: boolean;
  idempotency?: IdempotencyClaim;
}

/** A write made by Arbor itself or by code that has no request (tests, seeders). */
export function systemWrite(overrides: Partial<WriteContext> = {}): WriteContext {
  return { actor: { type: 'system', id: 'arbor', client_id: null }, requestId: null, correlationId: null, traceId: null, ...overrides };
}
