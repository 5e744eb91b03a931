import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints a SQLite file's WAL from a worker thread, so that the commits on the event loop
 * rarely pay for it. A checkpoint copies the WAL's pages into the file and syncs both (two
 * fsyncs); run by the commit that crosses `wal_autocheckpoint`, it blocked the event loop for
 * about a third of an OU create's commit at SQLite's default (docs/benchmarks.md). The worker
 * runs PASSIVE checkpoints, which never wait for, and never block, readers or writers. The WAL
 * starts over from its beginning at the first write after a checkpoint that copied every page;
 * under sustained writes the worker's rarely do (pages keep arriving while it copies), so the
 * store's own `wal_autocheckpoint` stays as a backstop that bounds the WAL: the writing
 * connection checkpoints right after its own commit, and then finds little left to copy.
 */
export interface Checkpointer {
  /**
   * Resolves once a checkpoint that the worker began after this call has ended (at once if the
   * worker is gone): what a commit left in the WAL is then in the file, or as much of it as
   * readers allowed. A bulk transaction waits for it before its connection checkpoints again.
   */
  checkpointed(): Promise<void>;
  /** Stops the worker after one last checkpoint. */
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  /** How often the worker checkpoints. */
  intervalMs: number;
  /** Told of a failed checkpoint (a full or read-only disk); the worker keeps trying. */
  onError: (error: Error) => void;
  /** Told when the worker is gone for good (it could not open the file, or it crashed). */
  onExit: (error: Error) => void;
}

// Plain CommonJS, evaluated in the worker: the same code runs under tsx (tests) and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
} catch (error) {
  // A plain Error: the driver's own error class loses its message on the way to the main thread.
  throw new Error('cannot open ' + workerData.file + ': ' + ((error && error.message) || error));
}
// Never wait for a lock: a checkpoint that cannot run now runs at the next tick.
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
let lastError = '';
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    lastError = '';
  } catch (error) {
    const message = String((error && error.message) || error);
    // SQLITE_BUSY: another connection is checkpointing; anything else is worth one report.
    if (error && error.code !== 'SQLITE_BUSY' && message !== lastError) parentPort.postMessage(message);
    lastError = message;
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'now') {
    checkpoint();
    parentPort.postMessage({ checkpointed: true });
    return;
  }
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(file: string, { intervalMs, onError, onExit }: CheckpointerOptions): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs } });
  // A process that forgets to close its store may still exit.
  worker.unref();
  let stopping = false;
  let gone = false;
  /** Callers of checkpointed(), in the order their checkpoints were asked for. */
  const waiting: (() => void)[] = [];
  worker.on('message', (message: string | { checkpointed: true }) => {
    if (typeof message === 'string') onError(new Error(`WAL checkpoint failed: ${message}`));
    else waiting.shift()?.();
  });
  let failure: Error | undefined;
  worker.on('error', (error) => {
    failure = error;
  });
  worker.on('exit', (code) => {
    gone = true;
    for (const resolve of waiting.splice(0)) resolve();
    if (!stopping || failure) onExit(failure ?? new Error(`the WAL checkpoint worker exited with ${code}`));
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    checkpointed() {
      if (gone || stopping) return Promise.resolve();
      return new Promise<void>((resolve) => {
        waiting.push(resolve);
        worker.postMessage('now');
      });
    },
    async stop() {
      stopping = true;
      // Held until it has exited: unreferenced, the process could end while this waits.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
