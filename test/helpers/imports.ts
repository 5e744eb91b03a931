import { expect } from 'vitest';
import type { TestContext } from './test-app.js';

/** Import jobs through the API (docs/import-export.md): start one, wait for it, read what it did. */

export type ImportQuery = Record<string, string | number | boolean>;

export interface ImportAnswer {
  status: number;
  body: any;
}

/** POSTs `body` as an import (Content-Type from `format`), answering the raw status and body. */
export async function postImport(ctx: TestContext, tenantId: string, headers: Record<string, string>, body: string | Buffer, contentType: string, query: ImportQuery = {}): Promise<ImportAnswer> {
  const search = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  const response = await ctx.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/imports${search ? `?${search}` : ''}`,
    headers: { ...headers, 'content-type': contentType },
    payload: body,
  });
  return { status: response.statusCode, body: response.json() };
}

/** GETs the job until it is no longer running; fails the test after `timeoutMs`. */
export async function waitForImport(ctx: TestContext, tenantId: string, headers: Record<string, string>, id: string, timeoutMs = 20_000): Promise<any> {
  // performance.now(): a test may freeze Date.
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/imports/${id}`, headers });
    expect(response.statusCode, response.body).toBe(200);
    const job = response.json().data;
    if (job.state !== 'running') return job;
    if (performance.now() > deadline) throw new Error(`import ${id} still running after ${timeoutMs} ms: ${response.body}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Imports and waits: the finished job (the POST must answer 202). */
export async function runImport(ctx: TestContext, tenantId: string, headers: Record<string, string>, body: string | Buffer, contentType: string, query: ImportQuery = {}): Promise<any> {
  const answer = await postImport(ctx, tenantId, headers, body, contentType, query);
  expect(answer.status, JSON.stringify(answer.body)).toBe(202);
  return waitForImport(ctx, tenantId, headers, answer.body.data.id);
}

/** Every OU of the tenant as path → row (through GET /ous, every page). */
export async function ousByPath(ctx: TestContext, tenantId: string, headers: Record<string, string> = ctx.platformHeaders): Promise<Map<string, any>> {
  const out = new Map<string, any>();
  for (let page = 1; ; page++) {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/ous?per_page=100&page=${page}`, headers });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    for (const ou of body.data) out.set(ou.path, ou);
    if (page >= body.pagination.total_pages || body.data.length === 0) return out;
  }
}

/** Every user of the tenant as email → row. */
export async function usersByEmail(ctx: TestContext, tenantId: string, headers: Record<string, string> = ctx.platformHeaders): Promise<Map<string, any>> {
  const out = new Map<string, any>();
  for (let page = 1; ; page++) {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenantId}/users?per_page=100&page=${page}`, headers });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    for (const user of body.data) out.set(user.email, user);
    if (page >= body.pagination.total_pages || body.data.length === 0) return out;
  }
}
