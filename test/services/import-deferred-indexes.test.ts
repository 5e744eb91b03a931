import { describe, expect, it } from 'vitest';
import { tablesToDefer } from '../../src/services/import-service.js';

/** Which tables' indexes an import builds after its rows (SQLite; Store.deferIndexes). */
describe('tablesToDefer', () => {
  const MiB = 1024 * 1024;
  const holding = (rows: { users: number }) => {
    const asked: number[] = [];
    const holdsFewerThan = async (table: 'users', n: number) => {
      asked.push(n);
      return rows[table] < n;
    };
    return { asked, holdsFewerThan };
  };

  it('keeps every index for a file under 4 MiB, without counting rows', async () => {
    const store = holding({ users: 0 });
    expect(await tablesToDefer(4 * MiB - 1, 'ldif', store.holdsFewerThan)).toEqual([]);
    expect(store.asked).toEqual([]);
  });

  it('defers users_ou_ix when the file may add more users than the table holds', async () => {
    expect(await tablesToDefer(370 * MiB, 'ldif', holding({ users: 0 }).holdsFewerThan)).toEqual(['users']);
  });

  it('keeps the index of a table holding more rows than the file can add, counting no further', async () => {
    // 10 MiB of LDIF is at most 52,429 entries of 200 bytes.
    const store = holding({ users: 60_000 });
    expect(await tablesToDefer(10 * MiB, 'ldif', store.holdsFewerThan)).toEqual([]);
    expect(store.asked).toEqual([52_429]);
  });

  it('bounds the entries by the format: a CSV line is shorter than an LDIF entry', async () => {
    const store = holding({ users: 100_000 });
    expect(await tablesToDefer(10 * MiB, 'csv', store.holdsFewerThan)).toEqual(['users']);
    expect(await tablesToDefer(10 * MiB, 'ldif', store.holdsFewerThan)).toEqual([]);
  });
});
