import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LdifEntry, type LdifProblem, type LdifValue, ldifEntry, readLdif } from '../../src/lib/ldif.js';

async function read(text: string | Uint8Array[], chunkSize?: number): Promise<(LdifEntry | LdifProblem)[]> {
  const chunks = Array.isArray(text) ? text : chunkSize ? Array.from({ length: Math.ceil(text.length / chunkSize) }, (_, k) => text.slice(k * chunkSize, (k + 1) * chunkSize)) : [text];
  const out: (LdifEntry | LdifProblem)[] = [];
  for await (const record of readLdif(chunks)) out.push(record);
  return out;
}

function attrs(record: LdifEntry | LdifProblem): Record<string, LdifValue[]> {
  if (record.kind !== 'entry') throw new Error(`a problem, not an entry: ${record.reason}`);
  return Object.fromEntries(record.attributes);
}

// As ldifde writes it (Windows line ends, base64 GUID, a base64 UTF-8 name, a folded line).
const LDIFDE = [
  'dn: OU=Sales,DC=corp,DC=example,DC=com',
  'changetype: add',
  'objectClass: top',
  'objectClass: organizationalUnit',
  'ou: Sales',
  'objectGUID:: 4Bz7zKx3rUWOnGJ9+kL6BQ==',
  '',
  'dn: CN=Jane Doe,OU=Sales,DC=corp,DC=example,DC=com',
  'changetype: add',
  'objectClass: user',
  'displayName:: SmFuZSBEw7Zl',
  'userPrincipalName: jane@corp.example.com',
  'description: A long description, folded because ldifde folds lines at seventy-six c',
  ' olumns',
  '',
].join('\r\n');

// As slapcat writes it: no changetype, comments, a version line.
const SLAPCAT = `version: 1

# An organizational unit
dn: ou=Engineering,dc=example,dc=com
objectClass: organizationalUnit
ou: Engineering
entryUUID: 2f6b1c3e-8f5a-4c1e-9a2b-0d3e4f5a6b7c

dn: uid=ada,ou=Engineering,dc=example,dc=com
objectClass: inetOrgPerson
cn: Ada Lovelace
sn: Lovelace
mail: ada@example.com
`;

describe('readLdif (RFC 2849)', () => {
  it('reads an ldifde file: changetype add, CRLF, base64 binary and UTF-8 values, a folded line', async () => {
    const [ou, user] = await read(LDIFDE);
    expect(ou).toMatchObject({ kind: 'entry', line: 1, dn: 'OU=Sales,DC=corp,DC=example,DC=com', changetype: 'add' });
    expect(attrs(ou).objectClass).toEqual(['top', 'organizationalUnit']);
    expect(Buffer.from(attrs(ou).objectGUID[0] as Uint8Array).toString('hex')).toBe('e01cfbccac77ad458e9c627dfa42fa05');
    expect(user).toMatchObject({ kind: 'entry', line: 8 });
    expect(attrs(user).displayName).toEqual(['Jane Döe']);
    expect(attrs(user).description).toEqual(['A long description, folded because ldifde folds lines at seventy-six columns']);
  });

  it('reads a slapcat file: the version line, comments, content records', async () => {
    const records = await read(SLAPCAT);
    expect(records.map((r) => (r.kind === 'entry' ? [r.line, r.dn, r.changetype] : r))).toEqual([
      [4, 'ou=Engineering,dc=example,dc=com', null],
      [9, 'uid=ada,ou=Engineering,dc=example,dc=com', null],
    ]);
    expect(attrs(records[1]).mail).toEqual(['ada@example.com']);
  });

  it('gives the same records whatever the chunks, bytes split inside a character included', async () => {
    const bytes = Buffer.from(LDIFDE + SLAPCAT.replace('version: 1\n', ''), 'utf8');
    const whole = await read([bytes]);
    for (const size of [1, 2, 3, 7, 64]) {
      const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, k) => bytes.subarray(k * size, (k + 1) * size));
      expect(await read(chunks)).toEqual(whole);
    }
  });

  it.each([
    ['a line that is not attribute: value', 'dn: ou=a\nthis is junk\n', 2, /is not "attribute: value"/],
    ['a record without dn', 'ou: a\n', 1, /must begin with "dn:"/],
    ['malformed base64', 'dn: ou=a\nou:: ###\n', 2, /base64 value of ou is malformed/],
    ['a URL value', 'dn: ou=a\njpegPhoto:< file:///etc/passwd\n', 2, /is a URL/],
    ['a modify record', 'dn: ou=a\nchangetype: modify\nreplace: ou\n', 1, /changetype: modify/],
    ['a continuation with nothing before it', ' folded\n', 1, /continuation line/],
    ['a bad attribute name', 'dn: ou=a\nbad name: x\n', 2, /not an attribute description/],
    ['invalid UTF-8 in a plain value', Buffer.from([...Buffer.from('dn: ou=a\nou: '), 0xff, 0xfe, 0x0a]), 2, /not UTF-8/],
  ])('reports %s with its line, and reads the record after it', async (_label, bad, line, reason) => {
    const good = 'dn: ou=b\nou: b\n';
    const chunks = [typeof bad === 'string' ? Buffer.from(bad) : bad, Buffer.from(`\n${good}`)];
    const [problem, next] = await read(chunks);
    expect(problem).toMatchObject({ kind: 'problem', line });
    expect((problem as LdifProblem).reason).toMatch(reason);
    expect(next).toMatchObject({ kind: 'entry', dn: 'ou=b' });
  });

  it('reports two records with no blank line between them as a problem at the second dn:, not as one entry', async () => {
    const records = await read('dn: ou=A,dc=x\nou: A\ndn: ou=B,dc=x\nou: B\n\ndn: ou=C,dc=x\nou: C\n');
    expect(records[0]).toEqual({ kind: 'problem', line: 3, dn: 'ou=A,dc=x', reason: 'a second "dn:" line in one record: records must be separated by a blank line' });
    expect(records.slice(1).map((r) => (r.kind === 'entry' ? r.dn : r.reason))).toEqual(['ou=C,dc=x']);
  });

  it('reports binary junk as problems, never as entries', async () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, k) => (k * 7919) % 256));
    const records = await read([junk]);
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((record) => record.kind === 'problem')).toBe(true);
  });
});

describe('ldifEntry, read back by readLdif', () => {
  it('writes plain what may be, base64 the rest (non-ASCII, leading space or colon, line ends, binary), folded at 76 columns', () => {
    const text = ldifEntry('ou=Zürich,dc=example,dc=com', [
      ['ou', 'Zürich'],
      ['description', ': starts with a colon'],
      ['objectClass', 'organizationalUnit'],
      ['street', 'x'.repeat(100)],
    ]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^dn:: /);
    expect(lines).toContain('objectClass: organizationalUnit');
    expect(lines.every((line) => line.length <= 76)).toBe(true);
    expect(text.endsWith('\n\n')).toBe(true);
  });

  it('refuses to write an attribute name that could inject lines', () => {
    expect(() => ldifEntry('ou=a', [['ou\ndn: ou=evil', 'x']])).toThrow(/not an LDIF attribute description/);
    expect(() => ldifEntry('ou=a', [['ou: x', 'y']])).toThrow(/not an LDIF attribute description/);
  });

  it('round-trips any DN and values, in any chunks', async () => {
    const text = fc.string({ maxLength: 120, unit: fc.oneof(fc.constantFrom(' ', ':', '<', '\n', '\r', '\u0000', '#', 'é', '😀'), fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme-ascii' })) });
    const value: fc.Arbitrary<LdifValue> = fc.oneof(text, fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => new Uint8Array([0xff, ...bytes])));
    const entry = fc.record({ dn: text.filter((dn) => dn !== ''), attributes: fc.array(fc.tuple(fc.constantFrom('ou', 'cn', 'description', 'objectGUID', 'cn;lang-en'), value), { maxLength: 5 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 50 }), async (entries, chunk) => {
        const written = entries.map((e) => ldifEntry(e.dn, e.attributes)).join('');
        const records = await read(written, chunk);
        expect(records.map((r) => (r.kind === 'entry' ? { dn: r.dn, attributes: [...r.attributes].flatMap(([name, values]) => values.map((v) => [name, v])) } : r))).toEqual(
          entries.map((e) => ({
            dn: e.dn,
            // Grouped by attribute, in first-seen order, as readLdif gives them.
            attributes: [...new Set(e.attributes.map(([name]) => name))].flatMap((name) => e.attributes.filter(([n]) => n === name)),
          })),
        );
      }),
      { numRuns: 300 },
    );
  });
});
