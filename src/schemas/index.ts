import type { FastifyInstance } from 'fastify';
import { commonSchemas } from './common.js';
import { orgUnitSchemas } from './org-units.js';
import { tenantSchemas } from './tenants.js';
import { userSchemas } from './users.js';

/** Registers every named schema once; routes refer to them with ref(), and OpenAPI lists them as components. */
export function registerSchemas(app: FastifyInstance): void {
  for (const schema of [...commonSchemas, ...orgUnitSchemas, ...userSchemas, ...tenantSchemas]) {
    app.addSchema(schema);
  }
}
