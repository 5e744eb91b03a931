import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/store.js';
import { repositories } from '../../src/db/repositories/index.js';
import { ConflictError, NotFoundError, RequestValidationError } from '../../src/errors.js';
import { findInvariantViolations } from '../../src/services/invariant-service.js';
import { normalizeOuName } from '../../src/services/org-unit-names.js';
import type { OrgUnitService } from '../../src/services/org-unit-service.js';
import type { UserService } from '../../src/services/user-service.js';
import { chainTree, closeServiceFixture, openServiceFixture } from '../helpers/service-fixture.js';
import { systemWrite } from '../../src/services/write-context.js';

/** Writes of these tests are Arbor's own (no request): their events say actor system. */
const W = systemWrite();
import { type OrgUnitUserService, createOrgUnitUserService } from '../../src/services/org-unit-user-service.js';

const MAX_DEPTH = 4;
const PAGE = { page: 1, per_page: 100 };

let store: Store;
let ous: OrgUnitService;
let users: UserService;
let tenantId: string;
let ouUsers: OrgUnitUserService;

beforeEach(async () => {
  ({ store, ous, users, tenantId } = await openServiceFixture(MAX_DEPTH, 'Unit'));
  ouUsers = createOrgUnitUserService({ store });
});

afterEach(() => closeServiceFixture({ store, tenantId }, MAX_DEPTH));

const tree = () => chainTree({ ous, users, tenantId });

async function snapshot() {
  const repos = repositories(store.db);
  return {
    ous: await repos.orgUnits.listAllForCheck(tenantId),
    users: (await repos.users.list(tenantId, {}, { limit: 1000, offset: 0, descending: false })).map((u) => [u.id, u.ou_id]),
  };
}

async function pathOf(id: string) {
  return (await ous.get(ALL, tenantId, id)).path;
}

describe('OU names', () => {
  it('trims surrounding whitespace', () => {
    expect(normalizeOuName('  Eng \t')).toBe('Eng');
  });
  it.each([
    ['empty after trimming', '   ', 'string_too_short'],
    ['longer than 255 characters after trimming', 'x'.repeat(256), 'string_too_long'],
    ['containing a slash', 'a/b', 'value_error'],
    ['containing a control character', 'a\u0000b', 'value_error'],
    ['containing a C1 control character', 'a\u0085b', 'value_error'],
  ])('rejects a name %s', (_label, name, type) => {
    expect(() => normalizeOuName(name)).toThrow(RequestValidationError);
    try {
      normalizeOuName(name);
    } catch (error) {
      expect((error as RequestValidationError).issues).toEqual([{ loc: ['body', 'name'], msg: expect.any(String), type }]);
    }
  });
  it('accepts exactly 255 characters', () => {
    expect(normalizeOuName('x'.repeat(255))).toHaveLength(255);
  });
});

describe('cycles', () => {
  it('refuses to move an OU under itself', async () => {
    const { a } = await tree();
    await expect(ous.update(W, ALL, tenantId, a.id, { parent_id: a.id })).rejects.toMatchObject({ code: 'ou.cycle' });
  });
  it('refuses to move an OU under a descendant at any depth and changes nothing', async () => {
    const { a, b, d } = await tree();
    const before = await snapshot();
    await expect(ous.update(W, ALL, tenantId, a.id, { parent_id: d.id })).rejects.toMatchObject({ code: 'ou.cycle' });
    await expect(ous.update(W, ALL, tenantId, b.id, { parent_id: d.id, name: 'Renamed' })).rejects.toBeInstanceOf(ConflictError);
    expect(await snapshot()).toEqual(before);
  });
  it('allows moving an OU under an unrelated OU', async () => {
    const { a, z } = await tree();
    const moved = await ous.update(W, ALL, tenantId, z.id, { parent_id: a.id });
    expect(moved.ou.path).toBe('/A/Z');
  });
});

describe('depth', () => {
  it('refuses a create below the maximum depth', async () => {
    const { d } = await tree();
    await expect(ous.create(W, ALL, tenantId, { name: 'E', parent_id: d.id })).rejects.toMatchObject({ code: 'ou.depth_exceeded' });
  });
  it('counts the deepest descendant when moving a subtree', async () => {
    // B's subtree is 3 levels (B, C, D); under Z (depth 1) it would reach depth 4: allowed.
    const { b, z, a } = await tree();
    expect((await ous.update(W, ALL, tenantId, b.id, { parent_id: z.id })).ou.path).toBe('/Z/B');
    // A new root chain of 2 levels: B's 3 levels under it would reach depth 5.
    const x = await ous.create(W, ALL, tenantId, { name: 'X', parent_id: a.id });
    const before = await snapshot();
    await expect(ous.update(W, ALL, tenantId, b.id, { parent_id: x.id })).rejects.toMatchObject({ code: 'ou.depth_exceeded' });
    expect(await snapshot()).toEqual(before);
  });
});

describe('path rewrite', () => {
  it('rewrites the path of every descendant on a rename', async () => {
    const { a, d } = await tree();
    await ous.update(W, ALL, tenantId, a.id, { name: 'Alpha' });
    expect(await pathOf(d.id)).toBe('/Alpha/B/C/D');
  });
  it('rewrites paths and depth of a moved subtree and keeps counts', async () => {
    const { a, b, c, d, z } = await tree();
    await ous.update(W, ALL, tenantId, c.id, { parent_id: z.id });
    expect(await pathOf(d.id)).toBe('/Z/C/D');
    expect((await ous.get(ALL, tenantId, b.id)).child_ou_count).toBe(0);
    expect((await ous.get(ALL, tenantId, z.id)).child_ou_count).toBe(1);
    expect((await ous.get(ALL, tenantId, a.id)).path).toBe('/A');
  });
  it('renames and moves in one update', async () => {
    const { c, d } = await tree();
    await ous.update(W, ALL, tenantId, c.id, { parent_id: null, name: 'Top' });
    expect(await pathOf(d.id)).toBe('/Top/D');
  });
  it('leaves other subtrees with a similar path untouched', async () => {
    const { a } = await tree();
    const ab = await ous.create(W, ALL, tenantId, { name: 'AB' });
    await ous.update(W, ALL, tenantId, a.id, { name: 'Q' });
    expect(await pathOf(ab.id)).toBe('/AB');
  });
});

describe('delete strategies', () => {
  it('BLOCK refuses an OU with children or users, and deletes an empty one', async () => {
    const { a, d, z } = await tree();
    await expect(ous.delete(W, ALL, tenantId, a.id, 'BLOCK')).rejects.toMatchObject({ code: 'ou.not_empty' });
    await ous.delete(W, ALL, tenantId, d.id, 'BLOCK');
    await ous.delete(W, ALL, tenantId, z.id, 'BLOCK');
    await expect(ous.get(ALL, tenantId, d.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('MOVE_UP lifts children and users of a mid-level OU to its parent', async () => {
    const { a, b, c, d, ub } = await tree();
    await ous.delete(W, ALL, tenantId, b.id, 'MOVE_UP');
    expect(await pathOf(c.id)).toBe('/A/C');
    expect(await pathOf(d.id)).toBe('/A/C/D');
    expect((await users.get(ALL, tenantId, ub.id)).ou_id).toBe(a.id);
    const parent = await ous.get(ALL, tenantId, a.id);
    expect(parent.child_ou_count).toBe(1);
    expect(parent.user_count).toBe(3);
  });

  it('MOVE_UP of a root makes its children roots and its users OU-less', async () => {
    const { a, b, ua1 } = await tree();
    await ous.delete(W, ALL, tenantId, a.id, 'MOVE_UP');
    expect((await ous.get(ALL, tenantId, b.id)).parent_id).toBeNull();
    expect(await pathOf(b.id)).toBe('/B');
    expect((await users.get(ALL, tenantId, ua1.id)).ou_id).toBeNull();
  });

  it('MOVE_UP names every clashing child and changes nothing', async () => {
    const { a, b } = await tree();
    await ous.create(W, ALL, tenantId, { name: 'c', parent_id: a.id }); // clashes with B's child C
    const before = await snapshot();
    const error = await ous.delete(W, ALL, tenantId, b.id, 'MOVE_UP').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ou.name_conflict' });
    expect((error as Error).message).toContain("'C'");
    expect(await snapshot()).toEqual(before);
  });

  it('CASCADE deletes the subtree and moves all its users to the parent', async () => {
    const { a, b, c, d, ub, uc } = await tree();
    await ous.delete(W, ALL, tenantId, b.id, 'CASCADE');
    for (const id of [b.id, c.id, d.id]) await expect(ous.get(ALL, tenantId, id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await users.get(ALL, tenantId, ub.id)).ou_id).toBe(a.id);
    expect((await users.get(ALL, tenantId, uc.id)).ou_id).toBe(a.id);
    const parent = await ous.get(ALL, tenantId, a.id);
    expect(parent.user_count).toBe(4);
    expect(parent.child_ou_count).toBe(0);
  });

  it('CASCADE of a root leaves its users in no OU', async () => {
    const { a, uc } = await tree();
    await ous.delete(W, ALL, tenantId, a.id, 'CASCADE');
    expect((await users.get(ALL, tenantId, uc.id)).ou_id).toBeNull();
    expect((await ous.list(ALL, tenantId, {}, PAGE)).items.map((o) => o.path)).toEqual(['/Z']);
  });
});

describe('nested users', () => {
  it('lists the users of a whole subtree by id, and direct users by default', async () => {
    const { a, ua1, ua2, ub, uc } = await tree();
    const nested = await ouUsers.listUsers(ALL, tenantId, a.id, true, PAGE);
    expect(nested.items.map((u) => u.id)).toEqual([ua1.id, ua2.id, ub.id, uc.id].sort());
    expect(nested.pagination.total_items).toBe(4);
    const direct = await ouUsers.listUsers(ALL, tenantId, a.id, false, PAGE);
    expect(direct.items.map((u) => u.id)).toEqual([ua1.id, ua2.id].sort());
  });
});

describe('the invariant check', () => {
  it('reports a stale path, a wrong count and a dangling parent', async () => {
    // The check guards every other test: prove it can fail.
    const { b, c } = await tree();
    await store.db.updateTable('org_units').set({ path: '/wrong' }).where('id', '=', c.id).execute();
    await store.db.updateTable('org_units').set({ user_count: 99 }).where('id', '=', b.id).execute();
    const violations = await findInvariantViolations(store.db, tenantId, MAX_DEPTH);
    expect(violations).toEqual(
      expect.arrayContaining([expect.stringContaining(`${c.id}: path '/wrong'`), expect.stringContaining(`${b.id}: user_count 99 should be 1`)]),
    );
    // Repair so that afterEach's own check passes.
    await store.db.updateTable('org_units').set({ path: '/A/B/C' }).where('id', '=', c.id).execute();
    await store.db.updateTable('org_units').set({ user_count: 1 }).where('id', '=', b.id).execute();
  });
});

describe('the top level of what a principal sees', () => {
  it('is empty, with a total of 0, for a principal whose scope names no OU, or only OUs deleted since', async () => {
    const { d } = await chainTree({ ous, users, tenantId });
    await ous.delete(W, ALL, tenantId, d.id, 'BLOCK');
    for (const reach of [[], [d.id], ['ou_never_was']]) {
      const page = await ous.list({ principal: null, reach: () => reach }, tenantId, { top_level: true }, PAGE);
      expect(page.items, JSON.stringify(reach)).toEqual([]);
      expect(page.pagination.total_items).toBe(0);
    }
    // A tenant-wide principal's top level: the two roots of chainTree.
    expect((await ous.list(ALL, tenantId, { top_level: true }, PAGE)).items.map((ou) => ou.path)).toEqual(['/A', '/Z']);
  });
});
