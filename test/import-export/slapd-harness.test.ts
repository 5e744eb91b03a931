import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createDirectory, dnsOf, type LdapDirectory, slapdMissing } from '../helpers/slapd.js';

// The harness must not be vacuous: what the fixture says is what a real OpenLDAP holds after
// slapadd, and a started slapd really takes writes and serves reads on the wire. The importer's
// tests lean on both.

const SUFFIX = 'dc=example,dc=com';
const SUFFIX_ENTRY = `dn: ${SUFFIX}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example Corp
`;
// An escaped comma: slapd answers with `ou=Ops\\2C Support`, which must read back as the same DN.
const OPS_OU = `dn: ou=Ops\\, Support,${SUFFIX}
objectClass: top
objectClass: organizationalUnit
ou: Ops, Support
`;
const fixture = readFileSync(new URL('../fixtures/ldap/openldap-directory.ldif', import.meta.url), 'utf8');
const missing = slapdMissing();
if (missing !== null) console.warn(`skipped: ${missing}`);

let directory: LdapDirectory | undefined;
afterEach(async () => {
  await directory?.close();
  directory = undefined;
});

const title = `OpenLDAP test harness${missing === null ? '' : ` (skipped: ${missing})`}`;
describe.skipIf(missing !== null)(title, () => {
  it('loads the OpenLDAP fixture with slapadd and slapcat returns its OU and user DNs', async () => {
    directory = await createDirectory(SUFFIX);
    await directory.slapadd(fixture);
    const dumped = await directory.slapcat();

    const ous = dnsOf(dumped, ['organizationalUnit']);
    const users = dnsOf(dumped, ['inetOrgPerson']);
    expect(ous).toEqual(dnsOf(fixture, ['organizationalUnit']));
    expect(users).toEqual(dnsOf(fixture, ['inetOrgPerson']));
    expect(ous).toHaveLength(12);
    expect(users).toHaveLength(20);
    // slapcat writes these as `\2C`, `\2B` and base64: they compare equal only if the reader
    // decodes them the same way on both sides.
    expect(ous).toContain('ou=research\\, development,dc=example,dc=com');
    expect(ous).toContain('ou=c\\+\\+ guild,ou=applications,ou=engineering,dc=example,dc=com');
    expect(ous).toContain('ou=zürich,ou=labs,ou=research\\, development,dc=example,dc=com');
    expect(users).toContain('cn=smith\\, anna,ou=sales,dc=example,dc=com');
    // The entries an import skips are loaded too.
    expect(dnsOf(dumped, ['groupOfNames'])).toEqual(['cn=platform team,ou=engineering,dc=example,dc=com']);
    expect(dnsOf(dumped, ['organization'])).toEqual([SUFFIX]);
  });

  it('a started slapd accepts an entry through ldapadd and serves it to ldapsearch', async () => {
    directory = await createDirectory(SUFFIX);
    await directory.slapadd(SUFFIX_ENTRY);
    const { url } = await directory.start();
    expect(url).toMatch(/^ldap:\/\/127\.0\.0\.1:\d+\/$/);

    await directory.ldapadd(OPS_OU);
    const found = await directory.ldapsearch(SUFFIX, 'one', '(ou=Ops, Support)');
    expect(dnsOf(found, ['organizationalUnit'])).toEqual(['ou=ops\\, support,dc=example,dc=com']);
    // Adding it again is refused by the server, and the error says so.
    await expect(directory.ldapadd(OPS_OU)).rejects.toThrow(/Already exists/);
  });
});
