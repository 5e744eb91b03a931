import type { FastifyInstance } from 'fastify';
import { clientSchemas } from './clients.js';
import { commonSchemas } from './common.js';
import { eventSchemas } from './events.js';
import { importSchemas } from './imports.js';
import { oauthSchemas } from './oauth.js';
import { orgUnitSchemas } from './org-units.js';
import { roleAssignmentSchemas } from './role-assignments.js';
import { tenantSchemas } from './tenants.js';
import { userSchemas } from './users.js';
import { webhookSchemas } from './webhooks.js';

/** Registers every named schema once; routes refer to them with ref(), and OpenAPI lists them as components. */
export function registerSchemas(app: FastifyInstance): void {
  for (const schema of [...commonSchemas, ...orgUnitSchemas, ...userSchemas, ...tenantSchemas, ...clientSchemas, ...oauthSchemas, ...eventSchemas, ...roleAssignmentSchemas, ...webhookSchemas, ...importSchemas]) {
    app.addSchema(schema);
  }
}
