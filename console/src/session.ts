import { type ArborClient, createArborClient } from '@arbor/sdk';

/**
 * A signed-in console: its access token lives in this object only. Never in localStorage,
 * sessionStorage, IndexedDB or a cookie, so a reload or a new tab asks again, and a script that
 * reads storage finds nothing. The secret is used for one exchange at /oauth/token and dropped:
 * nothing renews the token silently; the console warns before it expires and asks again.
 */
export interface Session {
  arbor: ArborClient;
  /** The API client's id; for a sign-in through the identity provider, the token's subject. */
  clientId: string;
  /** `client`: an API client's id and secret; `provider`: the identity provider (authorization code + PKCE). */
  via: 'client' | 'provider';
  /** Epoch ms when the token lapses. */
  expiresAt: number;
  /** A tenant client's tenant (the token's `tenant_id` claim); undefined for a platform token. */
  tenantId?: string;
}

/** A JWT's payload, read, not verified: Arbor verifies the token, the console only needs to know which tenant to show. */
export function claimsOf(token: string): Record<string, unknown> {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '='))) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The tenant a token names in `claim` (`tenant_id` for Arbor's own tokens). */
export function tenantOfToken(token: string, claim = 'tenant_id'): string | undefined {
  const tenant = claimsOf(token)[claim];
  return typeof tenant === 'string' ? tenant : undefined;
}

export class SignInError extends Error {}

/** Exchanges a client's id and secret at /oauth/token (client credentials) for a token kept in memory. */
export async function signIn(clientId: string, clientSecret: string): Promise<Session> {
  let response: Response;
  try {
    response = await fetch('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new SignInError('Arbor did not answer. Check that the server is running and reachable from this browser.');
  }
  const body = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; scope?: string; error?: string; error_description?: string };
  if (!response.ok || body.access_token === undefined) {
    if (body.error === 'invalid_client') throw new SignInError('The client id or secret is wrong. Use the admin client (ARBOR_ADMIN_CLIENT_ID) or a tenant client.');
    if (response.status === 429) throw new SignInError('Too many sign-in attempts from this address. Wait a minute, then try again.');
    throw new SignInError(body.error_description ?? `Sign-in failed (${response.status}).`);
  }
  const token = body.access_token;
  return {
    arbor: createArborClient({ baseUrl: window.location.origin, token: () => token, attempts: 2 }),
    clientId,
    via: 'client',
    expiresAt: Date.now() + (body.expires_in ?? 900) * 1000,
    tenantId: tenantOfToken(token),
  };
}

/** The message of an API error answer (ErrorResponse's `detail`), or a fallback naming the status. */
export function problemOf(error: unknown, response?: Response): string {
  const detail = (error as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((item: { msg?: string; loc?: unknown[] }) => `${(item.loc ?? []).slice(1).join('.')}: ${item.msg ?? ''}`).join('; ');
  if (response !== undefined) return `Arbor answered ${response.status} ${response.statusText}.`;
  return error instanceof Error ? error.message : 'Arbor could not be reached.';
}

/** How the console may sign in, from /console/config.json (the server's configuration). */
export interface ProviderSettings {
  issuer: string;
  client_id: string;
  scope: string;
  tenant_claim: string;
}

/** The identity provider to sign in with, if the server names one. */
export async function readProviderSettings(): Promise<ProviderSettings | null> {
  try {
    const response = await fetch('/console/config.json', { credentials: 'omit', cache: 'no-store' });
    const body = (await response.json()) as { oidc?: ProviderSettings | null };
    return response.ok ? (body.oidc ?? null) : null;
  } catch {
    return null;
  }
}

/** Whether this page is the identity provider's answer (a code or an error, with a state). */
export function isProviderAnswer(): boolean {
  const params = new URL(window.location.href).searchParams;
  return params.has('state') && (params.has('code') || params.has('error'));
}

/** Leaves for the identity provider's sign-in page (provider-sign-in.ts, loaded on first use: only consoles with a provider need it). */
export async function startProviderSignIn(settings: ProviderSettings): Promise<void> {
  return (await import('./provider-sign-in')).startProviderSignIn(settings);
}

/** Exchanges the provider's answer on this page for a session (see provider-sign-in.ts). */
export async function finishProviderSignIn(settings: ProviderSettings): Promise<Session> {
  return (await import('./provider-sign-in')).finishProviderSignIn(settings);
}
