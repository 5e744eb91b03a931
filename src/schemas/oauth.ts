import { Type } from 'typebox';

export const TokenResponse = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'Seconds.' }),
    scope: Type.String({ description: 'Space-separated scopes granted.' }),
  },
  { $id: 'TokenResponse', description: 'RFC 6749 §5.1 access token response.' },
);

export const OAuthErrorResponse = Type.Object(
  { error: Type.String({ description: 'RFC 6749 §5.2 error code.' }), error_description: Type.String() },
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

export const oauthSchemas = [TokenResponse, OAuthErrorResponse, JsonWebKeySet, AuthorizationServerMetadata];
