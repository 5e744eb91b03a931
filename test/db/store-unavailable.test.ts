import { describe, expect, it } from 'vitest';
import { storeUnavailableReason } from '../../src/db/store-errors.js';

/** The errors that mean the store cannot serve (503 store.unavailable), and those that do not. */
const failure = (code: string | undefined, message = 'failure') => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('storeUnavailableReason', () => {
  it.each([
    ['SQLITE_FULL', 'disk holding the SQLite file is full'],
    ['SQLITE_READONLY_DIRECTORY', 'read-only'],
    ['SQLITE_IOERR_WRITE', 'I/O error'],
    ['SQLITE_CANTOPEN', 'cannot be opened'],
    ['SQLITE_BUSY', 'write lock'],
    ['ECONNREFUSED', 'PostgreSQL cannot be reached'],
    ['08006', 'closed the connection'],
    ['57P01', 'closed the connection'],
    ['53100', 'lacks resources'],
    ['25006', 'accepts no writes'],
    ['28P01', 'refuses the credentials'],
  ])('names %s an outage: %s', (code, words) => {
    expect(storeUnavailableReason(failure(code))).toContain(words);
  });

  it.each(['Connection terminated unexpectedly', 'Query read timeout', 'timeout exceeded when trying to connect'])(
    "names node-postgres's '%s' an outage",
    (message) => {
      expect(storeUnavailableReason(failure(undefined, message))).toBe('PostgreSQL cannot be reached');
    },
  );

  it.each([
    ['a unique violation', failure('23505')],
    ['a constraint on SQLite', failure('SQLITE_CONSTRAINT_UNIQUE')],
    ['a bug', new TypeError('x is undefined')],
    ['a thrown string', 'text'],
    ['null', null],
  ])('does not call %s an outage', (_label, error) => {
    expect(storeUnavailableReason(error)).toBeNull();
  });
});
