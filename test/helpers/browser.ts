import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { ROOT } from './server-process.js';

/** Debian's Chromium (`apt-get install chromium`), which playwright-core drives; CI installs it (.ci/run). */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** Why browser tests skip, in their titles: a skipped test says what it needs. */
export const NO_CHROMIUM = `skipped: ${CHROMIUM} is not installed (apt-get install chromium)`;

/** Builds the console into dist/console (npm run build:console), as `npm start` does before serving it. */
export async function buildConsole(): Promise<void> {
  await promisify(execFile)('npm', ['run', '-s', 'build:console'], { cwd: ROOT, timeout: 120_000 });
}

/** A headless Chromium; `--no-sandbox` because CI runs as root, where Chromium's sandbox cannot start. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}
