import v8 from 'node:v8';

/**
 * How far V8 lets the heap grow past what a full collection found alive, while a bulk job runs.
 *
 * By default V8 sets the next collection's limit at up to four times the live heap when the
 * program allocates fast, which a bulk job does: a million-user import that held ~80 MB alive let
 * the heap reach ~300 MB before collecting it. Holding the policy sets the factor to
 * 1 + percent/100 (V8's `--heap-growing-percent`, read at every limit it computes), and the last
 * release gives V8 back its own choice. The benchmark's million-user import, measured: peak RSS
 * 661 MB and 72.8 s without it, 477–490 MB and a median of 58.8 s with it (docs/benchmarks.md,
 * the fourth pass; the store's I/O moves a run by more than the policy does).
 *
 * The flag replaces V8's factor outright, including the smaller ones V8 picks for a small heap
 * (down to 1.1 below a few hundred MB of limit): there 100 % would loosen, not tighten. So the
 * policy does nothing when the heap's limit is under 2 GiB, or when the operator chose the heap's
 * size or growth (`--max-old-space-size`, `--heap-growing-percent` on node's command line, or the
 * former in NODE_OPTIONS, which refuses the latter).
 */
export interface HeapPolicy {
  /** Tightens the heap's growth until the returned function is called (idempotent). Holds nest. */
  hold(): () => void;
}

/** The growth the policy holds the heap to: at most twice the live heap. */
export const BULK_HEAP_GROWING_PERCENT = 100;

export function createHeapPolicy(setFlags: (flags: string) => void, leaveAlone: boolean, percent = BULK_HEAP_GROWING_PERCENT): HeapPolicy {
  let holders = 0;
  return {
    hold() {
      if (leaveAlone) return () => {};
      if (holders++ === 0) setFlags(`--heap-growing-percent=${percent}`);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        // 0 is V8's "not set": it chooses the factor from its collection speed again.
        if (--holders === 0) setFlags('--heap-growing-percent=0');
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

/** The process's policy (imports hold it). */
export const heapPolicy: HeapPolicy = createHeapPolicy(
  (flags) => v8.setFlagsFromString(flags),
  heapFlagGiven(process.execArgv, process.env.NODE_OPTIONS) || v8.getHeapStatistics().heap_size_limit < SMALLEST_HEAP_LIMIT,
);
