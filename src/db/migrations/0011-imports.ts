import { type Kysely, sql } from 'kysely';

// Imports from other directories (docs/import-export.md).
//
// `external_id` on OUs and users: the identifier a directory gave the entry (OpenLDAP's
// entryUUID, Active Directory's objectGUID), optional and unique per tenant. An import matches
// by it first, so a re-import finds what it created even after a rename in Arbor. The unique
// indexes are partial (NULLs are never equal anyway, on both stores; the WHERE keeps the indexes
// to the rows that have one).
//
// `import_jobs`: one row per import, its options, progress and report. The file itself is never
// stored: it is read as it arrives.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_units').addColumn('external_id', 'text').execute();
  await db.schema.alterTable('users').addColumn('external_id', 'text').execute();
  await db.schema.createIndex('org_units_external_id_ux').on('org_units').columns(['tenant_id', 'external_id']).unique().where(sql.ref('external_id'), 'is not', null).execute();
  await db.schema.createIndex('users_external_id_ux').on('users').columns(['tenant_id', 'external_id']).unique().where(sql.ref('external_id'), 'is not', null).execute();
  await db.schema
    .createTable('import_jobs')
    .addColumn('tenant_id', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    // running, succeeded or failed.
    .addColumn('state', 'text', (col) => col.notNull())
    // reading, applying or done.
    .addColumn('phase', 'text', (col) => col.notNull())
    .addColumn('format', 'text', (col) => col.notNull())
    // JSON: dry_run, on_conflict, base_dn, prune, max_deletes, atomic.
    .addColumn('options', 'text', (col) => col.notNull())
    // JSON: bytes and entries read; OUs and users created, updated, skipped, deleted; ignored; rejected.
    .addColumn('progress', 'text', (col) => col.notNull())
    // JSON list of rejected entries (line, what, reason), at most REPORT_LIMIT of them.
    .addColumn('rejected', 'text', (col) => col.notNull())
    .addColumn('error', 'text')
    // JSON actor `{type, id, client_id}`.
    .addColumn('created_by', 'text', (col) => col.notNull())
    // The instance running it (host:pid:random), and when it last said it still does.
    .addColumn('owner', 'text')
    .addColumn('heartbeat_at', 'text')
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addColumn('finished_at', 'text')
    .addPrimaryKeyConstraint('import_jobs_pk', ['tenant_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('import_jobs').execute();
  await db.schema.dropIndex('users_external_id_ux').execute();
  await db.schema.dropIndex('org_units_external_id_ux').execute();
  await db.schema.alterTable('users').dropColumn('external_id').execute();
  await db.schema.alterTable('org_units').dropColumn('external_id').execute();
}
