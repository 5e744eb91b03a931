import { hash } from 'node:crypto';
import { type DirectRead, preparedStatementNames } from './sql.js';

/** Most reads sent in one statement; more in one turn make several statements. */
export const PG_BATCH_MAX = 64;

type Row = Record<string, unknown>;
type Run = (text: string, parameters: readonly unknown[]) => Promise<Row[]>;
type Pending = { parameters: readonly unknown[]; resolve: (rows: unknown[]) => void; reject: (error: unknown) => void };

const ORDINAL = 'arbor_batch_ord';
const QUOTED_IDENTIFIER = /"(?:[^"]|"")*"/g;

/**
 * The statement that runs `text` once for each row of its parameters, passed as one array per
 * parameter: `$k` becomes column `pk` of an unnest of those arrays, joined laterally, and each row
 * says which read it answers. Undefined for a text it cannot rewrite safely: one holding a
 * string or dollar-quoted literal, a comment or a quoted identifier holding a `$`, where a `$k`
 * might not be a parameter.
 */
export function batchedText(text: string, arity: number): string | undefined {
  if (arity === 0) return undefined;
  // A `$` in a quoted identifier, a string or dollar-quoted literal, or a comment.
  const identifiers = text.match(QUOTED_IDENTIFIER) ?? [];
  if (identifiers.some((identifier) => identifier.includes('$'))) return undefined;
  if (/'|--|\/\*|\$(?!\d)|[\w$]\$\d/.test(text.replace(QUOTED_IDENTIFIER, '""'))) return undefined;
  const columns = Array.from({ length: arity }, (_, k) => `p${k + 1}`);
  const inner = text.replace(/\$(\d+)(?!\d)/g, (_, n: string) => `arbor_batch.p${n}`);
  const arrays = columns.map((_, k) => `$${k + 1}::text[]`).join(', ');
  return `select arbor_batch.ord as ${ORDINAL}, arbor_read.* from unnest(${arrays}) with ordinality as arbor_batch(${columns.join(', ')}, ord) cross join lateral (${inner}) as arbor_read`;
}

/**
 * PostgreSQL's way to run the reads compiledOnce marks `batched` (db/sql.ts): those of one SQL
 * text asked for in one event-loop turn go in one statement, one round trip and one plan run
 * instead of one each. A round trip costs this process about 80 µs of CPU (docs/benchmarks.md),
 * more than the primary-key read it carries; under load a GET of an OU spent most of its time on
 * it. The statement's snapshot is taken after every read in it was asked for, so each sees every
 * commit that preceded its call, as it would alone.
 *
 * A read goes alone when nothing else of its text is pending, when a parameter is not a string
 * (the arrays are text[]), or when its text cannot be rewritten (batchedText). When PostgreSQL
 * refuses a batch (SQLSTATE class 22 or 42), each of its reads is run again alone, so that each
 * caller gets the answer it would have got alone; after a refusal of the batched form itself
 * (class 42) the text is never batched again, and `onRefused` is told. Any other failure (the
 * pool, the connection, a timeout) is every read's answer. The rows of one read come in the
 * plan's order: a read marked batched must return at most one row, or not depend on their order.
 */
export function pgBatchedReads(run: Run, onRefused?: (error: Error) => void): DirectRead {
  let pending = new Map<string, Pending[]>();
  const texts = new Map<string, string | undefined>();

  const alone = (text: string, read: Pending) => run(text, read.parameters).then(read.resolve, read.reject);

  const together = (text: string, wrapped: string, reads: Pending[]) => {
    const arity = reads[0].parameters.length;
    const arrays = Array.from({ length: arity }, (_, k) => reads.map((read) => read.parameters[k]));
    run(wrapped, arrays).then(
      (rows) => {
        const answers: Row[][] = reads.map(() => []);
        for (const { [ORDINAL]: ordinal, ...row } of rows) answers[Number(ordinal) - 1]?.push(row);
        reads.forEach((read, i) => read.resolve(answers[i]));
      },
      (error: unknown) => {
        // Anything but PostgreSQL refusing the statement (the pool exhausted, the connection
        // lost, a timeout) is every read's answer: sent again, each would wait for it again.
        const refusal = sqlClass(error);
        if (refusal !== '22' && refusal !== '42') {
          for (const read of reads) read.reject(error);
          return;
        }
        // A value one read passed that its type refuses (22) fails that read alone. A batched
        // form PostgreSQL cannot run (42: a parameter where text is not accepted) is not sent again.
        if (refusal === '42' && texts.get(text) !== undefined) {
          texts.set(text, undefined);
          onRefused?.(error as Error);
        }
        for (const read of reads) void alone(text, read);
      },
    );
  };

  const flush = () => {
    const groups = pending;
    pending = new Map();
    for (const [text, reads] of groups) {
      const arity = reads[0].parameters.length;
      const wrapped = reads.length > 1 ? textFor(text, arity) : undefined;
      const strings = (read: Pending) => read.parameters.length === arity && read.parameters.every((p) => typeof p === 'string');
      if (wrapped === undefined || !reads.every(strings)) {
        for (const read of reads) void alone(text, read);
        continue;
      }
      for (let start = 0; start < reads.length; start += PG_BATCH_MAX) {
        const chunk = reads.slice(start, start + PG_BATCH_MAX);
        if (chunk.length === 1) void alone(text, chunk[0]);
        else together(text, wrapped, chunk);
      }
    }
  };

  const textFor = (text: string, arity: number): string | undefined => {
    if (!texts.has(text)) {
      const wrapped = batchedText(text, arity);
      // Prepared once per connection, as the text it wraps (postgres-store.ts).
      if (wrapped !== undefined) preparedStatementNames.set(wrapped, `arbor_b_${hash('sha1', wrapped, 'hex').slice(0, 16)}`);
      texts.set(text, wrapped);
    }
    return texts.get(text);
  };

  return (text, parameters) =>
    new Promise((resolve, reject) => {
      if (pending.size === 0) setImmediate(flush);
      const reads = pending.get(text);
      if (reads) reads.push({ parameters, resolve, reject });
      else pending.set(text, [{ parameters, resolve, reject }]);
    });
}

/** The class (first two characters) of a PostgreSQL error's SQLSTATE; undefined for any other error. */
function sqlClass(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code.slice(0, 2) : undefined;
}
