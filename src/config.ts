import { resolve } from 'node:path';

/** `postgres://` or `postgresql://` (kept here so config needs nothing from db/). */
export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://');
}

/** The only reader of process.env: everything Arbor can be configured with, validated once. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** `sqlite:<file>` (`sqlite::memory:` in tests) or `postgres://…`. */
  readonly databaseUrl: string;
  /** PostgreSQL connections per instance. */
  readonly dbPoolSize: number;
  readonly logLevel: string;
  readonly maxOuDepth: number;
  readonly bodyLimitBytes: number;
  readonly issuer: string;
  readonly audience: string;
  readonly tokenTtlSeconds: number;
  /** Verified tokens kept in memory (by exact string, until exp). 0 disables the cache. */
  readonly tokenCacheSize: number;
  /** Failed client authentications allowed per client id per minute at the token endpoint. */
  readonly tokenFailedAuthLimit: number;
  /** Token requests allowed per remote address per minute. */
  readonly tokenRequestsPerAddress: number;
  /** Fastify's trustProxy: how many proxy hops (or true/false) to trust for the client address. */
  readonly trustProxy: boolean | number;
  /** Ensured at start-up as a platform client, when both are set. */
  readonly adminClient: { id: string; secret: string } | null;
  /** Another issuer whose tokens Arbor accepts, when configured. */
  readonly externalIdp: ExternalIdpConfig | null;
}

export interface ExternalIdpConfig {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly audience: string;
  readonly tenantClaim: string;
  readonly scopeClaim: string;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function trustProxy(env: Env): boolean | number {
  const raw = env.ARBOR_TRUST_PROXY;
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  return integer(env, 'ARBOR_TRUST_PROXY', 0, 0, 10);
}

function adminClient(env: Env): Config['adminClient'] {
  const id = env.ARBOR_ADMIN_CLIENT_ID;
  const secret = env.ARBOR_ADMIN_CLIENT_SECRET;
  if (!id && !secret) return null;
  if (!id || !secret) throw new ConfigError('ARBOR_ADMIN_CLIENT_ID and ARBOR_ADMIN_CLIENT_SECRET must be set together');
  if (secret.length < 16) throw new ConfigError('ARBOR_ADMIN_CLIENT_SECRET must be at least 16 characters');
  if (id.length > 128) throw new ConfigError('ARBOR_ADMIN_CLIENT_ID must be at most 128 characters');
  return { id, secret };
}

function externalIdp(env: Env): Config['externalIdp'] {
  const issuer = env.ARBOR_EXTERNAL_ISSUER;
  const jwksUrl = env.ARBOR_EXTERNAL_JWKS_URL;
  const audience = env.ARBOR_EXTERNAL_AUDIENCE;
  if (!issuer && !jwksUrl && !audience) return null;
  if (!issuer || !jwksUrl || !audience) {
    throw new ConfigError('ARBOR_EXTERNAL_ISSUER, ARBOR_EXTERNAL_JWKS_URL and ARBOR_EXTERNAL_AUDIENCE must be set together');
  }
  try {
    new URL(jwksUrl);
  } catch {
    throw new ConfigError(`ARBOR_EXTERNAL_JWKS_URL must be a URL, got "${jwksUrl}"`);
  }
  return {
    issuer,
    jwksUrl,
    audience,
    tenantClaim: env.ARBOR_EXTERNAL_TENANT_CLAIM || 'tenant_id',
    scopeClaim: env.ARBOR_EXTERNAL_SCOPE_CLAIM || 'scope',
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const host = env.HOST || '127.0.0.1';
  const port = integer(env, 'PORT', 8000, 0, 65535);
  const databaseUrl = env.DATABASE_URL || `sqlite:${resolve('data', 'arbor.sqlite')}`;
  if (!databaseUrl.startsWith('sqlite:') && !isPostgresUrl(databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must be sqlite:<file> or postgres://user@host:port/database, got "${databaseUrl}"`);
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const config: Config = {
    host,
    port,
    databaseUrl,
    logLevel,
    dbPoolSize: integer(env, 'ARBOR_DB_POOL_SIZE', 10, 1, 1000),
    maxOuDepth: integer(env, 'ARBOR_MAX_OU_DEPTH', 32, 1, 1000),
    bodyLimitBytes: integer(env, 'ARBOR_BODY_LIMIT_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
    issuer: env.ARBOR_ISSUER || `http://${host}:${port}`,
    audience: env.ARBOR_AUDIENCE || 'arbor',
    tokenTtlSeconds: integer(env, 'ARBOR_TOKEN_TTL_SECONDS', 15 * 60, 60, 24 * 3600),
    tokenCacheSize: integer(env, 'ARBOR_TOKEN_CACHE_SIZE', 10_000, 0, 10_000_000),
    tokenFailedAuthLimit: integer(env, 'ARBOR_TOKEN_FAILED_AUTH_LIMIT', 10, 1, 1_000_000),
    tokenRequestsPerAddress: integer(env, 'ARBOR_TOKEN_REQUESTS_PER_ADDRESS', 300, 1, 1_000_000),
    trustProxy: trustProxy(env),
    adminClient: adminClient(env),
    externalIdp: externalIdp(env),
    ...overrides,
  };
  return Object.freeze(config);
}

/** Where a `sqlite:` URL points; `:memory:` for an in-memory store. */
export function sqliteFile(databaseUrl: string): string {
  return databaseUrl.slice('sqlite:'.length);
}
