import { resolve } from 'node:path';

/** The only reader of process.env: everything Arbor can be configured with, validated once. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** `sqlite:<file>`, or `sqlite::memory:` for tests. */
  readonly databaseUrl: string;
  readonly logLevel: string;
  readonly maxOuDepth: number;
  readonly bodyLimitBytes: number;
  readonly issuer: string;
  readonly audience: string;
  readonly tokenTtlSeconds: number;
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

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const host = env.HOST || '127.0.0.1';
  const port = integer(env, 'PORT', 8000, 0, 65535);
  const databaseUrl = env.DATABASE_URL || `sqlite:${resolve('data', 'arbor.sqlite')}`;
  if (!databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError(`DATABASE_URL must be sqlite:<file> (PostgreSQL support is not built yet), got "${databaseUrl}"`);
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
    maxOuDepth: integer(env, 'ARBOR_MAX_OU_DEPTH', 32, 1, 1000),
    bodyLimitBytes: integer(env, 'ARBOR_BODY_LIMIT_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
    issuer: env.ARBOR_ISSUER || `http://${host}:${port}`,
    audience: env.ARBOR_AUDIENCE || 'arbor',
    tokenTtlSeconds: integer(env, 'ARBOR_TOKEN_TTL_SECONDS', 15 * 60, 60, 24 * 3600),
    ...overrides,
  };
  return Object.freeze(config);
}

/** Where a `sqlite:` URL points; `:memory:` for an in-memory store. */
export function sqliteFile(databaseUrl: string): string {
  return databaseUrl.slice('sqlite:'.length);
}
