import type { FastifyInstance } from 'fastify';

/**
 * `List Ou Users` -> `listOuUsers`: the operationId a generated client names its method after.
 * Derived from the summary, which the contract fixes for the OU operations.
 */
export function operationIdOf(summary: string): string {
  const words = summary.split(/[^A-Za-z0-9]+/).filter((word) => word !== '');
  return words.map((word, i) => (i === 0 ? word.toLowerCase() : word[0].toUpperCase() + word.slice(1).toLowerCase())).join('');
}

/**
 * What every operation of the OpenAPI document declares besides its own schema, so that a client
 * generator can trust it: an `operationId` (unique: a second one is an error at start-up, as a
 * route without a scope is), and `security: []` on the routes that take no token (health, the
 * token endpoint, the `.well-known` documents), whose absence reads as "bearer token required".
 * Routes with a scope get their security requirement from auth.ts.
 */
export function registerOpenApiConventions(app: FastifyInstance): void {
  const taken = new Map<string, string>();
  app.addHook('onRoute', (route) => {
    const schema = route.schema;
    if (!schema || schema.hide || typeof schema.summary !== 'string') return;
    // Fastify adds a HEAD route beside every GET, sharing its schema: one operation, one id.
    if ([route.method].flat().every((method) => method === 'HEAD')) return;
    const where = `${[route.method].flat().join(',')} ${route.url}`;
    const operationId = schema.operationId ?? operationIdOf(schema.summary);
    const holder = taken.get(operationId);
    if (holder !== undefined && holder !== where) throw new Error(`operationId ${operationId} of ${where} is already that of ${holder}: give one a summary of its own`);
    taken.set(operationId, where);
    route.schema = { ...schema, operationId, ...(route.config?.scope ? {} : { security: [] }) };
  });
}
