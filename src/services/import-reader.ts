import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { type ImportFormat, type ImportRecord, type ReadOptions, readImport } from './import-formats.js';

/**
 * The records of a spooled import file, read in a worker thread when the file is large enough
 * for it to pay, so that reading (a tenth of a million-user import's CPU, profiled) runs on the second
 * core while this thread applies, and the reader's garbage is collected in a heap of its own
 * (capped: READER_HEAP_MB) rather than in the server's. A small file, most of them, is read on
 * this thread: a worker costs a few milliseconds to start (more under a TypeScript loader).
 * Records come in batches: a promise per record of a million was a tenth of what the import
 * allocated.
 */
export async function* readSpool(format: ImportFormat, file: string, options: ReadOptions & { inWorkerFrom?: number } = {}): AsyncGenerator<ImportRecord[]> {
  const { inWorkerFrom = IN_WORKER_FROM, ...read } = options;
  if ((await stat(file)).size < inWorkerFrom) {
    let batch: ImportRecord[] = [];
    for await (const record of readImport(format, createReadStream(file), read)) {
      batch.push(record);
      if (batch.length < BATCH) continue;
      yield batch;
      batch = [];
    }
    if (batch.length > 0) yield batch;
    return;
  }
  yield* readInWorker(format, file, read);
}

/** Files from this size are read in a worker (4 MiB: about 10,000 LDIF users). */
const IN_WORKER_FROM = 4 * 1024 * 1024;
/**
 * Records per batch, and per message from the worker: 100 LDIF users are ~50 KB, under the
 * 100 KB above which V8 deserializes a message straight into its old generation, where records
 * that die a moment later wait for a full collection.
 */
const BATCH = 100;
/**
 * Batches the worker may send ahead of what this thread has taken. More than one decision batch
 * of the import (500 users), since this thread takes messages only between those, and with fewer
 * it would wait for the worker between them. Few enough that records seldom outlive two
 * young-generation collections: with 16 ahead the server promoted 342 MB to the old generation
 * over a 300,000-user import, with 2 ahead 288 MB.
 */
const AHEAD = 8;
/**
 * The reader's heap: it holds the OU names of up to 10,000 parent DNs (PARENT_NAMES_KEPT), an
 * entry and a few batches. Reading the 100,000-OU, million-user benchmark file, it kept ~7 MB
 * alive; with a million parent DNs kept, 96 MB were not too many.
 */
const READER_HEAP_MB = 48;
/** Its young generation: what it reads dies young, in a few batches. */
const READER_YOUNG_MB = 8;

type FromWorker = { records: ImportRecord[] } | { baseDn: string } | { done: true } | { failed: string };

async function* readInWorker(format: ImportFormat, file: string, options: ReadOptions): AsyncGenerator<ImportRecord[]> {
  const source = new URL(`./import-reader-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  const settings = {
    workerData: { format, file, baseDn: options.baseDn ?? null, batch: BATCH },
    resourceLimits: { maxOldGenerationSizeMb: READER_HEAP_MB, maxYoungGenerationSizeMb: READER_YOUNG_MB },
  };
  // Run from the TypeScript sources (the tests), the worker registers tsx's loader first.
  const worker = source.pathname.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source.href)}); })`, { ...settings, eval: true })
    : new Worker(source, settings);
  const inbox: FromWorker[] = [];
  let failure: Error | null = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  worker.on('message', (message: FromWorker) => {
    inbox.push(message);
    notify();
  });
  worker.on('error', (error) => {
    failure = new Error(`reading the file failed: ${error.message}`);
    notify();
  });
  worker.on('exit', (code) => {
    ended = true;
    if (code !== 0 && failure === null) failure = new Error(`reading the file failed: its reader stopped (exit code ${code})`);
    notify();
  });
  worker.postMessage(AHEAD);
  try {
    for (;;) {
      const message = inbox.shift();
      if (message === undefined) {
        if (failure) throw failure;
        if (ended) throw new Error('reading the file failed: its reader stopped before the end');
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      if ('records' in message) {
        worker.postMessage(1);
        yield message.records;
      } else if ('baseDn' in message) options.onBaseDn?.(message.baseDn);
      else if ('failed' in message) throw new Error(`reading the file failed: ${message.failed}`);
      else return;
    }
  } finally {
    // Also when the caller stops early (an atomic import that has rejected too many).
    await worker.terminate();
  }
}
