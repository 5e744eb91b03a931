import { createReadStream, statSync } from 'node:fs';
import { extname } from 'node:path';
import { Transform, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CreateImportData, type ImportJob, createImport, getImport } from '@arbor/sdk';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Answer, CliError, EXIT, call, unreachable } from './errors.js';
import { bytes, print, table } from './output.js';
import { type Session, openSession } from './session.js';

type Format = 'ldif' | 'csv' | 'json';

const FORMAT_OF_EXTENSION: Record<string, Format> = { '.ldif': 'ldif', '.csv': 'csv', '.json': 'json' };
const MEDIA_TYPE: Record<Format, string> = { ldif: 'application/ldif', csv: 'text/csv', json: 'application/json' };
/** How often a running job is asked how it goes. */
const POLL_MS = 500;
/** Rejected entries the text report lists (--json has every one the job keeps, up to 1,000). */
const REJECTED_SHOWN = 10;
/** Tries of an upload Arbor turned away before reading it (429, 503), as the SDK's retries. */
const UPLOAD_ATTEMPTS = 4;
/**
 * What fetch needs to send a streamed body. Spread in untyped: `duplex` is in Node's RequestInit
 * but not in the DOM's, which the tests' tsconfig (test/tsconfig.json) compiles this file with.
 */
const HALF_DUPLEX: object = { duplex: 'half' };

interface ImportCommandOptions {
  format?: Format;
  dryRun?: boolean;
  onConflict: 'fail' | 'skip' | 'overwrite';
  baseDn?: string;
  prune?: boolean;
  maxDeletes?: number;
  atomic: boolean;
}

/** `arbor import FILE`: uploads the file as it is read, follows the job, and reports what it did. */
export function registerImport(program: Command): void {
  program
    .command('import <file>')
    .description('Import OUs and users from an LDIF, CSV or JSON file; exits 1 if the import fails (docs/cli.md)')
    .addOption(new Option('--format <format>', 'the file’s format (default: from its extension, .ldif, .csv or .json)').choices(['ldif', 'csv', 'json']))
    .option('--dry-run', 'check every entry and report what would change; change nothing')
    .addOption(
      new Option('--on-conflict <what>', 'an entry matching an existing OU or user: fail (reject it), skip it, or overwrite its fields')
        .choices(['fail', 'skip', 'overwrite'])
        .default('fail'),
    )
    .option('--base-dn <dn>', 'LDIF: the DN mapped to the root level (default: the parent of the first OU or user entry)')
    .option('--prune', 'delete the OUs and users (within reach) that the file does not name')
    .option('--max-deletes <n>', 'with --prune: fail, changing nothing, if more would be deleted (default: 500)', wholeNumber)
    .option('--no-atomic', 'import what is accepted even if some entries are rejected (default: any rejection changes nothing)')
    .action(async (file: string, options: ImportCommandOptions) => {
      const format = options.format ?? formatOf(file);
      const size = sizeOf(file);
      const s = await openSession(program);
      const tenantId = await s.tenant();
      const query: CreateImportData['query'] = {
        format,
        ...(options.dryRun ? { dry_run: true } : {}),
        on_conflict: options.onConflict,
        ...(options.baseDn !== undefined ? { base_dn: options.baseDn } : {}),
        ...(options.prune ? { prune: true } : {}),
        ...(options.maxDeletes !== undefined ? { max_deletes: options.maxDeletes } : {}),
        ...(options.atomic ? {} : { atomic: false }),
      };
      // The bar is for a person watching: never in a pipe or a log, never mixed with --json.
      const progress = s.json || !process.stderr.isTTY ? null : new ImportProgress(size);
      let job: ImportJob;
      try {
        job = await upload(s, tenantId, { path: file, size, format }, query, (sent) => progress?.uploading(sent));
        progress?.applying(job);
        while (job.state === 'running') {
          await sleep(POLL_MS);
          job = (await call(getImport({ client: s.arbor.client, path: { tenant_id: tenantId, import_id: job.id } }))).data;
          progress?.applying(job);
        }
      } finally {
        progress?.stop();
      }
      print(s, job, () => report(job, file));
      if (job.state === 'failed') throw new CliError(`import ${job.id} failed: ${job.error ?? 'no reason given'}`, EXIT.api);
    });
}

/**
 * POSTs the file as a stream, read as the connection takes it (never whole in memory), and
 * answers the job Arbor started once it read the body. Sent around the SDK's retrying fetch:
 * it clones each request to be able to send it again, and the clone of a streamed body tees it,
 * keeping in memory every byte sent. What that fetch would retry, this does, opening the file
 * again: once after a 401 (with a new token), and after a 429 or 503, which Arbor answers
 * before it reads the body.
 */
async function upload(
  s: Session,
  tenantId: string,
  { path: file, size, format }: { path: string; size: number; format: Format },
  query: CreateImportData['query'],
  onBytes: (sent: number) => void,
): Promise<ImportJob> {
  let token = await s.arbor.accessToken().catch((error: unknown) => Promise.reject(unreachable(error)));
  for (let attempt = 1; ; attempt++) {
    let sent = 0;
    let readError: Error | null = null;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.length;
        onBytes(sent);
        done(null, chunk);
      },
    });
    const source = createReadStream(file).on('error', (error) => (readError = error));
    const body = pipeline(source, counter, () => {});
    let result: Answer<{ data: ImportJob }>;
    try {
      result = await createImport({
        client: s.arbor.client,
        fetch: globalThis.fetch,
        ...HALF_DUPLEX,
        path: { tenant_id: tenantId },
        query,
        // Content-Type spelt as the SDK spells its default (application/json), which it replaces.
        // Content-Length: Arbor refuses a file over its limit (413) before any of it is sent.
        headers: { 'Content-Type': MEDIA_TYPE[format], 'Content-Length': String(size), Authorization: `Bearer ${token}` },
        body: body as unknown as Blob,
      });
    } finally {
      // Answered before the whole file went (a refusal): the rest is not read.
      body.destroy();
    }
    if (readError) throw new CliError(`Cannot read ${file}: ${(readError as Error).message}`, EXIT.usage);
    const status = result.response?.status;
    if (status === 401 && attempt === 1) {
      token = await s.renewToken();
      continue;
    }
    if ((status === 429 || status === 503) && attempt < UPLOAD_ATTEMPTS) {
      await sleep(retryDelay(result.response!, attempt));
      continue;
    }
    return (await call(Promise.resolve(result))).data;
  }
}

function retryDelay(response: Response, attempt: number): number {
  const seconds = Number(response.headers.get('retry-after'));
  return Math.min(10_000, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 500 * 2 ** (attempt - 1));
}

function formatOf(file: string): Format {
  const format = FORMAT_OF_EXTENSION[extname(file).toLowerCase()];
  if (!format) throw new CliError(`Cannot tell the format of ${file} from its name: pass --format ldif, csv or json.`, EXIT.usage);
  return format;
}

function sizeOf(file: string): number {
  let stats;
  try {
    stats = statSync(file);
  } catch (error) {
    throw new CliError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}.`, EXIT.usage);
  }
  if (!stats.isFile()) throw new CliError(`Cannot import ${file}: not a file.`, EXIT.usage);
  return stats.size;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('a whole number (0 or more) is expected.');
  return n;
}

/** What the import did (or, for a dry run, would do), and the first entries it rejected. */
function report(job: ImportJob, file: string): string {
  const p = job.progress;
  const headline =
    job.state === 'failed'
      ? `Import ${job.id} of ${file} failed, so nothing was changed; the counts are what it would have done.`
      : job.options.dry_run
        ? `Dry run ${job.id} of ${file}: nothing was changed; the import would do this.`
        : `Imported ${file} into tenant ${job.tenant_id} (import ${job.id}).`;
  const tally = (name: string, t: ImportJob['progress']['ous']) => [name, String(t.created), String(t.updated), String(t.skipped), String(t.deleted)];
  const lines = [
    headline,
    '',
    table([['', 'CREATED', 'UPDATED', 'SKIPPED', 'DELETED'], tally('OUs', p.ous), tally('users', p.users)]),
    '',
    `Entries read: ${p.entries_read}; ignored: ${p.ignored}; rejected: ${p.rejected}.`,
  ];
  if (job.rejected.length > 0) {
    const shown = job.rejected.slice(0, REJECTED_SHOWN);
    lines.push('', `Rejected entries${p.rejected > shown.length ? ` (the first ${shown.length} of ${p.rejected})` : ''}:`);
    lines.push(table([['LINE', 'ENTRY', 'REASON'], ...shown.map((entry) => [entry.line === null ? '-' : String(entry.line), entry.ref, entry.reason])]));
    const more = p.rejected - shown.length;
    if (more > 0) lines.push(`… and ${more} more (--json lists ${job.rejected_truncated ? `the first ${job.rejected.length}` : 'them all'}).`);
  }
  return lines.join('\n');
}

/** The progress on stderr: a bar while the file is sent, then the job's counts while it applies. */
class ImportProgress {
  private upload: cliProgress.SingleBar | null = null;
  private apply: cliProgress.SingleBar | null = null;

  constructor(private readonly size: number) {}

  uploading(sent: number): void {
    if (!this.upload) {
      this.upload = new cliProgress.SingleBar({ format: 'uploading {bar} {done} / {size}', stream: process.stderr, barsize: 30 }, cliProgress.Presets.shades_classic);
      this.upload.start(this.size, 0, { done: bytes(0), size: bytes(this.size) });
    }
    this.upload.update(sent, { done: bytes(sent) });
  }

  applying(job: ImportJob): void {
    if (this.upload) {
      this.upload.update(this.size, { done: bytes(this.size) });
      this.upload.stop();
      this.upload = null;
    }
    const payload = {
      what: `${job.options.dry_run ? 'checking' : 'applying'} ${job.id}`,
      entries: job.progress.entries_read,
      ous: job.progress.ous.created,
      users: job.progress.users.created,
    };
    if (!this.apply) {
      this.apply = new cliProgress.SingleBar({ format: '{what}: {entries} entries read, {ous} OUs and {users} users created', stream: process.stderr });
      this.apply.start(1, 0, payload);
    }
    this.apply.update(job.state === 'running' ? 0 : 1, payload);
  }

  stop(): void {
    this.upload?.stop();
    this.apply?.stop();
  }
}
