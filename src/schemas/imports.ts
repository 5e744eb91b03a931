import { Type } from 'typebox';
import { Nullable, apiResponse, ref } from './common.js';

const Tally = Type.Object(
  {
    created: Type.Integer(),
    updated: Type.Integer(),
    skipped: Type.Integer({ description: 'Existing and left as they were: on_conflict=skip, or nothing to change.' }),
    deleted: Type.Integer({ description: 'Removed by prune.' }),
  },
  { $id: 'ImportTally', description: 'What an import did (or, in a dry run, would do) to one kind of resource.' },
);

export const ImportRejectedEntry = Type.Object(
  {
    line: Nullable(Type.Integer({ description: 'The line the entry starts on (LDIF, CSV); null in JSON.' })),
    ref: Type.String({ description: 'The entry as the file names it: DN, path, email, or position.' }),
    reason: Type.String(),
  },
  { $id: 'ImportRejectedEntry', description: 'An entry the import refused, and why.' },
);

export const ImportOptions = Type.Object(
  {
    dry_run: Type.Boolean(),
    on_conflict: Type.Union([Type.Literal('fail'), Type.Literal('skip'), Type.Literal('overwrite')]),
    base_dn: Nullable(Type.String({ description: 'The LDIF suffix mapped to the root level: as given, or as found (the parent of the first entry).' })),
    prune: Type.Boolean(),
    max_deletes: Type.Integer(),
    atomic: Type.Boolean(),
  },
  { $id: 'ImportOptions', description: 'The options an import runs with.' },
);

export const ImportJob = Type.Object(
  {
    id: Type.String(),
    tenant_id: Type.String(),
    state: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    phase: Type.Union([Type.Literal('reading'), Type.Literal('applying'), Type.Literal('done')]),
    format: Type.Union([Type.Literal('ldif'), Type.Literal('csv'), Type.Literal('json')]),
    options: ref(ImportOptions),
    progress: Type.Object({
      bytes_read: Type.Integer(),
      entries_read: Type.Integer(),
      ignored: Type.Integer({ description: 'LDIF entries of other object classes, left alone.' }),
      rejected: Type.Integer(),
      ous: ref(Tally),
      users: ref(Tally),
    }),
    rejected: Type.Array(ref(ImportRejectedEntry), { description: 'Every rejected entry, up to 1,000.' }),
    rejected_truncated: Type.Boolean({ description: 'More entries were rejected than `rejected` lists.' }),
    error: Nullable(Type.String({ description: 'Why a failed import failed.' })),
    correlation_id: Type.String({ description: "The correlation_id of every event the import wrote (the job's id)." }),
    created_by: Type.Object({ type: Type.String(), id: Type.String(), client_id: Nullable(Type.String()) }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'ImportJob', description: 'An import: its options, progress and, at the end, its report (docs/import-export.md).' },
);

export const ApiResponseImportJob = apiResponse('ApiResponse_ImportJob_', ref(ImportJob));

export const importSchemas = [Tally, ImportRejectedEntry, ImportOptions, ImportJob, ApiResponseImportJob];
