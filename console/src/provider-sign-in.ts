import { createArborClient } from '@arbor/sdk';
import * as oauth from 'oauth4webapi';
import { type ProviderSettings, type Session, SignInError, claimsOf, tenantOfToken } from './session';

// Signing in through an external identity provider: OAuth 2.0 authorization code with PKCE, the
// console a public client (oauth4webapi). Loaded only when the server names a provider.

/**
 * The state and PKCE verifier of a sign-in under way, kept in sessionStorage for the one trip to
 * the identity provider and back (the page is left, so memory cannot hold them), and removed
 * when the answer comes back, before the code is exchanged. Never the token.
 */
const PENDING = 'arbor-console-sign-in';
/** The console's own address: the redirect URI registered at the provider. */
const redirectUri = () => `${window.location.origin}/console/`;

async function providerOf(settings: ProviderSettings) {
  const issuer = new URL(settings.issuer);
  // The server allows plain http to a provider on loopback only (development, the tests).
  const options = issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
  let server;
  try {
    server = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
  } catch {
    throw new SignInError(`The identity provider at ${settings.issuer} did not answer with its metadata. Check that it is reachable from this browser.`);
  }
  return { server, client: { client_id: settings.client_id }, options };
}

/** Leaves for the identity provider's sign-in page (authorization code, PKCE S256, a fresh state). */
export async function startProviderSignIn(settings: ProviderSettings): Promise<void> {
  const { server } = await providerOf(settings);
  if (server.authorization_endpoint === undefined) throw new SignInError('The identity provider has no authorization endpoint.');
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(server.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: settings.client_id,
    redirect_uri: redirectUri(),
    scope: settings.scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier }));
  window.location.assign(url.href);
}

/**
 * Completes a sign-in through the identity provider: checks the answer's state (and issuer)
 * against the one this tab sent, and exchanges the code with its PKCE verifier for a token kept
 * in memory. The answer's parameters leave the address bar first, so a reload cannot replay them.
 */
export async function finishProviderSignIn(settings: ProviderSettings): Promise<Session> {
  const answer = new URL(window.location.href);
  window.history.replaceState(null, '', answer.pathname);
  const pending = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const { state, verifier } = (pending === null ? {} : JSON.parse(pending)) as { state?: string; verifier?: string };
  if (state === undefined || verifier === undefined) {
    throw new SignInError('This sign-in answer was not asked for by this tab (or it was already used). Sign in again.');
  }
  const { server, client, options } = await providerOf(settings);
  let token: string;
  let expiresIn: number | undefined;
  try {
    const params = oauth.validateAuthResponse(server, client, answer, state);
    const response = await oauth.authorizationCodeGrantRequest(server, client, oauth.None(), params, redirectUri(), verifier, options);
    const result = await oauth.processAuthorizationCodeResponse(server, client, response);
    token = result.access_token;
    expiresIn = result.expires_in;
  } catch (caught) {
    if (caught instanceof oauth.AuthorizationResponseError) throw new SignInError(`The identity provider refused: ${caught.error_description ?? caught.error}.`);
    if (caught instanceof oauth.ResponseBodyError) throw new SignInError(`The identity provider refused the code: ${caught.error_description ?? caught.error}.`);
    throw new SignInError(`Signing in through the identity provider failed: ${caught instanceof Error ? caught.message : String(caught)}.`);
  }
  const { sub: subject, exp } = claimsOf(token);
  return {
    arbor: createArborClient({ baseUrl: window.location.origin, token: () => token, attempts: 2 }),
    clientId: typeof subject === 'string' ? subject : settings.client_id,
    via: 'provider',
    // The token's own exp when it says, else expires_in from the answer, else 5 minutes.
    expiresAt: typeof exp === 'number' ? exp * 1000 : Date.now() + (expiresIn ?? 300) * 1000,
    tenantId: tenantOfToken(token, settings.tenant_claim),
  };
}
