import { Type } from 'typebox';
import { OAUTH_ERROR_CODES, type OAuthErrorCode } from '../errors.js';

export const TokenResponse = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'Seconds.' }),
    scope: Type.String({ description: 'Space-separated scopes granted.' }),
  },
  { $id: 'TokenResponse', description: 'RFC 6749 §5.1 access token response.' },
);

/** The token endpoint's form fields (RFC 6749 §4.4.2, §2.3.1). */
export const TokenRequestBody = Type.Object(
  {
    grant_type: Type.String({ description: 'client_credentials (the only grant; another is answered unsupported_grant_type).', examples: ['client_credentials'] }),
    scope: Type.Optional(Type.String({ description: "Space-separated scopes, a subset of the client's; absent: all of them." })),
    client_id: Type.Optional(Type.String({ description: 'client_secret_post: the client id (or send both in HTTP Basic instead).' })),
    client_secret: Type.Optional(Type.String({ description: 'client_secret_post: the client secret.' })),
  },
  { $id: 'TokenRequest', description: 'RFC 6749 §4.4.2 access token request, form-encoded.' },
);

export const OAuthErrorResponse = Type.Object(
  {
    error: Type.Unsafe<OAuthErrorCode>({ type: 'string', enum: [...OAUTH_ERROR_CODES], description: 'RFC 6749 §5.2 error code.' }),
    error_description: Type.String(),
  },
  { $id: 'OAuthErrorResponse', description: 'RFC 6749 §5.2 error response.' },
);

export const JsonWebKeySet = Type.Object(
  { keys: Type.Array(Type.Object({}, { additionalProperties: true })) },
  { $id: 'JsonWebKeySet', description: 'RFC 7517 key set: the public keys that verify Arbor tokens.' },
);

export const AuthorizationServerMetadata = Type.Object(
  {
    issuer: Type.String(),
    token_endpoint: Type.String(),
    jwks_uri: Type.String(),
    grant_types_supported: Type.Array(Type.String()),
    token_endpoint_auth_methods_supported: Type.Array(Type.String()),
    scopes_supported: Type.Array(Type.String()),
    response_types_supported: Type.Array(Type.String()),
  },
  { $id: 'AuthorizationServerMetadata', description: 'RFC 8414 authorization server metadata.' },
);

/** RFC 9728 protected resource metadata. */
export const ProtectedResourceMetadata = Type.Object(
  {
    resource: Type.String({ description: 'The resource identifier: the URL this document was read under, less /.well-known/oauth-protected-resource.' }),
    authorization_servers: Type.Array(Type.String(), { description: 'Issuers whose tokens this API accepts (RFC 8414 metadata at each).' }),
    bearer_methods_supported: Type.Array(Type.String()),
    scopes_supported: Type.Array(Type.String()),
    resource_name: Type.String(),
    resource_documentation: Type.String(),
    audience: Type.String({ description: 'Arbor\'s extension: the `aud` its own tokens carry and it requires (ARBOR_AUDIENCE).' }),
  },
  { $id: 'ProtectedResourceMetadata', description: 'RFC 9728 metadata of the protected resource: this API.' },
);

export const oauthSchemas = [TokenRequestBody, TokenResponse, OAuthErrorResponse, JsonWebKeySet, AuthorizationServerMetadata, ProtectedResourceMetadata];
