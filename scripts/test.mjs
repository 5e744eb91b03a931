#!/usr/bin/env node
// npm test: the whole suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
// Extra arguments go to vitest (e.g. `npm test -- test/routes`).
// At the end it lists each pass's outcome and its failed tests, with the first lines of the first
// failures' messages (a server process's output says why it did not come up), so that the last
// lines of a long CI log, which may be all that is shown of it, say what failed and why.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const { TEST_DATABASE_URL, ...baseEnv } = process.env;
const reportDir = mkdtempSync(join(tmpdir(), 'arbor-test-report-'));

/** The failed tests of a vitest JSON report, as "file > suite > test", or null without a report. */
function failedTests(reportFile) {
  let report;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    return null;
  }
  const failed = [];
  for (const file of report.testResults ?? []) {
    const name = relative(process.cwd(), file.name);
    const failedInFile = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failedInFile) {
      failed.push({ test: `${name} > ${test.fullName ?? test.title}`, message: test.failureMessages?.[0] });
    }
    // A file that failed outside any test (an import or a hook) has no failed test to name.
    if (file.status === 'failed' && failedInFile.length === 0) failed.push({ test: name, message: file.message });
  }
  return failed;
}

const DETAILED = 3;
const DETAIL_LINES = 30;

function firstLine(text) {
  const line = String(text ?? 'failed outside its tests').split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The message after its first line, stack frames left out, at most DETAIL_LINES lines of 300 characters. */
function detail(text) {
  const lines = String(text ?? '')
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '' && !/^\s+at /.test(line));
  const shown = lines.slice(0, DETAIL_LINES).map((line) => (line.length > 300 ? `${line.slice(0, 300)}…` : line));
  if (lines.length > DETAIL_LINES) shown.push(`… ${lines.length - DETAIL_LINES} more lines above, in the test's own output`);
  return shown;
}

function pass(name, env, index) {
  console.log(`\n=== ${name} ===\n`);
  const reportFile = join(reportDir, `pass-${index}.json`);
  const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...process.argv.slice(2)];
  const status = spawnSync('npx', args, { stdio: 'inherit', env }).status ?? 1;
  return { name, status, failed: failedTests(reportFile) };
}

// The arbor CLI, which tests run as a process, imports @arbor/sdk from its build (sdk/dist).
if (spawnSync('npx', ['tsc', '-p', 'sdk/tsconfig.json'], { stdio: 'inherit' }).status !== 0) {
  console.error('Building the SDK (sdk/) failed: see above.');
  process.exit(1);
}

const passes = [pass('SQLite pass', baseEnv, 0)];
if (TEST_DATABASE_URL) {
  const shown = TEST_DATABASE_URL.replace(/:[^:@/]*@/, ':***@');
  passes.push(pass(`PostgreSQL pass (${shown})`, { ...baseEnv, TEST_DATABASE_URL }, 1));
}
rmSync(reportDir, { recursive: true, force: true });

console.log('\n=== Summary ===');
for (const { name, status, failed } of passes) {
  console.log(`${name}: ${status === 0 ? 'passed' : `FAILED (vitest exit status ${status})`}`);
  if (status !== 0 && failed === null) console.log('  (no report: vitest stopped before writing one; see its output above)');
  for (const [i, { test, message }] of (failed ?? []).entries()) {
    console.log(`  failed: ${test}: ${firstLine(message)}`);
    if (i < DETAILED) for (const line of detail(message)) console.log(`    | ${line}`);
  }
}
if (!TEST_DATABASE_URL) {
  console.log('PostgreSQL pass skipped: TEST_DATABASE_URL is not set (e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm test).');
}
process.exit(passes.some((p) => p.status !== 0) ? 1 : 0);
