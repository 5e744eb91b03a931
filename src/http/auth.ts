import type { FastifyInstance } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { type Access, reachesNothing, tenantWideOnly } from '../services/access.js';
import type { AccessService } from '../services/access-service.js';
import { type Principal, type Scope, type TokenService, grants } from '../services/token-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route that declares a scope; null elsewhere. */
    principal: Principal | null;
    /** What the principal may do where: its token's scopes ∩ its role assignments (services/access.ts). */
    access: Access | null;
  }
  interface FastifyContextConfig {
    /** The scope a route requires. Every /api route must declare one; others are public. */
    scope?: Scope;
    /** The route acts on the tenant as a whole: a principal scoped to OU subtrees may not use it. */
    tenantWide?: boolean;
  }
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Throws 403 unless `principal` may use a route needing `scope` on `tenantId`. */
export function authorize(principal: Principal, scope: Scope, tenantId: string | undefined): void {
  if (principal.kind === 'platform') return;
  if (tenantId !== undefined && principal.tenantId !== tenantId) {
    throw new ForbiddenError('auth.wrong_tenant', 'This token belongs to another tenant and cannot reach this one.');
  }
  if (!grants(principal.scopes, scope)) {
    throw new ForbiddenError('auth.insufficient_scope', `This request needs the scope '${scope}', which the token does not carry.`, {
      'www-authenticate': `Bearer realm="arbor", error="insufficient_scope", scope="${scope}"`,
    });
  }
}

/** Throws 403 unless `access` reaches anywhere with the route's scope (and the whole tenant, where the route needs it). */
export function authorizeAccess(access: Access, scope: Scope, tenantWide: boolean): void {
  if (scope === 'platform:admin') return;
  const reach = access.reach(scope);
  if (reachesNothing(reach)) {
    throw new ForbiddenError(
      'auth.no_role',
      `This principal holds no role assignment in this tenant that grants '${scope}'. A tenant administrator can add one: POST /api/v1/tenants/{tenant_id}/role-assignments.`,
    );
  }
  if (tenantWide && reach !== 'tenant') throw tenantWideOnly('This request');
}

/**
 * The one place tokens are read. Routes declare `config.scope`; the hook verifies the bearer
 * token, sets `request.principal` and `request.access`, and enforces scope, tenant and role
 * before any handler runs. Where inside the tenant a principal may act is enforced by the
 * services, inside their queries.
 */
export function registerAuth(app: FastifyInstance, tokens: Pick<TokenService, 'verify'>, roles: Pick<AccessService, 'accessOf'>): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('access', null);

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    // Fail closed: an API route that forgot its scope would otherwise be public.
    if (!route.config?.scope) throw new Error(`Route ${String(route.method)} ${route.url} declares no scope`);
    route.schema = { ...route.schema, security: [{ bearerAuth: [route.config.scope] }] };
  });

  app.addHook('onRequest', async (request) => {
    const { scope, tenantWide = false } = request.routeOptions.config;
    if (!scope) return;
    const header = request.headers.authorization;
    if (!header) throw new UnauthorizedError('auth.missing_token', 'This endpoint needs an "Authorization: Bearer <token>" header.');
    const match = BEARER.exec(header);
    if (!match) throw new UnauthorizedError('auth.invalid_token', 'The Authorization header must be "Bearer <token>".');
    const principal = await tokens.verify(match[1]);
    request.principal = principal;
    authorize(principal, scope, (request.params as { tenant_id?: string } | undefined)?.tenant_id);
    const access = await roles.accessOf(principal);
    request.access = access;
    authorizeAccess(access, scope, tenantWide);
  });
}
