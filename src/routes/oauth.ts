import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { textIssue } from '../http/validation.js';
import { ref } from '../schemas/common.js';
import { AuthorizationServerMetadata, JsonWebKeySet, OAuthErrorResponse, ProtectedResourceMetadata, TokenRequestBody, TokenResponse } from '../schemas/oauth.js';
import { CLIENT_SCOPES } from '../services/client-service.js';
import { OAuthError } from '../errors.js';
import type { OAuthService, TokenRequest } from '../services/oauth-service.js';
import { PLATFORM_SCOPE, type TokenService } from '../services/token-service.js';

export interface OAuthRouteOptions {
  oauth: OAuthService;
  tokens: Pick<TokenService, 'jwks'>;
  issuer: string;
  /** The `aud` Arbor's tokens carry (ARBOR_AUDIENCE), named in the protected resource metadata. */
  audience: string;
  /** An external identity provider's issuer whose tokens are accepted too, if one is configured. */
  externalIssuer?: string | undefined;
  requestsPerAddress: number;
}

const tags = ['OAuth'];

/** RFC 6749 §2.3.1: id and secret in Basic are form-encoded before base64. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null | 'malformed' {
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    return 'malformed';
  }
}

/** Reads a token request; every way it can be malformed is an RFC 6749 invalid_request. */
function tokenRequestOf(request: FastifyRequest): TokenRequest {
  if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
    throw new OAuthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.');
  }
  const form = (request.body ?? {}) as Record<string, unknown>;
  const field = (name: string): string | undefined => {
    const value = form[name];
    if (Array.isArray(value)) throw new OAuthError(400, 'invalid_request', `Parameter ${name} is repeated.`);
    return typeof value === 'string' ? value : undefined;
  };
  const basic = basicCredentials(request.headers.authorization);
  if (basic === 'malformed') throw new OAuthError(400, 'invalid_request', 'The Basic credentials are malformed.');
  const posted = field('client_id') !== undefined || field('client_secret') !== undefined;
  if (basic && posted) throw new OAuthError(400, 'invalid_request', 'Use one client authentication method, not both.');
  const token: TokenRequest = {
    grantType: field('grant_type'),
    clientId: basic ? basic.id : field('client_id'),
    clientSecret: basic ? basic.secret : field('client_secret'),
    scope: field('scope'),
  };
  // Text no store can keep (NUL, lone surrogates) never reaches a query: PostgreSQL refuses NUL.
  for (const [name, value] of Object.entries(token)) {
    if (value !== undefined && textIssue(value, [name])) {
      throw new OAuthError(400, 'invalid_request', `Parameter ${name} contains NUL or text that is not valid Unicode.`);
    }
  }
  return token;
}

/** The authorization server: token endpoint, JWKS and RFC 8414 metadata. */
export const oauthRoutes: FastifyPluginAsyncTypebox<OAuthRouteOptions> = async (app, { oauth, tokens, issuer, audience, externalIssuer, requestsPerAddress }) => {
  await app.register(formbody);
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new OAuthError(429, 'too_many_requests', `Too many token requests from this address; retry in ${Math.ceil(context.ttl / 1000)} s.`, {
        'retry-after': String(Math.ceil(context.ttl / 1000)),
      }),
  });

  app.post(
    '/oauth/token',
    {
      config: { rateLimit: { max: requestsPerAddress, timeWindow: 60_000 } },
      // The body schema is for the document (a generated client then sends the form); the
      // handler reads the form itself (tokenRequestOf), so that every malformed request gets
      // RFC 6749's invalid_request with what is wrong, not a schema validation error.
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Token',
        description:
          'OAuth 2.0 client_credentials grant (RFC 6749 §4.4). Body: grant_type=client_credentials, optional scope (a subset of the client\'s scopes; absent: all of them). Client authentication: HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post).',
        tags,
        consumes: ['application/x-www-form-urlencoded'],
        body: ref(TokenRequestBody),
        response: {
          200: { ...ref(TokenResponse), description: 'Successful Response' },
          400: { ...ref(OAuthErrorResponse), description: 'invalid_request, invalid_scope or unsupported_grant_type' },
          401: { ...ref(OAuthErrorResponse), description: 'invalid_client' },
          429: { ...ref(OAuthErrorResponse), description: 'Too many requests: see Retry-After' },
        },
      },
    },
    async (request, reply) => {
      const response = await oauth.issue(tokenRequestOf(request));
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return response;
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: { summary: 'JWKS', description: 'The public keys that verify Arbor access tokens.', tags, response: { 200: { ...ref(JsonWebKeySet), description: 'Successful Response' } } },
    },
    async (_request, reply) => {
      // No longer than instances take to pick up a rotation: a new key signs as soon as it exists.
      reply.header('cache-control', 'public, max-age=60');
      return tokens.jwks();
    },
  );

  app.get(
    '/.well-known/oauth-authorization-server',
    {
      schema: {
        summary: 'Authorization Server Metadata',
        description: 'RFC 8414 metadata.',
        tags,
        response: { 200: { ...ref(AuthorizationServerMetadata), description: 'Successful Response' } },
      },
    },
    async () => ({
      issuer,
      token_endpoint: `${issuer}/oauth/token`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: [...CLIENT_SCOPES, PLATFORM_SCOPE],
      // No authorization endpoint, so no response types (RFC 8414 §2 requires the member).
      response_types_supported: [],
    }),
  );

  // RFC 9728: which authorization servers' tokens this API takes, and how to send them. Arbor
  // is its own authorization server, so the resource is the issuer's URL too.
  const protectedResource = {
    resource: issuer,
    authorization_servers: externalIssuer ? [issuer, externalIssuer] : [issuer],
    bearer_methods_supported: ['header'],
    scopes_supported: [...CLIENT_SCOPES, PLATFORM_SCOPE],
    resource_name: 'Arbor',
    resource_documentation: `${issuer}/docs`,
    audience,
  };
  app.get(
    '/.well-known/oauth-protected-resource',
    {
      schema: {
        summary: 'Protected Resource Metadata',
        description: 'RFC 9728 metadata: the authorization servers whose tokens this API accepts, the scopes, and the audience its tokens carry.',
        tags,
        response: { 200: { ...ref(ProtectedResourceMetadata), description: 'Successful Response' } },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return protectedResource;
    },
  );
};
