import type { Executor } from '../store.js';
import { createApiClientRepository } from './api-client-repository.js';
import { createEventRepository } from './event-repository.js';
import { createIdempotencyRepository } from './idempotency-repository.js';
import { createImportJobRepository } from './import-job-repository.js';
import { createMonitoringRepository } from './monitoring-repository.js';
import { createOrgUnitRepository } from './org-unit-repository.js';
import { createRoleAssignmentRepository } from './role-assignment-repository.js';
import { createSigningKeyRepository } from './signing-key-repository.js';
import { createTenantRepository } from './tenant-repository.js';
import { createUserRepository } from './user-repository.js';
import { createWebhookDeliveryRepository } from './webhook-delivery-repository.js';
import { createWebhookRepository } from './webhook-repository.js';

const factories = {
  tenants: createTenantRepository,
  orgUnits: createOrgUnitRepository,
  users: createUserRepository,
  signingKeys: createSigningKeyRepository,
  apiClients: createApiClientRepository,
  events: createEventRepository,
  idempotencyKeys: createIdempotencyRepository,
  roleAssignments: createRoleAssignmentRepository,
  webhooks: createWebhookRepository,
  webhookDeliveries: createWebhookDeliveryRepository,
  monitoring: createMonitoringRepository,
  importJobs: createImportJobRepository,
};

export type Repositories = { [K in keyof typeof factories]: ReturnType<(typeof factories)[K]> };
export type RepositoryName = keyof Repositories;

/** Every repository bound to one executor: the store itself, or a transaction on it. */
export function repositories(db: Executor): Repositories {
  return pick(db, Object.keys(factories) as RepositoryName[]);
}

/** Only the repositories `names`, bound to `db`: what a service declares it uses is all it gets. */
export function pick<K extends RepositoryName>(db: Executor, names: readonly K[]): Pick<Repositories, K> {
  const picked = {} as Pick<Repositories, K>;
  for (const name of names) (picked as Record<string, unknown>)[name] = factories[name](db);
  return picked;
}
