import { describe, expect, it } from 'vitest';
import { newId } from '../../src/lib/ids.js';

// Ids draw their randomness from a pooled CSPRNG buffer (4 KiB refilled at a time) instead of
// one OS call per character: these are the properties that must survive that.

describe('newId', () => {
  it('is the prefix, an underscore and a lower-case ULID (26 Crockford base-32 characters)', () => {
    for (const prefix of ['tnt', 'ou', 'usr', 'cli'] as const) expect(newId(prefix)).toMatch(new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`));
  });

  it('gives 200,000 distinct ids in a row (the pool refills many times over)', () => {
    const ids = new Set(Array.from({ length: 200_000 }, () => newId('usr')));
    expect(ids.size).toBe(200_000);
  });

  it('starts with the current time, so that ordering by id is creation order to the millisecond', () => {
    const before = Date.now();
    const id = newId('ou');
    const after = Date.now();
    const time = [...id.slice(3, 13).toUpperCase()].reduce((n, c) => n * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c), 0);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
  });

  it('puts ids of the same millisecond in random order, not counting up (the next id is not guessable)', () => {
    const byMillisecond = new Map<string, string[]>();
    for (let i = 0; i < 20_000; i++) {
      const id = newId('ou');
      const group = byMillisecond.get(id.slice(3, 13)) ?? [];
      group.push(id);
      byMillisecond.set(id.slice(3, 13), group);
    }
    const crowded = [...byMillisecond.values()].filter((group) => group.length >= 8);
    expect(crowded.length).toBeGreaterThan(0);
    // Eight random suffixes come out ascending with probability 1/8! per group.
    expect(crowded.some((group) => group.join() !== [...group].sort().join())).toBe(true);
  });

  it('spreads the random characters evenly over the 32 symbols', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) for (const c of newId('ou').slice(13)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(32);
    const expected = (20_000 * 16) / 32;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.1);
  });
});
