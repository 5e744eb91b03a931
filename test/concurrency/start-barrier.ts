// Preloaded (`--import tsx --import ./test/concurrency/start-barrier.ts`) into server processes
// that must reach the store at the same moment: loads Arbor's whole module graph first (so that
// no process is still compiling when the others start), then waits until every process of the
// group has arrived, then lets src/server.ts run. Release times go to the barrier directory.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.START_BARRIER_DIR;
const count = Number(process.env.START_BARRIER_COUNT ?? '0');

if (dir && count > 0) {
  await import('../../src/app.js');
  await import('../../src/config.js');
  writeFileSync(join(dir, `arrived-${process.pid}`), String(Date.now()));
  const deadline = Date.now() + 60_000;
  while (readdirSync(dir).filter((f) => f.startsWith('arrived-')).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  writeFileSync(join(dir, `released-${process.pid}`), String(Date.now()));
}
