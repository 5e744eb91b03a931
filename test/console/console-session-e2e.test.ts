import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_CHROMIUM, buildConsole, hasChromium, launchChromium } from '../helpers/browser.js';
import { ADMIN_ID, ADMIN_SECRET, type ScratchStore, type ServerProcess, jsonRequest, platformToken, scratchPostgres, scratchSqlite, startServer } from '../helpers/server-process.js';
import { TEST_DATABASE_URL } from '../helpers/test-store.js';

// The console's session and a rename, in Chromium, against a server whose tokens last 60 s (the
// shortest ARBOR_TOKEN_TTL_SECONDS allows): the console warns 2 minutes ahead, so from the start.

const api = jsonRequest;

describe.skipIf(!hasChromium)(`the console's session and renames in a browser${hasChromium ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let scratch: ScratchStore;
  let server: ServerProcess;
  let token: string;
  let tenantId: string;
  let alpha: string;
  let browser: Browser;
  let page: Page;
  const bearers: string[] = [];

  beforeAll(async () => {
    await buildConsole();
    scratch = TEST_DATABASE_URL ? await scratchPostgres(TEST_DATABASE_URL) : scratchSqlite('arbor-console-session-');
    server = await startServer('console-session', scratch.databaseUrl, { env: { ARBOR_TOKEN_TTL_SECONDS: '60' } });
    await server.ready();
    token = await platformToken(server.baseUrl);
    tenantId = (await api(server, token, 'POST', '/api/v1/tenants', { name: 'Acme' })).body.data.id;
    const acme = (await api(server, token, 'POST', `/api/v1/tenants/${tenantId}/ous`, { name: 'Acme' })).body.data.id;
    alpha = (await api(server, token, 'POST', `/api/v1/tenants/${tenantId}/ous`, { name: 'Alpha', parent_id: acme })).body.data.id;
    for (const name of ['Beta', 'Gamma']) await api(server, token, 'POST', `/api/v1/tenants/${tenantId}/ous`, { name, parent_id: acme });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('request', (request) => {
      const authorization = request.headers().authorization;
      if (authorization !== undefined) bearers.push(authorization);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await scratch?.dispose();
  });

  it('warns before the token expires, and signing in again gives a new token while the tree and the selection stay', async () => {
    await page.goto(`${server.baseUrl}/console/`);
    await page.getByLabel('Client id').fill(ADMIN_ID);
    await page.getByLabel('Client secret').fill(ADMIN_SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('treeitem', { name: /^Acme/ }).locator('.twisty').click();
    await page.getByRole('treeitem', { name: /^Beta/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Beta');
    await expect.poll(() => page.locator('.banner').textContent()).toMatch(/Your session ends in [01]:\d\d/);
    const first = bearers.at(-1);
    expect(first).toMatch(/^Bearer /);

    await page.getByRole('button', { name: 'Sign in again' }).click();
    const dialog = page.getByRole('dialog', { name: 'Sign in again' });
    expect(await dialog.getByLabel('Client id').inputValue()).toBe(ADMIN_ID);
    await dialog.getByLabel('Client secret').fill(ADMIN_SECRET);
    await dialog.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    // The tree and the panel as they were, and the next request carries the new token.
    expect(await page.getByRole('treeitem', { name: /^Beta/ }).getAttribute('aria-selected')).toBe('true');
    expect(await page.getByRole('treeitem', { name: /^Acme/ }).getAttribute('aria-expanded')).toBe('true');
    await page.getByRole('treeitem', { name: /^Gamma/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Gamma');
    const renewed = bearers.at(-1);
    expect(renewed).toMatch(/^Bearer /);
    expect(renewed).not.toBe(first);
    const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
    expect(stored).toEqual({ local: 0, session: 0, cookie: '' });
  });

  it('renames an OU from its panel: the tree shows it by its new name in its new place, still selected, its id kept', async () => {
    await page.getByRole('treeitem', { name: /^Alpha/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Alpha');
    await page.locator('form.edit').getByLabel('Name').fill('Omega');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Saved.');
    await expect.poll(() => page.getByRole('tree').getByRole('treeitem').allTextContents()).toEqual([
      expect.stringMatching(/^Acme/),
      expect.stringMatching(/^Beta/),
      expect.stringMatching(/^Gamma/),
      expect.stringMatching(/^Omega/),
    ]);
    expect(await page.getByRole('treeitem', { name: /^Omega/ }).getAttribute('aria-selected')).toBe('true');
    const renamed = await api(server, token, 'GET', `/api/v1/tenants/${tenantId}/ous/${alpha}`);
    expect(renamed.body.data).toMatchObject({ id: alpha, name: 'Omega', path: '/Acme/Omega' });
  });
});
