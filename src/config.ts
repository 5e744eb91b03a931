import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  /** Largest file an import reads (ARBOR_IMPORT_MAX_BYTES): docs/import-export.md. */
  readonly importMaxBytes: number;
  /** How long the rest of a body refused with 413 is read and discarded before the connection is closed. */
  readonly rejectedBodyDrainMs: number;
  /** Largest `custom_attributes` of an OU or user, in bytes of JSON. */
  readonly maxAttributesBytes: number;
  /** Deepest `custom_attributes` nesting (the object itself is level 1). */
  readonly maxAttributesDepth: number;
  /** Longest request URL (path and query), in bytes; longer is 414. */
  readonly maxUrlBytes: number;
  /** Largest request head (request line and headers), in bytes; larger is 431 (Node's maxHeaderSize). */
  readonly maxHeaderBytes: number;
  /** Most OUs `GET …/ous/tree` returns at once; a larger tenant gets 422 telling the client to page. */
  readonly treeMaxOus: number;
  /** Events older than this are pruned in the background; a feed cursor before them gets 410. */
  readonly eventRetentionDays: number;
  /** How long a response stored for an Idempotency-Key is replayed. */
  readonly idempotencyTtlHours: number;
  /** The longest a change-feed request with `wait` is held (a longer wait is shortened to it). */
  readonly feedMaxWaitSeconds: number;
  /** API requests allowed per client per minute on each instance; 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  /** Event-loop delay beyond which new requests get 503 (load shedding); 0 turns it off. */
  readonly maxEventLoopDelayMs: number;
  /** A request not received completely within this is cut with 408 (Node's requestTimeout). */
  readonly requestTimeoutMs: number;
  /** A request whose headers have not all arrived within this is cut with 408. */
  readonly headersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  readonly keepAliveTimeoutMs: number;
  /** How long to wait for a PostgreSQL connection before answering 503. */
  readonly dbConnectTimeoutMs: number;
  /** How long to wait for the answer to a PostgreSQL query before answering 503. */
  readonly dbQueryTimeoutMs: number;
  /** PostgreSQL: run the statements every write runs as named prepared statements (session state a transaction-mode pooler may not keep). */
  readonly dbPreparedStatements: boolean;
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
  /** ARBOR_SECRETS_KEY: the 32-byte key that encrypts stored webhook secrets; null: see webhook-secrets.ts. */
  readonly secretsKey: Buffer | null;
  readonly webhooks: WebhookConfig;
  /** ARBOR_METRICS_PORT: where Prometheus scrapes `/metrics` (a listener of its own); 0: no listener and nothing collected. */
  readonly metricsPort: number;
  /** ARBOR_METRICS_HOST: the address that listener binds to (loopback by default: the API's clients never see it). */
  readonly metricsHost: string;
  /**
   * The admin console's built files (`npm run build` writes them to dist/console), served at
   * /console; ARBOR_CONSOLE_DIR moves them, ARBOR_CONSOLE=false turns the console off (null).
   */
  readonly consoleDir: string | null;
  /**
   * Signing in to the console through the external identity provider (authorization code with
   * PKCE, a public client): ARBOR_CONSOLE_OIDC_CLIENT_ID, with ARBOR_EXTERNAL_* set. Null: the
   * console signs in with an API client's id and secret only.
   */
  readonly consoleOidc: ConsoleOidcConfig | null;
}

export interface ConsoleOidcConfig {
  /** The console's client id at the identity provider: a public client (no secret), with {origin}/console/ as a redirect URI. */
  readonly clientId: string;
  /** The scopes the console asks for (space-separated). */
  readonly scope: string;
}

/** How this instance delivers webhooks (docs/webhooks.md). */
export interface WebhookConfig {
  /** ARBOR_WEBHOOK_DISPATCH: false leaves delivery to other instances (an API-only instance). */
  readonly dispatch: boolean;
  /** http:// URLs and loopback receivers allowed (tests, local development). */
  readonly allowInsecure: boolean;
  /** Exact host names whose addresses are not checked: trusted internal receivers. */
  readonly allowHosts: readonly string[];
  /** A delivery not answered with a 2xx within this failed. */
  readonly timeoutMs: number;
  /** Delay before each attempt, the first (always 0: an event is sent as soon as it commits) included (ARBOR_WEBHOOK_RETRY_SCHEDULE). */
  readonly retryScheduleMs: readonly number[];
  /** After this long with nothing but failures, a subscription is disabled. */
  readonly disableAfterMs: number;
  /** How long an instance holds a subscription it works on; longer than a delivery can take. */
  readonly leaseMs: number;
  /** Subscriptions one instance works on at once (and as many pings and re-sends besides). */
  readonly concurrency: number;
  /** How often an instance looks for work other instances committed. */
  readonly pollMs: number;
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

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
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

/** Arbor's tenant scopes an administrator works with in the console. */
const CONSOLE_OIDC_SCOPE = 'openid ous:read ous:write users:read users:write events:read';

function consoleOidc(env: Env, idp: ExternalIdpConfig | null): ConsoleOidcConfig | null {
  const clientId = env.ARBOR_CONSOLE_OIDC_CLIENT_ID;
  if (!clientId) return null;
  if (idp === null) {
    throw new ConfigError('ARBOR_CONSOLE_OIDC_CLIENT_ID needs the identity provider it signs in with: set ARBOR_EXTERNAL_ISSUER, ARBOR_EXTERNAL_JWKS_URL and ARBOR_EXTERNAL_AUDIENCE too');
  }
  // The console reads the provider's metadata at {issuer}/.well-known/openid-configuration, over
  // https; plain http only to a provider on this machine (development, the tests).
  const url = URL.parse(idp.issuer);
  const loopback = url !== null && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url === null || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
    throw new ConfigError(`ARBOR_CONSOLE_OIDC_CLIENT_ID needs ARBOR_EXTERNAL_ISSUER to be the provider's https URL (http only on loopback), got "${idp.issuer}"`);
  }
  return { clientId, scope: env.ARBOR_CONSOLE_OIDC_SCOPE || CONSOLE_OIDC_SCOPE };
}

function secretsKey(env: Env): Buffer | null {
  const raw = env.ARBOR_SECRETS_KEY;
  if (raw === undefined || raw === '') return null;
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new ConfigError('ARBOR_SECRETS_KEY must be 32 random bytes, as 64 hex digits or base64 (e.g. the output of `openssl rand -base64 32`)');
  }
  return key;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `0,5s,5m,30m,2h` -> milliseconds; a bare number is milliseconds. */
export function parseSchedule(name: string, raw: string): number[] {
  const delays = raw.split(',').map((part) => {
    const match = /^\s*(\d+)(ms|s|m|h|d)?\s*$/.exec(part);
    if (!match) throw new ConfigError(`${name} must be comma-separated durations such as 0,5s,5m,30m,2h (units ms, s, m, h, d), got "${raw}"`);
    const ms = Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms'];
    if (ms > 7 * DURATION_UNITS.d) throw new ConfigError(`${name}: each delay must be at most 7d, got "${part.trim()}"`);
    return ms;
  });
  if (delays.length < 1 || delays.length > 50) throw new ConfigError(`${name} must list between 1 and 50 attempts, got ${delays.length}`);
  return delays;
}

function retrySchedule(env: Env): number[] {
  const raw = env.ARBOR_WEBHOOK_RETRY_SCHEDULE || '0,5s,5m,30m,2h,5h,10h,10h';
  const delays = parseSchedule('ARBOR_WEBHOOK_RETRY_SCHEDULE', raw);
  if (delays[0] !== 0) throw new ConfigError(`ARBOR_WEBHOOK_RETRY_SCHEDULE must start with 0 (the first attempt is made as soon as the event commits), got "${raw}"`);
  return delays;
}

function webhookConfig(env: Env): WebhookConfig {
  const timeoutMs = integer(env, 'ARBOR_WEBHOOK_TIMEOUT_MS', 15_000, 100, 120_000);
  const leaseMs = integer(env, 'ARBOR_WEBHOOK_LEASE_SECONDS', 60, 1, 3600) * 1000;
  if (leaseMs <= timeoutMs) {
    // A lease that can run out during a delivery would let a second instance send the next event before it.
    throw new ConfigError(`ARBOR_WEBHOOK_LEASE_SECONDS (${leaseMs / 1000}) must be longer than ARBOR_WEBHOOK_TIMEOUT_MS (${timeoutMs} ms)`);
  }
  return {
    dispatch: flag(env, 'ARBOR_WEBHOOK_DISPATCH', true),
    allowInsecure: flag(env, 'ARBOR_WEBHOOK_ALLOW_INSECURE', false),
    // Compared with the URL's host as the guard normalises it: lower case, no trailing dot.
    allowHosts: (env.ARBOR_WEBHOOK_ALLOW_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase().replace(/\.$/, '')).filter((h) => h !== ''),
    timeoutMs,
    retryScheduleMs: retrySchedule(env),
    disableAfterMs: integer(env, 'ARBOR_WEBHOOK_DISABLE_AFTER_HOURS', 120, 1, 24 * 365) * 3_600_000,
    leaseMs,
    concurrency: integer(env, 'ARBOR_WEBHOOK_CONCURRENCY', 8, 1, 256),
    pollMs: integer(env, 'ARBOR_WEBHOOK_POLL_MS', 500, 10, 60_000),
  };
}

/** An IP address or a host name: what a listener can bind to. */
function listenHost(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const hostName = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
  if (isIP(raw) === 0 && !hostName.test(raw)) {
    throw new ConfigError(`${name} must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name, got "${raw}"`);
  }
  return raw;
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
    importMaxBytes: integer(env, 'ARBOR_IMPORT_MAX_BYTES', 512 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    rejectedBodyDrainMs: integer(env, 'ARBOR_REJECTED_BODY_DRAIN_MS', 10_000, 0, 600_000),
    maxAttributesBytes: integer(env, 'ARBOR_MAX_ATTRIBUTES_BYTES', 16 * 1024, 2, 100 * 1024 * 1024),
    maxAttributesDepth: integer(env, 'ARBOR_MAX_ATTRIBUTES_DEPTH', 8, 1, 32),
    maxUrlBytes: integer(env, 'ARBOR_MAX_URL_BYTES', 8 * 1024, 256, 1024 * 1024),
    maxHeaderBytes: integer(env, 'ARBOR_MAX_HEADER_BYTES', 16 * 1024, 1024, 1024 * 1024),
    treeMaxOus: integer(env, 'ARBOR_TREE_MAX_OUS', 150_000, 1, 10_000_000),
    eventRetentionDays: integer(env, 'ARBOR_EVENT_RETENTION_DAYS', 90, 1, 36_500),
    idempotencyTtlHours: integer(env, 'ARBOR_IDEMPOTENCY_TTL_HOURS', 24, 1, 24 * 30),
    feedMaxWaitSeconds: integer(env, 'ARBOR_FEED_MAX_WAIT_SECONDS', 30, 0, 30),
    rateLimitPerMinute: integer(env, 'ARBOR_RATE_LIMIT_PER_MINUTE', 6_000, 0, 100_000_000),
    maxEventLoopDelayMs: integer(env, 'ARBOR_MAX_EVENT_LOOP_DELAY_MS', 1_000, 0, 60_000),
    requestTimeoutMs: integer(env, 'ARBOR_REQUEST_TIMEOUT_MS', 30_000, 1_000, 3_600_000),
    headersTimeoutMs: integer(env, 'ARBOR_HEADERS_TIMEOUT_MS', 10_000, 100, 3_600_000),
    keepAliveTimeoutMs: integer(env, 'ARBOR_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1_000, 3_600_000),
    dbConnectTimeoutMs: integer(env, 'ARBOR_DB_CONNECT_TIMEOUT_MS', 5_000, 100, 600_000),
    dbQueryTimeoutMs: integer(env, 'ARBOR_DB_QUERY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    dbPreparedStatements: flag(env, 'ARBOR_DB_PREPARED_STATEMENTS', true),
    issuer: env.ARBOR_ISSUER || `http://${host}:${port}`,
    audience: env.ARBOR_AUDIENCE || 'arbor',
    tokenTtlSeconds: integer(env, 'ARBOR_TOKEN_TTL_SECONDS', 15 * 60, 60, 24 * 3600),
    tokenCacheSize: integer(env, 'ARBOR_TOKEN_CACHE_SIZE', 10_000, 0, 10_000_000),
    tokenFailedAuthLimit: integer(env, 'ARBOR_TOKEN_FAILED_AUTH_LIMIT', 10, 1, 1_000_000),
    tokenRequestsPerAddress: integer(env, 'ARBOR_TOKEN_REQUESTS_PER_ADDRESS', 300, 1, 1_000_000),
    trustProxy: trustProxy(env),
    adminClient: adminClient(env),
    externalIdp: externalIdp(env),
    consoleOidc: consoleOidc(env, externalIdp(env)),
    secretsKey: secretsKey(env),
    webhooks: webhookConfig(env),
    metricsPort: integer(env, 'ARBOR_METRICS_PORT', 9464, 0, 65535),
    metricsHost: listenHost(env, 'ARBOR_METRICS_HOST', '127.0.0.1'),
    // From src/ and from dist/ alike, the package's dist/console.
    consoleDir: flag(env, 'ARBOR_CONSOLE', true) ? resolve(env.ARBOR_CONSOLE_DIR || fileURLToPath(new URL('../dist/console/', import.meta.url))) : null,
    ...overrides,
  };
  if (config.maxUrlBytes >= config.maxHeaderBytes) {
    // The request line counts towards Node's header limit: a URL limit above it could never apply.
    throw new ConfigError(`ARBOR_MAX_URL_BYTES (${config.maxUrlBytes}) must be less than ARBOR_MAX_HEADER_BYTES (${config.maxHeaderBytes})`);
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError(`ARBOR_HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not exceed ARBOR_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`);
  }
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    // Two listeners cannot share a port; on the API's port the metrics would reach its clients too.
    throw new ConfigError(`ARBOR_METRICS_PORT (${config.metricsPort}) must differ from PORT (${config.port}); 0 turns the metrics listener off`);
  }
  return Object.freeze(config);
}

/** Where a `sqlite:` URL points; `:memory:` for an in-memory store. */
export function sqliteFile(databaseUrl: string): string {
  return databaseUrl.slice('sqlite:'.length);
}
