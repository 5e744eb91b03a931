import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BloomFilter } from '../../src/lib/bloom-filter.js';

/** The import's filter of keys it may have written (src/lib/bloom-filter.ts). */
describe('BloomFilter', () => {
  it('says it might have every string added, whatever the strings', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: 'binary', maxLength: 40 }), { maxLength: 300 }), fc.integer({ min: 1, max: 400 }), (values, capacity) => {
        const filter = new BloomFilter(capacity);
        for (const value of values) filter.add(value);
        expect(values.filter((value) => !filter.mightHave(value))).toEqual([]);
      }),
    );
  });

  it('answers about 1 % false positives at its capacity, with emails and UUIDs as the import adds them', () => {
    const n = 100_000;
    const filter = new BloomFilter(n);
    for (let i = 0; i < n / 2; i++) {
      filter.add(`e:user${i}@bench.example`);
      filter.add(`x:00000002-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
    }
    let positives = 0;
    for (let i = n / 2; i < n / 2 + n; i++) if (filter.mightHave(i % 2 === 0 ? `e:user${i}@bench.example` : `x:00000002-0000-4000-8000-${i.toString(16).padStart(12, '0')}`)) positives++;
    expect(positives / n).toBeLessThan(0.02);
    // 9.6 bits a string at 1 %.
    expect(filter.bytes).toBeLessThan(n * 1.25);
  });

  it('has nothing before anything is added', () => {
    const filter = new BloomFilter(10);
    expect(['', 'a', 'user@example.com'].some((value) => filter.mightHave(value))).toBe(false);
  });
});
