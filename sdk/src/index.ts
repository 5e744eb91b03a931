/**
 * @arbor/sdk: a typed client of Arbor's API. `./generated` is made from Arbor's OpenAPI document
 * by @hey-api/openapi-ts (`npm run sdk:generate`; a test fails when it is stale): one function per
 * operation, named by its operationId, with typed parameters, bodies, answers and errors. This
 * file adds what a generator cannot: tokens by client credentials (fetched when needed, renewed
 * before they expire and after a 401), retries of what is safe to retry (with an Idempotency-Key
 * on every POST and PATCH, so that a retried write happens once), `for await` over every item of
 * a listing, and the change feed as an endless loop.
 */
import { type Client, createClient, createConfig } from './generated/client/index.js';
import type { EventResponse } from './generated/types.gen.js';
import { listEvents } from './generated/sdk.gen.js';

export * from './generated/sdk.gen.js';
export type * from './generated/types.gen.js';
export type { Client } from './generated/client/index.js';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes, a subset of the client's; absent: all of them. */
  scope?: string;
}

export interface ArborClientOptions {
  /** Where Arbor listens, e.g. `https://arbor.example.com` (no trailing path). */
  baseUrl: string;
  /** Get tokens with these (OAuth 2.0 client credentials at `/oauth/token`). */
  credentials?: ClientCredentials;
  /** Or a token you already have (or a function that gives one, called before every request). */
  token?: string | (() => string | Promise<string>);
  /** With `credentials`: a token kept from an earlier run, used while it is valid. */
  cachedToken?: AccessToken;
  /** With `credentials`: told of every new token (a CLI keeps it for its next run). */
  onToken?: (token: AccessToken) => void;
  /** Attempts of a request that can be retried (429, 502, 503, 504, a network error); default 4. */
  attempts?: number;
  /** Longest wait between two attempts, in ms, whatever Retry-After says; default 10,000. */
  maxRetryDelayMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface AccessToken {
  value: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface ArborClient {
  /** Pass as `client` to any operation of this package: `listOus({ client, path: { tenant_id } })`. */
  client: Client;
  /** A valid access token (fetched or renewed if needed). */
  accessToken(): Promise<string>;
}

/** A token refused by the token endpoint, or a token endpoint that cannot be reached. */
export class ArborAuthError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly error?: string,
  ) {
    super(message);
    this.name = 'ArborAuthError';
  }
}

const RETRIED_STATUSES = new Set([429, 502, 503, 504]);
/** Renewed this long before it expires, so that no request carries a token about to lapse. */
const EARLY_RENEWAL_MS = 60_000;

export function createArborClient(options: ArborClientOptions): ArborClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const attempts = Math.max(1, options.attempts ?? 4);
  const maxDelay = options.maxRetryDelayMs ?? 10_000;
  const tokens = tokenSource(baseUrl, options, fetchImpl);

  const retryingFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const original = new Request(input, init);
    const signal = original.signal;
    // A write sent twice must happen once: Arbor replays the first answer to a retry with the same key.
    const keyed = (original.method === 'POST' || original.method === 'PATCH') && !original.headers.has('idempotency-key') && new URL(original.url).pathname.startsWith('/api/');
    if (keyed) original.headers.set('idempotency-key', crypto.randomUUID());
    let renewed = false;
    // A caller that sends its own Authorization header keeps it, and its 401.
    const ownAuthorization = original.headers.has('authorization');
    for (let attempt = 1; ; attempt++) {
      const request = original.clone();
      if (tokens && !ownAuthorization && new URL(request.url).pathname.startsWith('/api/')) {
        request.headers.set('authorization', `Bearer ${await tokens.get()}`);
      }
      let response: Response;
      try {
        response = await fetchImpl(request);
      } catch (error) {
        // Aborted by the caller: not a failure to retry.
        if (signal.aborted || attempt >= attempts || !retriable(original)) throw error;
        await sleep(backoff(attempt, maxDelay), signal);
        continue;
      }
      // A token revoked or signed by a key rotated away: one new token, one more try.
      if (response.status === 401 && tokens?.renewable && !renewed && !ownAuthorization) {
        renewed = true;
        tokens.forget();
        await response.body?.cancel();
        continue;
      }
      // The first attempt of this write is still running on the server (its answer was lost):
      // the same key again, a moment later, gets its answer.
      const stillRunning = keyed && response.status === 409 && (await errorCode(response)) === 'idempotency.in_progress';
      if ((!RETRIED_STATUSES.has(response.status) && !stillRunning) || attempt >= attempts || !retriable(original)) return response;
      const wait = retryAfterMs(response.headers.get('retry-after')) ?? backoff(attempt, maxDelay);
      await response.body?.cancel();
      await sleep(Math.min(wait, maxDelay), signal);
    }
  };

  const client = createClient(createConfig({ baseUrl, fetch: retryingFetch as typeof fetch }));
  return {
    client,
    accessToken: async () => {
      if (!tokens) throw new ArborAuthError('No credentials or token were given to createArborClient.');
      return tokens.get();
    },
  };
}

/**
 * Safe to send again: a read, a DELETE or PUT (idempotent by definition: a DELETE whose first
 * attempt went through answers 404 the second time), a write with an Idempotency-Key.
 */
function retriable(request: Request): boolean {
  return ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].includes(request.method) || request.headers.has('idempotency-key');
}

function backoff(attempt: number, maxDelay: number): number {
  // Exponential with full jitter: 0.25 s, 0.5 s, 1 s, ... at most maxDelay.
  return Math.random() * Math.min(maxDelay, 250 * 2 ** (attempt - 1));
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The `code` of an error answer, read from a copy (the answer itself stays readable). */
async function errorCode(response: Response): Promise<unknown> {
  try {
    return ((await response.clone().json()) as { code?: unknown }).code;
  } catch {
    return undefined;
  }
}

interface TokenSource {
  get(): Promise<string>;
  forget(): void;
  /** Whether a new token can be had (credentials, or a function): a fixed token cannot be renewed. */
  renewable: boolean;
}

function tokenSource(baseUrl: string, options: ArborClientOptions, fetchImpl: typeof fetch): TokenSource | null {
  const { credentials, token } = options;
  if (typeof token === 'string') return { get: async () => token, forget: () => {}, renewable: false };
  if (typeof token === 'function') return { get: async () => token(), forget: () => {}, renewable: true };
  if (!credentials) return null;
  const renewAtOf = (expiresAt: number, lifetimeMs: number) => expiresAt - Math.min(EARLY_RENEWAL_MS, lifetimeMs / 2);
  let current: { value: string; renewAt: number } | null = options.cachedToken
    ? { value: options.cachedToken.value, renewAt: renewAtOf(options.cachedToken.expiresAt, EARLY_RENEWAL_MS * 2) }
    : null;
  let pending: Promise<string> | null = null;
  const fetchToken = async (): Promise<string> => {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (credentials.scope) form.set('scope', credentials.scope);
    const basic = btoa(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`);
    let response: Response;
    try {
      response = await fetchImpl(`${baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
    } catch (error) {
      throw new ArborAuthError(`Cannot reach ${baseUrl}/oauth/token: ${(error as Error).message}`);
    }
    const body = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
    if (!response.ok || typeof body.access_token !== 'string') {
      throw new ArborAuthError(`The token endpoint refused client ${credentials.clientId}: ${body.error ?? response.status}${body.error_description ? ` (${body.error_description})` : ''}`, response.status, body.error);
    }
    const lifetimeMs = (body.expires_in ?? 60) * 1000;
    const expiresAt = Date.now() + lifetimeMs;
    current = { value: body.access_token, renewAt: renewAtOf(expiresAt, lifetimeMs) };
    options.onToken?.({ value: body.access_token, expiresAt });
    return body.access_token;
  };
  return {
    renewable: true,
    async get() {
      if (current && Date.now() < current.renewAt) return current.value;
      // One request for a token, however many calls need one at once.
      pending ??= fetchToken().finally(() => (pending = null));
      return pending;
    },
    forget() {
      current = null;
    },
  };
}

/** A listing operation of this package: takes `query.cursor`, answers `{ data, next_cursor }`. */
type Listing<O, T> = (options: O & { client?: Client; throwOnError: true }) => Promise<{ data: { data: T[]; next_cursor?: string | null } }>;

/**
 * Every item of a listing, page after page by `next_cursor` (each page costs the same, however
 * deep): `for await (const ou of each(arbor, listOus, { path: { tenant_id } })) …`. A page that
 * fails throws (the retries above included).
 */
export async function* each<O extends { query?: object }, T>(arbor: ArborClient, operation: Listing<O, T>, options: O): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const { data: page } = await operation({ ...options, client: arbor.client, throwOnError: true, query: { ...options.query, ...(cursor ? { cursor } : {}) } });
    yield* page.data;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
}

export interface FollowOptions {
  /** Start after this seq (default 0: from the oldest event kept); ignored when `cursor` is given. */
  after?: number;
  /** Resume from a `next_cursor` you kept. */
  cursor?: string;
  /** Event types, e.g. `ou.*,user.moved`. */
  type?: string;
  /** Seconds each long poll waits for an event (default 30, the most Arbor holds one). */
  wait?: number;
  /** Stops the loop (it then returns). */
  signal?: AbortSignal;
}

/**
 * The tenant's change feed, forever: each event once, in seq order, by long polls that wait for
 * the next write. Keep `event.seq` (or the cursor) to resume after a restart. A feed cursor older
 * than the events kept throws (`events.cursor_expired`): read a snapshot again, then follow on.
 */
export async function* follow(arbor: ArborClient, tenantId: string, options: FollowOptions = {}): AsyncGenerator<EventResponse> {
  let position: { cursor?: string; after?: number } = options.cursor ? { cursor: options.cursor } : { after: options.after ?? 0 };
  while (!options.signal?.aborted) {
    const { data: page } = await listEvents({
      client: arbor.client,
      throwOnError: true,
      path: { tenant_id: tenantId },
      query: { ...position, wait: options.wait ?? 30, ...(options.type ? { type: options.type } : {}) },
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch((error: unknown) => {
      if (options.signal?.aborted) return { data: null };
      throw error;
    });
    if (!page) return;
    yield* page.data;
    // Oldest first the feed never ends: a cursor always comes (null ends only a newest-first read).
    if (page.next_cursor === null) return;
    position = { cursor: page.next_cursor };
  }
}
