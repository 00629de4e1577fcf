// A link opened while logged out (a colleague's #/declarations?… in a
// message) shows the login form and, once logged in, the page it names
// with its query, not the user's default page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserTests, BASE, PASSWORD, settled } from './helpers.mjs';

const { browser } = browserTests();

test('a deep link opened while logged out is the page shown after the login', async () => {
  const context = await browser().newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/#/declarations?channel=red&office=2201`);
    await page.waitForSelector('form input[name=username]');
    assert.equal(await page.isHidden('#topbar'), true, 'the login page, not the declarations');
    await page.fill('input[name=username]', 'chen.analyst');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#topbar:not([hidden]) #nav a');
    await settled(page);
    assert.equal(await page.evaluate(() => location.hash), '#/declarations?channel=red&office=2201');
    assert.equal(await page.getAttribute('#nav a.active', 'data-nav'), 'declarations');
    // The query reached the page: the search form holds it.
    assert.equal(await page.inputValue('[data-testid=declaration-search] input[name=office]'), '2201');
    assert.equal(await page.inputValue('[data-testid=declaration-search] select[name=channel]'), 'red');

    // Logged out and opened again: the same; a plain login still lands on the default page.
    await page.click('#logout');
    await page.waitForSelector('form input[name=username]');
    await page.fill('input[name=username]', 'chen.analyst');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#topbar:not([hidden]) #nav a');
    await settled(page);
    assert.notEqual(await page.evaluate(() => location.hash), '#/login');
    assert.doesNotMatch(await page.evaluate(() => location.hash), /declarations\?channel/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
