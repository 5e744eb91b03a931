import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { useSharedApp } from '../helpers/test-app.js';

// How /console is served, on a console build of two files made here (the browser tests,
// test/console/console-e2e.test.ts, run the real build).
// The build sits in a directory named assets: only the build's own assets/ is cached immutable.
const parent = mkdtempSync(join(tmpdir(), 'arbor-console-'));
const built = join(parent, 'assets', 'console');
mkdirSync(join(built, 'assets'), { recursive: true });
writeFileSync(join(built, 'index.html'), '<!doctype html><title>Arbor console</title><script type="module" src="/console/assets/index-AbC123.js"></script>');
writeFileSync(join(built, 'assets', 'index-AbC123.js'), 'console.log("arbor")');
// Files a deploy may leave beside the build, which must not be served.
writeFileSync(join(built, '.env'), 'ARBOR_SECRETS_KEY=not-for-the-browser');
mkdirSync(join(built, '.git'));
writeFileSync(join(built, '.git', 'config'), '[remote "origin"] not-for-the-browser');
writeFileSync(join(built, 'assets', '.secret.js'), 'not-for-the-browser');
const empty = mkdtempSync(join(tmpdir(), 'arbor-console-empty-'));
afterAll(() => {
  rmSync(parent, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

function directives(header: unknown): Map<string, string> {
  return new Map(
    String(header)
      .split(';')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => [part.split(' ')[0], part.split(' ').slice(1).join(' ')]),
  );
}

describe('the console at /console', () => {
  const app = useSharedApp({ consoleDir: built });

  it('redirects /console to /console/ and serves index.html there, revalidated on every load', async () => {
    const redirect = await app.ctx.app.inject({ method: 'GET', url: '/console' });
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toBe('/console/');
    const page = await app.ctx.app.inject({ method: 'GET', url: '/console/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.body).toContain('Arbor console');
  });

  it('caches hashed assets for a year, immutable', async () => {
    const asset = await app.ctx.app.inject({ method: 'GET', url: '/console/assets/index-AbC123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.headers['content-type']).toMatch(/javascript/);
  });

  it('sends a Content-Security-Policy with no inline script or style, its own origin only, and no framing', async () => {
    for (const url of ['/console/', '/console/assets/index-AbC123.js']) {
      const response = await app.ctx.app.inject({ method: 'GET', url });
      const csp = directives(response.headers['content-security-policy']);
      expect(csp.get('default-src'), url).toBe("'none'");
      expect(csp.get('script-src')).toBe("'self'");
      expect(csp.get('style-src')).toBe("'self'");
      expect(csp.get('connect-src')).toBe("'self'");
      expect(csp.get('frame-ancestors')).toBe("'none'");
      expect(csp.get('object-src')).toBe("'none'");
      expect(csp.get('base-uri')).toBe("'none'");
      expect(String(response.headers['content-security-policy'])).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cross-origin-opener-policy']).toBe('same-origin');
    }
  });

  it('leaves the API\'s and /docs\'s headers alone: the console\'s policy would break Swagger UI\'s inline scripts', async () => {
    for (const url of ['/healthz', '/docs', '/openapi.json']) {
      const response = await app.ctx.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBeLessThan(400);
      expect(response.headers['content-security-policy'], url).toBeUndefined();
    }
  });

  it('serves nothing outside its directory and answers 404 in the API\'s error shape for a missing file', async () => {
    for (const url of ['/console/../package.json', '/console/%2e%2e/package.json', '/console/assets/missing.js', '/console/..%2f..%2fpackage.json']) {
      const response = await app.ctx.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, url).toBeLessThan(500);
      expect(response.body, url).not.toContain('"name": "arbor"');
    }
    const missing = await app.ctx.app.inject({ method: 'GET', url: '/console/assets/missing.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'route.not_found' });
  });

  it('answers 404 for dotfiles and dot-directories beside the build (.env, .git), as for a missing file', async () => {
    for (const url of ['/console/.env', '/console/.git/config', '/console/assets/.secret.js', '/console/%2eenv']) {
      const response = await app.ctx.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.body, url).not.toContain('not-for-the-browser');
    }
  });

  it('tells the page at /console/config.json that it signs in with an API client only, when no identity provider is set', async () => {
    const response = await app.ctx.app.inject({ method: 'GET', url: '/console/config.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.json()).toEqual({ oidc: null });
  });

  it('refuses writes to the console\'s paths', async () => {
    const response = await app.ctx.app.inject({ method: 'POST', url: '/console/', payload: {} });
    expect(response.statusCode).toBe(405);
  });
});

describe('the console when it is not built', () => {
  const app = useSharedApp({ consoleDir: empty });

  it('answers 404 saying how to build it', async () => {
    const response = await app.ctx.app.inject({ method: 'GET', url: '/console/' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'route.not_found' });
    expect(response.json().detail).toMatch(/npm run build/);
  });
});

describe('the console turned off (ARBOR_CONSOLE=false)', () => {
  const app = useSharedApp({ consoleDir: null });

  it('has no /console route', async () => {
    const response = await app.ctx.app.inject({ method: 'GET', url: '/console/' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'route.not_found' });
    expect(response.headers['content-security-policy']).toBeUndefined();
  });
});

describe('the console with an identity provider to sign in with (ARBOR_CONSOLE_OIDC_CLIENT_ID)', () => {
  const idp = { issuer: 'https://login.example.com/realms/acme', jwksUrl: 'https://login.example.com/realms/acme/certs', audience: 'arbor', tenantClaim: 'org', scopeClaim: 'scope' };
  const app = useSharedApp({ consoleDir: built, externalIdp: idp, consoleOidc: { clientId: 'arbor-console', scope: 'openid ous:read' } });

  it('tells the page the issuer, its public client id, the scopes and the tenant claim, and nothing secret', async () => {
    const response = await app.ctx.app.inject({ method: 'GET', url: '/console/config.json' });
    expect(response.json()).toEqual({ oidc: { issuer: idp.issuer, client_id: 'arbor-console', scope: 'openid ous:read', tenant_claim: 'org' } });
  });

  it("lets the page reach the provider's origin and no other: connect-src 'self' and the issuer's origin", async () => {
    const response = await app.ctx.app.inject({ method: 'GET', url: '/console/' });
    expect(directives(response.headers['content-security-policy']).get('connect-src')).toBe("'self' https://login.example.com");
  });
});

describe('ARBOR_CONSOLE_OIDC_CLIENT_ID', () => {
  const external = { ARBOR_EXTERNAL_ISSUER: 'https://idp.example', ARBOR_EXTERNAL_JWKS_URL: 'https://idp.example/jwks', ARBOR_EXTERNAL_AUDIENCE: 'arbor' };

  it('asks for Arbor\'s tenant scopes and openid by default, or ARBOR_CONSOLE_OIDC_SCOPE', () => {
    expect(loadConfig({ ...external, ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console' }).consoleOidc).toEqual({
      clientId: 'console',
      scope: 'openid ous:read ous:write users:read users:write events:read',
    });
    expect(loadConfig({ ...external, ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console', ARBOR_CONSOLE_OIDC_SCOPE: 'openid arbor' }).consoleOidc?.scope).toBe('openid arbor');
    expect(loadConfig(external).consoleOidc).toBeNull();
  });

  it('refuses to start without the identity provider it signs in with, or with an issuer that is not https (http on loopback only), saying what to set', () => {
    expect(() => loadConfig({ ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console' })).toThrow(ConfigError);
    expect(() => loadConfig({ ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console' })).toThrow(/ARBOR_EXTERNAL_ISSUER/);
    expect(() => loadConfig({ ...external, ARBOR_EXTERNAL_ISSUER: 'urn:idp', ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console' })).toThrow(/https URL/);
    expect(() => loadConfig({ ...external, ARBOR_EXTERNAL_ISSUER: 'http://idp.example', ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console' })).toThrow(/http only on loopback/);
    expect(loadConfig({ ...external, ARBOR_EXTERNAL_ISSUER: 'http://127.0.0.1:9000', ARBOR_CONSOLE_OIDC_CLIENT_ID: 'console' }).consoleOidc?.clientId).toBe('console');
  });
});
