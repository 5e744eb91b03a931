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

/**
 * Serves the admin console (console/, built into `dir` by `npm run build`) at /console/:
 * `index.html` revalidated on every load (no-cache), so a deploy takes effect at the next reload,
 * and the hashed assets it names cached for a year. Its security headers (helmet) apply to these
 * routes only: /docs's Swagger UI needs inline scripts the console's policy forbids.
 * When `dir` holds no build, /console answers 404 saying how to build it.
 */
export async function registerConsole(app: FastifyInstance, dir: string, connectSources: readonly string[] = []): Promise<void> {
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
