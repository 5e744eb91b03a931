import { randomUUID } from 'node:crypto';
import { type CryptoKey, type JWK, type JWTPayload, SignJWT, exportSPKI, generateKeyPair, importJWK } from 'jose';
import type { TestContext } from './test-app.js';

/**
 * Token forging for security tests. Every forged token differs from a token Arbor would accept in
 * exactly one way, so a 401 proves that one check: the claims are Arbor's own (issuer, audience,
 * tenant, scopes, lifetime) and, unless the flaw is the signature, the key is Arbor's own private
 * key read from `signing_keys`.
 */

type Ctx = Pick<TestContext, 'store' | 'config'>;

export interface ArborKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** The public JWK exactly as stored (and as published at /.well-known/jwks.json). */
  publicJwkJson: string;
}

/** Arbor's current (non-retired, newest) signing key, straight from the store. */
export async function arborSigningKey(ctx: Pick<TestContext, 'store'>): Promise<ArborKey> {
  const row = await ctx.store.db
    .selectFrom('signing_keys')
    .selectAll()
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
  const publicJwk = JSON.parse(row.public_jwk) as JWK;
  return {
    kid: row.kid,
    privateKey: (await importJWK(JSON.parse(row.private_jwk) as JWK, 'ES256')) as CryptoKey,
    publicKey: (await importJWK(publicJwk, 'ES256')) as CryptoKey,
    publicJwk,
    publicJwkJson: row.public_jwk,
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The claims Arbor itself puts in an access token (see token-service.ts), valid for 5 minutes from now. */
export function accessClaims(ctx: Pick<TestContext, 'config'>, who: { tenantId?: string; scopes: readonly string[]; subject?: string }): JWTPayload {
  const now = nowSeconds();
  const subject = who.subject ?? `forged-${who.tenantId ?? 'platform'}`;
  return {
    iss: ctx.config.issuer,
    aud: ctx.config.audience,
    sub: subject,
    client_id: subject,
    ...(who.tenantId !== undefined ? { tenant_id: who.tenantId } : {}),
    scope: who.scopes.join(' '),
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
  };
}

/** Signs `payload` with Arbor's own private key and Arbor's header (ES256, at+jwt, kid). */
export async function signWithArborKey(ctx: Pick<TestContext, 'store'>, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const key = await arborSigningKey(ctx);
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...header }).sign(key.privateKey);
}

const b64json = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The same token with the last characters of its signature changed. Only the last character of an
 * ES256 signature can hold padding bits a lenient decoder ignores, so four are changed and the
 * decoded bytes are checked to differ.
 */
export function withAlteredSignature(token: string): string {
  const [header, payload, signature] = token.split('.');
  const cut = signature.length - 4;
  const tail = [...signature.slice(cut)].map((c) => B64URL[(B64URL.indexOf(c) + 1) % 64]).join('');
  const altered = signature.slice(0, cut) + tail;
  if (Buffer.from(altered, 'base64url').equals(Buffer.from(signature, 'base64url'))) throw new Error('withAlteredSignature() did not change the signature bytes');
  return `${header}.${payload}.${altered}`;
}

/** Forged variants of the token `claims` describe, each broken in one way. */
export const forge = {
  /** Arbor's key, exp 120 s in the past (beyond the 30 s tolerance). */
  async expired(ctx: Ctx, claims: JWTPayload): Promise<string> {
    const now = nowSeconds();
    return signWithArborKey(ctx, { ...claims, iat: now - 1000, exp: now - 120 });
  },

  /** Arbor's key, nbf 10 minutes in the future. */
  async notYetValid(ctx: Ctx, claims: JWTPayload): Promise<string> {
    const now = nowSeconds();
    return signWithArborKey(ctx, { ...claims, iat: now, nbf: now + 600, exp: now + 900 });
  },

  /** A token Arbor would accept, then its signature altered. */
  async alteredSignature(ctx: Ctx, claims: JWTPayload): Promise<string> {
    return withAlteredSignature(await signWithArborKey(ctx, claims));
  },

  /** Signed by a freshly generated ES256 key that claims Arbor's kid. */
  async foreignKeySameKid(ctx: Ctx, claims: JWTPayload): Promise<string> {
    const { kid } = await arborSigningKey(ctx);
    const { privateKey } = await generateKeyPair('ES256');
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
  },

  /** Unsigned: alg "none", Arbor's kid, empty signature. */
  async algNone(ctx: Ctx, claims: JWTPayload): Promise<string> {
    const { kid } = await arborSigningKey(ctx);
    return `${b64json({ alg: 'none', typ: 'at+jwt', kid })}.${b64json(claims)}.`;
  },

  /** ES256 header, but no signature at all. */
  async strippedSignature(ctx: Ctx, claims: JWTPayload): Promise<string> {
    const [header, payload] = (await signWithArborKey(ctx, claims)).split('.');
    return `${header}.${payload}.`;
  },

  /**
   * Algorithm confusion: HS256 "signed" with Arbor's PUBLIC key material as the HMAC secret.
   * `material`: the stored public JWK JSON, its SPKI PEM, or the raw point x||y.
   */
  async hs256WithPublicKey(ctx: Ctx, claims: JWTPayload, material: 'jwk-json' | 'spki-pem' | 'raw-xy'): Promise<string> {
    const key = await arborSigningKey(ctx);
    let secret: Uint8Array;
    if (material === 'jwk-json') secret = new TextEncoder().encode(key.publicJwkJson);
    else if (material === 'spki-pem') secret = new TextEncoder().encode(await exportSPKI(key.publicKey));
    else secret = Buffer.concat([Buffer.from(String(key.publicJwk.x), 'base64url'), Buffer.from(String(key.publicJwk.y), 'base64url')]);
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid }).sign(secret);
  },

  /** Arbor's key, another issuer. */
  async wrongIssuer(ctx: Ctx, claims: JWTPayload): Promise<string> {
    return signWithArborKey(ctx, { ...claims, iss: 'https://evil.example' });
  },

  /** Arbor's key, another audience. */
  async wrongAudience(ctx: Ctx, claims: JWTPayload): Promise<string> {
    return signWithArborKey(ctx, { ...claims, aud: 'someone-else' });
  },
};

/** HTTP Basic client credentials as RFC 6749 §2.3.1 wants them: form-encoded, joined, base64. */
export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}
