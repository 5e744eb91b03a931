import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * How far V8 lets the heap grow past what a full collection found alive: while a server serves,
 * and while a bulk job runs.
 *
 * By default V8 sets the next collection's limit at up to four times the live heap when it has
 * seen little allocation, as after a start: a server that held ~40 MB alive let the heap reach
 * ~130 MB before its first full collection, 45 s into the benchmark's mixed load, and its RSS
 * peaked there 50-70 MB above where it then stayed. Under the load V8 picks 1.1-1.3 (a full
 * collection every 0.3-2 s). A bulk job allocates fast: a million-user import that held ~80 MB
 * alive let the heap reach ~300 MB before collecting it.
 *
 * The policy sets the factor to 1 + percent/100 (V8's `--heap-growing-percent`, read at every
 * limit it computes): SERVING_HEAP_GROWING_PERCENT once the server serves (`serve`, which
 * collects once so that the first limit is the policy's too), and
 * BULK_HEAP_GROWING_PERCENT while a hold lasts; the last release goes back to the serving one,
 * or to V8's own choice in a process that does not serve. Measured (docs/benchmarks.md, three
 * runs of each in one run of the benchmark): the mixed load's RSS peaked at 272-277 MB with V8's
 * choice and at 226-228 MB with 50 % on SQLite, at the same requests a second; at 246-279 MB and
 * 179-185 MB on PostgreSQL, where collecting more often cost 15 % more CPU a request until
 * large kept answers stopped being copied per request (http/rendered-resource.ts); since, the
 * same CPU as V8's choice, and peaks of 173-176 MB against 274-281. 75 % and 100 % peaked at
 * 229-248 MB on SQLite and crept up over 4 minutes (to 242 MB at 75 %); 50 % stayed at
 * 222-229 MB. The million-user import took 72.8 s and peaked at
 * 661 MB without a hold, a median of 52.3 s and 474-491 MB with 100 %, and 59.6-65.5 s with 50 %.
 *
 * The flag replaces V8's factor outright, including the smaller ones V8 picks for a small heap
 * (down to 1.1 below a few hundred MB of limit): there it would loosen, not tighten. So the
 * policy does nothing when the heap's limit is under 2 GiB, or when the operator chose the heap's
 * size or growth (`--max-old-space-size`, `--heap-growing-percent` on node's command line, or the
 * former in NODE_OPTIONS, which refuses the latter).
 */
export interface HeapPolicy {
  /** From now on, holds the heap's growth to the serving percent when no hold is held. */
  serve(): void;
  /** Holds the heap's growth to the bulk percent until the returned function is called (idempotent). Holds nest. */
  hold(): () => void;
}

/** The growth the policy holds a serving process's heap to: at most 1.5 times the live heap. */
export const SERVING_HEAP_GROWING_PERCENT = 50;

/** The growth the policy holds the heap to while a bulk job runs: at most twice the live heap. */
export const BULK_HEAP_GROWING_PERCENT = 100;

export function createHeapPolicy(setFlags: (flags: string) => void, leaveAlone: boolean, collect: () => void = () => {}): HeapPolicy {
  let holders = 0;
  let serving = false;
  // 0 is V8's "not set": it chooses the factor from its collection speed again.
  const unheld = () => setFlags(`--heap-growing-percent=${serving ? SERVING_HEAP_GROWING_PERCENT : 0}`);
  return {
    serve() {
      if (leaveAlone || serving) return;
      serving = true;
      if (holders > 0) return;
      unheld();
      // The limit before a process's first full collection is V8's initial one, which the flag
      // does not change (~130 MB here): a collection now computes the next from the policy.
      collect();
    },
    hold() {
      if (leaveAlone) return () => {};
      if (holders++ === 0) setFlags(`--heap-growing-percent=${BULK_HEAP_GROWING_PERCENT}`);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (--holders === 0) unheld();
      };
    },
  };
}

/** The heap limit under which V8's own factor may be below 2: the policy leaves such a heap alone. */
export const SMALLEST_HEAP_LIMIT = 2 * 1024 ** 3;

/** Whether node was started with a flag that sizes the heap or its growth (on its command line or in NODE_OPTIONS). */
export function heapFlagGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--(heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size)(=|$)/.test(arg));
}

/**
 * A full collection, now. `gc` is a global only of contexts created after `--expose-gc` is set,
 * so a new one is made for it (what the expose-gc package does); the flag stays set, which only
 * gives later contexts of `node:vm` a `gc` of their own too.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** The process's policy (the server serves under it; imports hold it). */
export const heapPolicy: HeapPolicy = createHeapPolicy(
  (flags) => v8.setFlagsFromString(flags),
  heapFlagGiven(process.execArgv, process.env.NODE_OPTIONS) || v8.getHeapStatistics().heap_size_limit < SMALLEST_HEAP_LIMIT,
  collectGarbage,
);
