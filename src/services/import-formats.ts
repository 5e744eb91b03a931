import { JSONParser } from '@streamparser/json';
import { parse as parseCsv } from 'csv-parse';
import { type Rdn, DnError, endsWithDn, formatDn, parseDn } from '../lib/dn.js';
import { type LdifEntry, type LdifValue, readLdif } from '../lib/ldif.js';
import { normalizeOuName } from './org-unit-names.js';

/**
 * The three file formats an import reads (docs/import-export.md), each turned into the same
 * records: OUs by path (names from the root), users with the path of their OU. What a record
 * means for the tenant (new, existing, conflicting, in scope) is import-service.ts's business;
 * here only what one entry says on its own is checked.
 */

export type ImportFormat = 'ldif' | 'csv' | 'json';

/** Where an entry is in the file: its line (null where the format has none) and how the file names it (DN, path, email, index). */
export interface Where {
  line: number | null;
  ref: string;
}

export interface OuRecord {
  kind: 'ou';
  at: Where;
  /** Names from the root level down, each a valid OU name. */
  names: string[];
  description: string | null;
  externalId: string | null;
  attributes: Record<string, unknown> | null;
}

export interface UserRecord {
  kind: 'user';
  at: Where;
  email: string;
  displayName: string | null;
  /** The names of the user's OU from the root; null: no OU (the tenant's root level). */
  ouNames: string[] | null;
  externalId: string | null;
  status: 'active' | 'disabled';
  /** As stored (JSON text): a million users kept as objects until applied cost ~200 bytes each more. */
  attributes: string | null;
}

export type ImportRecord = OuRecord | UserRecord | { kind: 'ignored'; at: Where } | { kind: 'rejected'; at: Where; reason: string };

export interface ReadOptions {
  /** The DN that maps to the tenant's root level; LDIF only. Default: the parent of the first OU (or user) entry. */
  baseDn?: string;
  /** Told the base DN an LDIF file was read with, once it is known. */
  onBaseDn?: (dn: string) => void;
}

const MAX_EMAIL = 320;
const MAX_DISPLAY_NAME = 255;
const MAX_DESCRIPTION = 4096;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** The records of `body` in `format`. */
export function readImport(format: ImportFormat, body: AsyncIterable<Uint8Array>, options: ReadOptions = {}): AsyncGenerator<ImportRecord> {
  if (format === 'ldif') return readLdifImport(body, options);
  if (format === 'csv') return readCsvImport(body);
  return readJsonImport(body);
}

// ---------------------------------------------------------------------------------------------
// LDIF

const textOf = (value: LdifValue | undefined): string | undefined =>
  value === undefined ? undefined : typeof value === 'string' ? value : Buffer.from(value).toString('utf8');

/** The entry's values by attribute type, lower-cased and without options (`cn;lang-en` is `cn`). */
function indexed(entry: LdifEntry): Map<string, LdifValue[]> {
  const out = new Map<string, LdifValue[]>();
  for (const [description, values] of entry.attributes) {
    const semicolon = description.indexOf(';');
    const name = (semicolon < 0 ? description : description.slice(0, semicolon)).toLowerCase();
    const list = out.get(name);
    if (list) list.push(...values);
    else out.set(name, [...values]);
  }
  return out;
}

/**
 * An objectGUID (16 bytes, its first three fields little-endian as Active Directory stores them)
 * as the GUID string AD's own tools show; an entryUUID is already one.
 */
export function guidString(value: LdifValue): string | null {
  if (typeof value === 'string') {
    const text = value.trim();
    return text.length > 0 && text.length <= 255 ? text.toLowerCase() : null;
  }
  if (value.length !== 16) return null;
  const b = Buffer.from(value);
  const hex = (bytes: Buffer) => bytes.toString('hex');
  const le = (start: number, length: number) => hex(Buffer.from(b.subarray(start, start + length)).reverse());
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/** The names of `rdns` above `base` (root first), each an `ou=` RDN; a reason when one is not. */
function ouNamesOf(rdns: Rdn[], base: Rdn[]): string[] | string {
  const names: string[] = [];
  for (const rdn of rdns.slice(0, rdns.length - base.length).reverse()) {
    if (rdn.length !== 1 || rdn[0].type.toLowerCase() !== 'ou') return `'${formatDn([rdn])}' is not an organizational unit (ou=) level`;
    try {
      names.push(normalizeOuName(rdn[0].value));
    } catch (error) {
      return `the OU name '${rdn[0].value}' is not valid: ${validationMessage(error)}`;
    }
  }
  return names;
}

function validationMessage(error: unknown): string {
  const detail = (error as { detail?: { msg: string }[] }).detail;
  return detail?.[0]?.msg ?? (error instanceof Error ? error.message : String(error));
}

/**
 * Parent DNs whose OU names the LDIF reader keeps, so that the users of one OU share one array
 * (a file lists an OU's users together, as slapcat and ldifde write them). Past this many it
 * starts again: a million kept were ~40 MB of the reader's heap.
 */
const PARENT_NAMES_KEPT = 10_000;

async function* readLdifImport(body: AsyncIterable<Uint8Array>, options: ReadOptions): AsyncGenerator<ImportRecord> {
  let base: Rdn[] | null = null;
  if (options.baseDn !== undefined) {
    base = parseDn(options.baseDn);
    options.onBaseDn?.(options.baseDn);
  }
  const parentNames = new Map<string, string[] | string>();
  for await (const item of readLdif(body)) {
    if (item.kind === 'problem') {
      yield { kind: 'rejected', at: { line: item.line, ref: item.dn ?? '' }, reason: item.reason };
      continue;
    }
    const at = { line: item.line, ref: item.dn };
    const attributes = indexed(item);
    const first = (name: string) => attributes.get(name.toLowerCase())?.[0];
    const classes = new Set((attributes.get('objectclass') ?? []).map((v) => (textOf(v) ?? '').trim().toLowerCase()));
    const isOu = classes.has('organizationalunit');
    const isUser = !isOu && (classes.has('inetorgperson') || classes.has('user')) && !classes.has('computer');
    if (!isOu && !isUser) {
      yield { kind: 'ignored', at };
      continue;
    }
    let rdns: Rdn[];
    try {
      rdns = parseDn(item.dn);
    } catch (error) {
      yield { kind: 'rejected', at, reason: `the DN cannot be read: ${error instanceof DnError ? error.message : String(error)}` };
      continue;
    }
    if (rdns.length === 0) {
      yield { kind: 'rejected', at, reason: 'the DN is empty' };
      continue;
    }
    if (base === null) {
      base = rdns.slice(1);
      options.onBaseDn?.(formatDn(base));
    }
    if (rdns.length <= base.length || !endsWithDn(rdns, base)) {
      yield { kind: 'rejected', at, reason: `the entry is not below base_dn '${formatDn(base)}'` };
      continue;
    }
    const guid = first('entryUUID') ?? first('objectGUID');
    const externalId = guid === undefined ? null : guidString(guid);
    if (isOu) {
      const names = ouNamesOf(rdns, base);
      if (typeof names === 'string') {
        yield { kind: 'rejected', at, reason: names };
        continue;
      }
      const description = textOf(first('description')) ?? null;
      if (description !== null && description.length > MAX_DESCRIPTION) {
        yield { kind: 'rejected', at, reason: `the description is longer than ${MAX_DESCRIPTION} characters` };
        continue;
      }
      yield { kind: 'ou', at, names, description, externalId, attributes: null };
      continue;
    }
    // Users of one OU share its names (a million users, a hundred thousand OUs).
    const parentKey = item.dn.slice(item.dn.indexOf(',') + 1).toLowerCase();
    let ouNames = parentNames.get(parentKey);
    if (ouNames === undefined) {
      ouNames = ouNamesOf(rdns.slice(1), base);
      if (parentNames.size >= PARENT_NAMES_KEPT) parentNames.clear();
      parentNames.set(parentKey, ouNames);
    }
    if (typeof ouNames === 'string') {
      yield { kind: 'rejected', at, reason: `the user's parent is not an OU: ${ouNames}` };
      continue;
    }
    const email = (textOf(first('mail')) ?? textOf(first('userPrincipalName')))?.trim();
    if (!email) {
      yield { kind: 'rejected', at, reason: 'the user has no mail and no userPrincipalName' };
      continue;
    }
    const displayName = (textOf(first('displayName')) ?? textOf(first('cn')) ?? null)?.trim() || null;
    // Kept so an export writes the entry back as it was named: the RDN, and the naming
    // attributes Arbor has no field for.
    const ldap: Record<string, string> = { rdn: formatDn([rdns[0]]) };
    for (const name of ['uid', 'givenName', 'sn'] as const) {
      const value = textOf(first(name));
      if (value !== undefined) ldap[name] = value;
    }
    // Active Directory: bit 2 of userAccountControl is ACCOUNTDISABLE.
    const control = Number(textOf(first('userAccountControl')));
    const status = Number.isInteger(control) && (control & 2) !== 0 ? 'disabled' : 'active';
    yield checkUser({ kind: 'user', at, email, displayName, ouNames: ouNames.length > 0 ? ouNames : null, externalId, status, attributes: JSON.stringify({ ldap }) });
  }
}

function checkUser(user: UserRecord): UserRecord | ImportRecord {
  if (user.email.length > MAX_EMAIL || !EMAIL.test(user.email)) return { kind: 'rejected', at: user.at, reason: `'${user.email}' is not an email address` };
  if (user.displayName !== null && [...user.displayName].length > MAX_DISPLAY_NAME) {
    return { kind: 'rejected', at: user.at, reason: `the display name is longer than ${MAX_DISPLAY_NAME} characters` };
  }
  return user;
}

// ---------------------------------------------------------------------------------------------
// CSV: Google Workspace's user export, or a plain OU list

const GOOGLE_EMAIL = 'Email Address [Required]';
const GOOGLE_OU = 'Org Unit Path [Required]';

/** `/Sales/West` (Google's form, `/` alone the root) as names; a reason when a name is not valid. */
function pathNames(path: string): string[] | string {
  const trimmed = path.trim();
  if (trimmed === '' || trimmed === '/') return [];
  if (!trimmed.startsWith('/')) return `the path '${path}' does not start with '/'`;
  const names: string[] = [];
  for (const part of trimmed.slice(1).split('/')) {
    try {
      names.push(normalizeOuName(part));
    } catch (error) {
      return `the OU name '${part}' in '${path}' is not valid: ${validationMessage(error)}`;
    }
  }
  return names;
}

async function* readCsvImport(body: AsyncIterable<Uint8Array>): AsyncGenerator<ImportRecord> {
  const parser = parseCsv({ bom: true, columns: (header: string[]) => header.map((h) => h.trim()), info: true, skip_empty_lines: true, relax_column_count: true, max_record_size: 1 << 20 });
  // The body is fed as it arrives; records are read as the parser yields them.
  // Until the parser drains, or is destroyed (a malformed file ends reading early).
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        parser.off('drain', done);
        parser.off('close', done);
        resolve();
      };
      parser.once('drain', done);
      parser.once('close', done);
    });
  const feeding = (async () => {
    try {
      for await (const chunk of body) {
        if (parser.destroyed) return;
        if (!parser.write(chunk)) await drained();
      }
      if (!parser.destroyed) parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();
  let kind: 'users' | 'ous' | null = null;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string | undefined>; info: { lines: number } }>) {
      const line = info.lines;
      if (kind === null) {
        const columns = Object.keys(record);
        kind = columns.includes(GOOGLE_EMAIL) ? 'users' : columns.map((c) => c.toLowerCase()).includes('path') ? 'ous' : null;
        if (kind === null) {
          yield { kind: 'rejected', at: { line: 1, ref: '' }, reason: `the header names neither '${GOOGLE_EMAIL}' (a Google Workspace user export) nor 'path' (an OU list)` };
          return;
        }
      }
      const get = (name: string) => {
        const key = Object.keys(record).find((k) => k.toLowerCase() === name.toLowerCase());
        const value = key === undefined ? undefined : record[key]?.trim();
        return value === '' ? undefined : value;
      };
      if (kind === 'ous') {
        const path = get('path') ?? '';
        const at = { line, ref: path };
        const names = pathNames(path);
        if (typeof names === 'string' || names.length === 0) {
          yield { kind: 'rejected', at, reason: typeof names === 'string' ? names : 'the path is empty' };
          continue;
        }
        const description = get('description') ?? null;
        if (description !== null && description.length > MAX_DESCRIPTION) {
          yield { kind: 'rejected', at, reason: `the description is longer than ${MAX_DESCRIPTION} characters` };
          continue;
        }
        yield { kind: 'ou', at, names, description, externalId: get('external_id') ?? null, attributes: null };
        continue;
      }
      const email = get(GOOGLE_EMAIL) ?? '';
      const at = { line, ref: email };
      if (!email) {
        yield { kind: 'rejected', at, reason: `'${GOOGLE_EMAIL}' is empty` };
        continue;
      }
      const names = pathNames(get(GOOGLE_OU) ?? '/');
      if (typeof names === 'string') {
        yield { kind: 'rejected', at, reason: names };
        continue;
      }
      const given = get('First Name [Required]') ?? get('First Name');
      const family = get('Last Name [Required]') ?? get('Last Name');
      const displayName = [given, family].filter(Boolean).join(' ') || null;
      const status = (get('Status [READ ONLY]') ?? get('Status'))?.toLowerCase() === 'suspended' ? 'disabled' : 'active';
      const ldap: Record<string, string> = {};
      if (given) ldap.givenName = given;
      if (family) ldap.sn = family;
      yield checkUser({
        kind: 'user',
        at,
        email,
        displayName,
        ouNames: names.length > 0 ? names : null,
        externalId: get('external_id') ?? null,
        status,
        attributes: Object.keys(ldap).length > 0 ? JSON.stringify({ ldap }) : null,
      });
    }
  } catch (error) {
    const line = (error as { lines?: number }).lines ?? null;
    yield { kind: 'rejected', at: { line, ref: '' }, reason: `the CSV cannot be read: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    parser.destroy();
    await feeding;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON, in the shape of the export: {"ous": [...], "users": [...]} (other members are ignored)

async function* readJsonImport(body: AsyncIterable<Uint8Array>): AsyncGenerator<ImportRecord> {
  const parser = new JSONParser({ paths: ['$.ous.*', '$.users.*'], keepStack: false });
  const pending: ImportRecord[] = [];
  let failure: string | null = null;
  parser.onValue = ({ value, key, stack }) => {
    const list = stack[stack.length - 1]?.key;
    const index = typeof key === 'number' ? key : 0;
    if (list === 'ous') pending.push(jsonOu(value, index));
    else if (list === 'users') pending.push(jsonUser(value, index));
  };
  parser.onError = (error) => {
    failure = error.message;
  };
  let sawAny = false;
  try {
    for await (const chunk of body) {
      sawAny = true;
      if (failure === null) {
        try {
          parser.write(chunk);
        } catch (error) {
          failure = error instanceof Error ? error.message : String(error);
        }
      }
      yield* pending.splice(0);
      if (failure !== null) break;
    }
    if (failure === null && !parser.isEnded) failure = sawAny ? 'the JSON ends before its last value is complete' : 'the body is empty';
  } finally {
    if (!parser.isEnded) parser.onValue = () => {};
  }
  yield* pending.splice(0);
  if (failure !== null) yield { kind: 'rejected', at: { line: null, ref: '' }, reason: `the JSON cannot be read: ${failure}` };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const optionalString = (value: unknown): string | null | undefined => (value === undefined || value === null ? null : typeof value === 'string' ? value : undefined);

function jsonOu(value: unknown, index: number): ImportRecord {
  const at = { line: null, ref: `ous[${index}]` };
  if (!isObject(value) || typeof value.path !== 'string') return { kind: 'rejected', at, reason: 'an OU needs a "path" string' };
  at.ref = value.path;
  const names = pathNames(value.path);
  if (typeof names === 'string' || names.length === 0) return { kind: 'rejected', at, reason: typeof names === 'string' ? names : 'the path is empty' };
  const description = optionalString(value.description);
  const externalId = optionalString(value.external_id);
  if (description === undefined || externalId === undefined) return { kind: 'rejected', at, reason: '"description" and "external_id" must be strings or null' };
  if (description !== null && description.length > MAX_DESCRIPTION) return { kind: 'rejected', at, reason: `the description is longer than ${MAX_DESCRIPTION} characters` };
  if (value.custom_attributes !== undefined && value.custom_attributes !== null && !isObject(value.custom_attributes)) {
    return { kind: 'rejected', at, reason: '"custom_attributes" must be an object or null' };
  }
  return { kind: 'ou', at, names, description, externalId, attributes: (value.custom_attributes as Record<string, unknown> | null | undefined) ?? null };
}

function jsonUser(value: unknown, index: number): ImportRecord {
  const at = { line: null, ref: `users[${index}]` };
  if (!isObject(value) || typeof value.email !== 'string') return { kind: 'rejected', at, reason: 'a user needs an "email" string' };
  at.ref = value.email;
  const ouPath = optionalString(value.ou_path);
  const displayName = optionalString(value.display_name);
  const externalId = optionalString(value.external_id);
  if (ouPath === undefined || displayName === undefined || externalId === undefined) {
    return { kind: 'rejected', at, reason: '"ou_path", "display_name" and "external_id" must be strings or null' };
  }
  const names = ouPath === null ? [] : pathNames(ouPath);
  if (typeof names === 'string') return { kind: 'rejected', at, reason: names };
  if (value.status !== undefined && value.status !== 'active' && value.status !== 'disabled') return { kind: 'rejected', at, reason: '"status" must be "active" or "disabled"' };
  if (value.custom_attributes !== undefined && value.custom_attributes !== null && !isObject(value.custom_attributes)) {
    return { kind: 'rejected', at, reason: '"custom_attributes" must be an object or null' };
  }
  return checkUser({
    kind: 'user',
    at,
    email: value.email.trim(),
    displayName: displayName?.trim() || null,
    ouNames: names.length > 0 ? names : null,
    externalId,
    status: (value.status as 'active' | 'disabled' | undefined) ?? 'active',
    attributes: value.custom_attributes == null ? null : JSON.stringify(value.custom_attributes),
  });
}
