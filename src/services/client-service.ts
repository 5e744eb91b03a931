import type { Store } from '../db/database.js';
import { repositories } from '../db/repositories/index.js';
import type { ApiClientRow } from '../db/repositories/api-client-repository.js';
import { ForbiddenError, NotFoundError, RequestValidationError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { type PageRequest, offsetOf, toPage } from './pagination.js';
import { generateSecret, hashSecret, verifySecret } from './secret-hash.js';
import { requireTenant } from './tenant-guard.js';
import { PLATFORM_SCOPE, TENANT_SCOPES, UMBRELLA_SCOPES, parseScopes } from './token-service.js';

/** Scopes a tenant's client may hold. */
export const CLIENT_SCOPES: readonly string[] = [...TENANT_SCOPES, ...UMBRELLA_SCOPES];

export interface ClientData {
  id: string;
  tenant_id: string | null;
  name: string;
  scopes: string[];
  created_at: string;
}

export function toClientData(row: ApiClientRow): ClientData {
  return { id: row.id, tenant_id: row.tenant_id, name: row.name, scopes: parseScopes(row.scopes), created_at: row.created_at };
}

export interface ClientServiceDeps {
  store: Pick<Store, 'db' | 'transaction'>;
  now?: () => string;
}

const clientNotFound = (id: string) => new NotFoundError('client.not_found', `API client '${id}' does not exist in this tenant.`);

/** OAuth clients of a tenant, and the platform client that bootstraps everything. */
export function createClientService({ store, now = () => new Date().toISOString() }: ClientServiceDeps) {
  const read = repositories(store.db);

  return {
    /**
     * Creates a client; the secret is in the result and nowhere else, ever. `mayGrant` tells
     * which scopes the caller may hand out: only those it holds itself, so a token with
     * clients:write cannot mint a client with more power than its own.
     */
    async create(
      tenantId: string,
      input: { name: string; scopes: string[] },
      mayGrant: (scope: string) => boolean,
    ): Promise<ClientData & { client_secret: string }> {
      const unknown = input.scopes.filter((s) => !CLIENT_SCOPES.includes(s));
      if (unknown.length > 0) {
        throw new RequestValidationError([
          { loc: ['body', 'scopes'], type: 'value_error', msg: `Unknown scope(s) ${unknown.join(', ')}; allowed: ${CLIENT_SCOPES.join(', ')}` },
        ]);
      }
      const notHeld = input.scopes.filter((s) => !mayGrant(s));
      if (notHeld.length > 0) {
        throw new ForbiddenError('client.scope_not_held', `A client can only be given scopes the caller holds; this token lacks ${notHeld.join(', ')}.`);
      }
      const secret = generateSecret();
      const row: ApiClientRow = {
        id: newId('cli'),
        tenant_id: tenantId,
        name: input.name.trim(),
        secret_hash: await hashSecret(secret), // slow by design: before the lock, not under it
        scopes: [...new Set(input.scopes)].join(' '),
        created_at: now(),
      };
      // Under the tenant's lock, so a tenant being deleted meanwhile gives a 404, not a dangling row.
      await store.transaction(
        async (trx) => {
          const repos = repositories(trx);
          await requireTenant(repos, tenantId);
          await repos.apiClients.insert(row);
        },
        { lock: `tenant:${tenantId}` },
      );
      return { ...toClientData(row), client_secret: secret };
    },

    async get(tenantId: string, id: string): Promise<ClientData> {
      const row = await read.apiClients.getById(tenantId, id);
      if (!row) throw clientNotFound(id);
      return toClientData(row);
    },

    async list(tenantId: string, pageRequest: PageRequest) {
      await requireTenant(read, tenantId);
      const [rows, total] = await Promise.all([
        read.apiClients.list(tenantId, pageRequest.per_page, offsetOf(pageRequest)),
        read.apiClients.count(tenantId),
      ]);
      return toPage(rows.map(toClientData), total, pageRequest);
    },

    /** Deletes a client: its next token request fails; tokens already issued live until they expire. */
    async delete(tenantId: string, id: string): Promise<void> {
      if (!(await read.apiClients.getById(tenantId, id))) throw clientNotFound(id);
      await read.apiClients.deleteById(tenantId, id);
    },

    /**
     * Start-up: with `configured` credentials, makes sure that platform client exists with that
     * secret. Without, creates one platform client if there is none and returns its secret so it
     * can be shown once.
     */
    async ensurePlatformClient(configured: { id: string; secret: string } | null): Promise<{ id: string; secret: string } | null> {
      return store.transaction(async (trx) => {
        const repos = repositories(trx);
        if (configured) {
          const existing = await repos.apiClients.getForAuthentication(configured.id);
          if (existing && existing.tenant_id !== null) {
            throw new Error(`ARBOR_ADMIN_CLIENT_ID '${configured.id}' is a client of tenant ${existing.tenant_id}; choose another id.`);
          }
          if (existing && existing.scopes === PLATFORM_SCOPE && (await verifySecret(configured.secret, existing.secret_hash))) return null;
          const hash = await hashSecret(configured.secret);
          if (existing) await repos.apiClients.updateSecretAndScopes(configured.id, hash, PLATFORM_SCOPE);
          else {
            await repos.apiClients.insert({
              id: configured.id,
              tenant_id: null,
              name: 'Platform administrator (from ARBOR_ADMIN_CLIENT_ID)',
              secret_hash: hash,
              scopes: PLATFORM_SCOPE,
              created_at: now(),
            });
          }
          return null;
        }
        if (await repos.apiClients.hasPlatformClient()) return null;
        const secret = generateSecret();
        const id = newId('cli');
        await repos.apiClients.insert({
          id,
          tenant_id: null,
          name: 'Platform administrator (generated at first start)',
          secret_hash: await hashSecret(secret),
          scopes: PLATFORM_SCOPE,
          created_at: now(),
        });
        return { id, secret };
      }, { lock: 'bootstrap-client' });
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
