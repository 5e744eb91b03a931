import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { ErrorCode } from '../error-codes.js';

/** Hashed file names (Vite's `name-HASH.ext`) never change content: a year, immutable. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The Content-Security-Policy of the console's pages: its own scripts, styles and API only. No
 * inline script or style (the build emits none), no other origin unless `connectSources` names
 * it (an external identity provider's token endpoint), and no framing.
 */
export function consoleContentSecurityPolicy(connectSources: readonly string[] = []): Record<string, string[]> {
  return {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'", ...connectSources],
    manifestSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    objectSrc: ["'none'"],
  };
}

/** Signing in through the external identity provider, as the console is told at /console/config.json. */
export interface ConsoleOidc {
  /** The provider's issuer: its metadata is at {issuer}/.well-known/openid-configuration. */
  issuer: string;
  clientId: string;
  scope: string;
  /** The access token's claim that names the tenant (ARBOR_EXTERNAL_TENANT_CLAIM). */
  tenantClaim: string;
}

/**
 * Serves the admin console (console/, built into `dir` by `npm run build`) at /console/:
 * `index.html` revalidated on every load (no-cache), so a deploy takes effect at the next reload,
 * and the hashed assets it names cached for a year. Its security headers (helmet) apply to these
 * routes only: /docs's Swagger UI needs inline scripts the console's policy forbids.
 * `/console/config.json` tells the page how it may sign in; with `oidc`, the policy lets it reach
 * the identity provider's origin (its metadata and token endpoint).
 * When `dir` holds no build, /console answers 404 saying how to build it.
 */
export async function registerConsole(app: FastifyInstance, dir: string, oidc: ConsoleOidc | null = null): Promise<void> {
  const connectSources = oidc === null ? [] : [new URL(oidc.issuer).origin];
  const settings = {
    oidc: oidc === null ? null : { issuer: oidc.issuer, client_id: oidc.clientId, scope: oidc.scope, tenant_claim: oidc.tenantClaim },
  };
  const built = existsSync(join(dir, 'index.html'));
  await app.register(async (scope) => {
    await scope.register(helmet, {
      global: true,
      contentSecurityPolicy: { useDefaults: false, directives: consoleContentSecurityPolicy(connectSources) },
      crossOriginEmbedderPolicy: { policy: 'require-corp' },
      crossOriginOpenerPolicy: { policy: 'same-origin' },
      crossOriginResourcePolicy: { policy: 'same-origin' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    });
    scope.get('/console', { schema: { hide: true } }, (_request, reply) => reply.redirect('/console/', 301));
    // Read by the page before it signs in: nothing secret (the client is public).
    scope.get('/console/config.json', { schema: { hide: true } }, (_request, reply) => reply.header('cache-control', 'no-cache').send(settings));
    if (!built) {
      const notBuilt = { detail: `The console is not built (no index.html in ${dir}): run npm run build, which npm start runs first.`, code: 'route.not_found' satisfies ErrorCode };
      scope.get('/console/*', { schema: { hide: true } }, (_request, reply) => reply.code(404).send(notBuilt));
      return;
    }
    await scope.register(fastifyStatic, {
      root: dir,
      prefix: '/console/',
      decorateReply: false,
      index: ['index.html'],
      // Cache-Control is set below, per file: the default (max-age=0) would fit neither.
      cacheControl: false,
      etag: true,
      lastModified: true,
      // A .env or .git a deploy leaves beside the build is not served: 404, as for a missing file
      // (@fastify/static's default is to serve them).
      dotfiles: 'ignore',
      setHeaders(response, path) {
        // The build's own assets/, not any directory of that name above it.
        response.setHeader('cache-control', relative(dir, path).startsWith(`assets${sep}`) ? IMMUTABLE : 'no-cache');
      },
      schemaHide: true,
    });
  });
}
