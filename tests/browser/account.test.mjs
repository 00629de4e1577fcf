// 我的账户: a user sees their open sessions, ends one left open elsewhere,
// and changes their own password (all sessions end; the new one works).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserTests, loginAs, apiStatus, screenshot, BASE, PASSWORD } from './helpers.mjs';
import { submitLogin } from './login.mjs';

const { browser } = browserTests();
const NAME = 'li.officer2';
const NEW_PASSWORD = 'a-new-password-2026';

test('a user ends a session left open elsewhere and changes their password', async () => {
  const elsewhere = await loginAs(browser(), NAME);
  const here = await loginAs(browser(), NAME);
  const page = here.page;
  try {
    await page.click('[data-testid=account-link]');
    await page.waitForSelector('[data-testid=sessions-table] tbody tr');
    assert.match(await page.textContent('h1'), /我的账户/);
    const rows = await page.$$eval('[data-testid=sessions-table] tbody tr', (rs) => rs.map((r) => r.textContent));
    assert.equal(rows.filter((r) => /当前会话/.test(r)).length, 1, `rows: ${rows}`);
    assert.ok(rows.length >= 2, `both sessions listed: ${rows}`);
    await screenshot(page, 'account-zh');
    assert.equal(await apiStatus(elsewhere.page, 'GET', '/me'), 200);
    // End every other session of this user (the one opened elsewhere among them).
    while ((await page.$$('[data-testid=end-session]')).length > 0) {
      const before = (await page.$$('[data-testid=end-session]')).length;
      await page.click('[data-testid=end-session] >> nth=0');
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=end-session]').length < n, before);
    }
    assert.equal(await apiStatus(elsewhere.page, 'GET', '/me'), 401, 'the session ended elsewhere no longer works');
    assert.equal(await apiStatus(page, 'GET', '/me'), 200, 'this one does');

    // A wrong current password is refused and named.
    await page.fill('input[name=current_password]', 'not-my-password-1');
    await page.fill('input[name=new_password]', NEW_PASSWORD);
    await page.fill('input[name=repeat]', NEW_PASSWORD);
    await page.click('[data-testid=password-form] button[type=submit]');
    await page.waitForSelector('[data-testid=password-form] [data-testid=error]');
    assert.match(await page.textContent('[data-testid=password-form] [data-testid=error]'), /current_password/);

    // The right one: every session ends, the console asks to log in again.
    await page.fill('input[name=current_password]', PASSWORD);
    await page.click('[data-testid=password-form] button[type=submit]');
    await page.waitForSelector('form input[name=username]');
    assert.equal(await apiStatus(page, 'GET', '/me'), 401);
    await submitLogin(page, BASE, NAME, NEW_PASSWORD);
    // Back to the shared test password for the other tests.
    const back = await apiStatus(page, 'POST', '/me/password', { current_password: NEW_PASSWORD, new_password: PASSWORD });
    assert.equal(back, 204);
    assert.deepEqual(page.errors, []);
  } finally {
    await elsewhere.context.close();
    await here.context.close();
  }
});
