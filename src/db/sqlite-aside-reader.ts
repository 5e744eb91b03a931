import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { CompiledQuery } from 'kysely';

/**
 * Reads of a SQLite file on a second, read-only connection in a worker thread. better-sqlite3
 * runs a statement to its end on the thread that asks, so a long read on the store's connection
 * stops the whole process: the rank index of a tenant's 1,000,000 placed users took 0.55–1.3 s
 * on the benchmark store, during which no request of any tenant was answered (and load shedding,
 * which acts on the event loop's delay, could answer 503). Here such a read takes the other core
 * and the event loop goes on. Each batch of statements runs in one read transaction of its own:
 * its snapshot is not the caller's, so whoever uses the rows checks the version they report.
 */
export interface AsideReader {
  /** Runs `queries` in one read transaction; the rows of each, in order. */
  read(queries: readonly CompiledQuery[]): Promise<unknown[][]>;
  /** Ends the worker; reads still pending fail. */
  stop(): Promise<void>;
  /** False once the worker has gone (it could not open the file, or it crashed): start another. */
  readonly alive: boolean;
}

// Plain CommonJS, evaluated in the worker: the same code runs under tsx (tests) and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { readonly: true, fileMustExist: true });
} catch (error) {
  throw new Error('cannot open ' + workerData.file + ': ' + ((error && error.message) || error));
}
db.pragma('busy_timeout = 5000');
parentPort.on('message', (message) => {
  if (message === 'stop') {
    db.close();
    parentPort.close();
    return;
  }
  const { id, queries } = message;
  try {
    db.exec('BEGIN');
    try {
      const results = queries.map((query) => {
        const statement = db.prepare(query.sql);
        if (!statement.reader) throw new Error('not a read: ' + query.sql);
        return statement.all(...query.parameters);
      });
      parentPort.postMessage({ id, results });
    } finally {
      db.exec('COMMIT');
    }
  } catch (error) {
    // A plain message: the driver's own error class loses its fields on the way to the main thread.
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  }
});
`;

interface Pending {
  resolve: (rows: unknown[][]) => void;
  reject: (error: Error) => void;
}

export function startAsideReader(file: string): AsideReader {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
  // Idle, the worker never keeps the process alive; a pending read does (see `read`).
  worker.unref();
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let gone: Error | undefined;
  const failAll = (error: Error) => {
    gone = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', (message: { id: number; results?: unknown[][]; error?: string }) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (pending.size === 0) worker.unref();
    if (message.error !== undefined) waiting.reject(new Error(`a read aside failed: ${message.error}`));
    else waiting.resolve(message.results ?? []);
  });
  worker.on('error', (error) => failAll(error));
  worker.on('exit', (code) => failAll(new Error(`the SQLite reader worker exited with ${code}`)));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    get alive() {
      return gone === undefined;
    },
    read(queries) {
      if (gone) return Promise.reject(gone);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, queries: queries.map((query) => ({ sql: query.sql, parameters: query.parameters })) });
      });
    },
    async stop() {
      if (gone) return;
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
