import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server-process.js';

// The console's build as `npm run build` makes it (into a directory of its own here, so that it
// never races the browser tests' build of dist/console).
const out = mkdtempSync(join(tmpdir(), 'arbor-console-build-'));

describe('the console build', () => {
  beforeAll(async () => {
    await promisify(execFile)('npx', ['vite', 'build', '--config', 'console/vite.config.ts', '--logLevel', 'warn', '--outDir', out, '--emptyOutDir'], { cwd: ROOT, timeout: 120_000 });
  }, 150_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('ships at most 80 kB of JavaScript, gzip-compressed', () => {
    const scripts = readdirSync(join(out, 'assets')).filter((name) => name.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    const gzipped = scripts.reduce((sum, name) => sum + gzipSync(readFileSync(join(out, 'assets', name)), { level: 9 }).length, 0);
    expect(gzipped).toBeLessThanOrEqual(80_000);
  });

  it('names every asset by its content hash, under /console/assets/', () => {
    for (const name of readdirSync(join(out, 'assets'))) expect(name).toMatch(/^[\w-]+-[\w-]{8}\.(js|css)$/);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const referenced = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(referenced.length).toBeGreaterThanOrEqual(2);
    for (const url of referenced) expect(url).toMatch(/^\/console\/assets\//);
  });

  it('has no inline script, inline style or event handler attribute in index.html, which the CSP would refuse', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    for (const script of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(script[1]).toMatch(/\bsrc=/);
      expect(script[2].trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
  });
});
