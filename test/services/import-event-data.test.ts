import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UserRow } from '../../src/db/repositories/user-repository.js';
import { createdUserData } from '../../src/services/import-service.js';
import { userEventFields } from '../../src/services/user-service.js';

/*
 * An import writes each created user's event data without parsing the stored attributes again
 * (createdUserData). It must be the very string every other write records for the same row.
 */
describe("an import's user.created event data", () => {
  it('is JSON.stringify of { before: null, after: userEventFields(row) }, for any row', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('"quoted"', 'back\\slash', 'line\nbreak', '\u2028', '\ud800'));
    const attributes = fc.option(
      fc.dictionary(fc.string(), fc.jsonValue()).map((value) => JSON.stringify(value)),
      { nil: null },
    );
    fc.assert(
      fc.property(text, fc.option(text, { nil: null }), fc.option(text, { nil: null }), fc.constantFrom('active', 'disabled'), attributes, fc.option(text, { nil: null }), (email, displayName, ouId, status, custom, externalId) => {
        const row = { tenant_id: 't', id: 'usr_1', email, email_key: email, display_name: displayName, display_name_key: null, ou_id: ouId, status, custom_attributes: custom, external_id: externalId, created_at: 'c', updated_at: 'u' } as UserRow;
        expect(createdUserData(row)).toBe(JSON.stringify({ before: null, after: userEventFields(row) }));
      }),
      { numRuns: 500 },
    );
  });
});
