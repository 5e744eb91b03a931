import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_CHROMIUM, buildConsole, hasChromium, launchChromium } from '../helpers/browser.js';
import { ADMIN_ID, ADMIN_SECRET, type ScratchStore, type ServerProcess, jsonRequest, platformToken, scratchPostgres, scratchSqlite, startServer } from '../helpers/server-process.js';
import { TEST_DATABASE_URL } from '../helpers/test-store.js';

// The console in Debian's Chromium against a real Arbor process, seeded through the API. The
// tests run in order on one page, as an administrator would: sign in, browse, edit, create.
// ARBOR_SCREENSHOTS_DIR=docs/console npx vitest run test/console/console-e2e.test.ts writes the
// screenshots docs/console.md shows.

const WIDE_CHILDREN = 300;
/** More than a page of the console's users table (25). */
const AMERICAS_USERS = 27;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Seeded {
  tenantId: string;
  engineering: string;
  wide: string;
}

const api = jsonRequest;

async function seed(server: ServerProcess, token: string): Promise<Seeded> {
  const tenant = await api(server, token, 'POST', '/api/v1/tenants', { name: 'Acme' });
  await api(server, token, 'POST', '/api/v1/tenants', { name: 'Globex' });
  const t = tenant.body.data.id as string;
  const create = async (name: string, parent?: string) => {
    const created = await api(server, token, 'POST', `/api/v1/tenants/${t}/ous`, { name, ...(parent ? { parent_id: parent } : {}) });
    if (created.status !== 201) throw new Error(`seeding ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    return created.body.data.id as string;
  };
  const acme = await create('Acme');
  const engineering = await create('Engineering', acme);
  const sales = await create('Sales', acme);
  await create('EMEA', sales);
  const americas = await create('Americas', sales);
  for (let i = 0; i < AMERICAS_USERS; i++) await api(server, token, 'POST', `/api/v1/tenants/${t}/users`, { email: `amer${i}@acme.test`, ou_id: americas });
  const wide = await create('Wide', acme);
  for (let i = 0; i < WIDE_CHILDREN; i++) await create(`Team ${String(i).padStart(4, '0')}`, wide);
  for (let i = 0; i < 3; i++) await api(server, token, 'POST', `/api/v1/tenants/${t}/users`, { email: `eng${i}@acme.test`, ou_id: engineering });
  return { tenantId: t, engineering, wide };
}

const treeItems = (page: Page) => page.getByRole('tree').getByRole('treeitem');
const activeName = (page: Page) =>
  page.evaluate(() => {
    const tree = document.querySelector('[role="tree"]');
    const id = tree?.getAttribute('aria-activedescendant');
    return id ? document.getElementById(id)?.querySelector('.name')?.textContent : null;
  });

describe.skipIf(!hasChromium)(`the console in a browser${hasChromium ? '' : ` (${NO_CHROMIUM})`}`, () => {
  let scratch: ScratchStore;
  let server: ServerProcess;
  let token: string;
  let seeded: Seeded;
  let browser: Browser;
  let page: Page;
  const screenshots = process.env.ARBOR_SCREENSHOTS_DIR;
  const shoot = async (name: string) => {
    if (screenshots) await page.screenshot({ path: join(screenshots, `${name}.png`) });
  };
  const openTab = (name: string) => page.getByRole('tab', { name }).click();

  beforeAll(async () => {
    await buildConsole();
    scratch = TEST_DATABASE_URL ? await scratchPostgres(TEST_DATABASE_URL) : scratchSqlite('arbor-console-');
    server = await startServer('console', scratch.databaseUrl);
    await server.ready();
    token = await platformToken(server.baseUrl);
    seeded = await seed(server, token);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    // Every Content-Security-Policy violation of the page, from its first script on.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`));
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await scratch?.dispose();
  });

  it('signs in with the admin client, lets a platform admin pick the tenant, and shows its top-level OUs', async () => {
    await page.goto(`${server.baseUrl}/console/`);
    await shoot('sign-in');
    await page.getByLabel('Client id').fill(ADMIN_ID);
    await page.getByLabel('Client secret').fill('not the secret');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/wrong/);
    await page.getByLabel('Client secret').fill(ADMIN_SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Tenant').selectOption({ label: 'Acme' });
    await expect.poll(() => treeItems(page).first().textContent()).toMatch(/^Acme/);
    expect(await page.getByRole('tree').getAttribute('aria-label')).toBe('OUs of Acme');
  });

  it('keeps the token out of localStorage, sessionStorage, IndexedDB and cookies', async () => {
    const stored = await page.evaluate(async () => ({
      local: Object.keys(localStorage),
      session: Object.keys(sessionStorage),
      cookie: document.cookie,
      databases: (await indexedDB.databases()).map((database) => database.name),
    }));
    expect(stored).toEqual({ local: [], session: [], cookie: '', databases: [] });
  });

  it('opens, closes and moves through the tree with the WAI-ARIA treeview keys, and selects with Enter', async () => {
    const tree = page.getByRole('tree');
    await tree.focus();
    await page.keyboard.press('Home');
    expect(await activeName(page)).toBe('Acme');
    const acme = treeItems(page).first();
    expect(await acme.getAttribute('aria-expanded')).toBe('false');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => acme.getAttribute('aria-expanded')).toBe('true');
    await expect.poll(() => page.getByRole('treeitem', { name: /^Wide/ }).count()).toBe(1);
    expect(await treeItems(page).count()).toBe(4);
    await page.keyboard.press('ArrowRight');
    expect(await activeName(page)).toBe('Engineering');
    await page.keyboard.press('ArrowDown');
    expect(await activeName(page)).toBe('Sales');
    const sales = page.getByRole('treeitem', { name: /^Sales/ });
    expect(await sales.getAttribute('aria-level')).toBe('2');
    expect(await sales.getAttribute('aria-posinset')).toBe('2');
    expect(await sales.getAttribute('aria-setsize')).toBe('3');
    await page.keyboard.press('w');
    expect(await activeName(page)).toBe('Wide');
    await page.keyboard.press('ArrowLeft');
    expect(await activeName(page)).toBe('Acme');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => acme.getAttribute('aria-expanded')).toBe('false');
    await expect.poll(() => treeItems(page).count()).toBe(1);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('End');
    expect(await activeName(page)).toBe('Wide');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Engineering');
    expect(await page.getByRole('treeitem', { name: /^Engineering/ }).getAttribute('aria-selected')).toBe('true');
  });

  it('finds an OU by name, lists matches with their full paths, and opens the tree down to the chosen one, reading one page per level', async () => {
    const tree = page.getByRole('tree');
    expect(await page.getByRole('treeitem', { name: /^Wide/ }).getAttribute('aria-expanded')).toBe('false');
    const requested: string[] = [];
    const listen = (request: { url(): string }) => {
      if (request.url().includes('/ous?')) requested.push(request.url());
    };
    page.on('request', listen);
    await page.getByLabel('Find an OU').fill('Team 0250');
    const match = page.getByRole('list', { name: 'Matching OUs' }).getByRole('button', { name: '/Acme/Wide/Team 0250' });
    await match.click();
    const row = page.getByRole('treeitem', { name: /^Team 0250/ });
    await expect.poll(() => row.getAttribute('aria-selected')).toBe('true');
    page.off('request', listen);
    expect(await row.getAttribute('aria-posinset')).toBe('251');
    expect(await tree.getAttribute('aria-activedescendant')).toBe(await row.getAttribute('id'));
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Team 0250');
    // Wide's third page (children 200 to 299) and the searches, not its first three pages.
    const pagesOfWide = requested.filter((url) => url.includes('parent_id=')).map((url) => new URL(url).searchParams.get('page'));
    expect(pagesOfWide).toEqual(['3']);
    expect(await treeItems(page).count()).toBeLessThanOrEqual(200);
    await shoot('search');
    // Wide's row is far above the view now, so not in the DOM: scroll back to close it.
    await tree.evaluate((element) => (element.scrollTop = 0));
    await page.getByRole('treeitem', { name: /^Wide/ }).locator('.twisty').click();
  });

  it(`keeps at most 200 rows in the DOM with ${WIDE_CHILDREN} children open, and scrolling reaches the last child`, async () => {
    await page.getByRole('treeitem', { name: /^Wide/ }).locator('.twisty').click();
    await expect.poll(() => page.getByRole('treeitem', { name: /^Team 0000/ }).count()).toBe(1);
    const rows = await treeItems(page).count();
    expect(rows).toBeGreaterThan(10);
    expect(rows).toBeLessThanOrEqual(200);
    const first = page.getByRole('treeitem', { name: /^Team 0000/ });
    expect(await first.getAttribute('aria-setsize')).toBe(String(WIDE_CHILDREN));
    await page.getByRole('tree').evaluate((tree) => (tree.scrollTop = tree.scrollHeight));
    const last = page.getByRole('treeitem', { name: new RegExp(`^Team ${String(WIDE_CHILDREN - 1).padStart(4, '0')}`) });
    await expect.poll(() => last.count()).toBe(1);
    expect(await last.getAttribute('aria-posinset')).toBe(String(WIDE_CHILDREN));
    expect(await treeItems(page).count()).toBeLessThanOrEqual(200);
    // The active row, scrolled far out of view by the mouse, is still rendered: the tree's
    // aria-activedescendant names an element that exists.
    const activeExists = () =>
      page.getByRole('tree').evaluate((tree) => {
        const id = tree.getAttribute('aria-activedescendant');
        return id !== null && document.getElementById(id) !== null;
      });
    expect(await activeExists()).toBe(true);
    await page.getByRole('tree').evaluate((tree) => (tree.scrollTop = 0));
    await page.locator('form.edit').waitFor();
    await shoot('tree-and-panel');
    await page.getByRole('treeitem', { name: /^Wide/ }).locator('.twisty').click();
  });

  it('saves an edit with If-Match, and says so when someone else changed the OU in between (412) without saving over it', async () => {
    await page.getByRole('treeitem', { name: /^Engineering/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Engineering');
    await openTab('Details');
    await page.getByLabel('Description').fill('Builds the product');
    await page.getByLabel('Custom attributes (JSON object)').fill('{"cost_center": 4100');
    await expect.poll(() => page.getByText(/^Not JSON/).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
    await page.getByLabel('Custom attributes (JSON object)').fill('{"cost_center": 4100}');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Saved.');
    const saved = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`);
    expect(saved.body.data).toMatchObject({ description: 'Builds the product', custom_attributes: { cost_center: 4100 } });

    // Another administrator changes it through the API; this page still holds the old ETag.
    const theirs = await api(server, token, 'PATCH', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`, { description: 'Changed elsewhere' });
    expect(theirs.status).toBe(200);
    await page.getByLabel('Description').fill('Mine');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Someone else changed this OU/);
    await shoot('conflict');
    const after = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`);
    expect(after.body.data.description).toBe('Changed elsewhere');
    await page.getByRole('button', { name: 'Reload' }).click();
    await expect.poll(() => page.getByLabel('Description').inputValue()).toBe('Changed elsewhere');
    await openTab('History');
    await page.getByRole('list', { name: 'History, newest first' }).waitFor();
    await shoot('history');
  });

  it('shows the OU\'s history from the change feed, newest first, with who changed which field', async () => {
    const history = page.getByRole('list', { name: 'History, newest first' });
    await expect.poll(() => history.locator(':scope > li').count()).toBe(3);
    const entries = await history.locator(':scope > li').allTextContents();
    expect(entries[0]).toMatch(/Edited.*by admin.*description: Builds the product → Changed elsewhere/);
    expect(entries[1]).toMatch(/Edited.*description: — → Builds the product.*custom_attributes: — → \{"cost_center":4100\}/);
    expect(entries[2]).toMatch(/Created/);
  });

  it('pages a long history on the server, twenty events at a time, with Older reading the next page down to the first', async () => {
    const ou = `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`;
    for (let i = 1; i <= 22; i++) expect((await api(server, token, 'PATCH', ou, { description: `Revision ${i}` })).status).toBe(200);
    // Opened again, the panel reads the history from the newest event.
    await page.getByRole('treeitem', { name: /^Acme/ }).click();
    await page.getByRole('treeitem', { name: /^Engineering/ }).click();
    const history = page.getByRole('list', { name: 'History, newest first' });
    await expect.poll(() => history.locator(':scope > li').count()).toBe(20);
    expect(await history.locator(':scope > li').first().textContent()).toMatch(/description: Revision 21 → Revision 22/);
    await page.getByRole('button', { name: 'Older' }).click();
    await expect.poll(() => history.locator(':scope > li').count()).toBe(25);
    expect(await history.locator(':scope > li').last().textContent()).toMatch(/Created/);
    expect(await page.getByRole('button', { name: 'Older' }).count()).toBe(0);
  });

  it('switches the panel\'s tabs with the arrow keys, Home and End (WAI-ARIA tabs), and keeps the chosen tab for the next OU', async () => {
    const chosen = () => page.getByRole('tab', { selected: true }).textContent();
    await page.getByRole('tab', { name: 'History' }).focus();
    await page.keyboard.press('ArrowRight');
    await expect.poll(chosen).toBe('Move or delete');
    expect(await page.getByRole('tabpanel').getByRole('heading', { name: 'Move to…' }).count()).toBe(1);
    await page.keyboard.press('ArrowRight');
    await expect.poll(chosen).toBe('Details');
    await page.keyboard.press('End');
    await expect.poll(chosen).toBe('Move or delete');
    await page.keyboard.press('Home');
    await expect.poll(chosen).toBe('Details');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Details');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(chosen).toBe('Move or delete');
    await page.getByRole('treeitem', { name: /^Acme/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Acme');
    expect(await chosen()).toBe('Move or delete');
  });

  it('lists an OU\'s users paged on the server, direct or nested, searches them by email, creates and edits one, and moves a selection', async () => {
    const users = page.locator('table.user-table tbody tr');
    const pager = page.getByRole('navigation', { name: 'Pages of users' });
    await openTab('Users');
    await page.getByRole('treeitem', { name: /^Acme/ }).click();
    await expect.poll(() => pager.textContent()).toMatch(/0 users/);
    await page.getByLabel('With the users of every OU below').check();
    await expect.poll(() => pager.textContent()).toMatch(/Page 1 of 2 · 30 users/);
    expect(await users.count()).toBe(25);
    await page.getByRole('treeitem', { name: /^Sales/ }).locator('.twisty').click();
    await page.getByRole('treeitem', { name: /^Americas/ }).click();
    await expect.poll(() => pager.textContent()).toMatch(/Page 1 of 2 · 27 users/);
    await pager.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => users.count()).toBe(2);
    expect(await pager.textContent()).toMatch(/Page 2 of 2/);
    await page.getByLabel("Search this OU's users by email or name").fill('amer2');
    await expect.poll(() => pager.textContent()).toMatch(/· 8 users/);
    expect((await users.allTextContents()).every((row) => row.includes('amer2'))).toBe(true);
    await page.getByLabel("Search this OU's users by email or name").fill('');
    // Create one, edit another.
    await page.getByRole('form', { name: 'New user in this OU' }).getByLabel('Email').fill('new.hire@acme.test');
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => pager.textContent()).toMatch(/28 users/);
    await page.getByRole('button', { name: 'Edit amer0@acme.test' }).click();
    await page.getByRole('form', { name: 'Edit amer0@acme.test' }).getByLabel('Display name').fill('Ana Amer');
    await page.getByRole('form', { name: 'Edit amer0@acme.test' }).getByLabel('Status').selectOption('disabled');
    await page.getByRole('button', { name: 'Save user' }).click();
    await expect.poll(() => users.filter({ hasText: 'amer0@acme.test' }).textContent()).toMatch(/Ana Amer.*disabled/);
    // Move two of them to /Acme/Wide.
    await page.getByLabel('Select amer1@acme.test').check();
    await page.getByLabel('Select amer10@acme.test').check();
    await page.getByLabel('Find the OU by name').fill('Wide');
    await page.getByRole('list', { name: 'Move the selected users to' }).getByRole('button', { name: '/Acme/Wide' }).click();
    await expect.poll(() => pager.textContent()).toMatch(/26 users/);
    await page.locator('#users-title').evaluate((heading) => heading.scrollIntoView({ block: 'start' }));
    await shoot('users');
    const wide = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous?search=Wide&top_level=false`);
    const wideId = wide.body.data.find((ou: { name: string }) => ou.name === 'Wide').id;
    const moved = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${wideId}/users`);
    expect(moved.body.data.map((user: { email: string }) => user.email).sort()).toEqual(['amer10@acme.test', 'amer1@acme.test']);
    await expect.poll(() => page.getByRole('treeitem', { name: /^Wide/ }).textContent()).toMatch(/2 users/);
    await page.getByRole('treeitem', { name: /^Sales/ }).locator('.twisty').click();
  });

  it('creates a child, which the tree shows selected under its parent, opened, with the rest of the tree as it was', async () => {
    await page.getByRole('treeitem', { name: /^Engineering/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Engineering');
    await openTab('Details');
    await page.locator('form.create').getByLabel('Name').fill('Platform');
    await page.locator('form.create').getByRole('button', { name: 'Create' }).click();
    const platform = page.getByRole('treeitem', { name: /^Platform/ });
    await expect.poll(() => platform.getAttribute('aria-selected')).toBe('true');
    expect(await platform.getAttribute('aria-level')).toBe('3');
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Platform');
    expect(await page.getByRole('treeitem', { name: /^Acme/ }).getAttribute('aria-expanded')).toBe('true');
    expect(await page.getByRole('treeitem', { name: /^Engineering/ }).getAttribute('aria-expanded')).toBe('true');
  });

  it('moves an OU with "Move to…": it keeps its id and its users, and the tree shows it under its new parent', async () => {
    await page.getByRole('treeitem', { name: /^Engineering/ }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Engineering');
    await openTab('Move or delete');
    await page.getByLabel('Find the new parent by name').fill('Sal');
    await page.getByRole('list', { name: 'New parent' }).getByRole('button', { name: '/Acme/Sales' }).click();
    await expect.poll(() => page.locator('.panel .path').first().textContent()).toBe('/Acme/Sales/Engineering');
    const moved = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`);
    expect(moved.body.data).toMatchObject({ id: seeded.engineering, path: '/Acme/Sales/Engineering', user_count: 3 });
    const users = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}/users`);
    expect(users.body.pagination.total_items).toBe(3);
    const row = page.getByRole('treeitem', { name: /^Engineering/ });
    await expect.poll(() => row.getAttribute('aria-level')).toBe('3');
    expect(await page.getByRole('treeitem', { name: /^Sales/ }).getAttribute('aria-expanded')).toBe('true');
    expect(await page.getByRole('treeitem', { name: /^Engineering/ }).count()).toBe(1);
  });

  it('moves an OU dragged onto another after a confirmation naming both paths, and offers no drop on its own subtree', async () => {
    const row = (name: string) => page.getByRole('treeitem', { name: new RegExp(`^${name}`) });
    const dialog = page.getByRole('dialog', { name: 'Move Engineering?' });
    // Cancelled: nothing moves.
    await row('Engineering').dragTo(row('Wide'));
    await expect.poll(() => dialog.textContent()).toMatch(/Move \/Acme\/Sales\/Engineering under \/Acme\/Wide\./);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await dialog.count()).toBe(0);
    expect((await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`)).body.data.path).toBe('/Acme/Sales/Engineering');
    // Confirmed: moved, its id and users kept, shown selected under its new parent.
    await row('Engineering').dragTo(row('Wide'));
    await dialog.getByRole('button', { name: 'Move' }).click();
    await expect.poll(async () => (await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`)).body.data).toMatchObject({ path: '/Acme/Wide/Engineering', user_count: 3 });
    // Focus goes back to the tree, whose active row is the moved OU.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('tree');
    await expect.poll(() => row('Engineering').getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => page.locator('.panel .path').first().textContent()).toBe('/Acme/Wide/Engineering');
    expect(await row('Wide').getAttribute('aria-expanded')).toBe('true');
    // Sales onto its own child: no drop, no dialog.
    await row('Sales').dragTo(row('EMEA'));
    expect(await page.getByRole('dialog').count()).toBe(0);
    // And back under Sales, where the delete test below expects it.
    await row('Engineering').dragTo(row('Sales'));
    // The one dialog open is Engineering's (a dialog for Sales, modal, would have blocked this drag).
    await expect.poll(() => page.getByRole('dialog').count()).toBe(1);
    expect(await dialog.count()).toBe(1);
    await dialog.getByRole('button', { name: 'Move' }).click();
    await expect.poll(async () => (await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`)).body.data.path).toBe('/Acme/Sales/Engineering');
    await page.getByRole('treeitem', { name: /^Wide/ }).locator('.twisty').click();
  });

  it('deletes with each strategy only after its dry run\'s numbers are shown, and CASCADE only once the name is typed', async () => {
    const select = async (name: string) => {
      await page.getByRole('treeitem', { name: new RegExp(`^${name}`) }).click();
      await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe(name);
    };
    await openTab('Move or delete');
    const preview = async (strategy: RegExp) => {
      await page.getByRole('radio', { name: strategy }).check();
      await page.getByRole('button', { name: 'Preview' }).click();
    };
    // BLOCK on an OU with children: the dry run says why, and no delete is offered.
    await select('Sales');
    await preview(/^Only if it is empty/);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/has 3 child OU/);
    expect(await page.getByRole('button', { name: 'Delete Sales' }).count()).toBe(0);
    // MOVE_UP: Sales's three child OUs go to /Acme.
    await preview(/^Move its users and child OUs/);
    await expect.poll(() => page.locator('.preview [role=status]').textContent()).toBe('Deleting /Acme/Sales deletes 1 OU, moves 3 OUs to /Acme.');
    await shoot('delete-preview');
    await page.getByRole('button', { name: 'Delete Sales' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 2 }).textContent()).toBe('Acme');
    await expect.poll(() => page.getByRole('treeitem', { name: /^Sales/ }).count()).toBe(0);
    await expect.poll(() => page.getByRole('treeitem', { name: /^Engineering/ }).getAttribute('aria-level')).toBe('2');
    // CASCADE: Engineering and its child Platform go; their 3 users move to /Acme; the name must be typed.
    await select('Engineering');
    await preview(/^Delete its child OUs too/);
    await expect.poll(() => page.locator('.preview [role=status]').textContent()).toBe('Deleting /Acme/Engineering deletes 2 OUs, moves 3 users to /Acme.');
    const confirm = page.getByRole('button', { name: 'Delete Engineering' });
    expect(await confirm.isDisabled()).toBe(true);
    await page.getByLabel(/to confirm/).fill('Engineerin');
    expect(await confirm.isDisabled()).toBe(true);
    await page.getByLabel(/to confirm/).fill('Engineering');
    await confirm.click();
    await expect.poll(() => page.getByRole('treeitem', { name: /^Engineering/ }).count()).toBe(0);
    expect((await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous/${seeded.engineering}`)).status).toBe(404);
    const acme = await api(server, token, 'GET', `/api/v1/tenants/${seeded.tenantId}/ous?top_level=true`);
    expect(acme.body.data[0]).toMatchObject({ name: 'Acme', user_count: 3 });
    // BLOCK on an empty OU.
    await select('EMEA');
    await preview(/^Only if it is empty/);
    await expect.poll(() => page.locator('.preview [role=status]').textContent()).toBe('Deleting /Acme/EMEA deletes 1 OU.');
    await page.getByRole('button', { name: 'Delete EMEA' }).click();
    await expect.poll(() => page.getByRole('treeitem', { name: /^EMEA/ }).count()).toBe(0);
  });

  it('shows a delegated administrator only its subtree: its root is its top level', async () => {
    const created = await api(server, token, 'POST', `/api/v1/tenants/${seeded.tenantId}/clients`, {
      name: 'Wide admin',
      scopes: ['ous:read', 'ous:write', 'users:read', 'users:write', 'events:read'],
      role: 'ou_admin',
      ou_ids: [seeded.wide],
    });
    expect(created.status).toBe(201);
    const delegated = await browser.newPage();
    try {
      await delegated.goto(`${server.baseUrl}/console/`);
      await delegated.getByLabel('Client id').fill(created.body.data.id);
      await delegated.getByLabel('Client secret').fill(created.body.data.client_secret);
      await delegated.getByRole('button', { name: 'Sign in' }).click();
      const top = delegated.getByRole('tree').getByRole('treeitem').first();
      await expect.poll(() => top.textContent()).toMatch(/^Wide/);
      expect(await top.getAttribute('aria-level')).toBe('1');
      expect(await top.getAttribute('aria-setsize')).toBe('1');
      // No tenant picker (its own tenant only), and nothing of /Acme or its other children.
      expect(await delegated.getByLabel('Tenant').count()).toBe(0);
      expect(await delegated.getByRole('treeitem', { name: /^(Acme|Engineering|Sales)/ }).count()).toBe(0);
      await delegated.getByLabel('Find an OU').fill('Engineering');
      await expect.poll(() => delegated.getByRole('list', { name: 'Matching OUs' }).textContent()).toMatch(/No OU's name contains this/);
    } finally {
      await delegated.close();
    }
  });

  it('finds the tenant by its name or slug, searched on the server, when the platform has more than 100 tenants', async () => {
    for (let i = 0; i < 100; i++) expect((await api(server, token, 'POST', '/api/v1/tenants', { name: `Filler ${String(i).padStart(3, '0')}` })).status).toBe(201);
    const many = await browser.newPage();
    try {
      await many.goto(`${server.baseUrl}/console/`);
      await many.getByLabel('Client id').fill(ADMIN_ID);
      await many.getByLabel('Client secret').fill(ADMIN_SECRET);
      await many.getByRole('button', { name: 'Sign in' }).click();
      const find = many.getByRole('searchbox', { name: 'Tenant' });
      await find.waitFor();
      expect(await many.getByRole('combobox', { name: 'Tenant' }).count()).toBe(0);
      await find.fill('ACM');
      const matches = many.getByRole('list', { name: 'Matching tenants' });
      await expect.poll(() => matches.getByRole('button').allTextContents()).toEqual(['Acme acme']);
      await find.fill('filler 09');
      await expect.poll(() => matches.getByRole('button').count()).toBe(10);
      // The first 20 matches, and how many more there are.
      await find.fill('filler');
      await expect.poll(() => matches.getByRole('button').count()).toBe(20);
      expect(await matches.textContent()).toContain('80 more tenants match: type more of the name or slug.');
      await find.fill('acme');
      await matches.getByRole('button', { name: /^Acme/ }).click();
      await expect.poll(() => many.getByRole('tree').getAttribute('aria-label')).toBe('OUs of Acme');
    } finally {
      await many.close();
    }
  });

  it('meets axe-core\'s rules with no serious or critical violation', async () => {
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run();
      return result.violations.map(({ id, impact, nodes }) => ({ id, impact, nodes: nodes.length }));
    });
    expect(violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')).toEqual([]);
  });

  it('caused no Content-Security-Policy violation, and the page does report one when an inline script is tried', async () => {
    expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
    // The listener hears: an inline script is refused and reported.
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.body.append(script);
    });
    await expect.poll(() => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations.length)).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { inlineRan?: boolean }).inlineRan)).toBeUndefined();
  });
});
