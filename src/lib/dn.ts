/**
 * LDAP distinguished names as strings (RFC 4514): `OU=Backend,OU=Engineering,DC=example,DC=com`.
 * Import maps a DN to an OU path and export writes one back, so both directions live here.
 * Hand-written: the npm parsers are part of ldapjs (archived in 2024) or need Node.js 22 (ldapts).
 *
 * Parsing takes RFC 4514's grammar plus what real directories write: spaces around `,`, `+` and
 * `=` (RFC 1779, written by older tools), `;` as a separator, and attribute types in any case.
 * A hexstring value (`#04024869`, a BER encoding) is refused: no OU or user attribute Arbor reads
 * is written that way.
 */

/** One `type=value` of an RDN. */
export interface Ava {
  type: string;
  value: string;
}

/** A relative distinguished name: one or more AVAs (`CN=Jane+UID=jd`). */
export type Rdn = Ava[];

export class DnError extends Error {
  constructor(
    message: string,
    /** Index in the string where it went wrong. */
    readonly at: number,
  ) {
    super(message);
    this.name = 'DnError';
  }
}

const SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\', '=', '#', ' ']);
const TYPE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)$/;

/** The RDNs of `text`, most specific first (as written). An empty string is the empty DN: []. */
export function parseDn(text: string): Rdn[] {
  const rdns: Rdn[] = [];
  let i = 0;
  const n = text.length;
  const skipSpaces = () => {
    while (i < n && text[i] === ' ') i++;
  };
  /** The value at `i` when it holds escapes, read byte by byte (a hex pair may be half a UTF-8 character); `i` ends at its separator. */
  const readEscaped = (type: string): string => {
    const bytes: number[] = [];
    let trailingSpaces = 0;
    const pushText = (s: string) => {
      for (const byte of Buffer.from(s, 'utf8')) bytes.push(byte);
    };
    while (i < n && text[i] !== ',' && text[i] !== '+' && text[i] !== ';') {
      // By code point: a character outside the BMP is two UTF-16 units, never to be split.
      const c = String.fromCodePoint(text.codePointAt(i)!);
      if (c === '\\') {
        const next = text[i + 1];
        if (next === undefined) throw new DnError('a DN cannot end with "\\"', i);
        if (/^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
          bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
          i += 3;
        } else if (SPECIAL.has(next)) {
          pushText(next);
          i += 2;
        } else {
          throw new DnError(`"\\${next}" is not an escape (escape only ${[...SPECIAL].join(' ')} or write two hex digits)`, i);
        }
        trailingSpaces = 0;
        continue;
      }
      // RFC 4514 lets "=" stand unescaped in a value (OpenLDAP writes it so); these it does not.
      if (c === '"' || c === '<' || c === '>') throw new DnError(`"${c}" must be escaped in an attribute value`, i);
      if (c === '\u0000') throw new DnError('NUL must be escaped in an attribute value (\\00)', i);
      trailingSpaces = c === ' ' ? trailingSpaces + 1 : 0;
      pushText(c);
      i += c.length;
    }
    // Unescaped spaces before a separator are not part of the value (RFC 1779 writers).
    bytes.length -= trailingSpaces;
    const decoded = Buffer.from(bytes);
    const value = decoded.toString('utf8');
    if (!Buffer.from(value, 'utf8').equals(decoded)) throw new DnError(`the value of ${type} is not UTF-8`, i);
    return value;
  };
  skipSpaces();
  if (i === n) return [];
  let rdn: Rdn = [];
  for (;;) {
    // attributeType
    skipSpaces();
    const typeStart = i;
    while (i < n && text[i] !== '=' && text[i] !== ',' && text[i] !== '+' && text[i] !== ';') i++;
    const type = text.slice(typeStart, i).trim();
    if (i >= n || text[i] !== '=') throw new DnError(`expected "=" after the attribute type "${type}"`, i);
    if (!TYPE.test(type)) throw new DnError(`"${type}" is not an attribute type`, typeStart);
    i++;
    skipSpaces();
    if (text[i] === '#') throw new DnError('hex-encoded (#…) attribute values are not supported', i);
    // attributeValue: a string with escapes, ending at an unescaped , + ; or the end.
    // Most values have no escape: those are sliced as they are (readEscaped, byte by byte, cost
    // 14 s of a million-user import).
    let end = i;
    while (end < n && text[end] !== ',' && text[end] !== '+' && text[end] !== ';' && text[end] !== '\\') end++;
    let value: string;
    if (end >= n || text[end] !== '\\') {
      value = text.slice(i, end).replace(/ +$/, '');
      const bad = /["<>\u0000]/.exec(value);
      if (bad) throw new DnError(bad[0] === '\u0000' ? 'NUL must be escaped in an attribute value (\\00)' : `"${bad[0]}" must be escaped in an attribute value`, i + bad.index);
      i = end;
    } else {
      value = readEscaped(type);
    }
    rdn.push({ type, value });
    if (i >= n) {
      rdns.push(rdn);
      return rdns;
    }
    if (text[i] === '+') {
      i++;
      continue;
    }
    // , or ;
    rdns.push(rdn);
    rdn = [];
    i++;
    skipSpaces();
    if (i >= n) throw new DnError('a DN cannot end with a separator', i);
  }
}

/** `value` escaped for a DN string (RFC 4514 §2.4). */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let k = 0; k < value.length; k++) {
    const c = value[k];
    const first = k === 0;
    const last = k === value.length - 1;
    if (c === '\\' || c === '"' || c === '+' || c === ',' || c === ';' || c === '<' || c === '>' || c === '=') out += `\\${c}`;
    else if ((c === ' ' && (first || last)) || (c === '#' && first)) out += `\\${c}`;
    else if (c === '\u0000') out += '\\00';
    else if (c < ' ' || c === '\u007f') out += `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return out;
}

/** The string of `rdns` (RFC 4514), most specific first. */
export function formatDn(rdns: readonly Rdn[]): string {
  return rdns.map((rdn) => rdn.map((ava) => `${ava.type}=${escapeDnValue(ava.value)}`).join('+')).join(',');
}

/** Whether `dn` ends with `suffix`: types and values compared case-insensitively, as directories match ou, dc and cn. */
export function endsWithDn(dn: readonly Rdn[], suffix: readonly Rdn[]): boolean {
  if (suffix.length > dn.length) return false;
  const offset = dn.length - suffix.length;
  return suffix.every((rdn, k) => sameRdn(rdn, dn[offset + k]));
}

function sameRdn(a: Rdn, b: Rdn): boolean {
  return a.length === b.length && a.every((ava, k) => ava.type.toLowerCase() === b[k].type.toLowerCase() && ava.value.toLowerCase() === b[k].value.toLowerCase());
}

/**
 * `text` as a DN, or the 422 issue a query parameter gets when it is not one (`loc` names the
 * parameter): both import and export take a `base_dn`.
 */
export function dnParameterIssue(text: string, parameter: string): { loc: string[]; msg: string; type: string } | null {
  try {
    parseDn(text);
    return null;
  } catch (error) {
    return { loc: ['query', parameter], msg: `Not a distinguished name (RFC 4514, e.g. dc=example,dc=com): ${error instanceof Error ? error.message : String(error)}`, type: 'value_error' };
  }
}
