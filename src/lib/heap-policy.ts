import v8 from 'node:v8';

/**
 * How far V8 lets the heap grow past what a full collection found alive, while a bulk job runs.
 *
 * By default V8 sets the next collection's limit at up to four times the live heap when the
 * program allocates fast, which a bulk job does: a million-user import held ~120 MB alive and let
 * the heap reach 630 MB before collecting it. Holding the policy sets the factor to
 * 1 + percent/100 (V8's `--heap-growing-percent`, read at every limit it computes), and the last
 * release gives V8 back its own choice. The benchmark's million-user import, measured: peak RSS
 * 878–968 MB by default and 623–633 MB at 100 %; in an A/B of two runs each, 63.0 and 64.1 s
 * without it, 71.0 and 63.2 s with it (the store's I/O varies more than that from run to run).
 *
 * An operator who set `--heap-growing-percent` when starting node keeps it: the policy then does
 * nothing.
 */
export interface HeapPolicy {
  /** Tightens the heap's growth until the returned function is called (idempotent). Holds nest. */
  hold(): () => void;
}

/** The growth the policy holds the heap to: at most twice the live heap. */
export const BULK_HEAP_GROWING_PERCENT = 100;

export function createHeapPolicy(setFlags: (flags: string) => void, operatorSetsIt: boolean, percent = BULK_HEAP_GROWING_PERCENT): HeapPolicy {
  let holders = 0;
  return {
    hold() {
      if (operatorSetsIt) return () => {};
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

/** Whether node was started with the flag (on its command line or in NODE_OPTIONS). */
export function flagGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
}

/** The process's policy (imports hold it). */
export const heapPolicy: HeapPolicy = createHeapPolicy((flags) => v8.setFlagsFromString(flags), flagGiven(process.execArgv, process.env.NODE_OPTIONS));
