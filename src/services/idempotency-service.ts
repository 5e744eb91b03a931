import { randomUUID } from 'node:crypto';
import { pick } from '../db/repositories/index.js';
import type { IdempotencyKeyRow } from '../db/repositories/idempotency-repository.js';
import type { Store } from '../db/store.js';
import { ConflictError, RequestValidationError } from '../errors.js';

/**
 * How long a running request holds its key. A request that outlives it (its instance died)
 * lets a retry take the key over; longer than any request runs, short enough that a crash
 * blocks a retry for only a couple of minutes.
 */
const CLAIM_LEASE_MS = 120_000;

export type ClaimOutcome =
  | { kind: 'claimed'; claim: string }
  | { kind: 'replay'; status: number; headers: Record<string, string>; body: string };

export interface IdempotencyServiceDeps {
  store: Pick<Store, 'db'>;
  /** How long a stored response is replayed (ARBOR_IDEMPOTENCY_TTL_HOURS). */
  ttlMs: number;
  now?: () => number;
}

const keyReused = () =>
  new RequestValidationError([
    {
      loc: ['header', 'idempotency-key'],
      msg: 'This Idempotency-Key was already used with a different request (method, URL or body). Use a new key for a new request.',
      type: 'idempotency.key_reused',
    },
  ]);

const inProgress = () =>
  new ConflictError('idempotency.in_progress', 'A request with this Idempotency-Key is still being processed. Retry in a few seconds to get its response.');

/**
 * Idempotency-Key (IETF httpapi draft, as Stripe does it): the first request with a key claims
 * it; its response is stored with its change (unit-of-work.ts) and replayed to every retry
 * for the TTL. Claims and lookups are single statements outside the write's transaction.
 */
export function createIdempotencyService({ store, ttlMs, now = () => Date.now() }: IdempotencyServiceDeps) {
  const repos = pick(store.db, ['idempotencyKeys']);

  return {
    /** Claims `key` for a request with `fingerprint`, or returns the stored response to replay. */
    async claim(scope: string, key: string, fingerprint: string): Promise<ClaimOutcome> {
      for (let attempt = 0; attempt < 3; attempt++) {
        const at = now();
        const row: IdempotencyKeyRow = {
          scope,
          key,
          fingerprint,
          claim: randomUUID(),
          claimed_until: new Date(at + CLAIM_LEASE_MS).toISOString(),
          response_status: null,
          response_headers: null,
          response_body: null,
          created_at: new Date(at).toISOString(),
          expires_at: new Date(at + ttlMs).toISOString(),
        };
        const claimed = { kind: 'claimed', claim: row.claim as string } as const;
        if (await repos.idempotencyKeys.insertClaim(row)) return claimed;
        const existing = await repos.idempotencyKeys.get(scope, key);
        if (!existing) continue; // released meanwhile: try to claim again
        const iso = new Date(at).toISOString();
        if (existing.expires_at <= iso) {
          if (await repos.idempotencyKeys.takeOver(existing, row)) return claimed;
          continue;
        }
        if (existing.fingerprint !== fingerprint) throw keyReused();
        if (existing.claim === null) {
          return {
            kind: 'replay',
            status: existing.response_status ?? 200,
            headers: JSON.parse(existing.response_headers ?? '{}') as Record<string, string>,
            body: existing.response_body ?? 'null',
          };
        }
        if (existing.claimed_until > iso) throw inProgress();
        if (await repos.idempotencyKeys.takeOver(existing, row)) return claimed;
      }
      throw inProgress();
    },

    /** Gives the key back: the request stored no response (it failed, or was a dry run). */
    async release(scope: string, key: string, claim: string): Promise<void> {
      await repos.idempotencyKeys.release(scope, key, claim);
    },

    /** Deletes stored responses past their TTL, in batches; returns how many. */
    async pruneExpired(limit = 10_000): Promise<number> {
      return repos.idempotencyKeys.prune(new Date(now()).toISOString(), limit);
    },
  };
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;
