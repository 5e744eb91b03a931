import { randomUUID } from 'node:crypto';
import {
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  SignJWT,
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { ExternalIdpConfig } from '../config.js';
import type { Store } from '../db/store.js';
import { repositories } from '../db/repositories/index.js';
import { UnauthorizedError } from '../errors.js';

export const ALGORITHM = 'ES256';
export const TOKEN_TYPE = 'at+jwt';
export const PLATFORM_SCOPE = 'platform:admin';
export const TENANT_SCOPES = [
  'ous:read',
  'ous:write',
  'users:read',
  'users:write',
  'tenants:read',
  'tenants:write',
  'clients:read',
  'clients:write',
  'events:read',
  'roles:read',
  'roles:write',
  'webhooks:read',
  'webhooks:write',
] as const;
/** Umbrella scopes of the identity platform the OU contract comes from: every read / every write in the tenant. */
export const UMBRELLA_SCOPES = ['admin:read', 'admin:write'] as const;
export type TenantScope = (typeof TENANT_SCOPES)[number];
export type Scope = TenantScope | typeof PLATFORM_SCOPE;


/** True when `scopes` grant `scope`: itself, or the umbrella admin:read / admin:write of its kind. */
export function grants(scopes: ReadonlySet<string>, scope: Scope): boolean {
  if (scopes.has(scope)) return true;
  if (scope === 'platform:admin' || scope.startsWith('admin:')) return false;
  return scope.endsWith(':read') ? scopes.has('admin:read') : scopes.has('admin:write');
}

/** Who is calling: set on every authenticated request by the auth hook. */
export type Principal = (
  | { kind: 'platform'; subject: string; scopes: ReadonlySet<string> }
  | { kind: 'tenant'; subject: string; tenantId: string; scopes: ReadonlySet<string> }
) & {
  /** Who issued the token: Arbor itself (an API client's), or the configured external identity provider. */
  issuer: 'arbor' | 'external';
  /** The OAuth client the token was issued to (`client_id`, else `azp`), when the token says. */
  clientId: string | null;
};

export interface TokenServiceDeps {
  store: Pick<Store, 'db' | 'transaction'>;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** Verified tokens cached by exact string until exp; 0 disables. */
  cacheSize?: number;
  externalIdp?: ExternalIdpConfig | null;
  now?: () => number;
}

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  retired: boolean;
}

// Leeway for clocks of different machines: small, as RFC 8725 advises.
export const CLOCK_TOLERANCE_SECONDS = 30;
// Keys are re-read this often, so instances on one store pick up a rotation, and a retired
// key stays published this much longer than the tokens it signed.
const KEY_REFRESH_MS = 60_000;
// An unknown kid triggers an early re-read, but not more often than this: a new key signs as
// soon as it exists, so other instances must find it quickly; garbage kids cost one query a second.
const UNKNOWN_KID_RELOAD_MS = 1_000;
// Retired keys are deleted from the store only after the longest lifetime any instance may be
// configured with (ARBOR_TOKEN_TTL_SECONDS is at most a day), whatever this instance's own is.
const RETIRED_KEY_DELETION_MS = 24 * 3600_000 + 10 * 60_000;
// Asymmetric algorithms only: an HS* token "signed" with a public key must never verify.
const EXTERNAL_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function invalid(detail: string): UnauthorizedError {
  return new UnauthorizedError('auth.invalid_token', detail);
}

/** The scopes of a space-separated scope string (RFC 6749 §3.3), without duplicates. */
export function parseScopes(text: string): string[] {
  return [...new Set(text.split(' ').filter(Boolean))];
}

function scopesOf(value: unknown): Set<string> {
  if (typeof value === 'string') return new Set(parseScopes(value));
  if (Array.isArray(value)) return new Set(value.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

function principalOf(payload: JWTPayload, tenantClaim: string, scopeClaim: string, issuer: Principal['issuer']): Principal {
  const scopes = scopesOf(payload[scopeClaim]);
  const subject = payload.sub ?? 'unknown';
  const claimedClient = payload.client_id ?? payload.azp;
  const clientId = typeof claimedClient === 'string' ? claimedClient : null;
  if (issuer === 'arbor' && scopes.has(PLATFORM_SCOPE)) return { kind: 'platform', subject, scopes, issuer, clientId };
  // An external issuer reaches tenants only: it cannot mint platform administrators.
  scopes.delete(PLATFORM_SCOPE);
  const tenantId = payload[tenantClaim];
  if (typeof tenantId !== 'string' || tenantId === '') {
    throw invalid(`The token carries neither a ${tenantClaim} claim nor the platform:admin scope.`);
  }
  return { kind: 'tenant', subject, tenantId, scopes, issuer, clientId };
}

/** Signs Arbor's access tokens with keys kept in the store, and verifies them (and an external issuer's). */
export function createTokenService(deps: TokenServiceDeps) {
  const { store, issuer, audience, ttlSeconds, externalIdp = null, now = () => Date.now() } = deps;
  const repos = repositories(store.db);
  // Keyed by the exact token string: a hit is a token whose signature and claims were checked.
  const cache = deps.cacheSize ? new LRUCache<string, { principal: Principal; acceptedUntil: number }>({ max: deps.cacheSize }) : null;
  // Plain numbers on the hot path; metrics read them when scraped.
  const cacheCounts = { hits: 0, misses: 0 };
  const externalKeys: JWTVerifyGetKey | null = externalIdp
    ? createRemoteJWKSet(new URL(externalIdp.jwksUrl), { cooldownDuration: 60_000, cacheMaxAge: 10 * 60_000 })
    : null;
  let keys: LoadedKey[] = [];
  let loadedAt = 0;

  /** How long a retired key keeps verifying: the longest a token it signed can live, plus slack. */
  const retiredKeyLifetimeMs = () => (ttlSeconds + CLOCK_TOLERANCE_SECONDS) * 1000 + 2 * KEY_REFRESH_MS;

  async function load(): Promise<void> {
    const cutoff = new Date(now() - retiredKeyLifetimeMs()).toISOString();
    const rows = (await repos.signingKeys.listNewestFirst()).filter((row) => row.retired_at === null || row.retired_at > cutoff);
    keys = await Promise.all(
      rows.map(async (row) => {
        const publicJwk = JSON.parse(row.public_jwk) as JWK;
        return {
          kid: row.kid,
          privateKey: (await importJWK(JSON.parse(row.private_jwk) as JWK, row.alg)) as CryptoKey,
          publicKey: (await importJWK(publicJwk, row.alg)) as CryptoKey,
          publicJwk,
          retired: row.retired_at !== null,
        };
      }),
    );
    loadedAt = now();
  }

  async function fresh(): Promise<void> {
    if (now() - loadedAt > KEY_REFRESH_MS) await load();
  }

  async function insertNewKey(db = store.db): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    await repositories(db).signingKeys.insert({
      kid,
      alg: ALGORITHM,
      private_jwk: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: ALGORITHM }),
      public_jwk: JSON.stringify({ ...publicJwk, kid, alg: ALGORITHM, use: 'sig' }),
      created_at: new Date(now()).toISOString(),
      retired_at: null,
    });
    return kid;
  }

  async function localKeyFor(kid: string | undefined): Promise<CryptoKey> {
    if (kid === undefined) throw invalid('The token has no key id (kid).');
    await fresh();
    let key = keys.find((k) => k.kid === kid);
    if (!key && now() - loadedAt > UNKNOWN_KID_RELOAD_MS) {
      await load();
      key = keys.find((k) => k.kid === kid);
    }
    if (!key) throw invalid('The token was signed by a key Arbor does not know.');
    return key.publicKey;
  }

  async function verifyLocal(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, (header) => localKeyFor(header.kid), {
      algorithms: [ALGORITHM],
      issuer,
      audience,
      typ: TOKEN_TYPE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(now()),
    });
    return payload;
  }

  async function verifyExternal(token: string, idp: ExternalIdpConfig, getKey: JWTVerifyGetKey): Promise<JWTPayload> {
    // Identity providers label access tokens `at+jwt` (RFC 9068) or `JWT`; anything else is not one.
    const typ = decodeProtectedHeader(token).typ?.toLowerCase();
    if (typ !== undefined && !['at+jwt', 'application/at+jwt', 'jwt'].includes(typ)) throw invalid('The token is not an access token.');
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: EXTERNAL_ALGORITHMS,
      issuer: idp.issuer,
      audience: idp.audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
      currentDate: new Date(now()),
    });
    return payload;
  }

  async function verifyUncached(token: string): Promise<{ principal: Principal; exp: number }> {
    // The unverified iss only picks which trust anchor to check against; both pin their own issuer.
    let claimedIssuer: unknown;
    try {
      claimedIssuer = decodeJwt(token).iss;
    } catch {
      throw invalid('The token is not a JWT.');
    }
    if (externalIdp && externalKeys && claimedIssuer === externalIdp.issuer) {
      const payload = await verifyExternal(token, externalIdp, externalKeys);
      return { principal: principalOf(payload, externalIdp.tenantClaim, externalIdp.scopeClaim, 'external'), exp: payload.exp as number };
    }
    const payload = await verifyLocal(token);
    return { principal: principalOf(payload, 'tenant_id', 'scope', 'arbor'), exp: payload.exp as number };
  }

  return {
    /** Generates the first signing key if the store has none, then loads the keys. */
    async ensureSigningKey(): Promise<void> {
      await load();
      if (keys.some((k) => !k.retired)) return;
      // Instances starting together on an empty store create exactly one key between them.
      await store.transaction(
        async (trx) => {
          const rows = await repositories(trx).signingKeys.listNewestFirst();
          if (!rows.some((row) => row.retired_at === null)) await insertNewKey(trx);
        },
        { lock: 'signing-keys' },
      );
      await load();
    },

    /** Adds a new signing key; older ones keep verifying until the tokens they signed expire. */
    async rotate(): Promise<string> {
      const kid = await store.transaction(
        async (trx) => {
          const newKid = await insertNewKey(trx);
          await repositories(trx).signingKeys.retireAllExcept(newKid, new Date(now()).toISOString());
          await repositories(trx).signingKeys.deleteRetiredBefore(new Date(now() - RETIRED_KEY_DELETION_MS).toISOString());
          return newKid;
        },
        { lock: 'signing-keys' },
      );
      await load();
      return kid;
    },

    /** The public keys that verify Arbor's tokens, for /.well-known/jwks.json. */
    async jwks(): Promise<{ keys: JWK[] }> {
      await fresh();
      return { keys: keys.map((k) => k.publicJwk) };
    },

    /** An access token (RFC 9068 profile) for a tenant (with `tenantId`) or the platform. */
    async sign(claims: { subject: string; tenantId?: string; scopes: string[]; ttlSeconds?: number }): Promise<string> {
      await fresh();
      const key = keys.find((k) => !k.retired);
      if (!key) throw new Error('No signing key loaded: call ensureSigningKey() first');
      const payload: JWTPayload = { scope: claims.scopes.join(' '), client_id: claims.subject };
      if (claims.tenantId !== undefined) payload.tenant_id = claims.tenantId;
      const issuedAt = Math.floor(now() / 1000);
      return new SignJWT(payload)
        .setProtectedHeader({ alg: ALGORITHM, typ: TOKEN_TYPE, kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(claims.subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + (claims.ttlSeconds ?? ttlSeconds))
        .setJti(randomUUID())
        .sign(key.privateKey);
    },

    ttlSeconds,

    /**
     * Verifications answered from the cache (hits) and verified in full (misses: not cached,
     * expired from it, or the cache is off), since start.
     */
    cacheStats(): { hits: number; misses: number } {
      return { ...cacheCounts };
    },

    /** The principal a token stands for; 401 `auth.invalid_token` for anything not valid. */
    async verify(token: string): Promise<Principal> {
      const cached = cache?.get(token);
      // Expiry is checked on every hit, against the same clock as a full verification.
      if (cached && now() < cached.acceptedUntil) {
        cacheCounts.hits++;
        return cached.principal;
      }
      cacheCounts.misses++;
      try {
        const { principal, exp } = await verifyUncached(token);
        cache?.set(token, { principal, acceptedUntil: (exp + CLOCK_TOLERANCE_SECONDS) * 1000 });
        return principal;
      } catch (error) {
        if (error instanceof UnauthorizedError) throw error;
        const code = (error as { code?: string }).code;
        if (code === 'ERR_JWT_EXPIRED') throw invalid('The token has expired; request a new one.');
        // jose's own errors (ERR_JWS_*, ERR_JWT_*, ERR_JWKS_*, ...) mean the token is bad; anything
        // else (the store failing while keys are read) is ours, and must not pass as a 401.
        if (typeof code === 'string' && code.startsWith('ERR_J')) {
          throw invalid('The token is not valid: malformed, badly signed, or not meant for Arbor.');
        }
        throw error;
      }
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
