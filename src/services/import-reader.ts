import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { type ImportFormat, type ImportRecord, type ReadOptions, readImport } from './import-formats.js';

/**
 * The records of a spooled import file, read in a worker thread when the file is large enough
 * for it to pay, so that reading (a fifth of a million-user import's CPU) runs on the second
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
 * Records per message from the worker. A message over 100 KB is deserialized straight into V8's
 * old generation (ValueDeserializer's pretenuring threshold): at 500 records (~250 KB) every
 * record of a million-user import went there, and the server's heap grew by ~500 MB of them
 * before a full collection. 100 LDIF users are ~50 KB.
 */
const BATCH = 100;
/**
 * Batches the worker may send ahead of what this thread has taken: more than one decision batch
 * of the import (500 users), since this thread takes messages only between those (2 left it
 * waiting for the worker ~10 s of a million-user import); few enough that a record seldom lives
 * through two young-generation collections (16 ahead: ~300 MB of them promoted to the old one).
 */
const AHEAD = 8;
/**
 * The reader's heap: it holds one OU's names per parent DN it has met (up to a million) and a
 * few batches. Reading the 100,000-OU, million-user benchmark file peaked well under it.
 */
const READER_HEAP_MB = 96;

type FromWorker = { records: ImportRecord[] } | { baseDn: string } | { done: true } | { failed: string };

async function* readInWorker(format: ImportFormat, file: string, options: ReadOptions): AsyncGenerator<ImportRecord[]> {
  const source = new URL(`./import-reader-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  const options_ = {
    workerData: { format, file, baseDn: options.baseDn ?? null, batch: BATCH },
    resourceLimits: { maxOldGenerationSizeMb: READER_HEAP_MB },
  };
  // Run from the TypeScript sources (the tests), the worker registers tsx's loader first.
  const worker = source.pathname.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source.href)}); })`, { ...options_, eval: true })
    : new Worker(source, options_);
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
      else if ('failed' in message) throw new Error(message.failed);
      else return;
    }
  } finally {
    // Also when the caller stops early (an atomic import that has rejected too many).
    await worker.terminate();
  }
}
