import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_CHROMIUM, buildConsole, hasChromium, launchChromium } from '../helpers/browser.js';
import { type ScratchStore, type ServerProcess, freePort, jsonRequest, platformToken, scratchPostgres, scratchSqlite, startServer } from '../helpers/server-process.js';
import { TEST_DATABASE_URL } from '../helpers/test-store.js';

// Signing in to the console through an external identity provider: authorization code with
// PKCE, the console a public client. The provider is panva's oidc-provider, started here on
// loopback with its development login page; Arbor is a real process that trusts its tokens
// (ARBOR_EXTERNAL_*) and offers it to the console (ARBOR_CONSOLE_OIDC_CLIENT_ID). Chromium
// goes to the provider's page, signs in, and comes back with a code.

const api = jsonRequest;
const CLIENT_ID = 'arbor-console';
const AUDIENCE = 'arbor-api';
const SCOPES = 'ous:read ous:write users:read users:write events:read';

describe.skipIf(!hasChromium)(`the console signing in through an identity provider${hasChromium ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let scratch: ScratchStore;
  let server: ServerProcess;
  let idp: Server;
  let issuer: string;
  let token: string;
  let tenantId: string;
  let acme: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Requests the browser sent to the provider's token endpoint. */
  const exchanges: string[] = [];
  /** The bearer tokens the console sent to Arbor's API. */
  const bearers: string[] = [];
  /** Set-Cookie headers of Arbor's answers to the page. */
  const arborCookies: string[] = [];

  beforeAll(async () => {
    await buildConsole();
    const [idpPort, arborPort] = [await freePort(), await freePort()];
    issuer = `http://127.0.0.1:${idpPort}`;
    const arborUrl = `http://127.0.0.1:${arborPort}`;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const provider = new Provider(issuer, {
      clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', redirect_uris: [`${arborUrl}/console/`], grant_types: ['authorization_code'], response_types: ['code'] }],
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'idp-key', use: 'sig', alg: 'RS256' }] },
      features: {
        devInteractions: { enabled: true },
        // Access tokens for Arbor: JWTs (RFC 9068) with Arbor's audience and scopes.
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:arbor',
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({ scope: SCOPES, audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        },
      },
      scopes: ['openid', ...SCOPES.split(' ')],
      // The tenant the signed-in person administers, in the claim Arbor reads (tenant_id).
      extraTokenClaims: () => ({ tenant_id: tenantId }),
      findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
      // Under the console's two-minute warning from the start: the banner's way back is tested too.
      ttl: { AccessToken: 100 },
    });
    const handle = provider.callback();
    idp = createServer((request, response) => {
      if (request.url?.startsWith('/token')) exchanges.push(request.url);
      void handle(request, response);
    });
    await new Promise<void>((resolve) => idp.listen(idpPort, '127.0.0.1', resolve));

    scratch = TEST_DATABASE_URL ? await scratchPostgres(TEST_DATABASE_URL) : scratchSqlite('arbor-console-oidc-');
    server = await startServer('console-oidc', scratch.databaseUrl, {
      port: arborPort,
      env: {
        ARBOR_EXTERNAL_ISSUER: issuer,
        ARBOR_EXTERNAL_JWKS_URL: `${issuer}/jwks`,
        ARBOR_EXTERNAL_AUDIENCE: AUDIENCE,
        ARBOR_CONSOLE_OIDC_CLIENT_ID: CLIENT_ID,
        ARBOR_CONSOLE_OIDC_SCOPE: `openid ${SCOPES}`,
      },
    });
    await server.ready();
    token = await platformToken(server.baseUrl);
    tenantId = (await api(server, token, 'POST', '/api/v1/tenants', { name: 'Acme' })).body.data.id;
    acme = (await api(server, token, 'POST', `/api/v1/tenants/${tenantId}/ous`, { name: 'Acme' })).body.data.id;
    await api(server, token, 'POST', `/api/v1/tenants/${tenantId}/ous`, { name: 'Sales', parent_id: acme });

    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
    });
    page.on('request', (request) => {
      const authorization = request.headers().authorization;
      if (authorization !== undefined && request.url().startsWith(server.baseUrl)) bearers.push(authorization.replace(/^Bearer /, ''));
    });
    page.on('response', async (response) => {
      const cookie = await response.headerValue('set-cookie');
      if (cookie !== null && response.url().startsWith(server.baseUrl)) arborCookies.push(cookie);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await scratch?.dispose();
    idp?.closeAllConnections();
    await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
  });

  const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;

  it("signs in at the provider's page and comes back to the tree, the API called with the provider's token", async () => {
    await page.goto(`${server.baseUrl}/console/`);
    const screenshots = process.env.ARBOR_SCREENSHOTS_DIR;
    if (screenshots) await page.screenshot({ path: join(screenshots, 'sign-in-provider.png') });
    await page.getByRole('button', { name: `Sign in with 127.0.0.1:${new URL(issuer).port}` }).click();
    // The provider's development login page, then its consent page.
    await page.locator('input[name=login]').fill('ada');
    await page.locator('input[name=password]').fill('anything');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${server.baseUrl}/console/`);
    await expect.poll(() => page.getByRole('tree').getByRole('treeitem').first().textContent()).toMatch(/^Acme/);
    expect(await page.locator('.who').textContent()).toBe('ada');
    expect(exchanges).toHaveLength(1);
    const used = claims(bearers.at(-1)!);
    expect(used).toMatchObject({ iss: issuer, aud: AUDIENCE, sub: 'ada', tenant_id: tenantId });
  });

  it('leaves no token and no sign-in state in web storage, sets no cookie from Arbor, and leaves no code in the address bar', async () => {
    expect(page.url()).toBe(`${server.baseUrl}/console/`);
    const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookies: document.cookie }));
    expect(stored).toEqual({ local: 0, session: 0, cookies: '' });
    // (The provider's own session cookie is the provider's: cookies ignore ports, so it shows for 127.0.0.1 too.)
    expect(arborCookies).toEqual([]);
  });

  it("writes as the provider's subject: the change feed names the actor external, ada", async () => {
    await page.getByRole('treeitem', { name: /^Acme/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Acme');
    await page.getByLabel('Description').fill('Signed in through the provider');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Saved.');
    const events = await api(server, token, 'GET', `/api/v1/tenants/${tenantId}/events?resource_id=${acme}&order=desc&limit=1`);
    expect(events.body.data[0]).toMatchObject({ type: 'ou.updated', actor: { type: 'external', id: 'ada' } });
  });

  it('refuses an answer this tab did not ask for, or whose state differs from the one it sent, without exchanging its code', async () => {
    const before = exchanges.length;
    // A browser not signed in at the provider: its login page shows instead of a code coming straight back.
    const fresh = await browser.newContext();
    const other = await fresh.newPage();
    try {
      // Nothing asked for: a link someone sent.
      await other.goto(`${server.baseUrl}/console/?code=stolen&state=forged`);
      await expect.poll(() => other.getByRole('alert').textContent()).toMatch(/not asked for by this tab/);
      expect(other.url()).toBe(`${server.baseUrl}/console/`);
      // Asked for, but the answer carries another state (a login CSRF).
      await other.getByRole('button', { name: /^Sign in with/ }).click();
      await other.locator('input[name=login]').waitFor();
      await other.goto(`${server.baseUrl}/console/?code=stolen&state=forged&iss=${encodeURIComponent(issuer)}`);
      await expect.poll(() => other.getByRole('alert').textContent()).toMatch(/Signing in through the identity provider failed/);
      expect(await other.evaluate(() => sessionStorage.length)).toBe(0);
      expect(await other.getByLabel('Client id').count()).toBe(1);
    } finally {
      await fresh.close();
    }
    expect(exchanges.length).toBe(before);
  });

  it("warns before the provider's token expires, and signing in again goes through the provider and back with a new token", async () => {
    await expect.poll(() => page.locator('.banner').textContent()).toMatch(/Your session ends in 1:\d\d\..*goes through the identity provider/);
    const first = bearers.at(-1)!;
    await page.getByRole('button', { name: 'Sign in again' }).click();
    // Still signed in at the provider: it sends a code straight back (or asks for consent again).
    const consent = page.getByRole('button', { name: 'Continue' });
    await Promise.race([page.waitForURL(`${server.baseUrl}/console/`), consent.waitFor().then(() => consent.click())]);
    await page.waitForURL(`${server.baseUrl}/console/`);
    await expect.poll(() => page.getByRole('tree').getByRole('treeitem').first().textContent()).toMatch(/^Acme/);
    await expect.poll(() => exchanges.length).toBe(2);
    await expect.poll(() => bearers.at(-1)).not.toBe(first);
    expect(claims(bearers.at(-1)!)).toMatchObject({ iss: issuer, sub: 'ada' });
  });

  it('caused no Content-Security-Policy violation while talking to the provider', async () => {
    expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
  });
});
