import { describe, expect, it } from 'vitest';
import { createTenant } from '../helpers/factories.js';
import { useTestApp } from '../helpers/test-app.js';

describe('health', () => {
  const t = useTestApp();
  it('answers /healthz without a token', async () => {
    const response = await t.ctx.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });
  it('creates a tenant through the factory', async () => {
    const tenant = await createTenant(t.ctx, { name: 'Acme' });
    expect(tenant.slug).toBe('acme');
  });
});
