// Each role logs in, is shown the pages it may use, and is refused (by the
// server, not just by hidden links) what it may not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, loginAs, navKeys, apiStatus, USERS } from './helpers.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

// role → pages in the navigation, in order.
const NAV = {
  field_officer: ['overview', 'declarations', 'workbench', 'enterprises'],
  risk_analyst: ['overview', 'declarations', 'rules', 'models', 'enterprises'],
  district_manager: ['overview', 'declarations', 'models', 'enterprises'],
  hq_manager: ['overview', 'declarations', 'models', 'enterprises'],
  integrity_supervisor: ['overview', 'integrity'],
  department_user: ['overview', 'declarations', 'enterprises'],
  administrator: ['overview'],
};

// [role, method, path, expected status]: permissions and refusals the server enforces.
const API = [
  ['field_officer', 'GET', '/rules/R-FX-001', 403],
  ['field_officer', 'GET', '/actions', 403],
  ['risk_analyst', 'GET', '/rules/R-FX-001', 200],
  ['risk_analyst', 'GET', '/actions', 403],
  ['hq_manager', 'GET', '/actions', 403],
  ['integrity_supervisor', 'GET', '/actions', 200],
  ['department_user', 'GET', '/actions', 403],
];

for (const [name, { role }] of Object.entries(USERS)) {
  test(`${name} (${role}) sees the pages of the role and is refused the others`, async () => {
    const { context, page } = await loginAs(browser, name);
    try {
      assert.deepEqual(await navKeys(page), NAV[role], `navigation of ${role}`);
      // Chinese by default.
      assert.equal(await page.textContent('#nav a[data-nav=overview]'), '总览');
      for (const [r, method, path, status] of API.filter((x) => x[0] === role)) {
        assert.equal(await apiStatus(page, method, path), status, `${role} ${method} ${path}`);
      }
      if (!NAV[role].includes('integrity')) {
        await page.goto(`${page.url().split('#')[0]}#/integrity`);
        await page.waitForSelector('[data-testid=not-allowed]');
      } else {
        await page.goto(`${page.url().split('#')[0]}#/integrity`);
        await page.waitForSelector('[data-testid=action-log] tbody tr');
        assert.ok((await page.$$('[data-testid=action-log] tbody tr')).length > 0, 'the action log has entries');
      }
      if (!NAV[role].includes('rules')) {
        await page.goto(`${page.url().split('#')[0]}#/rules/R-FX-001`);
        await page.waitForSelector('[data-testid=not-allowed]');
      }
      assert.deepEqual(page.errors, [], 'no script errors');
    } finally {
      await context.close();
    }
  });
}

test('a wrong password is refused with a clear message', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${process.env.RISKGATE_URL}/#/login`);
    await page.fill('input[name=username]', 'zhang.officer');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=error]');
    assert.match(await page.textContent('[data-testid=error]'), /用户名或密码错误/);
    assert.equal(await page.isHidden('#topbar'), true);
  } finally {
    await context.close();
  }
});
