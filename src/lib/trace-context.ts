import { randomFillSync } from 'node:crypto';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header, read and
 * written. Arbor does not record spans; it carries the trace id through its logs, its events and
 * the webhook deliveries of those events, so that a caller's trace continues through Arbor.
 */

/** A valid `traceparent`'s fields (lowercase hex). */
export interface TraceParent {
  version: string;
  traceId: string;
  parentId: string;
  flags: string;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * The fields of a `traceparent` header, or null when it is absent or invalid (the caller then
 * starts a new trace: an invalid header is never an error). As the specification reads it:
 * `version-traceid-parentid-flags`, two, 32, 16 and 2 lowercase hex digits; version `ff` and
 * all-zero ids are invalid; version 00 is exactly 55 characters, and a later version may carry
 * more fields after a `-`, which are ignored. Two `traceparent` headers (joined by Node with a
 * comma) are invalid too.
 */
export function parseTraceparent(header: unknown): TraceParent | null {
  if (typeof header !== 'string' || header.length < 55) return null;
  const version = header.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return null;
  if (version === '00' ? header.length !== 55 : header.length > 55 && header[55] !== '-') return null;
  if (header[2] !== '-' || header[35] !== '-' || header[52] !== '-') return null;
  const traceId = header.slice(3, 35);
  const parentId = header.slice(36, 52);
  const flags = header.slice(53, 55);
  if (!HEX.test(traceId) || traceId === ZERO_TRACE_ID) return null;
  if (!HEX.test(parentId) || parentId === ZERO_SPAN_ID) return null;
  if (!HEX.test(flags)) return null;
  return { version, traceId, parentId, flags };
}

// Random bytes drawn 4 KiB at a time: one system call per 256 trace ids rather than one per request.
const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (offset + bytes > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const hex = pool.toString('hex', offset, offset + bytes);
    offset += bytes;
    // All zeros is the specification's "invalid"; 2^-64 at worst, but then draw again.
    if (hex !== zero) return hex;
  }
}

/** A new random trace id: 32 lowercase hex digits. */
export function newTraceId(): string {
  return randomHex(16, ZERO_TRACE_ID);
}

/** A new random span (parent) id: 16 lowercase hex digits. */
export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN_ID);
}

/**
 * The `traceparent` of a call Arbor makes on behalf of `traceId`: version 00, a new span id, and
 * the sampled flag set, since Arbor records the trace id (in its logs and events) for the caller.
 */
export function formatTraceparent(traceId: string, spanId: string = newSpanId()): string {
  return `00-${traceId}-${spanId}-01`;
}
