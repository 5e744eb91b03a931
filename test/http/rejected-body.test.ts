import { type IncomingMessage, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestContext, createTestContext } from '../helpers/test-app.js';

/**
 * A body over the limit, sent over real sockets (issue 15): the client gets its 413, never a
 * reset in mid-upload. The server answers, then reads and discards the rest of the body for at
 * most ARBOR_REJECTED_BODY_DRAIN_MS before it closes the connection.
 */

const LIMIT = 1024 * 1024;

interface Outcome {
  status?: number;
  body?: string;
  /** Any error of the request (EPIPE, ECONNRESET while it was still writing or reading). */
  error?: string;
  /** Whether the client wrote its whole body. */
  sentAll: boolean;
}

/** POSTs `size` bytes in 64 KB writes (waiting for drain), with or without Content-Length; settles when the connection is gone. */
function post(baseUrl: string, path: string, headers: Record<string, string>, size: number, options: { chunked?: boolean; trickleAfter?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { sentAll: false };
    const req = httpRequest(`${baseUrl}${path}`, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-type': 'application/json', ...(options.chunked ? {} : { 'content-length': String(size) }) },
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      outcome.error ??= error.code ?? error.message;
    });
    req.on('response', (response: IncomingMessage) => {
      outcome.status = response.statusCode;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (outcome.body = body));
      response.on('error', (error: NodeJS.ErrnoException) => (outcome.error ??= error.code ?? error.message));
    });
    req.on('close', () => resolve(outcome));
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        if (options.trickleAfter !== undefined && sent >= options.trickleAfter) {
          // Then one byte every 50 ms: this client would take hours to finish.
          const timer = setInterval(() => (req.destroyed ? clearInterval(timer) : req.write('a')), 50);
          req.on('close', () => clearInterval(timer));
          return;
        }
        const part = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += part.length;
        if (!req.write(part)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(() => (outcome.sentAll = true));
    };
    pump();
  });
}

describe('a body over the limit, over real sockets', () => {
  let ctx: TestContext;
  let baseUrl: string;
  let path: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    ctx = await createTestContext({ bodyLimitBytes: LIMIT, rejectedBodyDrainMs: 10_000 });
    await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as { port: number }).port}`;
    const tenant = await ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: ctx.platformHeaders, payload: { name: 'Bodies' } });
    path = `/api/v1/tenants/${tenant.json().data.id}/ous`;
    headers = await ctx.headersFor(tenant.json().data.id);
  });
  afterAll(() => ctx.close());

  it.each([
    ['1 MiB + 1 byte, with Content-Length', LIMIT + 1, false],
    ['2 MB, with Content-Length', 2_000_000, false],
    ['16 MB, with Content-Length', 16_000_000, false],
    ['2 MB, chunked', 2_000_000, true],
    ['16 MB, chunked', 16_000_000, true],
  ] as const)('answers %s with 413 request.body_too_large, which the client reads in full, with no reset', async (_label, size, chunked) => {
    const outcome = await post(baseUrl, path, headers, size, { chunked });
    // The client may stop sending once it has the whole answer (Node's does); it never sees a reset.
    expect(outcome).toEqual({ status: 413, body: expect.any(String), sentAll: expect.any(Boolean) });
    expect(JSON.parse(outcome.body!)).toEqual({ detail: expect.stringContaining('ARBOR_BODY_LIMIT_BYTES'), code: 'request.body_too_large' });
  });

  it('creates nothing, and answers the next request', async () => {
    expect((await post(baseUrl, path, headers, 3_000_000)).status).toBe(413);
    const list = await ctx.app.inject({ method: 'GET', url: path, headers });
    expect(list.json().pagination.total_items).toBe(0);
    const created = await ctx.app.inject({ method: 'POST', url: path, headers, payload: { name: 'Small' } });
    expect(created.statusCode).toBe(201);
  });
});

describe('a client that keeps sending a refused body', () => {
  let ctx: TestContext;
  let baseUrl: string;

  beforeAll(async () => {
    ctx = await createTestContext({ bodyLimitBytes: LIMIT, rejectedBodyDrainMs: 300 });
    await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as { port: number }).port}`;
  });
  afterAll(() => ctx.close());

  it('gets its 413, then is cut off once the drain time is over', async () => {
    const outcome = await post(baseUrl, '/api/v1/tenants', ctx.platformHeaders, 50_000_000, { trickleAfter: LIMIT + 64 * 1024 });
    expect(outcome.status).toBe(413);
    expect(JSON.parse(outcome.body ?? '{}').code).toBe('request.body_too_large');
    // The connection is gone (the promise settled) while the body was far from sent.
    expect(outcome.sentAll).toBe(false);
  });
});
