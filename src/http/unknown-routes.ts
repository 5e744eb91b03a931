import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';
import type { ErrorCode } from '../error-codes.js';

/**
 * Requests no route takes. A path that no route has answers 404 `route.not_found`; a path that
 * routes have, with another method, answers 405 `request.method_not_allowed` with `Allow` listing
 * theirs (RFC 9110 §15.5.6), so a client that sent PUT where PATCH is meant learns which. The
 * paths are matched by the router Fastify itself uses (find-my-way), with the same options.
 */
export function registerUnknownRoutes(app: FastifyInstance, routerOptions: { maxParamLength: number }): void {
  const known = FindMyWay({ maxParamLength: routerOptions.maxParamLength });
  const methods = new Set<string>();
  const noop = () => {};
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      methods.add(method);
      if (!known.hasRoute(method as never, route.url)) known.on(method as never, route.url, noop);
    }
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = [...methods].filter((method) => known.find(method as never, path) !== null);
    // A route of this method that found nothing to serve (a static file that is not there) is a 404.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      const body: { detail: string; code: ErrorCode } = {
        detail: `${path} has no ${request.method} operation; it has ${allowed.join(', ')}. See /docs for the API.`,
        code: 'request.method_not_allowed',
      };
      return reply.code(405).header('allow', allowed.join(', ')).send(body);
    }
    const body: { detail: string; code: ErrorCode } = { detail: `No route ${request.method} ${path}. See /docs for the API.`, code: 'route.not_found' };
    return reply.code(404).send(body);
  });
}
