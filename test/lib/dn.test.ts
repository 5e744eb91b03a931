import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DnError, endsWithDn, escapeDnValue, formatDn, parseDn } from '../../src/lib/dn.js';

describe('parseDn (RFC 4514)', () => {
  it('reads the RFC’s examples: escaped specials, escaped hex bytes of UTF-8, multi-valued RDNs', () => {
    expect(parseDn('UID=jsmith,DC=example,DC=net')).toEqual([[{ type: 'UID', value: 'jsmith' }], [{ type: 'DC', value: 'example' }], [{ type: 'DC', value: 'net' }]]);
    expect(parseDn('OU=Sales+CN=J.  Smith,DC=example,DC=net')[0]).toEqual([
      { type: 'OU', value: 'Sales' },
      { type: 'CN', value: 'J.  Smith' },
    ]);
    expect(parseDn('CN=James \\"Jim\\" Smith\\, III,DC=example,DC=net')[0]).toEqual([{ type: 'CN', value: 'James "Jim" Smith, III' }]);
    expect(parseDn('CN=Before\\0dAfter,DC=example,DC=net')[0][0].value).toBe('Before\rAfter');
    expect(parseDn('CN=Lu\\C4\\8Di\\C4\\87')[0][0].value).toBe('Lučić');
  });

  it('tolerates what older tools write: spaces around separators, ; between RDNs, lower-case types', () => {
    expect(parseDn('ou=Sales ; dc=example, dc=com')).toEqual([[{ type: 'ou', value: 'Sales' }], [{ type: 'dc', value: 'example' }], [{ type: 'dc', value: 'com' }]]);
    expect(parseDn('')).toEqual([]);
    // "=" may stand unescaped in a value (RFC 4514 stringchar).
    expect(parseDn('CN=a=b,DC=x')[0]).toEqual([{ type: 'CN', value: 'a=b' }]);
  });

  it.each([
    ['OU=Sales,', /cannot end with a separator/],
    ['OU', /expected "="/],
    ['OU=a"b', /must be escaped/],
    ['OU=a\\', /cannot end with/],
    ['OU=a\\q', /not an escape/],
    ['1.3.6.1.4.1.1466.0=#04024869', /hex-encoded/],
    ['O U=x', /not an attribute type/],
    ['CN=\\ff\\fe', /not UTF-8/],
  ])('refuses %s, saying why', (text, reason) => {
    expect(() => parseDn(text)).toThrow(DnError);
    expect(() => parseDn(text)).toThrow(reason);
  });
});

describe('formatDn and escapeDnValue', () => {
  it('escape what RFC 4514 requires: specials, a leading space or #, a trailing space, NUL', () => {
    expect(escapeDnValue(' #a,b+c;d<e>f"g\\h=i ')).toBe('\\ #a\\,b\\+c\\;d\\<e\\>f\\"g\\\\h\\=i\\ ');
    expect(escapeDnValue('#x')).toBe('\\#x');
    expect(escapeDnValue('a\u0000b')).toBe('a\\00b');
  });

  it('round-trips any values through parseDn', () => {
    const value = fc.string({ minLength: 1, maxLength: 20, unit: fc.oneof(fc.constantFrom(' ', '#', ',', '+', ';', '"', '\\', '<', '>', '=', '\u0000', '\n', 'é', '日', '😀'), fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' })) });
    const rdn = fc.array(fc.record({ type: fc.constantFrom('OU', 'CN', 'dc', 'uid'), value }), { minLength: 1, maxLength: 2 });
    fc.assert(
      fc.property(fc.array(rdn, { minLength: 1, maxLength: 4 }), (rdns) => {
        expect(parseDn(formatDn(rdns))).toEqual(rdns);
      }),
      { numRuns: 500 },
    );
  });

  it('tells a suffix by types and values in any case', () => {
    expect(endsWithDn(parseDn('OU=Sales,DC=Example,DC=com'), parseDn('dc=example,dc=COM'))).toBe(true);
    expect(endsWithDn(parseDn('OU=Sales,DC=example,DC=org'), parseDn('dc=example,dc=com'))).toBe(false);
    expect(endsWithDn(parseDn('DC=com'), parseDn('dc=example,dc=com'))).toBe(false);
  });
});
