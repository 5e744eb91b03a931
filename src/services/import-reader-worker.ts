/**
 * The worker thread of import-reader.ts: reads one spooled file and posts its records in
 * batches, no further ahead than the credits its parent has sent (one per batch it took).
 */
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { type ImportFormat, type ImportRecord, readImport } from './import-formats.js';

const { format, file, baseDn, batch: size } = workerData as { format: ImportFormat; file: string; baseDn: string | null; batch: number };
const port = parentPort as NonNullable<typeof parentPort>;
let credit = 0;
let wake: (() => void) | null = null;
port.on('message', (more: number) => {
  credit += more;
  wake?.();
  wake = null;
});
const take = async () => {
  while (credit === 0) await new Promise<void>((resolve) => (wake = resolve));
  credit--;
};

try {
  const records = readImport(format, createReadStream(file), {
    ...(baseDn !== null ? { baseDn } : {}),
    onBaseDn: (dn) => port.postMessage({ baseDn: dn }),
  });
  let batch: ImportRecord[] = [];
  for await (const record of records) {
    batch.push(record);
    if (batch.length < size) continue;
    await take();
    port.postMessage({ records: batch });
    batch = [];
  }
  if (batch.length > 0) {
    await take();
    port.postMessage({ records: batch });
  }
  port.postMessage({ done: true });
} catch (error) {
  port.postMessage({ failed: error instanceof Error ? error.message : String(error) });
}
