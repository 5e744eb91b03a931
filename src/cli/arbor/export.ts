import { createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { exportTenant } from '@arbor/sdk';
import { type Command, Option } from 'commander';
import { CliError, EXIT, answered } from './errors.js';
import { bytes } from './output.js';
import { openSession } from './session.js';

interface ExportCommandOptions {
  format: 'ldif' | 'csv' | 'json';
  baseDn?: string;
  baseEntry: boolean;
  kind?: 'users' | 'ous';
  output?: string;
}

/** How often the stderr line is redrawn while bytes arrive. */
const STATUS_MS = 200;

/** `arbor export`: the tenant as a file, streamed from Arbor to stdout or a file as it comes. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export the tenant’s OUs and users as LDIF, CSV or JSON, to stdout (or -o FILE) as Arbor streams it')
    .addOption(new Option('--format <format>', 'ldif, csv (Google Workspace’s columns) or json (what `arbor import` reads back)').choices(['ldif', 'csv', 'json']).makeOptionMandatory())
    .option('--base-dn <dn>', 'LDIF: the DN the root level maps to (default: o=arbor)')
    .option('--no-base-entry', 'LDIF: leave out the base entry (for ldapadd into an existing suffix)')
    .addOption(new Option('--kind <kind>', 'CSV: the users (default), or the OU list (path,description)').choices(['users', 'ous']))
    .option('-o, --output <file>', 'write to this file instead of stdout (put in place once complete)')
    .action(async (options: ExportCommandOptions) => {
      const s = await openSession(program);
      const tenantId = await s.tenant();
      const query = {
        format: options.format,
        ...(options.baseDn !== undefined ? { base_dn: options.baseDn } : {}),
        ...(options.baseEntry ? {} : { base_entry: false }),
        ...(options.kind ? { kind: options.kind } : {}),
      };
      const { data, response } = await answered(exportTenant({ client: s.arbor.client, path: { tenant_id: tenantId }, query, parseAs: 'stream' }));
      const seq = response.headers.get('x-arbor-event-seq') ?? '?';
      const body = Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>);
      // A line on stderr for a person at a terminal; redrawn as it goes unless the file itself is
      // printed on that terminal.
      const status = process.stderr.isTTY ? process.stderr : null;
      const live = status !== null && (options.output !== undefined || !process.stdout.isTTY);
      let written = 0;
      let drawn = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          written += chunk.length;
          if (live && Date.now() - drawn >= STATUS_MS) {
            drawn = Date.now();
            status.write(`\r\x1b[K${bytes(written)} written (event seq ${seq})`);
          }
          done(null, chunk);
        },
      });
      try {
        if (options.output !== undefined) await toFile(options.output, body, counter);
        else await toStdout(body, counter);
      } catch (error) {
        if (live) status.write('\n');
        // The reader went away (`arbor export … | head`): what it wanted, it got.
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') return;
        if (error instanceof CliError) throw error;
        const cause = (error as { cause?: { message?: string; code?: string } }).cause;
        throw new CliError(
          `the export stopped after ${bytes(written)} (${cause?.code ?? cause?.message ?? (error as Error).message}); ${options.output !== undefined ? `${options.output} was left as it was` : 'the output is incomplete'}.`,
          EXIT.api,
        );
      }
      status?.write(`${live ? '\r\x1b[K' : ''}Wrote ${bytes(written)} to ${options.output ?? 'stdout'} (event seq ${seq}).\n`);
    });
}

async function toStdout(body: Readable, counter: Transform): Promise<void> {
  await pipeline(body, counter, process.stdout, { end: false });
  // Flushed before the entry calls process.exit().
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
}

/**
 * Writes a file beside `path`, put in its place once complete: a cut-off export never passes for
 * a whole one. A path that is no regular file (a FIFO, /dev/stdout) is written to directly.
 */
async function toFile(path: string, body: Readable, counter: Transform): Promise<void> {
  const special = (() => {
    try {
      return !statSync(path).isFile();
    } catch {
      return false;
    }
  })();
  if (special) return pipeline(body, counter, createWriteStream(path));
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  const interrupted = () => {
    rmSync(temporary, { force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    const file: Writable = createWriteStream(temporary, { flags: 'wx' });
    await pipeline(body, counter, file);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    const { syscall, code } = error as NodeJS.ErrnoException;
    if (syscall === 'open' || syscall === 'write' || syscall === 'rename') throw new CliError(`Cannot write ${path}: ${code ?? (error as Error).message}.`, EXIT.usage);
    throw error;
  } finally {
    process.off('SIGINT', interrupted);
  }
}
