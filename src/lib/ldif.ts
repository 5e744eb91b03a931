/**
 * LDIF (RFC 2849), read as a stream and written: what `slapcat` and `ldifde` write, and what
 * `slapadd` and `ldapadd` read. Hand-written: the one npm parser (`ldif`) parses a whole string
 * in memory and has had no release in years; an import reads files of hundreds of megabytes.
 *
 * Read: `version: 1`, comments, folded lines (a line that begins with one space continues the
 * one before), CRLF or LF, `attr: value`, `attr:: base64`, attribute options (`cn;lang-en`),
 * content records and `changetype: add` records. Other change types and `attr:< URL` values are
 * reported, not followed. A malformed record is reported with its line and skipped; reading goes
 * on at the next record.
 */

/** A value: text (plain, or base64 of UTF-8: `Buffer.from(text)` gives the bytes back), or bytes (base64 of anything else). */
export type LdifValue = string | Uint8Array;

export interface LdifEntry {
  kind: 'entry';
  /** The line its `dn:` is on (1-based). */
  line: number;
  dn: string;
  /** `add` for a `changetype: add` record, null for a content record. */
  changetype: 'add' | null;
  /** Attribute descriptions as written (options included), in order, each with its values. */
  attributes: Map<string, LdifValue[]>;
}

export interface LdifProblem {
  kind: 'problem';
  line: number;
  /** The record's DN when it could be read. */
  dn: string | null;
  reason: string;
}

/** Longest record read, in characters of its unfolded text: a bound on memory, whatever the input. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Every record of `input` (chunks of UTF-8 text or bytes), in order. */
export async function* readLdif(input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): AsyncGenerator<LdifEntry | LdifProblem> {
  let lineNo = 0;
  // Logical lines (folded ones joined) of the record being read, with their first line numbers.
  let record: { text: string; line: number }[] = [];
  let recordBytes = 0;
  let skipping: { line: number; reason: string } | null = null;
  let first = true;
  let rest = '';
  const decoder = new TextDecoder('utf-8', { fatal: false });

  // Records read from the current chunk, yielded after it (a generator per line cost more than the parsing).
  const ready: (LdifEntry | LdifProblem)[] = [];

  function endRecord(): void {
    if (skipping) {
      ready.push({ kind: 'problem', line: skipping.line, dn: null, reason: skipping.reason });
    } else if (record.length > 0) {
      const parsed = parseRecord(record, first);
      if (parsed) {
        first = false;
        ready.push(parsed);
      }
    }
    record = [];
    recordBytes = 0;
    skipping = null;
  }

  function onLine(raw: string): void {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      endRecord();
      return;
    }
    if (skipping) return;
    if (line.startsWith(' ')) {
      const last = record[record.length - 1];
      if (!last) {
        skipping = { line: lineNo, reason: 'a continuation line (starting with a space) with no line before it' };
        return;
      }
      last.text += line.slice(1);
    } else {
      record.push({ text: line, line: lineNo });
    }
    recordBytes += line.length;
    if (recordBytes > MAX_RECORD_BYTES) skipping = { line: record[0]?.line ?? lineNo, reason: `a record longer than ${MAX_RECORD_BYTES} characters` };
  }

  // Within a line longer than a record may be: its text is dropped up to its end.
  let discarding = false;
  for await (const chunk of input) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (discarding) {
      const end = text.indexOf('\n');
      if (end < 0) continue;
      text = text.slice(end + 1);
      discarding = false;
      lineNo++;
    }
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line);
    if (rest.length > MAX_RECORD_BYTES) {
      skipping ??= { line: record[0]?.line ?? lineNo + 1, reason: `a record longer than ${MAX_RECORD_BYTES} characters` };
      rest = '';
      discarding = true;
    }
    if (ready.length > 0) yield* ready.splice(0);
  }
  rest += decoder.decode();
  if (rest !== '') onLine(rest);
  endRecord();
  yield* ready.splice(0);
}

const ATTRIBUTE = /^([A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)((?:;[A-Za-z0-9-]+)*)$/;

/** One record's logical lines as an entry, a problem, or nothing (comments, the version line). */
function parseRecord(lines: { text: string; line: number }[], firstRecord: boolean): LdifEntry | LdifProblem | null {
  // Comments go, folded ones included (their continuation lines were joined to them).
  let specs = lines.filter((l) => !l.text.startsWith('#'));
  if (specs.length === 0) return null;
  if (firstRecord && /^version:\s*/i.test(specs[0].text)) {
    const version = specs[0].text.replace(/^version:\s*/i, '').trim();
    if (version !== '1') return { kind: 'problem', line: specs[0].line, dn: null, reason: `LDIF version ${version} (only 1 exists)` };
    specs = specs.slice(1);
    if (specs.length === 0) return null;
  }
  const line = specs[0].line;
  const values: [string, LdifValue][] = [];
  for (const spec of specs) {
    const parsed = parseSpec(spec.text);
    if (typeof parsed === 'string') return { kind: 'problem', line: spec.line, dn: dnOf(values), reason: parsed };
    // Two records without the blank line between them would otherwise read as one.
    if (values.length > 0 && parsed[0].toLowerCase() === 'dn') {
      return { kind: 'problem', line: spec.line, dn: dnOf(values), reason: 'a second "dn:" line in one record: records must be separated by a blank line' };
    }
    values.push(parsed);
  }
  const [head, ...body] = values;
  if (head[0].toLowerCase() !== 'dn') return { kind: 'problem', line, dn: null, reason: `a record must begin with "dn:", not "${head[0]}:"` };
  if (typeof head[1] !== 'string') return { kind: 'problem', line, dn: null, reason: 'the DN is not UTF-8 text' };
  const dn = head[1];
  let rest = body;
  // Controls (RFC 2849 §4) may come before the change type: they change nothing here.
  while (rest[0] && rest[0][0].toLowerCase() === 'control') rest = rest.slice(1);
  let changetype: 'add' | null = null;
  if (rest[0] && rest[0][0].toLowerCase() === 'changetype') {
    const type = String(rest[0][1]).trim().toLowerCase();
    if (type !== 'add') return { kind: 'problem', line, dn, reason: `changetype: ${type} (only content records and changetype: add are imported)` };
    changetype = 'add';
    rest = rest.slice(1);
  }
  const attributes = new Map<string, LdifValue[]>();
  for (const [name, value] of rest) {
    const list = attributes.get(name);
    if (list) list.push(value);
    else attributes.set(name, [value]);
  }
  return { kind: 'entry', line, dn, changetype, attributes };
}

function dnOf(values: [string, LdifValue][]): string | null {
  const head = values[0];
  return head && head[0].toLowerCase() === 'dn' && typeof head[1] === 'string' ? head[1] : null;
}

/** `attr: value`, `attr:: base64` or `attr:< url` as [attr, value], or the reason it is not one. */
function parseSpec(text: string): [string, LdifValue] | string {
  const colon = text.indexOf(':');
  if (colon <= 0) return `"${text.slice(0, 60)}" is not "attribute: value"`;
  const name = text.slice(0, colon);
  if (!ATTRIBUTE.test(name)) return `"${name.slice(0, 60)}" is not an attribute description`;
  const after = text.slice(colon + 1);
  if (after.startsWith(':')) {
    const encoded = after.slice(1).trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return `the base64 value of ${name} is malformed`;
    const bytes = Buffer.from(encoded, 'base64');
    const asText = bytes.toString('utf8');
    // Text whenever the bytes are UTF-8 (lossless: Buffer.from(text) gives them back), else the
    // bytes: a binary attribute (objectGUID) can come either way, and its reader takes both.
    return [name, Buffer.from(asText, 'utf8').equals(bytes) ? asText : new Uint8Array(bytes)];
  }
  if (after.startsWith('<')) return `the value of ${name} is a URL (${after.slice(1).trim().slice(0, 60)}): put the value in the file`;
  const value = after.replace(/^ +/, '');
  if (/[\u0000\r]/.test(value)) return `the value of ${name} holds a NUL or CR: such a value must be base64 (${name}::)`;
  if (value.includes('\ufffd')) return `the value of ${name} is not UTF-8`;
  return [name, value];
}

// ------------------------------------------------------------------------------------------------
// Writing.

/** Columns of a written line before it is folded (RFC 2849 §2 suggests 76, as slapcat writes). */
const FOLD_AT = 76;

/** Whether a value may be written as it is (RFC 2849 SAFE-STRING; non-ASCII goes base64, as slapcat does). */
function isSafe(value: string): boolean {
  if (value === '') return true;
  if (/^[ :<]/.test(value) || value.endsWith(' ')) return false;
  return /^[\u0001-\u0009\u000b\u000c\u000e-\u007f]*$/.test(value);
}

function fold(line: string): string {
  if (line.length <= FOLD_AT) return line;
  const parts = [line.slice(0, FOLD_AT)];
  for (let k = FOLD_AT; k < line.length; k += FOLD_AT - 1) parts.push(` ${line.slice(k, k + FOLD_AT - 1)}`);
  return parts.join('\n');
}

/** One `attr: value` (or `attr:: base64`) line, folded. A name that is not an attribute description throws: it could write lines of its own. */
export function ldifLine(name: string, value: LdifValue): string {
  if (!ATTRIBUTE.test(name)) throw new Error(`"${name.slice(0, 60)}" is not an LDIF attribute description`);
  if (typeof value === 'string' && isSafe(value)) return fold(`${name}: ${value}`);
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  return fold(`${name}:: ${bytes.toString('base64')}`);
}

/** One content record, ending with its blank line. */
export function ldifEntry(dn: string, attributes: Iterable<readonly [string, LdifValue]>): string {
  const lines = [ldifLine('dn', dn)];
  for (const [name, value] of attributes) lines.push(ldifLine(name, value));
  return `${lines.join('\n')}\n\n`;
}
