import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectPage, expectValidation } from '../helpers/assertions.js';
import { createOu, createTenant, createUser } from '../helpers/factories.js';
import { type TestContext, createTestContext, expectInvariants } from '../helpers/test-app.js';

/*
 * `search` is a case-insensitive substring (docs/api: the OU name; the user's email or display
 * name) and nothing else: SQL, LIKE, regex and glob metacharacters in it match themselves.
 * The two list endpoints that take `search` are covered: GET .../ous and GET .../users (the OU
 * users listing, GET .../ous/{ou_id}/users, takes no search).
 *
 * Each describe shares one app and one tenant holding a fixed set of names: `a<m>b` for every
 * metacharacter plus decoys. Every test searches for `<m>` and for `a<m>b` and expects exactly the
 * rows whose text contains it literally (computed here with String.includes over the whole set),
 * so a metacharacter taken as a wildcard would pull in other rows (`axb`, `ab`, `a b`, ...).
 */

const METACHARACTERS = [
  '%', '_', '\\', "'", '"', ';', '--', '/*', '*/', '[', ']', '^', '-', '*', '?', '.', '$', '(', ')', '|',
  '{', '}', '+', '!', '#', '&', '=', ':', '`', "' OR '1'='1", '%_%', '\\%', '\\_', '\\\\', "ESCAPE '\\'", '\t',
];

// Texts no metacharacter search should match unless it matched wildcards; and lower-case
// variants of the lettered strings, to show the literal match is still case-insensitive.
const DECOYS = ['axb', 'ab', 'a b', 'a1b', 'plain', 'a%x%b', '1=1', "x' or '1'='1y", "xescape '\\'y"];

const label = (m: string) => (m === '\t' ? 'a tab' : `'${m}'`);
const contains = (text: string | null, m: string) => text !== null && text.toLowerCase().includes(m.toLowerCase());

/** What cannot be in an OU name (src/services/org-unit-names.ts: 422): '/' and control characters. */
const isOuNameable = (text: string) => !text.includes('/') && !/[\u0000-\u001f\u007f-\u009f]/.test(text);

/**
 * What the email format (ajv-formats "full": RFC 5322 atext, dots between atoms) accepts in a
 * local part. Other metacharacters are carried by display names only.
 */
const isEmailLocalPart = (text: string) => /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/i.test(text);

async function search(ctx: TestContext, url: string, text: string) {
  const response = await ctx.app.inject({
    method: 'GET',
    url: `${url}?per_page=100&search=${encodeURIComponent(text)}`,
    headers: ctx.platformHeaders,
  });
  expect(response.statusCode, `search=${JSON.stringify(text)}: ${response.body}`).toBeLessThan(500);
  const page = expectPage(response);
  return { ids: (page.data as { id: string }[]).map((row) => row.id).sort(), total: page.pagination.total_items as number };
}

describe('OU list search matches metacharacters literally', () => {
  let ctx: TestContext;
  let url: string;
  const ous: { id: string; name: string }[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    const tenant = await createTenant(ctx);
    url = `/api/v1/tenants/${tenant.id}/ous`;
    const names = [...METACHARACTERS.map((m) => `a${m}b`).filter(isOuNameable), ...DECOYS];
    for (const name of names) ous.push(await createOu(ctx, tenant.id, { name }));
    expect(ous.map((ou) => ou.name)).toEqual(names); // stored as given: no name was altered
  });

  afterAll(async () => {
    try {
      await expectInvariants(ctx);
    } finally {
      await ctx.close();
    }
  });

  for (const m of METACHARACTERS) {
    const name = isOuNameable(m)
      ? `OU search matches ${label(m)} literally`
      : `OU search for ${label(m)} matches nothing, as no OU name can hold it (422), and never fails`;
    it(name, async () => {
      if (!isOuNameable(m)) {
        // An OU name cannot contain '/' or a control character, so no OU can match; the search
        // must still answer (empty) rather than fail. The user search below covers these.
        const refused = await ctx.app.inject({ method: 'POST', url, headers: ctx.platformHeaders, payload: { name: `a${m}b` } });
        expectValidation(refused, ['body', 'name']);
      }
      for (const text of [m, `a${m}b`]) {
        const expected = ous.filter((ou) => contains(ou.name, text)).map((ou) => ou.id).sort();
        if (isOuNameable(m)) expect(expected.length, `the set holds a name with ${JSON.stringify(text)}`).toBeGreaterThan(0);
        const found = await search(ctx, url, text);
        expect(found.ids, `search=${JSON.stringify(text)}`).toEqual(expected);
        expect(found.total, `total_items for search=${JSON.stringify(text)}`).toBe(expected.length);
      }
    });
  }
});

describe('user list search matches metacharacters literally, in emails and display names', () => {
  let ctx: TestContext;
  let url: string;
  const users: { id: string; email: string; display_name: string | null }[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    const tenant = await createTenant(ctx);
    url = `/api/v1/tenants/${tenant.id}/users`;
    // Plain emails (`d<n>@example.com`) carry no metacharacter but '.', which every email has.
    let n = 0;
    const add = async (fields: { email: string; display_name?: string }) => {
      const user = await createUser(ctx, tenant.id, fields);
      users.push({ id: user.id, email: user.email, display_name: fields.display_name ?? null });
    };
    for (const display_name of [...METACHARACTERS.map((m) => `a${m}b`), ...DECOYS]) await add({ email: `d${++n}@example.com`, display_name });
    for (const m of METACHARACTERS.filter((c) => isEmailLocalPart(`e${c}f`))) await add({ email: `e${m}f${++n}@example.com` });
    expect(users.length).toBeLessThanOrEqual(100); // one page holds every match
  });

  afterAll(async () => {
    try {
      await expectInvariants(ctx);
    } finally {
      await ctx.close();
    }
  });

  for (const m of METACHARACTERS) {
    const where = isEmailLocalPart(`e${m}f`) ? 'emails and display names' : 'display names (an email cannot hold it)';
    it(`user search matches ${label(m)} literally in ${where}`, async () => {
      for (const text of [m, `a${m}b`, ...(isEmailLocalPart(`e${m}f`) ? [`e${m}f`] : [])]) {
        const expected = users
          .filter((user) => contains(user.email, text) || contains(user.display_name, text))
          .map((user) => user.id)
          .sort();
        expect(expected.length, `the set holds a user with ${JSON.stringify(text)}`).toBeGreaterThan(0);
        const found = await search(ctx, url, text);
        expect(found.ids, `search=${JSON.stringify(text)}`).toEqual(expected);
        expect(found.total, `total_items for search=${JSON.stringify(text)}`).toBe(expected.length);
      }
    });
  }
});
