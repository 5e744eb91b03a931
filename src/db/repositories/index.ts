import type { Executor } from '../database.js';
import { createApiClientRepository } from './api-client-repository.js';
import { createOrgUnitRepository } from './org-unit-repository.js';
import { createSigningKeyRepository } from './signing-key-repository.js';
import { createTenantRepository } from './tenant-repository.js';
import { createUserRepository } from './user-repository.js';

/** Every repository bound to one executor: the store itself, or a transaction on it. */
export function repositories(db: Executor) {
  return {
    tenants: createTenantRepository(db),
    orgUnits: createOrgUnitRepository(db),
    users: createUserRepository(db),
    signingKeys: createSigningKeyRepository(db),
    apiClients: createApiClientRepository(db),
  };
}

export type Repositories = ReturnType<typeof repositories>;
