import { describe, expect, it } from 'vitest';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../src/lib/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('parseTraceparent (W3C Trace Context)', () => {
  it('reads a version-00 header: trace id, parent id and flags', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({ version: '00', traceId: TRACE, parentId: PARENT, flags: '01' });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.flags).toBe('00');
  });

  it('reads a later version by its first four fields, ignoring what follows a dash', () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01`)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-adds`)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01x`)).toBeNull();
  });

  it.each([
    ['absent', undefined],
    ['not a string (repeated header as an array)', [`00-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01`]],
    ['empty', ''],
    ['two headers joined by a comma', `00-${TRACE}-${PARENT}-01, 00-${TRACE}-${PARENT}-01`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with more fields', `00-${TRACE}-${PARENT}-01-extra`],
    ['upper-case hex in the trace id', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['upper-case version', `0A-${TRACE}-${PARENT}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['a long parent id', `00-${TRACE}-${PARENT}0-01`],
    ['non-hex flags', `00-${TRACE}-${PARENT}-0g`],
    ['wrong separators', `00_${TRACE}_${PARENT}_01`],
    ['spaces inside', `00-${TRACE.slice(0, 31)} -${PARENT}-01`],
  ])('refuses %s', (_label, header) => {
    expect(parseTraceparent(header)).toBeNull();
  });
});

describe('new trace and span ids', () => {
  it('are lowercase hex of 32 and 16 digits, never all zeros, and do not repeat', () => {
    const traces = new Set(Array.from({ length: 2_000 }, () => newTraceId()));
    expect(traces.size).toBe(2_000);
    for (const id of traces) expect(id).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
    for (let i = 0; i < 100; i++) expect(newSpanId()).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
  });

  it('make a traceparent that parses back to the trace id, with a new span each time', () => {
    const first = formatTraceparent(TRACE);
    const second = formatTraceparent(TRACE);
    expect(parseTraceparent(first)).toMatchObject({ version: '00', traceId: TRACE, flags: '01' });
    expect(parseTraceparent(first)?.parentId).not.toBe(parseTraceparent(second)?.parentId);
  });
});
