#!/usr/bin/env node
// npm test: the whole suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
// Extra arguments go to vitest (e.g. `npm test -- test/routes`).
import { spawnSync } from 'node:child_process';

const args = ['vitest', 'run', ...process.argv.slice(2)];
const { TEST_DATABASE_URL, ...baseEnv } = process.env;

function pass(name, env) {
  console.log(`\n=== ${name} ===\n`);
  const result = spawnSync('npx', args, { stdio: 'inherit', env });
  return result.status ?? 1;
}

let failed = pass('SQLite pass', baseEnv) !== 0;
if (TEST_DATABASE_URL) {
  failed = pass(`PostgreSQL pass (${TEST_DATABASE_URL.replace(/:[^:@/]*@/, ':***@')})`, { ...baseEnv, TEST_DATABASE_URL }) !== 0 || failed;
} else {
  console.log('\nPostgreSQL pass skipped: TEST_DATABASE_URL is not set (e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm test).');
}
process.exit(failed ? 1 : 0);
