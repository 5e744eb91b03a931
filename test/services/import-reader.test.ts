import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportRecord } from '../../src/services/import-formats.js';
import { readSpool } from '../../src/services/import-reader.js';

/*
 * A large spooled import file is read in a worker thread (src/services/import-reader.ts). What
 * an import sees must not depend on where the file was read: the same records, in the same
 * order, the base DN told, a reader's failure the import's, and no thread left behind.
 */

let dir: string;
let ldif: string;
const USERS = 1_850; // eighteen of the worker's batches of 100, and a part one

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'arbor-reader-'));
  const lines = ['dn: dc=example,dc=com', 'objectClass: dcObject', 'dc: example', ''];
  for (const ou of ['Sales', 'Engineering']) lines.push(`dn: ou=${ou},dc=example,dc=com`, 'objectClass: organizationalUnit', `ou: ${ou}`, '');
  for (let i = 0; i < USERS; i++) {
    const ou = i % 2 === 0 ? 'Sales' : 'Engineering';
    lines.push(`dn: uid=u${i},ou=${ou},dc=example,dc=com`, 'objectClass: inetOrgPerson', `uid: u${i}`, `cn: User ${i}`, 'sn: User', i === 7 ? 'mail: not an address' : `mail: u${i}@example.com`, '');
  }
  ldif = join(dir, 'users.ldif');
  writeFileSync(ldif, lines.join('\n'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function readAll(file: string, inWorkerFrom: number) {
  const records: ImportRecord[] = [];
  let baseDn: string | undefined;
  for await (const batch of readSpool('ldif', file, { inWorkerFrom, onBaseDn: (dn) => (baseDn = dn) })) records.push(...batch);
  return { records, baseDn };
}

describe('reading a spooled import file', () => {
  it('yields the same records in the same order in a worker thread as on this one', async () => {
    const here = await readAll(ldif, Number.POSITIVE_INFINITY);
    const inWorker = await readAll(ldif, 0);
    expect(here.records).toHaveLength(1 + 2 + USERS);
    expect(here.records.filter((r) => r.kind === 'rejected')).toHaveLength(1);
    expect(inWorker.records).toEqual(here.records);
    expect(inWorker.baseDn).toBe('dc=example,dc=com');
    expect(here.baseDn).toBe('dc=example,dc=com');
  });

  it('gives a reader failure in the worker to the import as an error', async () => {
    // A directory has a size, so it goes to the worker, which then fails to read it.
    await expect(readAll(dir, 0)).rejects.toThrow(/^reading the file failed: .*EISDIR/);
  });

  it('stops its worker when the import stops reading early', async () => {
    // A live worker holds a MessagePort open in this thread; after terminate() it is gone.
    const ports = () => process.getActiveResourcesInfo().filter((name) => name === 'MessagePort').length;
    const before = ports();
    let n = 0;
    for await (const batch of readSpool('ldif', ldif, { inWorkerFrom: 0 })) {
      n += batch.length;
      break;
    }
    expect(n).toBe(100);
    expect(ports()).toBe(before);
  });
});
