import { LRUCache } from 'lru-cache';
import type { Store } from '../db/store.js';
import { repositories } from '../db/repositories/index.js';
import { OAuthError } from '../errors.js';
import { UNMATCHABLE_HASH, verifySecret } from './secret-hash.js';
import { type TokenService, parseScopes } from './token-service.js';

export const MAX_CLIENT_ID_LENGTH = 128;

export interface TokenRequest {
  grantType: string | undefined;
  clientId: string | undefined;
  clientSecret: string | undefined;
  scope: string | undefined;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export interface OAuthServiceDeps {
  store: Pick<Store, 'db'>;
  tokens: Pick<TokenService, 'sign' | 'ttlSeconds'>;
  /** Failed client authentications allowed per client id per window. */
  failedAuthLimit: number;
  windowMs?: number;
  now?: () => number;
}

/** The client_credentials grant (RFC 6749 §4.4), with brute-force protection per client id. */
export function createOAuthService({ store, tokens, failedAuthLimit, windowMs = 60_000, now = () => Date.now() }: OAuthServiceDeps) {
  const repos = repositories(store.db);
  // Per instance and in memory: with N instances an attacker gets N times the budget, which
  // still leaves a generated 256-bit secret unguessable. Bounded in entries and in age.
  const attempts = new LRUCache<string, { count: number; windowStart: number }>({ max: 10_000, ttl: windowMs });

  /**
   * Counts an attempt before the (slow) secret check, so that concurrent guesses cannot all
   * pass the limit while the first ones are still being hashed; null when within the limit,
   * else the seconds to wait. A successful attempt is taken back by `succeeded`.
   */
  function begin(clientId: string): number | null {
    let entry = attempts.get(clientId);
    if (!entry || now() - entry.windowStart >= windowMs) {
      entry = { count: 0, windowStart: now() };
      attempts.set(clientId, entry);
    }
    if (entry.count >= failedAuthLimit) return Math.max(1, Math.ceil((entry.windowStart + windowMs - now()) / 1000));
    entry.count += 1;
    return null;
  }

  function succeeded(clientId: string): void {
    const entry = attempts.get(clientId);
    if (entry && entry.count > 0) entry.count -= 1;
  }

  return {
    async issue(request: TokenRequest): Promise<TokenResponse> {
      if (request.grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required.');
      if (request.grantType !== 'client_credentials') {
        throw new OAuthError(400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported.');
      }
      if (!request.clientId || request.clientSecret === undefined) {
        throw new OAuthError(401, 'invalid_client', 'Client authentication is required (client_secret_basic or client_secret_post).', {
          'www-authenticate': 'Basic realm="arbor"',
        });
      }
      // No client id is this long (generated ones are 30 characters): refuse without keeping state.
      if (request.clientId.length > MAX_CLIENT_ID_LENGTH) {
        throw new OAuthError(401, 'invalid_client', 'Client authentication failed.', { 'www-authenticate': 'Basic realm="arbor"' });
      }
      const wait = begin(request.clientId);
      if (wait !== null) {
        throw new OAuthError(429, 'too_many_requests', `Too many failed authentications for this client; retry in ${wait} s.`, {
          'retry-after': String(wait),
        });
      }
      const client = await repos.apiClients.getForAuthentication(request.clientId);
      // Spend the same time on an unknown id as on a wrong secret: no probing for valid ids.
      const isValid = await verifySecret(request.clientSecret, client?.secret_hash ?? UNMATCHABLE_HASH);
      if (!client || !isValid) {
        throw new OAuthError(401, 'invalid_client', 'Client authentication failed.', { 'www-authenticate': 'Basic realm="arbor"' });
      }
      succeeded(request.clientId);
      const allowed = parseScopes(client.scopes);
      const requested = request.scope === undefined ? allowed : parseScopes(request.scope);
      if (request.scope !== undefined && requested.length === 0) throw new OAuthError(400, 'invalid_scope', 'scope is empty.');
      const refused = requested.filter((s) => !allowed.includes(s));
      if (refused.length > 0) {
        throw new OAuthError(400, 'invalid_scope', `This client may not request: ${refused.join(' ')}. Its scopes are: ${allowed.join(' ')}.`);
      }
      const accessToken = await tokens.sign({ subject: client.id, tenantId: client.tenant_id ?? undefined, scopes: requested });
      return { access_token: accessToken, token_type: 'Bearer', expires_in: tokens.ttlSeconds, scope: requested.join(' ') };
    },
  };
}

export type OAuthService = ReturnType<typeof createOAuthService>;
