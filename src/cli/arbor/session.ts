import { type AccessToken, type ArborClient, createArborClient } from '@arbor/sdk';
import type { Command } from 'commander';
import { CliError, EXIT, unreachable } from './errors.js';
import { type Profile, loadProfile, saveProfile } from './profile.js';

/** The options of every command (declared on the program in src/cli/arbor.ts). */
export interface GlobalOptions {
  json?: boolean;
  tenant?: string;
}

/** What every command acts with: the SDK client, the tenant, and how to print. */
export interface Session {
  arbor: ArborClient;
  profile: Profile;
  json: boolean;
  /** --tenant, or the logged-in client's own (known from its token, fetched if need be). */
  tenant(): Promise<string>;
  /**
   * A new token, the kept one forgotten: for a request sent around the SDK's retries (a streamed
   * upload cannot be sent twice through them), after a 401.
   */
  renewToken(): Promise<string>;
}

/** Profile saves in flight: the entry awaits them before the process exits. */
export const pendingSaves: Promise<unknown>[] = [];

/** The session: credentials from `arbor login` or ARBOR_URL / ARBOR_CLIENT_ID / ARBOR_CLIENT_SECRET. */
export async function openSession(program: Command): Promise<Session> {
  const globals = program.opts<GlobalOptions>();
  const fromEnv = process.env.ARBOR_URL && process.env.ARBOR_CLIENT_ID && process.env.ARBOR_CLIENT_SECRET;
  const profile: Profile | null = fromEnv
    ? { url: process.env.ARBOR_URL!, clientId: process.env.ARBOR_CLIENT_ID!, clientSecret: process.env.ARBOR_CLIENT_SECRET! }
    : await loadProfile();
  if (!profile) throw new CliError('Not logged in: run `arbor login --url <url> --client-id <id>` (or set ARBOR_URL, ARBOR_CLIENT_ID and ARBOR_CLIENT_SECRET).', EXIT.auth);
  const arbor = clientFor(profile, !fromEnv);
  return {
    arbor,
    profile,
    json: globals.json === true,
    async tenant() {
      if (globals.tenant) return globals.tenant;
      const tenant = profile.tenantId ?? tenantOf(profile.token?.value) ?? tenantOf(await arbor.accessToken().catch((error: unknown) => Promise.reject(unreachable(error))));
      if (!tenant) throw new CliError('Which tenant? This client is a platform client: pass --tenant <id> (`arbor tenants list` shows them).', EXIT.usage);
      return tenant;
    },
    async renewToken() {
      delete profile.token;
      return clientFor(profile, !fromEnv)
        .accessToken()
        .catch((error: unknown) => Promise.reject(unreachable(error)));
    },
  };
}

export function clientFor(profile: Profile, keepTokens: boolean): ArborClient {
  return createArborClient({
    baseUrl: profile.url,
    credentials: { clientId: profile.clientId, clientSecret: profile.clientSecret },
    ...(profile.token ? { cachedToken: profile.token } : {}),
    onToken: (token: AccessToken) => {
      profile.token = token;
      profile.tenantId ??= tenantOf(token.value);
      // Kept for the next run; awaited before the process exits.
      if (keepTokens) pendingSaves.push(saveProfile(profile).catch(() => undefined));
    },
  });
}

/** The tenant_id claim of an Arbor token (a tenant client's); null for a platform client. */
export function tenantOf(token: string | undefined): string | null {
  if (!token) return null;
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { tenant_id?: unknown };
    return typeof payload.tenant_id === 'string' ? payload.tenant_id : null;
  } catch {
    return null;
  }
}
