import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { expectData, expectError, expectPage, expectValidation } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, useSharedApp } from '../helpers/test-app.js';

/*
 * Every limit Arbor puts on a request answers with a clear 4xx in the documented shape
 * (ErrorResponse `{detail, code}` or HTTPValidationError `{detail: [{loc, msg, type}]}`),
 * changes nothing, and lets a request exactly at the limit through.
 */

const ousUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/ous`;
const usersUrl = (tenantId: string) => `/api/v1/tenants/${tenantId}/users`;
const JSON_HEADERS = { 'content-type': 'application/json' };

/** A JSON body (a string is sent as is) to `url` with the platform token. */
function sendJson(ctx: TestContext, method: 'POST' | 'PATCH', url: string, payload: string | object) {
  return ctx.app.inject({ method, url, headers: { ...ctx.platformHeaders, ...JSON_HEADERS }, payload });
}

/** The app at default limits, shared by the describe blocks that need no override. */
const defaults = useSharedApp();

/** Ids of every item of a list endpoint (one page of up to 100 is enough here). */
async function listIds(ctx: TestContext, url: string): Promise<string[]> {
  const body = expectPage(await ctx.app.inject({ method: 'GET', url: `${url}?per_page=100`, headers: ctx.platformHeaders }));
  return body.data.map((item: { id: string }) => item.id);
}

async function getData(ctx: TestContext, url: string) {
  return expectData(await ctx.app.inject({ method: 'GET', url, headers: ctx.platformHeaders }));
}

/** `value` as JSON text of exactly `bytes` bytes, padded with insignificant whitespace before its closing brace. */
function jsonOfBytes(value: object, bytes: number): string {
  const compact = JSON.stringify(value);
  const padding = bytes - Buffer.byteLength(compact);
  if (padding < 0) throw new Error(`jsonOfBytes: ${compact.length} bytes already exceed ${bytes}`);
  const text = `${compact.slice(0, -1)}${' '.repeat(padding)}}`;
  expect(Buffer.byteLength(text)).toBe(bytes);
  return text;
}

/** `{"k": "..."}` whose JSON.stringify is exactly `bytes` bytes of UTF-8, filled with `unit` (ASCII padding for a remainder). */
function attributesOfBytes(bytes: number, unit = 'x'): Record<string, string> {
  const room = bytes - Buffer.byteLength('{"k":""}');
  const unitBytes = Buffer.byteLength(JSON.stringify(unit)) - 2;
  const attributes = { k: unit.repeat(Math.floor(room / unitBytes)) + 'x'.repeat(room % unitBytes) };
  expect(Buffer.byteLength(JSON.stringify(attributes))).toBe(bytes);
  return attributes;
}

/** Objects nested `levels` deep: `{d: {d: ... 'leaf'}}` (the outer object is level 1). */
function nestedObjects(levels: number): Record<string, unknown> {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { d: value };
  return value as Record<string, unknown>;
}

/** An object holding arrays nested `levels - 1` deep: `{a: [[...['leaf']]]}` is `levels` levels. */
function nestedArrays(levels: number): Record<string, unknown> {
  let value: unknown = 'leaf';
  for (let i = 1; i < levels; i++) value = [value];
  return { a: value };
}

/** The documented 422 for custom_attributes: exactly one issue at body.custom_attributes of `type`. */
function expectAttributesRefused(response: LightMyRequestResponse, type: string): string {
  const detail = expectValidation(response);
  expect(detail).toHaveLength(1);
  expect(detail[0]).toEqual({ loc: ['body', 'custom_attributes'], msg: expect.any(String), type });
  return detail[0]!.msg;
}

describe('request body size (ARBOR_BODY_LIMIT_BYTES)', () => {
  describe('with bodyLimitBytes: 4096', () => {
    const t = useSharedApp({ bodyLimitBytes: 4096 });

    it('refuses a body one byte over the limit with 413 request.body_too_large and creates nothing', async () => {
      const tenant = await createTenant(t.ctx);
      const response = await sendJson(t.ctx, 'POST', ousUrl(tenant.id), jsonOfBytes({ name: 'Over' }, 4097));
      const detail = expectError(response, 413, 'request.body_too_large');
      expect(detail).toContain('ARBOR_BODY_LIMIT_BYTES');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
    });

    it('accepts a body of exactly the limit (whitespace included) and creates the OU', async () => {
      const tenant = await createTenant(t.ctx);
      const response = await sendJson(t.ctx, 'POST', ousUrl(tenant.id), jsonOfBytes({ name: 'Exactly' }, 4096));
      const created = expectData(response, 201);
      expect(created.name).toBe('Exactly');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([created.id]);
    });

    it('refuses a PATCH body over the limit with 413 and leaves the OU as it was', async () => {
      const tenant = await createTenant(t.ctx);
      const ou = await createOu(t.ctx, tenant.id, { name: 'Before', description: 'old' });
      const response = await sendJson(t.ctx, 'PATCH', `${ousUrl(tenant.id)}/${ou.id}`, jsonOfBytes({ name: 'After', description: 'new' }, 4097));
      expectError(response, 413, 'request.body_too_large');
      expect(await getData(t.ctx, `${ousUrl(tenant.id)}/${ou.id}`)).toMatchObject({ name: 'Before', description: 'old' });
    });
  });

  describe('at the default of 1 MiB', () => {
    const t = defaults;

    it('refuses a body of 1 MiB + 1 byte with 413 request.body_too_large and creates nothing', async () => {
      expect(t.ctx.config.bodyLimitBytes).toBe(1024 * 1024);
      const tenant = await createTenant(t.ctx);
      const response = await sendJson(t.ctx, 'POST', ousUrl(tenant.id), jsonOfBytes({ name: 'Over' }, 1024 * 1024 + 1));
      expectError(response, 413, 'request.body_too_large');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
    });

    it('accepts a body of exactly 1 MiB and creates the OU', async () => {
      const tenant = await createTenant(t.ctx);
      const response = await sendJson(t.ctx, 'POST', ousUrl(tenant.id), jsonOfBytes({ name: 'Mebibyte' }, 1024 * 1024));
      const created = expectData(response, 201);
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([created.id]);
    });
  });
});

/** One way to write custom_attributes, and how to read back what the store holds after it. */
interface AttributesTarget {
  label: string;
  prepare(ctx: TestContext, tenantId: string): Promise<{ send(attributes: unknown): Promise<LightMyRequestResponse>; stored(): Promise<unknown> }>;
}

let uniqueName = 0;
const ATTRIBUTE_TARGETS: AttributesTarget[] = [
  {
    label: 'OU create (POST …/ous)',
    async prepare(ctx, tenantId) {
      return {
        send: (attributes) =>
          ctx.app.inject({ method: 'POST', url: ousUrl(tenantId), headers: ctx.platformHeaders, payload: { name: `OU ${++uniqueName}`, custom_attributes: attributes } }),
        stored: async () => Promise.all((await listIds(ctx, ousUrl(tenantId))).map(async (id) => (await getData(ctx, `${ousUrl(tenantId)}/${id}`)).custom_attributes)),
      };
    },
  },
  {
    label: 'OU update (PATCH …/ous/{id})',
    async prepare(ctx, tenantId) {
      const ou = await createOu(ctx, tenantId, { custom_attributes: { old: true } });
      const url = `${ousUrl(tenantId)}/${ou.id}`;
      return {
        send: (attributes) => ctx.app.inject({ method: 'PATCH', url, headers: ctx.platformHeaders, payload: { custom_attributes: attributes } }),
        stored: async () => [(await getData(ctx, url)).custom_attributes],
      };
    },
  },
  {
    label: 'user create (POST …/users)',
    async prepare(ctx, tenantId) {
      return {
        send: (attributes) =>
          ctx.app.inject({
            method: 'POST',
            url: usersUrl(tenantId),
            headers: ctx.platformHeaders,
            payload: { email: `u${++uniqueName}@example.com`, custom_attributes: attributes },
          }),
        stored: async () => Promise.all((await listIds(ctx, usersUrl(tenantId))).map(async (id) => (await getData(ctx, `${usersUrl(tenantId)}/${id}`)).custom_attributes)),
      };
    },
  },
  {
    label: 'user update (PATCH …/users/{id})',
    async prepare(ctx, tenantId) {
      const user = await createUser(ctx, tenantId);
      const url = `${usersUrl(tenantId)}/${user.id}`;
      await ctx.app.inject({ method: 'PATCH', url, headers: ctx.platformHeaders, payload: { custom_attributes: { old: true } } });
      return {
        send: (attributes) => ctx.app.inject({ method: 'PATCH', url, headers: ctx.platformHeaders, payload: { custom_attributes: attributes } }),
        stored: async () => [(await getData(ctx, url)).custom_attributes],
      };
    },
  },
];

describe('custom_attributes limits (ARBOR_MAX_ATTRIBUTES_BYTES, ARBOR_MAX_ATTRIBUTES_DEPTH)', () => {
  describe.each(ATTRIBUTE_TARGETS)('on $label', (target) => {
    const t = defaults;

    it('refuses custom_attributes one byte over ARBOR_MAX_ATTRIBUTES_BYTES with 422 attributes_too_large and stores nothing', async () => {
      expect(t.ctx.config.maxAttributesBytes).toBe(16_384);
      const tenant = await createTenant(t.ctx);
      const { send, stored } = await target.prepare(t.ctx, tenant.id);
      const before = await stored();
      const msg = expectAttributesRefused(await send(attributesOfBytes(16_385)), 'attributes_too_large');
      expect(msg).toContain('ARBOR_MAX_ATTRIBUTES_BYTES');
      expect(msg).toContain('16384');
      expect(await stored()).toEqual(before);
    });

    it('accepts custom_attributes of exactly ARBOR_MAX_ATTRIBUTES_BYTES and stores them as sent', async () => {
      const tenant = await createTenant(t.ctx);
      const { send, stored } = await target.prepare(t.ctx, tenant.id);
      const attributes = attributesOfBytes(16_384);
      const response = await send(attributes);
      expect(response.statusCode, response.body).toBeLessThan(300);
      expect(response.json().data.custom_attributes).toEqual(attributes);
      expect(await stored()).toContainEqual(attributes);
    });

    it('refuses custom_attributes nested 9 levels (over ARBOR_MAX_ATTRIBUTES_DEPTH) with 422 attributes_too_deep and stores nothing', async () => {
      expect(t.ctx.config.maxAttributesDepth).toBe(8);
      const tenant = await createTenant(t.ctx);
      const { send, stored } = await target.prepare(t.ctx, tenant.id);
      const before = await stored();
      const msg = expectAttributesRefused(await send(nestedObjects(9)), 'attributes_too_deep');
      expect(msg).toContain('ARBOR_MAX_ATTRIBUTES_DEPTH');
      expect(await stored()).toEqual(before);
    });

    it('accepts custom_attributes nested exactly 8 levels and stores them as sent', async () => {
      const tenant = await createTenant(t.ctx);
      const { send, stored } = await target.prepare(t.ctx, tenant.id);
      const response = await send(nestedObjects(8));
      expect(response.statusCode, response.body).toBeLessThan(300);
      expect(await stored()).toContainEqual(nestedObjects(8));
    });
  });

  describe('how size and depth are measured', () => {
    const t = defaults;
    const send = (ctx: TestContext, tenantId: string, attributes: unknown) =>
      ctx.app.inject({ method: 'POST', url: ousUrl(tenantId), headers: ctx.platformHeaders, payload: { name: `OU ${++uniqueName}`, custom_attributes: attributes } });

    it('counts UTF-8 bytes, not characters: 16384 bytes of é (2 bytes each) are accepted, one more é is refused', async () => {
      const tenant = await createTenant(t.ctx);
      const atLimit = attributesOfBytes(16_384, 'é');
      expect(JSON.stringify(atLimit).length).toBeLessThan(8_200); // about half as many UTF-16 units as bytes
      expectData(await send(t.ctx, tenant.id, atLimit), 201);
      const over = { k: `${atLimit.k}é` };
      expect(JSON.stringify(over).length).toBeLessThan(16_384);
      expectAttributesRefused(await send(t.ctx, tenant.id, over), 'attributes_too_large');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(1);
    });

    it('counts a 4-byte character (🌲) as 4 bytes', async () => {
      const tenant = await createTenant(t.ctx);
      const atLimit = attributesOfBytes(16_384, '🌲');
      expectData(await send(t.ctx, tenant.id, atLimit), 201);
      expectAttributesRefused(await send(t.ctx, tenant.id, { k: `${atLimit.k}🌲` }), 'attributes_too_large');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(1);
    });

    it('measures the compact JSON.stringify, so whitespace the client sends does not count but escapes do', async () => {
      const tenant = await createTenant(t.ctx);
      const atLimit = attributesOfBytes(16_384);
      // Pretty-printed, the attributes are far over the limit as sent, and exactly at it once compact.
      const spaced = `{"name": "Spaced", "custom_attributes": {\n${' '.repeat(20_000)}"k": ${JSON.stringify(atLimit.k)}\n}}`;
      expectData(await sendJson(t.ctx, 'POST', ousUrl(tenant.id), spaced), 201);
      // A quote is one character but two bytes (\") in JSON.stringify.
      const quotes = attributesOfBytes(16_384, '"');
      expect(quotes.k.length).toBe((16_384 - 8) / 2);
      expectData(await send(t.ctx, tenant.id, quotes), 201);
      expectAttributesRefused(await send(t.ctx, tenant.id, { k: `${quotes.k}"` }), 'attributes_too_large');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(2);
    });

    it('counts arrays as levels: an object holding 7 nested arrays (8 levels) is accepted, 8 nested arrays are refused', async () => {
      const tenant = await createTenant(t.ctx);
      expectData(await send(t.ctx, tenant.id, nestedArrays(8)), 201);
      expectAttributesRefused(await send(t.ctx, tenant.id, nestedArrays(9)), 'attributes_too_deep');
      // Mixed: object, array, object, array, … 9 levels.
      const mixed = { a: [{ b: [{ c: [{ d: [{ e: 1 }] }] }] }] };
      expectAttributesRefused(await send(t.ctx, tenant.id, mixed), 'attributes_too_deep');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(1);
    });

    it('counts an empty object or array at the bottom as a level', async () => {
      const tenant = await createTenant(t.ctx);
      let emptyAtNine: unknown = {};
      for (let i = 0; i < 8; i++) emptyAtNine = { d: emptyAtNine };
      expectAttributesRefused(await send(t.ctx, tenant.id, emptyAtNine), 'attributes_too_deep');
      expectAttributesRefused(await send(t.ctx, tenant.id, { a: [[[[[[[[]]]]]]]] }), 'attributes_too_deep');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
    });
  });

  describe('with maxAttributesDepth: 2 and maxAttributesBytes: 64', () => {
    const t = useSharedApp({ maxAttributesDepth: 2, maxAttributesBytes: 64 });

    it('accepts 2 levels and refuses 3 with attributes_too_deep naming the configured limit', async () => {
      const tenant = await createTenant(t.ctx);
      const user = await createUser(t.ctx, tenant.id);
      const url = `${usersUrl(tenant.id)}/${user.id}`;
      expectData(await t.ctx.app.inject({ method: 'PATCH', url, headers: t.ctx.platformHeaders, payload: { custom_attributes: { a: { b: 1 } } } }));
      const refused = await t.ctx.app.inject({ method: 'PATCH', url, headers: t.ctx.platformHeaders, payload: { custom_attributes: { a: { b: [1] } } } });
      expect(expectAttributesRefused(refused, 'attributes_too_deep')).toContain('2 levels');
      expect((await getData(t.ctx, url)).custom_attributes).toEqual({ a: { b: 1 } });
    });

    it('accepts 64 bytes and refuses 65 with attributes_too_large naming the configured limit', async () => {
      const tenant = await createTenant(t.ctx);
      const ou = await createOu(t.ctx, tenant.id, { custom_attributes: attributesOfBytes(64) });
      const url = `${ousUrl(tenant.id)}/${ou.id}`;
      const refused = await t.ctx.app.inject({ method: 'PATCH', url, headers: t.ctx.platformHeaders, payload: { custom_attributes: attributesOfBytes(65) } });
      expect(expectAttributesRefused(refused, 'attributes_too_large')).toContain('at most 64 bytes');
      expect((await getData(t.ctx, url)).custom_attributes).toEqual(attributesOfBytes(64));
    });
  });
});

describe('deeply nested JSON bodies (more than 64 levels)', () => {
  const deepArrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const deepObjects = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

  describe('at the default limits', () => {
    const t = defaults;

    it('refuses 100,000 levels of [ in an unknown field with 422 json_too_deep, creates nothing, and keeps serving', async () => {
      const tenant = await createTenant(t.ctx);
      const payload = `{"name": "Deep", "junk": ${deepArrays(100_000)}}`;
      expect(Buffer.byteLength(payload)).toBeLessThan(t.ctx.config.bodyLimitBytes);
      const detail = expectValidation(await sendJson(t.ctx, 'POST', ousUrl(tenant.id), payload));
      expect(detail).toHaveLength(1);
      expect(detail[0]!.type).toBe('json_too_deep');
      expect(detail[0]!.loc.slice(0, 3)).toEqual(['body', 'junk', 0]);
      expect(detail[0]!.msg).toContain('64');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
      await createOu(t.ctx, tenant.id, { name: 'After' });
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(1);
    });

    it('refuses 100,000 levels of objects in custom_attributes with 422 json_too_deep and leaves the user as it was', async () => {
      const tenant = await createTenant(t.ctx);
      const user = await createUser(t.ctx, tenant.id);
      const url = `${usersUrl(tenant.id)}/${user.id}`;
      const payload = `{"custom_attributes": ${deepObjects(100_000)}}`;
      expect(Buffer.byteLength(payload)).toBeLessThan(t.ctx.config.bodyLimitBytes);
      const response = await sendJson(t.ctx, 'PATCH', url, payload);
      const detail = expectValidation(response);
      expect(detail[0]!.type).toBe('json_too_deep');
      expect(detail[0]!.loc.slice(0, 3)).toEqual(['body', 'custom_attributes', 'a']);
      expect((await getData(t.ctx, url)).custom_attributes).toBeNull();
    });

    it('refuses 100,000 unclosed [ with 422 json_invalid', async () => {
      const tenant = await createTenant(t.ctx);
      const response = await sendJson(t.ctx, 'POST', ousUrl(tenant.id), `{"name": "Open", "junk": ${'['.repeat(100_000)}}`);
      expectValidation(response, ['body'], 'json_invalid');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
    });

    it('answers 422, never 500, on every JSON write route for a body 100,000 levels deep', async () => {
      const tenant = await createTenant(t.ctx);
      const ou = await createOu(t.ctx, tenant.id);
      const user = await createUser(t.ctx, tenant.id);
      const tenantsBefore = await listIds(t.ctx, '/api/v1/tenants');
      const routes: ['POST' | 'PATCH', string][] = [
        ['POST', '/api/v1/tenants'],
        ['PATCH', `/api/v1/tenants/${tenant.id}`],
        ['POST', ousUrl(tenant.id)],
        ['PATCH', `${ousUrl(tenant.id)}/${ou.id}`],
        ['POST', usersUrl(tenant.id)],
        ['PATCH', `${usersUrl(tenant.id)}/${user.id}`],
        ['POST', `/api/v1/tenants/${tenant.id}/clients`],
      ];
      for (const [method, url] of routes) {
        for (const payload of [deepArrays(100_000), `{"x": ${deepObjects(100_000)}}`]) {
          const response = await sendJson(t.ctx, method, url, payload);
          expect(response.statusCode, `${method} ${url}: ${response.body.slice(0, 200)}`).toBe(422);
          expectValidation(response, undefined);
          expect(response.json().detail[0].type).toBe('json_too_deep');
        }
      }
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([ou.id]);
      expect(await listIds(t.ctx, usersUrl(tenant.id))).toEqual([user.id]);
      expect(await listIds(t.ctx, '/api/v1/tenants')).toEqual(tenantsBefore);
    });
  });

  describe('boundary, with maxAttributesDepth raised to 100 so that only the JSON limit applies', () => {
    const t = useSharedApp({ maxAttributesDepth: 100 });

    it('accepts a body nested exactly 64 levels and refuses 65 with json_too_deep', async () => {
      const tenant = await createTenant(t.ctx);
      // The body object is level 1 and custom_attributes level 2: 63 attribute levels make 64.
      const at64 = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers: t.ctx.platformHeaders, payload: { name: 'At 64', custom_attributes: nestedObjects(63) } });
      expect(expectData(at64, 201).custom_attributes).toEqual(nestedObjects(63));
      const at65 = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers: t.ctx.platformHeaders, payload: { name: 'At 65', custom_attributes: nestedObjects(64) } });
      const detail = expectValidation(at65);
      expect(detail[0]!.type).toBe('json_too_deep');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(1);
    });
  });
});

describe('OU name length', () => {
  const t = defaults;
  const create = (ctx: TestContext, tenantId: string, name: string) =>
    ctx.app.inject({ method: 'POST', url: ousUrl(tenantId), headers: ctx.platformHeaders, payload: { name } });

  it('accepts 255 characters and refuses 256 with 422 string_too_long at body.name, creating nothing', async () => {
    const tenant = await createTenant(t.ctx);
    expect(expectData(await create(t.ctx, tenant.id, 'n'.repeat(255)), 201).name).toBe('n'.repeat(255));
    const before = await listIds(t.ctx, ousUrl(tenant.id));
    const detail = expectValidation(await create(t.ctx, tenant.id, 'm'.repeat(256)), ['body', 'name'], 'string_too_long');
    expect(detail).toHaveLength(1);
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual(before);
  });

  it('does not count surrounding whitespace: 255 characters padded with spaces are accepted and stored trimmed', async () => {
    const tenant = await createTenant(t.ctx);
    const name = 'p'.repeat(255);
    const created = expectData(await create(t.ctx, tenant.id, `   ${name}\t  `), 201);
    expect(created.name).toBe(name);
    expect(created.path).toBe(`/${name}`);
    expectValidation(await create(t.ctx, tenant.id, `  ${'q'.repeat(256)}  `), ['body', 'name'], 'string_too_long');
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([created.id]);
  });

  it('counts code points, not UTF-16 units: 255 emoji (510 units) are accepted, 256 are refused', async () => {
    const tenant = await createTenant(t.ctx);
    const name = '🌲'.repeat(255);
    expect(name.length).toBe(510);
    expect(expectData(await create(t.ctx, tenant.id, name), 201).name).toBe(name);
    expectValidation(await create(t.ctx, tenant.id, '🌳'.repeat(256)), ['body', 'name'], 'string_too_long');
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toHaveLength(1);
  });

  it('applies the same limit to a rename: 256 characters are refused and the name is unchanged, 255 accepted', async () => {
    const tenant = await createTenant(t.ctx);
    const ou = await createOu(t.ctx, tenant.id, { name: 'Original' });
    const url = `${ousUrl(tenant.id)}/${ou.id}`;
    const refused = await t.ctx.app.inject({ method: 'PATCH', url, headers: t.ctx.platformHeaders, payload: { name: 'r'.repeat(256) } });
    expectValidation(refused, ['body', 'name'], 'string_too_long');
    expect((await getData(t.ctx, url)).name).toBe('Original');
    const renamed = await t.ctx.app.inject({ method: 'PATCH', url, headers: t.ctx.platformHeaders, payload: { name: ` ${'r'.repeat(255)} ` } });
    expect(expectData(renamed).name).toBe('r'.repeat(255));
  });
});

describe('X-Request-ID limits', () => {
  const t = defaults;

  it('accepts and echoes a 128-character id using every printable ASCII character (space, quotes, backslash)', async () => {
    const printable = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
    const id = `[${printable}${'-'.repeat(128 - printable.length - 2)}]`;
    expect(id).toHaveLength(128);
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers: { ...t.ctx.platformHeaders, 'x-request-id': id }, payload: { name: 'Echo' } });
    expect(expectData(response, 201).name).toBe('Echo');
    expect(response.headers['x-request-id']).toBe(id);
    expect(response.json().meta.request_id).toBe(id);
  });

  it.each([
    ['129 characters', 'z'.repeat(129)],
    ['a control character', 'ab\u001bc'],
    ['a DEL character', 'ab\u007fc'],
    ['a non-ASCII character', 'größe'],
    ['an empty value', ''],
  ])('refuses a POST whose X-Request-ID has %s with 400 request.invalid_request_id and creates nothing', async (_label, sent) => {
    const tenant = await createTenant(t.ctx);
    const response = await t.ctx.app.inject({ method: 'POST', url: ousUrl(tenant.id), headers: { ...t.ctx.platformHeaders, 'x-request-id': sent }, payload: { name: 'Never' } });
    expectError(response, 400, 'request.invalid_request_id');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
  });

  it('refuses an invalid X-Request-ID before authentication (400 without a token, not 401)', async () => {
    const before = await listIds(t.ctx, '/api/v1/tenants');
    const response = await t.ctx.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { 'x-request-id': 'x'.repeat(200) }, payload: { name: 'Never' } });
    expectError(response, 400, 'request.invalid_request_id');
    const authorized = await t.ctx.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { ...t.ctx.platformHeaders, 'x-request-id': 'x'.repeat(200) },
      payload: { name: 'Never' },
    });
    expectError(authorized, 400, 'request.invalid_request_id');
    expect(await listIds(t.ctx, '/api/v1/tenants')).toEqual(before);
  });

  it('answers each refused request under its own generated id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const response = await t.ctx.app.inject({ method: 'GET', url: '/api/v1/tenants', headers: { ...t.ctx.platformHeaders, 'x-request-id': 'bad\u0000id' } });
      expectError(response, 400, 'request.invalid_request_id');
      ids.add(String(response.headers['x-request-id']));
    }
    expect(ids.size).toBe(3);
  });
});

describe('URL length (ARBOR_MAX_URL_BYTES)', () => {
  /** `base` followed by a `pad` query parameter making the URL exactly `bytes` long. */
  const urlOfBytes = (base: string, bytes: number) => {
    const prefix = `${base}${base.includes('?') ? '&' : '?'}pad=`;
    const url = prefix + 'u'.repeat(bytes - prefix.length);
    expect(url).toHaveLength(bytes);
    return url;
  };

  describe('at the default of 8192 bytes', () => {
    const t = defaults;

    it('refuses a URL of 8193 bytes with 414 request.url_too_long, with or without a token', async () => {
      expect(t.ctx.config.maxUrlBytes).toBe(8192);
      const url = urlOfBytes('/api/v1/tenants', 8193);
      for (const headers of [{}, { authorization: 'Bearer not-a-token' }, t.ctx.platformHeaders]) {
        const detail = expectError(await t.ctx.app.inject({ method: 'GET', url, headers }), 414, 'request.url_too_long');
        expect(detail).toContain('ARBOR_MAX_URL_BYTES');
      }
    });

    it('answers a URL of exactly 8192 bytes normally: 200 with a token, 401 without', async () => {
      const tenant = await createTenant(t.ctx);
      const url = urlOfBytes(`${ousUrl(tenant.id)}?page=1`, 8192);
      expectPage(await t.ctx.app.inject({ method: 'GET', url, headers: t.ctx.platformHeaders }));
      expectError(await t.ctx.app.inject({ method: 'GET', url }), 401, 'auth.missing_token');
    });

    it('refuses a POST with an over-long URL with 414 before authentication and creates nothing', async () => {
      const tenant = await createTenant(t.ctx);
      const url = urlOfBytes(ousUrl(tenant.id), 8193);
      expectError(await t.ctx.app.inject({ method: 'POST', url, payload: { name: 'Anonymous' } }), 414, 'request.url_too_long');
      expectError(await t.ctx.app.inject({ method: 'POST', url, headers: t.ctx.platformHeaders, payload: { name: 'Authorized' } }), 414, 'request.url_too_long');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
    });

    it('refuses an over-long URL on an unknown route with 414 too, not 404', async () => {
      expectError(await t.ctx.app.inject({ method: 'GET', url: urlOfBytes('/no/such/route', 9000) }), 414, 'request.url_too_long');
    });
  });

  describe('with maxUrlBytes: 300', () => {
    const t = useSharedApp({ maxUrlBytes: 300 });

    it('refuses 301 bytes with 414 naming the configured limit and accepts 300', async () => {
      const tenant = await createTenant(t.ctx);
      const detail = expectError(await t.ctx.app.inject({ method: 'GET', url: urlOfBytes(ousUrl(tenant.id), 301), headers: t.ctx.platformHeaders }), 414, 'request.url_too_long');
      expect(detail).toContain('300');
      expectPage(await t.ctx.app.inject({ method: 'GET', url: urlOfBytes(ousUrl(tenant.id), 300), headers: t.ctx.platformHeaders }));
    });
  });
});

// ---- limits Node's HTTP parser enforces, which need a real socket ----

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (FIN or RST) before `waitMs` ran out. */
  closedByServer: boolean;
}

/** Writes `data` on a new connection and reads until the server closes it or `waitMs` passes. */
function exchange(port: number, data: string | Buffer | (string | Buffer)[], waitMs = 5_000): Promise<{ raw: Buffer; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw: Buffer.concat(chunks), closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    // A reset after the answer (the server closed with our unread bytes) still ends the exchange.
    socket.on('error', () => finish(true));
    for (const part of [data].flat()) socket.write(part);
  });
}

/** The first HTTP/1.1 response in `raw` (a Content-Length body). */
function parseReply({ raw, closedByServer }: { raw: Buffer; closedByServer: boolean }): RawReply {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete HTTP response in ${JSON.stringify(text.slice(0, 300))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const bodyBytes = raw.subarray(Buffer.byteLength(text.slice(0, end + 4)));
  const length = headers['content-length'] === undefined ? bodyBytes.length : Number(headers['content-length']);
  return { status: Number(statusLine!.split(' ')[1]), headers, body: bodyBytes.subarray(0, length).toString('utf8'), closedByServer };
}

/** Contract: a raw `{detail, code}` error answer with `status` and `code`, JSON, and the connection closed. */
function expectRawError(reply: RawReply, status: number, code: string): string {
  expect(reply.status, reply.body).toBe(status);
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(reply.body);
  expect(body).toEqual({ detail: expect.any(String), code });
  expect(body.detail.length).toBeGreaterThan(0);
  expect(reply.closedByServer).toBe(true);
  return body.detail;
}

/** Listens the app on a free port (once; later calls return the same port). */
async function listen(ctx: TestContext): Promise<number> {
  if (!ctx.app.server.listening) await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  return (ctx.app.server.address() as AddressInfo).port;
}

const HEALTH_REQUEST = 'GET /healthz HTTP/1.1\r\nHost: arbor.test\r\nConnection: close\r\n\r\n';

describe('request head size (ARBOR_MAX_HEADER_BYTES), over a socket', () => {
  describe('at the default of 16384 bytes', () => {
    const t = defaults;

    it('answers a request with a 20 KB header with 431 {detail, code: request.headers_too_large} and closes; the next request is served', async () => {
      expect(t.ctx.config.maxHeaderBytes).toBe(16_384);
      const port = await listen(t.ctx);
      const big = `GET /api/v1/tenants HTTP/1.1\r\nHost: arbor.test\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`;
      const detail = expectRawError(parseReply(await exchange(port, big)), 431, 'request.headers_too_large');
      expect(detail).toContain('ARBOR_MAX_HEADER_BYTES');
      const next = parseReply(await exchange(port, HEALTH_REQUEST));
      expect(next.status).toBe(200);
      expect(JSON.parse(next.body)).toEqual({ status: 'ok' });
      const api = await fetch(`http://127.0.0.1:${port}/api/v1/tenants`, { headers: t.ctx.platformHeaders });
      expect(api.status).toBe(200);
    });

    it('refuses a large head even on a POST, before the body is read, and creates nothing', async () => {
      const tenant = await createTenant(t.ctx);
      const port = await listen(t.ctx);
      const body = JSON.stringify({ name: 'Never' });
      const request =
        `POST ${ousUrl(tenant.id)} HTTP/1.1\r\nHost: arbor.test\r\nAuthorization: ${t.ctx.platformHeaders.authorization}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n${body}`;
      expectRawError(parseReply(await exchange(port, request)), 431, 'request.headers_too_large');
      expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
    });

    it('answers an over-long URL with 414 request.url_too_long over a socket too', async () => {
      const port = await listen(t.ctx);
      const reply = parseReply(await exchange(port, `GET /healthz?pad=${'u'.repeat(9000)} HTTP/1.1\r\nHost: arbor.test\r\nConnection: close\r\n\r\n`));
      expect(reply.status, reply.body).toBe(414);
      expect(JSON.parse(reply.body)).toEqual({ detail: expect.any(String), code: 'request.url_too_long' });
    });

    it('counts the request line in the head: a 20 KB URL is refused by the parser with 431, before the URL limit is looked at', async () => {
      const port = await listen(t.ctx);
      const reply = parseReply(await exchange(port, `GET /healthz?pad=${'u'.repeat(20 * 1024)} HTTP/1.1\r\nHost: arbor.test\r\n\r\n`));
      expectRawError(reply, 431, 'request.headers_too_large');
    });
  });

  describe('with maxHeaderBytes: 4096 (and a URL limit below it)', () => {
    const t = useSharedApp({ maxHeaderBytes: 4096, maxUrlBytes: 2048 });

    it('serves a 3 KB header and answers a 5 KB one with 431', async () => {
      const port = await listen(t.ctx);
      const withHeader = (bytes: number) => `GET /healthz HTTP/1.1\r\nHost: arbor.test\r\nConnection: close\r\nX-Pad: ${'p'.repeat(bytes)}\r\n\r\n`;
      expect(parseReply(await exchange(port, withHeader(3 * 1024))).status).toBe(200);
      expectRawError(parseReply(await exchange(port, withHeader(5 * 1024))), 431, 'request.headers_too_large');
    });
  });
});

describe('slow and malformed requests, over a socket', () => {
  const t = useSharedApp({ headersTimeoutMs: 300, requestTimeoutMs: 1000 });

  it('answers headers that stop arriving with 408 {code: request.timeout} and closes the connection', async () => {
    const port = await listen(t.ctx);
    const reply = parseReply(await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: arbor.test\r\nX-Slow: a', 5_000));
    const detail = expectRawError(reply, 408, 'request.timeout');
    expect(detail).toContain('ARBOR_');
  });

  it('answers a body that stops arriving with 408 request.timeout, closes, and creates nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const port = await listen(t.ctx);
    const head =
      `POST ${ousUrl(tenant.id)} HTTP/1.1\r\nHost: arbor.test\r\nAuthorization: ${t.ctx.platformHeaders.authorization}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const reply = parseReply(await exchange(port, [head, '{"name": "Slow'], 5_000));
    expectRawError(reply, 408, 'request.timeout');
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
  });

  it('answers bytes that are not HTTP with 400 {code: request.malformed} and closes', async () => {
    const port = await listen(t.ctx);
    expectRawError(parseReply(await exchange(port, 'HELLO THERE\r\n\r\n')), 400, 'request.malformed');
    expect(parseReply(await exchange(port, HEALTH_REQUEST)).status).toBe(200);
  });
});

// At the default timeouts: on a stalled runner, a 1 MiB body could outlast the 1-s request
// timeout of the block above and be answered 408 instead.
describe('chunked bodies, over a socket', () => {
  const t = defaults;

  it('refuses a chunked body over ARBOR_BODY_LIMIT_BYTES (no Content-Length to trust) with 413 and creates nothing', async () => {
    const tenant = await createTenant(t.ctx);
    const port = await listen(t.ctx);
    const json = jsonOfBytes({ name: 'Chunked' }, t.ctx.config.bodyLimitBytes + 1);
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    const request =
      `POST ${ousUrl(tenant.id)} HTTP/1.1\r\nHost: arbor.test\r\nAuthorization: ${t.ctx.platformHeaders.authorization}\r\n` +
      `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk(json.slice(0, 1000))}${chunk(json.slice(1000))}0\r\n\r\n`;
    const reply = parseReply(await exchange(port, request));
    expect(reply.status, reply.body).toBe(413);
    expect(JSON.parse(reply.body)).toEqual({ detail: expect.any(String), code: 'request.body_too_large' });
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual([]);
  });
});

describe('tree size (ARBOR_TREE_MAX_OUS)', () => {
  const t = useSharedApp({ treeMaxOus: 3 });
  const treeUrl = (tenantId: string) => `${ousUrl(tenantId)}/tree`;

  it('serves the tree of a tenant with exactly treeMaxOus OUs', async () => {
    const tenant = await createTenant(t.ctx);
    const root = await createOu(t.ctx, tenant.id, { name: 'Root' });
    await createOu(t.ctx, tenant.id, { name: 'Child', parent_id: root.id });
    await createOu(t.ctx, tenant.id, { name: 'Other' });
    const tree = expectData(await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: await t.ctx.headersFor(tenant.id) }));
    expect(tree.map((node: { name: string }) => node.name)).toEqual(['Other', 'Root']);
  });

  it('refuses the tree of a tenant with treeMaxOus + 1 OUs with 422 tree_too_large at path.tenant_id, telling the client to page', async () => {
    const tenant = await createTenant(t.ctx);
    const root = await createOu(t.ctx, tenant.id, { name: 'Root' });
    for (const name of ['A', 'B', 'C']) await createOu(t.ctx, tenant.id, { name, parent_id: root.id });
    const before = await listIds(t.ctx, ousUrl(tenant.id));
    expect(before).toHaveLength(4);
    const response = await t.ctx.app.inject({ method: 'GET', url: treeUrl(tenant.id), headers: await t.ctx.headersFor(tenant.id) });
    const detail = expectValidation(response);
    expect(detail).toHaveLength(1);
    expect(detail[0]).toEqual({ loc: ['path', 'tenant_id'], msg: expect.any(String), type: 'tree_too_large' });
    expect(detail[0]!.msg).toContain('parent_id=');
    expect(detail[0]!.msg).toContain('ARBOR_TREE_MAX_OUS');
    // The advice works: one level at a time, and the whole list, still answer.
    const children = expectPage(await t.ctx.app.inject({ method: 'GET', url: `${ousUrl(tenant.id)}?parent_id=${root.id}`, headers: t.ctx.platformHeaders }));
    expect(children.data).toHaveLength(3);
    expect(await listIds(t.ctx, ousUrl(tenant.id))).toEqual(before);
  });

  it('counts per tenant, and serves the tree again once deletes bring the tenant back under the cap', async () => {
    const big = await createTenant(t.ctx);
    const small = await createTenant(t.ctx);
    const loose = [];
    for (let i = 0; i < 4; i++) loose.push(await createOu(t.ctx, big.id));
    await createOu(t.ctx, small.id);
    const tree = (tenantId: string) => t.ctx.app.inject({ method: 'GET', url: treeUrl(tenantId), headers: t.ctx.platformHeaders });
    expectValidation(await tree(big.id), ['path', 'tenant_id'], 'tree_too_large');
    expect(expectData(await tree(small.id))).toHaveLength(1);
    const removed = await t.ctx.app.inject({ method: 'DELETE', url: `${ousUrl(big.id)}/${loose[0]!.id}`, headers: t.ctx.platformHeaders });
    expect(removed.statusCode, removed.body).toBe(204);
    expect(expectData(await tree(big.id))).toHaveLength(3);
    // A subtree of 2 under one of them (5 OUs), then a cascade delete of that subtree (back to 2).
    const child = await createOu(t.ctx, big.id, { parent_id: loose[1]!.id });
    await createOu(t.ctx, big.id, { parent_id: child.id });
    expectValidation(await tree(big.id), ['path', 'tenant_id'], 'tree_too_large');
    const cascade = await t.ctx.app.inject({ method: 'DELETE', url: `${ousUrl(big.id)}/${loose[1]!.id}?strategy=CASCADE`, headers: t.ctx.platformHeaders });
    expect(cascade.statusCode, cascade.body).toBe(204);
    expect(expectData(await tree(big.id))).toHaveLength(2);
  });
});

describe('limit settings (config.ts)', () => {
  it('defaults to 1 MiB bodies, 16 KiB / 8 levels of attributes, 8 KiB URLs, 16 KiB heads and a tree cap of at least 100,000 OUs', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      bodyLimitBytes: 1024 * 1024,
      maxAttributesBytes: 16_384,
      maxAttributesDepth: 8,
      maxUrlBytes: 8192,
      maxHeaderBytes: 16_384,
    });
    expect(config.treeMaxOus).toBeGreaterThanOrEqual(100_000);
  });

  it('reads each limit from its variable', () => {
    const config = loadConfig({
      ARBOR_BODY_LIMIT_BYTES: '2048',
      ARBOR_MAX_ATTRIBUTES_BYTES: '100',
      ARBOR_MAX_ATTRIBUTES_DEPTH: '32',
      ARBOR_MAX_URL_BYTES: '256',
      ARBOR_MAX_HEADER_BYTES: '1024',
      ARBOR_TREE_MAX_OUS: '1',
      ARBOR_HEADERS_TIMEOUT_MS: '1000',
      ARBOR_REQUEST_TIMEOUT_MS: '1000',
    });
    expect(config).toMatchObject({
      bodyLimitBytes: 2048,
      maxAttributesBytes: 100,
      maxAttributesDepth: 32,
      maxUrlBytes: 256,
      maxHeaderBytes: 1024,
      treeMaxOus: 1,
      headersTimeoutMs: 1000,
      requestTimeoutMs: 1000,
    });
  });

  it.each([
    ['ARBOR_MAX_ATTRIBUTES_DEPTH', '0'],
    ['ARBOR_MAX_ATTRIBUTES_DEPTH', '33'],
    ['ARBOR_MAX_ATTRIBUTES_DEPTH', 'deep'],
    ['ARBOR_MAX_ATTRIBUTES_BYTES', '1'],
    ['ARBOR_MAX_ATTRIBUTES_BYTES', '1.5'],
    ['ARBOR_BODY_LIMIT_BYTES', '1023'],
    ['ARBOR_BODY_LIMIT_BYTES', '-1'],
    ['ARBOR_MAX_URL_BYTES', '255'],
    ['ARBOR_MAX_HEADER_BYTES', '1023'],
    ['ARBOR_TREE_MAX_OUS', '0'],
    ['ARBOR_RATE_LIMIT_PER_MINUTE', '-1'],
    ['ARBOR_MAX_EVENT_LOOP_DELAY_MS', '60001'],
    ['ARBOR_REQUEST_TIMEOUT_MS', '999'],
    ['ARBOR_HEADERS_TIMEOUT_MS', '99'],
    ['ARBOR_KEEP_ALIVE_TIMEOUT_MS', '0'],
    ['ARBOR_EVENT_RETENTION_DAYS', '0'],
    ['ARBOR_IDEMPOTENCY_TTL_HOURS', '0'],
    ['ARBOR_FEED_MAX_WAIT_SECONDS', '31'],
    ['ARBOR_DB_PREPARED_STATEMENTS', 'yes'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('keeps events 90 days, replays idempotent answers 24 h, holds a long poll at most 30 s and prepares statements, unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ eventRetentionDays: 90, idempotencyTtlHours: 24, feedMaxWaitSeconds: 30, dbPreparedStatements: true });
    const told = { ARBOR_EVENT_RETENTION_DAYS: '7', ARBOR_IDEMPOTENCY_TTL_HOURS: '1', ARBOR_FEED_MAX_WAIT_SECONDS: '0', ARBOR_DB_PREPARED_STATEMENTS: 'false' };
    expect(loadConfig(told)).toMatchObject({ eventRetentionDays: 7, idempotencyTtlHours: 1, feedMaxWaitSeconds: 0, dbPreparedStatements: false });
  });

  it('refuses ARBOR_HEADERS_TIMEOUT_MS greater than ARBOR_REQUEST_TIMEOUT_MS, naming both, and accepts them equal', () => {
    const load = () => loadConfig({ ARBOR_HEADERS_TIMEOUT_MS: '5001', ARBOR_REQUEST_TIMEOUT_MS: '5000' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ARBOR_HEADERS_TIMEOUT_MS.*ARBOR_REQUEST_TIMEOUT_MS/);
    // The default headers timeout (10 s) is over a 5 s request timeout too.
    expect(() => loadConfig({ ARBOR_REQUEST_TIMEOUT_MS: '5000' })).toThrow(ConfigError);
    expect(loadConfig({ ARBOR_HEADERS_TIMEOUT_MS: '5000', ARBOR_REQUEST_TIMEOUT_MS: '5000' })).toMatchObject({ headersTimeoutMs: 5000, requestTimeoutMs: 5000 });
  });

  it('refuses ARBOR_MAX_URL_BYTES not below ARBOR_MAX_HEADER_BYTES, whose limit the request line already counts towards', () => {
    const load = () => loadConfig({ ARBOR_MAX_URL_BYTES: '4096', ARBOR_MAX_HEADER_BYTES: '4096' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ARBOR_MAX_URL_BYTES.*ARBOR_MAX_HEADER_BYTES/);
    expect(loadConfig({ ARBOR_MAX_URL_BYTES: '4095', ARBOR_MAX_HEADER_BYTES: '4096' })).toMatchObject({ maxUrlBytes: 4095, maxHeaderBytes: 4096 });
  });
});
