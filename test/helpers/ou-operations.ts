import fc from 'fast-check';
import { repositories } from '../../src/db/repositories/index.js';
import { AppError } from '../../src/errors.js';
import { FULL_ACCESS as ALL } from '../../src/services/access.js';
import { systemWrite } from '../../src/services/write-context.js';
import type { ServiceFixture } from './service-fixture.js';

/*
 * Random OU and user writes through a fixture's services, for property tests of what is kept per
 * instance (answers, list pages): after each, a second instance's reads must equal fresh ones.
 */

const W = systemWrite();

export async function allOuIds(fixture: ServiceFixture): Promise<string[]> {
  return (await repositories(fixture.store.db).orgUnits.listAllForCheck(fixture.tenantId)).map((ou) => ou.id).sort();
}

export async function allUserIds(fixture: ServiceFixture): Promise<string[]> {
  const users = await repositories(fixture.store.db).users.list(fixture.tenantId, {}, { limit: 10_000, offset: 0, descending: false });
  return users.map((u) => u.id);
}

export type Op =
  | { kind: 'create'; parent: number; name: string }
  | { kind: 'rename'; ou: number; name: string }
  | { kind: 'move'; ou: number; parent: number }
  | { kind: 'describe'; ou: number; text: string }
  | { kind: 'delete'; ou: number; strategy: 'BLOCK' | 'MOVE_UP' | 'CASCADE' }
  | { kind: 'addUser'; ou: number }
  | { kind: 'moveUser'; user: number; ou: number }
  | { kind: 'deleteUser'; user: number };

const name = fc.constantFrom('a', 'b', 'c', 'Ñ', 'd e');
// Creates and users weigh more, so that trees grow a few levels deep before deletes prune them.
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('create' as const), parent: fc.nat(), name }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rename' as const), ou: fc.nat(), name }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('move' as const), ou: fc.nat(), parent: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('describe' as const), ou: fc.nat(), text: fc.constantFrom('x', 'y') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), ou: fc.nat(), strategy: fc.constantFrom('BLOCK' as const, 'MOVE_UP' as const, 'CASCADE' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('addUser' as const), ou: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('moveUser' as const), user: fc.nat(), ou: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteUser' as const), user: fc.nat() }) },
);

/** Runs one operation on the OU/user picked by index; a refused one (name taken, cycle, depth) is fine. */
export async function apply(fixture: ServiceFixture, op: Op, n: number): Promise<void> {
  const [ous, users] = [await allOuIds(fixture), await allUserIds(fixture)];
  const { ous: service, users: userService, tenantId } = fixture;
  const pick = (list: string[], i: number) => list[i % list.length];
  const orRoot = (i: number) => (i % 5 === 0 || ous.length === 0 ? null : pick(ous, i));
  try {
    if (op.kind === 'create') await service.create(W, ALL, tenantId, { name: `${op.name}${n}`, parent_id: orRoot(op.parent) });
    else if (ous.length === 0) return;
    else if (op.kind === 'rename') await service.update(W, ALL, tenantId, pick(ous, op.ou), { name: `${op.name}${n}` });
    else if (op.kind === 'move') await service.update(W, ALL, tenantId, pick(ous, op.ou), { parent_id: orRoot(op.parent) });
    else if (op.kind === 'describe') await service.update(W, ALL, tenantId, pick(ous, op.ou), { description: `${op.text}${n}` });
    else if (op.kind === 'delete') await service.delete(W, ALL, tenantId, pick(ous, op.ou), op.strategy);
    else if (op.kind === 'addUser') await userService.create(W, ALL, tenantId, { email: `u${n}@x.io`, ou_id: orRoot(op.ou) });
    else if (users.length === 0) return;
    else if (op.kind === 'moveUser') await userService.update(W, ALL, tenantId, pick(users, op.user), { ou_id: orRoot(op.ou) });
    else await userService.delete(W, ALL, tenantId, pick(users, op.user));
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
  }
}
