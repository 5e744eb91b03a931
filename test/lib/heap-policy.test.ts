import { describe, expect, it } from 'vitest';
import { createHeapPolicy, flagGiven } from '../../src/lib/heap-policy.js';

describe('the bulk heap policy', () => {
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

  it("leaves an operator's own --heap-growing-percent alone", () => {
    const flags = recorder();
    createHeapPolicy(flags.setFlags, true).hold()();
    expect(flags.set).toEqual([]);
  });

  it('finds the flag on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(flagGiven(['--heap-growing-percent=30'], undefined)).toBe(true);
    expect(flagGiven([], '--max-old-space-size=512 --heap_growing_percent=20')).toBe(true);
    expect(flagGiven(['--heap-growing-percentage=1', '--max-old-space-size=512'], '--inspect')).toBe(false);
  });
});
