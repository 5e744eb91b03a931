import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SMALLEST_HEAP_LIMIT } from '../../src/lib/heap-policy.js';
import { type ServerProcess, startServer } from '../helpers/server-process.js';

/**
 * The heap policy of a serving process (src/lib/heap-policy.ts), seen from outside: once it
 * listens, the server collects once, so that V8 computes the heap's next limit from the policy's
 * growth rather than waiting for its initial limit. V8's trace names a forced collection's
 * reason `testing`. A real server process on a SQLite file, started with `--trace-gc`.
 */
const dir = mkdtempSync(join(tmpdir(), 'arbor-heap-policy-'));
let server: ServerProcess | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The trace's full collections that were asked for (nothing else in a start asks for one). The
 * log's lines and V8's trace reach stdout in their own order, so their order says nothing.
 */
async function forcedCollections(process: ServerProcess): Promise<string[]> {
  const forced = () => process.output.filter((line) => /Mark-Compact.*testing/.test(line));
  for (let i = 0; i < 40 && forced().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return forced();
}

describe('the heap policy of a serving process', () => {
  // Under 2 GiB of heap limit the policy leaves V8 alone (its own factors are smaller there).
  const applies = v8.getHeapStatistics().heap_size_limit >= SMALLEST_HEAP_LIMIT;

  it(applies ? 'collects once when the server starts to serve' : 'collects nothing of its own on this machine, whose heap limit is under 2 GiB', async () => {
    server = await startServer('heap', `sqlite:${join(dir, 'heap.sqlite')}`, { nodeArgs: ['--trace-gc'] });
    await server.ready();
    expect(await forcedCollections(server)).toHaveLength(applies ? 1 : 0);
  });

  it('collects nothing of its own when the operator sized the heap', async () => {
    server = await startServer('sized', `sqlite:${join(dir, 'sized.sqlite')}`, { nodeArgs: ['--trace-gc', '--max-old-space-size=3000'] });
    await server.ready();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await forcedCollections(server)).toEqual([]);
  });
});
