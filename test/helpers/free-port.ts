import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A port for a server a test is about to start in another process, free when it is handed out.
 *
 * The child binds it seconds later (10 s and more on a busy 2-core runner), so the port must stay
 * free meanwhile. A port the kernel picked with `listen(0)` does not: it comes from the ephemeral
 * range, which every outgoing connection of the suite draws from too (clients of the test servers,
 * PostgreSQL, webhook deliveries), and one of them may take it first. The child then fails with
 * EADDRINUSE: CI saw an instance of the start-up race test not come up.
 *
 * So ports come from outside the ephemeral range (below it, or above it where it starts too low),
 * which nothing picks by itself, in a block of their own for each vitest worker (VITEST_POOL_ID),
 * handed out in turn and checked by binding once.
 */
const FLOOR = 10_000;
const BLOCK = 400;

/** Where test ports come from: below the ephemeral range, or above it if it starts too low. */
function testPortRange(): { from: number; to: number } {
  let [start, end] = [32_768, 60_999];
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) [start, end] = [low, high];
  } catch {
    // not Linux: IANA's dynamic range
    [start, end] = [49_152, 65_535];
  }
  if (start - FLOOR >= BLOCK) return { from: FLOOR, to: start };
  if (65_536 - (end + 1) >= BLOCK) return { from: end + 1, to: 65_536 };
  throw new Error(`the ephemeral port range ${start}-${end} leaves no room for test servers' ports`);
}

const range = testPortRange();
const blocks = Math.floor((range.to - range.from) / BLOCK);
const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
const blockStart = range.from + ((Number.isInteger(worker) ? worker : process.pid) % blocks) * BLOCK;
let next = Math.floor(Math.random() * BLOCK);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let tried = 0; tried < BLOCK; tried++) {
    const port = blockStart + (next++ % BLOCK);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${blockStart}–${blockStart + BLOCK - 1} (this worker's block, outside the ephemeral range)`);
}
