import { randomUUID } from 'node:crypto';
import {
  type CryptoKey,
  type JWK,
  type JWTPayload,
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
} from 'jose';
import type { Store } from '../db/database.js';
import { repositories } from '../db/repositories/index.js';
import { UnauthorizedError } from '../errors.js';

export const ALGORITHM = 'ES256';
export const TOKEN_TYPE = 'at+jwt';
export const PLATFORM_SCOPE = 'platform:admin';
export const TENANT_SCOPES = ['ous:read', 'ous:write', 'users:read', 'users:write', 'tenants:read', 'tenants:write'] as const;
export type TenantScope = (typeof TENANT_SCOPES)[number];
export type Scope = TenantScope | typeof PLATFORM_SCOPE;

/** Who is calling: set on every authenticated request by the auth hook. */
export type Principal =
  | { kind: 'platform'; subject: string; scopes: ReadonlySet<string> }
  | { kind: 'tenant'; subject: string; tenantId: string; scopes: ReadonlySet<string> };

export interface TokenServiceDeps {
  store: Pick<Store, 'db'>;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

// Leeway for clocks of different machines; RFC 8725 practice is seconds, not minutes.
const CLOCK_TOLERANCE_SECONDS = 30;
// A token with a kid we don't know triggers a reload (another instance may have added a key),
// but not more often than this, so garbage kids cannot hammer the store.
const RELOAD_INTERVAL_MS = 10_000;

function invalid(detail: string): UnauthorizedError {
  return new UnauthorizedError('auth.invalid_token', detail);
}

/** Signs and verifies Arbor's access tokens with asymmetric keys kept in the store. */
export function createTokenService({ store, issuer, audience, ttlSeconds }: TokenServiceDeps) {
  const repos = repositories(store.db);
  let keys: LoadedKey[] = [];
  let loadedAt = 0;

  async function load(): Promise<void> {
    const rows = await repos.signingKeys.listNewestFirst();
    keys = await Promise.all(
      rows.map(async (row) => ({
        kid: row.kid,
        privateKey: (await importJWK(JSON.parse(row.private_jwk) as JWK, row.alg)) as CryptoKey,
        publicKey: (await importJWK(JSON.parse(row.public_jwk) as JWK, row.alg)) as CryptoKey,
      })),
    );
    loadedAt = Date.now();
  }

  async function keyFor(kid: string | undefined): Promise<CryptoKey> {
    if (kid === undefined) throw invalid('The token has no key id (kid).');
    let key = keys.find((k) => k.kid === kid);
    if (!key && Date.now() - loadedAt > RELOAD_INTERVAL_MS) {
      await load();
      key = keys.find((k) => k.kid === kid);
    }
    if (!key) throw invalid('The token was signed by a key Arbor does not know.');
    return key.publicKey;
  }

  function principalOf(payload: JWTPayload): Principal {
    const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : []);
    const subject = payload.sub ?? 'unknown';
    if (scopes.has(PLATFORM_SCOPE)) return { kind: 'platform', subject, scopes };
    if (typeof payload.tenant_id !== 'string' || payload.tenant_id === '') {
      throw invalid('The token carries neither a tenant_id claim nor the platform:admin scope.');
    }
    return { kind: 'tenant', subject, tenantId: payload.tenant_id, scopes };
  }

  return {
    /** Generates the first signing key if the store has none, then loads the keys. */
    async ensureSigningKey(): Promise<void> {
      await load();
      if (keys.length > 0) return;
      const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { extractable: true });
      const publicJwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      await repos.signingKeys.insert({
        kid,
        alg: ALGORITHM,
        private_jwk: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: ALGORITHM }),
        public_jwk: JSON.stringify({ ...publicJwk, kid, alg: ALGORITHM, use: 'sig' }),
        created_at: new Date().toISOString(),
      });
      await load();
    },

    /** An access token for a tenant (with `tenantId`) or the platform (scope platform:admin). */
    async sign(claims: { subject: string; tenantId?: string; scopes: string[]; ttlSeconds?: number }): Promise<string> {
      const key = keys[0];
      if (!key) throw new Error('No signing key loaded: call ensureSigningKey() first');
      const payload: JWTPayload = { scope: claims.scopes.join(' '), client_id: claims.subject };
      if (claims.tenantId !== undefined) payload.tenant_id = claims.tenantId;
      return new SignJWT(payload)
        .setProtectedHeader({ alg: ALGORITHM, typ: TOKEN_TYPE, kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(claims.subject)
        .setIssuedAt()
        .setExpirationTime(`${claims.ttlSeconds ?? ttlSeconds}s`)
        .setJti(randomUUID())
        .sign(key.privateKey);
    },

    /** The principal a token stands for; 401 `auth.invalid_token` for anything not valid. */
    async verify(token: string): Promise<Principal> {
      try {
        const { payload } = await jwtVerify(token, (header) => keyFor(header.kid), {
          algorithms: [ALGORITHM],
          issuer,
          audience,
          typ: TOKEN_TYPE,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp', 'sub'],
        });
        return principalOf(payload);
      } catch (error) {
        if (error instanceof UnauthorizedError) throw error;
        const code = (error as { code?: string }).code;
        if (code === 'ERR_JWT_EXPIRED') throw invalid('The token has expired; request a new one.');
        throw invalid('The token is not valid: malformed, badly signed, or not meant for Arbor.');
      }
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
