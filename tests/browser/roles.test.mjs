// Each role logs in, is shown the pages it may use, and is refused (by the
// server, not just by hidden links) what it may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, navKeys, apiStatus, USERS } from './helpers.mjs';

const { browser, testAs } = browserTests();

// role → pages in the navigation, in order (from the permissions /me lists).
const NAV = {
  field_officer: ['overview', 'analysis', 'declarations', 'workbench', 'enterprises', 'cases'],
  risk_analyst: ['overview', 'analysis', 'declarations', 'workbench', 'rules', 'models', 'enterprises', 'moneyflow', 'post-clearance', 'cases', 'committees'],
  district_manager: ['overview', 'analysis', 'declarations', 'workbench', 'rules', 'enterprises', 'moneyflow', 'post-clearance', 'cases', 'committees'],
  hq_manager: ['overview', 'analysis', 'declarations', 'workbench', 'rules', 'models', 'enterprises', 'moneyflow', 'post-clearance', 'cases', 'committees'],
  integrity_supervisor: ['overview', 'analysis', 'declarations', 'integrity', 'cases'],
  department_user: ['overview', 'analysis', 'declarations', 'rules', 'enterprises', 'moneyflow', 'post-clearance', 'cases'],
  admin: ['integrity', 'committees'],
};

// [role, method, path, expected status]: what the server permits and refuses
// to a logged-in browser session of the role.
const API = [
  ['field_officer', 'GET', '/controls', 200],
  ['field_officer', 'GET', '/analysis?dim=officer', 403],
  ['district_manager', 'GET', '/analysis?dim=officer', 200],
  ['department_user', 'GET', '/analysis?dim=rule', 403],
  ['field_officer', 'GET', '/rules', 403],
  ['field_officer', 'GET', '/rules/R-FX-001', 403],
  ['field_officer', 'GET', '/actions', 403],
  ['risk_analyst', 'GET', '/rules/R-FX-001', 200],
  ['risk_analyst', 'GET', '/actions', 403],
  ['district_manager', 'GET', '/rules', 200],
  ['district_manager', 'GET', '/rules/R-FX-001', 403],
  ['district_manager', 'GET', '/models', 403],
  ['hq_manager', 'GET', '/models', 200],
  ['hq_manager', 'GET', '/actions', 403],
  ['integrity_supervisor', 'GET', '/actions', 200],
  ['integrity_supervisor', 'GET', '/rules', 403],
  ['integrity_supervisor', 'GET', '/integrity/officers', 200],
  ['integrity_supervisor', 'GET', '/integrity/inbox', 200],
  ['field_officer', 'GET', '/integrity/inbox', 403],
  ['hq_manager', 'GET', '/integrity/officers', 403],
  ['district_manager', 'GET', '/integrity/warnings', 403],
  ['field_officer', 'GET', '/integrity/officers', 403],
  ['department_user', 'GET', '/enterprises', 200],
  ['department_user', 'GET', '/controls', 403],
  ['department_user', 'GET', '/actions', 403],
  ['department_user', 'GET', '/cases', 200],
  ['department_user', 'POST', '/cases/escalate', 403],
  ['district_manager', 'POST', '/cases/escalate', 200],
  ['admin', 'GET', '/cases', 403],
  ['admin', 'GET', '/kpis', 403],
  ['admin', 'GET', '/actions', 200],
  ['admin', 'GET', '/committees', 200],
  ['field_officer', 'GET', '/committees', 403],
  ['integrity_supervisor', 'GET', '/committees/items', 403],
  ['district_manager', 'POST', '/committees', 403],
];

for (const [name, { role }] of Object.entries(USERS)) {
  testAs(`${name} (${role}) sees the pages of the role and is refused the others`, name, async (page) => {
    const base = page.url().split('#')[0];
    assert.deepEqual(await navKeys(page), NAV[role], `navigation of ${role}`);
    // Chinese by default.
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.textContent('#logout'), '退出');
    const cells = API.filter((x) => x[0] === role);
    assert.ok(cells.length >= 2, `API cells for ${role}`);
    for (const [, method, path, status] of cells) {
      assert.equal(await apiStatus(page, method, path), status, `${role} ${method} ${path}`);
    }
    // The integrity page: the action log, or a refusal.
    await page.goto(`${base}#/integrity`);
    if (NAV[role].includes('integrity')) {
      await page.waitForSelector('[data-testid=action-log] tbody tr');
      assert.match(await page.textContent('[data-testid=action-log]'), /login/);
      // The warning inbox, with the button that checks for new warnings.
      await page.waitForSelector('[data-testid=integrity-inbox] [data-testid=inbox-table]');
      assert.match(await page.textContent('[data-testid=integrity-inbox] h2'), /预警收件箱/);
      await page.click('[data-testid=integrity-notify]');
      await page.waitForSelector('#flash:not([hidden])');
      assert.match(await page.textContent('#flash'), /检查完成：新预警 \d+ 条/);
      await page.waitForSelector('[data-testid=integrity-inbox] [data-testid=inbox-table]');
      // The ranked officers (highest integrity score first), level in words.
      await page.waitForSelector('[data-testid=integrity-ranked] tbody tr');
      assert.match(await page.textContent('[data-testid=integrity-ranked]'), /正常|关注|预警/);
    } else {
      await page.waitForSelector('[data-testid=not-allowed]');
    }
    // Rule logic: analysts read it; managers see the list but are refused
    // the logic by the server; others are not shown the page.
    await page.goto(`${base}#/rules/R-FX-001`);
    if (role === 'risk_analyst') {
      await page.waitForSelector('[data-testid=rule-logic]');
      assert.match(await page.textContent('[data-testid=rule-logic]'), /forex\.paid_ratio/);
    } else if (NAV[role].includes('rules')) {
      await page.waitForSelector('[data-testid=error]');
      assert.match(await page.textContent('[data-testid=error]'), /无权访问/);
    } else {
      await page.waitForSelector('[data-testid=not-allowed]');
    }
    assert.deepEqual(page.errors, [], 'no script errors');
  });
}

test('a wrong password is refused with a clear message', async () => {
  const context = await browser().newContext();
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
