import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

/** Shared response-shape assertions; each returns the part of the body its callers go on to inspect. */

/** An RFC 3339 date-time in UTC (`Z`): the only form the API emits. */
export const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** An error code: dotted snake_case segments, e.g. `ou.not_found`. */
const ERROR_CODE = /^[a-z_]+(\.[a-z_]+)*$/;

/** One item of an HTTPValidationError. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/**
 * Contract: `meta` is exactly `{request_id: string, timestamp: RFC 3339 UTC}`, plus, on lists
 * and the tree, `event_seq`: the non-negative integer seq of the change feed they reflect.
 */
function expectMeta(meta: unknown): void {
  const eventSeq = (meta as { event_seq?: unknown } | null)?.event_seq;
  if (eventSeq !== undefined) expect(Number.isInteger(eventSeq) && (eventSeq as number) >= 0, `event_seq ${String(eventSeq)}`).toBe(true);
  expect(meta).toEqual({ request_id: expect.any(String), timestamp: expect.stringMatching(RFC3339_UTC), ...(eventSeq !== undefined ? { event_seq: eventSeq } : {}) });
}

/** Contract: `status` (default 200) and exactly `{data, meta}` with a well-formed meta; returns data. */
export function expectData(response: LightMyRequestResponse, status = 200) {
  expect(response.statusCode, response.body).toBe(status);
  const body = response.json();
  expect(Object.keys(body).sort()).toEqual(['data', 'meta']);
  expectMeta(body.meta);
  return body.data;
}

/**
 * Contract: 200 and exactly `{data: [...], pagination: {page, per_page, total_items, total_pages},
 * next_cursor, meta}` (next_cursor, Arbor's addition, a string or null on the last page); returns the whole body.
 */
export function expectPage(response: LightMyRequestResponse) {
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json();
  expect(Object.keys(body).sort()).toEqual(['data', 'meta', 'next_cursor', 'pagination']);
  expect(Array.isArray(body.data)).toBe(true);
  expect(body.next_cursor === null || (typeof body.next_cursor === 'string' && body.next_cursor.length > 0)).toBe(true);
  expectMeta(body.meta);
  expect(body.pagination).toEqual({
    page: expect.any(Number),
    per_page: expect.any(Number),
    total_items: expect.any(Number),
    total_pages: expect.any(Number),
  });
  return body;
}

/** Contract: the same checks as expectPage; returns only the data array. */
export function expectPageData(response: LightMyRequestResponse) {
  return expectPage(response).data;
}

/** Contract: `status`, JSON, exactly `{detail: non-empty string, code: dotted snake_case}`, `code` equal to the given one when given; returns detail. */
export function expectError(response: LightMyRequestResponse, status: number, code?: string): string {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(body).toEqual({ detail: expect.any(String), code: code ?? expect.any(String) });
  expect(body.detail.length).toBeGreaterThan(0);
  expect(body.code).toMatch(ERROR_CODE);
  return body.detail;
}

/** Contract: 422, JSON, exactly `{detail: [{loc: (string|number)[], msg, type}, ...]}` non-empty, with an issue at `loc` (and of `type`) when given; returns detail. */
export function expectValidation(response: LightMyRequestResponse, loc?: (string | number)[], type?: string): ValidationIssue[] {
  expect(response.statusCode, response.body).toBe(422);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(Object.keys(body)).toEqual(['detail']);
  expect(Array.isArray(body.detail)).toBe(true);
  expect(body.detail.length).toBeGreaterThan(0);
  for (const issue of body.detail) {
    expect(issue).toEqual({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) });
    for (const part of issue.loc) expect(['string', 'number']).toContain(typeof part);
  }
  if (loc) expect(body.detail).toContainEqual(expect.objectContaining({ loc, ...(type ? { type } : {}) }));
  return body.detail;
}

/** Contract: 204 with an empty body. */
export function expectNoContent(response: LightMyRequestResponse): void {
  expect(response.statusCode, response.body).toBe(204);
  expect(response.body).toBe('');
}
