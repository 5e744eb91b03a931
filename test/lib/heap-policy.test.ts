import { describe, expect, it } from 'vitest';
import { createHeapPolicy, heapFlagGiven } from '../../src/lib/heap-policy.js';

describe('the heap policy', () => {
  const recorder = () => {
    const set: string[] = [];
    return { set, setFlags: (flags: string) => void set.push(flags) };
  };

  it('tightens the growth at the first hold and gives V8 its own choice back at the last release', () => {
    const flags = recorder();
    const policy = createHeapPolicy(flags.setFlags, false);
    const first = policy.hold();
    const second = policy.hold();
    expect(flags.set).toEqual(['--heap-growing-percent=100']);
    first();
    expect(flags.set).toHaveLength(1);
    second();
    expect(flags.set).toEqual(['--heap-growing-percent=100', '--heap-growing-percent=0']);
  });

  it('counts a release called twice once', () => {
    const flags = recorder();
    const policy = createHeapPolicy(flags.setFlags, false);
    const first = policy.hold();
    const second = policy.hold();
    first();
    first();
    expect(flags.set).toHaveLength(1);
    second();
    expect(flags.set.at(-1)).toBe('--heap-growing-percent=0');
  });

  it('holds a serving process to the serving growth, and goes back to it, not to V8\'s choice, after a bulk hold', () => {
    const flags = recorder();
    const policy = createHeapPolicy(flags.setFlags, false, () => void flags.set.push('collected'));
    policy.serve();
    // Collected after the flag is set: the first limit is then the policy's, not V8's initial one.
    expect(flags.set).toEqual(['--heap-growing-percent=50', 'collected']);
    const release = policy.hold();
    expect(flags.set.at(-1)).toBe('--heap-growing-percent=100');
    release();
    expect(flags.set.at(-1)).toBe('--heap-growing-percent=50');
    policy.serve();
    expect(flags.set).toHaveLength(4);
  });

  it('lets a hold that began before serving keep the bulk growth until its release', () => {
    const flags = recorder();
    const policy = createHeapPolicy(flags.setFlags, false);
    const release = policy.hold();
    policy.serve();
    expect(flags.set).toEqual(['--heap-growing-percent=100']);
    release();
    expect(flags.set).toEqual(['--heap-growing-percent=100', '--heap-growing-percent=50']);
  });

  it('does nothing when told to leave the heap alone (a small heap, or the operator sized it)', () => {
    const flags = recorder();
    const policy = createHeapPolicy(flags.setFlags, true, () => void flags.set.push('collected'));
    policy.serve();
    policy.hold()();
    expect(flags.set).toEqual([]);
  });

  it("finds an operator's heap flags on the command line or in NODE_OPTIONS, in either spelling", () => {
    expect(heapFlagGiven(['--heap-growing-percent=30'], undefined)).toBe(true);
    expect(heapFlagGiven([], '--inspect --max-old-space-size=512')).toBe(true);
    expect(heapFlagGiven(['--max_old_space_size=512'], undefined)).toBe(true);
    expect(heapFlagGiven(['--heap-growing-percentage=1', '--max-semi-space-size=16'], '--inspect')).toBe(false);
  });
});
