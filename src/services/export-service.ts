import { PassThrough, type Readable } from 'node:stream';
import { once } from 'node:events';
import { type Expression, type SqlBool, sql } from 'kysely';
import { repositories } from '../db/repositories/index.js';
import type { Executor, Store } from '../db/store.js';
import { type Rdn, formatDn, parseDn } from '../lib/dn.js';
import { ldifEntry } from '../lib/ldif.js';
import { type Access, resolveSubtrees } from './access.js';
import { decodeAttributes } from './json-attributes.js';
import { tenantNotFound } from './tenant-guard.js';

/**
 * Exports (docs/import-export.md): the whole tenant, or the caller's subtrees, from one
 * consistent snapshot, streamed as it is read. The snapshot is Store.longSnapshot: on a SQLite
 * file a read-only connection of its own, so writes go on while an export runs; rows are read a
 * keyset batch at a time and written as the client takes them.
 */

export type ExportFormat = 'ldif' | 'csv' | 'json';

export interface ExportOptions {
  format: ExportFormat;
  /** LDIF: the DN the tenant's root level maps to. */
  baseDn: string;
  /** LDIF: write the base entry itself first (slapadd into an empty directory needs it; ldapadd into an existing suffix does not). */
  baseEntry: boolean;
  /** CSV: users (Google Workspace's columns) or OUs (path,description). */
  kind: 'users' | 'ous';
}

export interface ExportStream {
  /** The tenant's last event seq: the export reflects every event up to it, and none after. */
  seq: number;
  body: Readable;
}

/** Rows read at once. Small: on SQLite each batch runs on the event loop's thread. */
const BATCH = 1000;

interface OuOut {
  path: string;
  dn: string;
}

export function createExportService({ store, log }: { store: Pick<Store, 'db' | 'longSnapshot'>; log: { warn(details: object, message: string): void } }) {
  /**
   * Starts the export: resolves once the snapshot is open (its seq known), then streams. A
   * client that goes away ends the read; a failure midway cuts the body short (and is logged),
   * which a client sees as a truncated transfer, never as a complete-looking file.
   */
  function start(access: Access, tenantId: string, options: ExportOptions): Promise<ExportStream> {
    const body = new PassThrough();
    let opened: (seq: number) => void;
    let failed: (error: unknown) => void;
    const ready = new Promise<number>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    let started = false;
    store
      .longSnapshot(async (trx) => {
        const repos = repositories(trx);
        const tenant = await repos.tenants.getById(tenantId);
        if (!tenant) throw tenantNotFound(tenantId);
        const seq = await repos.events.lastSeq(tenantId);
        const reach = access.reach('ous:read');
        const subtrees = await resolveSubtrees(repos.orgUnits, tenantId, reach);
        started = true;
        opened(seq);
        const write = async (text: string) => {
          if (body.destroyed) throw new ClientGone();
          if (!body.write(text)) await Promise.race([once(body, 'drain'), once(body, 'close')]);
        };
        const scope = subtrees === null ? null : subtrees.idPaths;
        await writeExport(trx, write, tenant, seq, scope, options);
        body.end();
      })
      .catch((error: unknown) => {
        if (!started) return failed(error);
        if (!(error instanceof ClientGone)) log.warn({ err: error, tenant_id: tenantId }, 'an export failed midway; its body was cut short');
        body.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    return ready.then((seq) => ({ seq, body }));
  }

  return { start };
}

export type ExportService = ReturnType<typeof createExportService>;

class ClientGone extends Error {}

type Write = (text: string) => Promise<void>;

/** `id_path` within one of `scope` (null: the whole tenant). */
function inScope(scope: readonly string[] | null, column: string): Expression<SqlBool> {
  if (scope === null) return sql<SqlBool>`1 = 1`;
  if (scope.length === 0) return sql<SqlBool>`1 = 0`;
  return sql<SqlBool>`(${sql.join(
    scope.map((idPath) => sql`${sql.ref(column)} like ${`${idPath}%`}`),
    sql` or `,
  )})`;
}

async function writeExport(
  trx: Executor,
  write: Write,
  tenant: { id: string; name: string; slug: string },
  seq: number,
  scope: readonly string[] | null,
  options: ExportOptions,
): Promise<void> {
  const base: Rdn[] = parseDn(options.baseDn);
  const ous = new Map<string, OuOut>();
  const csvUsers = options.format === 'csv' && options.kind === 'users';
  const csvOus = options.format === 'csv' && options.kind === 'ous';

  // Header
  if (options.format === 'ldif') {
    // No `version: 1` line: slapadd refuses one (it reads it as an attribute of a DN-less entry), and ldapadd does not need it.
    await write(`# Arbor export of tenant ${oneLine(tenant.name)} (${tenant.id}) at event seq ${seq}\n\n`);
    if (options.baseEntry) {
      const entry = baseEntry(base);
      if (entry) await write(entry);
    }
  } else if (options.format === 'json') {
    await write(`{"tenant":${JSON.stringify({ id: tenant.id, name: tenant.name, slug: tenant.slug })},"seq":${seq},"exported_at":${JSON.stringify(new Date().toISOString())},\n"ous":[`);
  } else if (csvOus) {
    await write('path,description,external_id\r\n');
  } else {
    await write('First Name [Required],Last Name [Required],Email Address [Required],Org Unit Path [Required],Status [READ ONLY],external_id\r\n');
  }

  // OUs, by path: parents before their children.
  let first = true;
  let after = '';
  for (;;) {
    const rows = await trx
      .selectFrom('org_units')
      .select(['id', 'name', 'path', 'parent_id', 'description', 'external_id', 'custom_attributes'])
      .where('tenant_id', '=', tenant.id)
      .where('path', '>', after)
      .where(inScope(scope, 'id_path'))
      .orderBy('path')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1].path;
    let chunk = '';
    for (const row of rows) {
      const parent = row.parent_id === null ? undefined : ous.get(row.parent_id);
      const parentDn = parent ? parent.dn : formatDn(base);
      const dn = `${formatDn([[{ type: 'ou', value: row.name }]])}${parentDn ? `,${parentDn}` : ''}`;
      ous.set(row.id, { path: row.path, dn });
      if (options.format === 'ldif') {
        const attributes: [string, string][] = [['objectClass', 'top'], ['objectClass', 'organizationalUnit'], ['ou', row.name]];
        if (row.description) attributes.push(['description', row.description]);
        chunk += ldifEntry(dn, attributes);
      } else if (options.format === 'json') {
        chunk += `${first ? '\n' : ',\n'}${JSON.stringify({ id: row.id, path: row.path, description: row.description, external_id: row.external_id, custom_attributes: decodeAttributes(row.custom_attributes) })}`;
        first = false;
      } else if (csvOus) {
        chunk += `${csvRow([row.path, row.description ?? '', row.external_id ?? ''])}`;
      }
    }
    await write(chunk);
  }
  if (options.format === 'json') await write('\n],\n"users":[');
  if (csvOus) return;

  // Users, by id; those outside every OU only in a whole-tenant export.
  first = true;
  after = '';
  for (;;) {
    let query = trx
      .selectFrom('users')
      .select(['id', 'email', 'display_name', 'ou_id', 'status', 'external_id', 'custom_attributes'])
      .where('tenant_id', '=', tenant.id)
      .where('id', '>', after);
    if (scope !== null) {
      query = query.where('ou_id', 'in', (eb) => eb.selectFrom('org_units').select('id').where('tenant_id', '=', tenant.id).where(inScope(scope, 'id_path')));
    }
    const rows = await query.orderBy('id').limit(BATCH).execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    let chunk = '';
    for (const row of rows) {
      const ou = row.ou_id === null ? undefined : ous.get(row.ou_id);
      if (row.ou_id !== null && !ou) continue;
      const attributes = decodeAttributes(row.custom_attributes);
      if (options.format === 'ldif') chunk += userLdif(row, ou?.dn ?? formatDn(base), attributes);
      else if (options.format === 'json') {
        chunk += `${first ? '\n' : ',\n'}${JSON.stringify({ id: row.id, email: row.email, display_name: row.display_name, status: row.status, ou_path: ou?.path ?? null, external_id: row.external_id, custom_attributes: attributes })}`;
        first = false;
      } else if (csvUsers) {
        const [given, family] = names(row.display_name, ldapOf(attributes));
        chunk += csvRow([given, family, row.email, ou?.path ?? '/', row.status === 'disabled' ? 'Suspended' : 'Active', row.external_id ?? '']);
      }
    }
    await write(chunk);
  }
  if (options.format === 'json') await write('\n]}\n');
}

/** The base entry slapadd needs before anything below it: by its RDN's type. None for types without a standard class. */
function baseEntry(base: Rdn[]): string | null {
  if (base.length === 0) return null;
  const [ava] = base[0];
  const dn = formatDn(base);
  switch (ava.type.toLowerCase()) {
    case 'dc':
      return ldifEntry(dn, [['objectClass', 'top'], ['objectClass', 'dcObject'], ['objectClass', 'organization'], ['dc', ava.value], ['o', ava.value]]);
    case 'o':
      return ldifEntry(dn, [['objectClass', 'top'], ['objectClass', 'organization'], ['o', ava.value]]);
    case 'ou':
      return ldifEntry(dn, [['objectClass', 'top'], ['objectClass', 'organizationalUnit'], ['ou', ava.value]]);
    default:
      return null;
  }
}

type Ldap = { rdn?: string; uid?: string; givenName?: string; sn?: string };

function ldapOf(attributes: Record<string, unknown> | null): Ldap {
  const ldap = attributes?.ldap;
  if (typeof ldap !== 'object' || ldap === null) return {};
  const out: Ldap = {};
  for (const key of ['rdn', 'uid', 'givenName', 'sn'] as const) {
    const value = (ldap as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.length > 0) out[key] = value;
  }
  return out;
}

/** First and last name: as imported, else the display name split at its last space. */
function names(displayName: string | null, ldap: Ldap): [string, string] {
  if (ldap.givenName || ldap.sn) return [ldap.givenName ?? '', ldap.sn ?? ''];
  const name = (displayName ?? '').trim();
  const cut = name.lastIndexOf(' ');
  return cut < 0 ? ['', name] : [name.slice(0, cut), name.slice(cut + 1)];
}

/**
 * A user as an inetOrgPerson: named by the RDN it was imported with (so a directory exported
 * back has the DNs it had), else `uid=<email>`, which is unique in the tenant. Every value of
 * the RDN is also an attribute of the entry, as LDAP requires.
 */
function userLdif(row: { email: string; display_name: string | null }, parentDn: string, attributes: Record<string, unknown> | null): string {
  const ldap = ldapOf(attributes);
  let rdn: Rdn | null = null;
  if (ldap.rdn) {
    try {
      const parsed = parseDn(ldap.rdn);
      if (parsed.length === 1) rdn = parsed[0];
    } catch {
      rdn = null;
    }
  }
  rdn ??= [{ type: 'uid', value: row.email }];
  const values = new Map<string, string[]>();
  const add = (name: string, value: string | undefined | null) => {
    if (!value) return;
    const key = name.toLowerCase();
    const list = values.get(key) ?? [];
    if (!list.some((v) => v.toLowerCase() === value.toLowerCase())) list.push(value);
    values.set(key, list);
  };
  const [given, family] = names(row.display_name, ldap);
  add('cn', row.display_name ?? row.email);
  add('sn', ldap.sn ?? (family || row.email));
  add('givenName', ldap.givenName ?? (given || undefined));
  add('uid', ldap.uid);
  add('mail', row.email);
  add('displayName', row.display_name);
  for (const ava of rdn) add(ava.type, ava.value);
  const spelled: Record<string, string> = { cn: 'cn', sn: 'sn', givenname: 'givenName', uid: 'uid', mail: 'mail', displayname: 'displayName' };
  const out: [string, string][] = [['objectClass', 'top'], ['objectClass', 'person'], ['objectClass', 'organizationalPerson'], ['objectClass', 'inetOrgPerson']];
  for (const [key, list] of values) for (const value of list) out.push([spelled[key] ?? key, value]);
  return ldifEntry(`${formatDn([rdn])}${parentDn ? `,${parentDn}` : ''}`, out);
}

/** One CSV record (RFC 4180): a field with a comma, quote or line break is quoted. */
function csvRow(fields: string[]): string {
  return `${fields.map((field) => (/[",\r\n]|^\s|\s$/.test(field) ? `"${field.replace(/"/g, '""')}"` : field)).join(',')}\r\n`;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
