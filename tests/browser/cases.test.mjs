// Cases and referrals: an analyst refers a declaration to tariff; the tariff
// department finds it in its inbox (where it lands after logging in),
// accepts, starts and concludes it with a result; a district manager closes
// it. Another department never sees it. Screenshots in Chinese.
import assert from 'node:assert/strict';
import { browserTests, screenshot } from './helpers.mjs';

const { testAs } = browserTests();
const TITLE = '浏览器测试：商品归类存疑';
let caseId;

testAs('an analyst refers a declaration to the tariff department', 'chen.analyst', async (page) => {
  // A declaration of the marked trader at office 2201 (run.sh screens four).
  const decl = await page.evaluate(async () => {
    const r = await fetch('/api/v1/declarations?trader=91310000BROWSER01X&limit=1', { credentials: 'same-origin' });
    return (await r.json()).declarations[0].id;
  });
  await page.click('#nav a[data-nav=cases]');
  await page.waitForSelector('[data-testid=cases]');
  await page.click('button[data-action=new-case]');
  await page.selectOption('[data-testid=open-case] select[name=kind]', 'tariff');
  await page.fill('[data-testid=open-case] input[name=title]', TITLE);
  await page.fill('[data-testid=open-case] input[name=declaration_id]', decl);
  await page.click('[data-testid=open-case] button[type=submit]');
  await page.waitForSelector(`[data-testid=cases] tbody tr:has-text("${TITLE}")`);
  const row = await page.textContent(`[data-testid=cases] tbody tr:has-text("${TITLE}")`);
  assert.match(row, /关税/);
  assert.match(row, /待接收/);
  assert.match(row, new RegExp(decl));
  caseId = Number(row.trim().split(/\s+/)[0].match(/^\d+/)[0]);
  assert.ok(caseId > 0, row);
  assert.deepEqual(page.errors, []);
});

testAs('the tariff department accepts, works and concludes the referral from its inbox', 'zhou.tariff', async (page) => {
  // Department users land on their inbox.
  await page.waitForSelector('[data-testid=cases]');
  assert.match(page.url(), /#\/cases/);
  await page.click(`[data-testid=cases] tbody tr:has-text("${TITLE}")`);
  await page.waitForSelector('[data-testid=case]');
  await screenshot(page, 'case-zh');
  // Returning needs a reason (the server's refusal is shown).
  await page.click('button[data-step=return]');
  await page.waitForSelector('[data-testid=error]');
  assert.match(await page.textContent("[data-testid=error]"), /必须填写理由/);
  await page.click('button[data-step=accept]');
  await page.waitForSelector('[data-testid=case]:has-text("已接收")');
  await page.click('button[data-step=start]');
  await page.waitForSelector('[data-testid=case]:has-text("办理中")');
  await page.check('[data-testid=conclude-form] input[name=findings][value=misclassification]');
  await page.fill('[data-testid=conclude-form] input[name=additional_duty]', '800');
  await page.fill('[data-testid=conclude-form] input[name=summary]', '归类错误，补征税款');
  await page.click('[data-testid=conclude-form] button[data-step=conclude]');
  await page.waitForSelector('[data-testid=case-result]');
  assert.match(await page.textContent('[data-testid=case-result]'), /归类错误/);
  assert.match(await page.textContent('[data-testid=case]'), /已办结/);
  const steps = await page.$$eval('[data-testid=case-history] tbody tr', (rs) => rs.map((r) => r.textContent));
  assert.deepEqual(steps.map((s) => ['移交', '接收', '开始办理', '办结'].find((x) => s.includes(x))), ['移交', '接收', '开始办理', '办结']);
  assert.deepEqual(page.errors, []);
});

testAs('another department does not see the case', 'hu.smuggling', async (page) => {
  await page.waitForSelector('[data-testid=cases]');
  assert.doesNotMatch(await page.textContent('[data-testid=cases]'), new RegExp(TITLE));
  await page.goto(`${page.url().split('#')[0]}#/cases/${caseId}`);
  await page.waitForSelector('[data-testid=error]');
  assert.deepEqual(page.errors, []);
});

testAs('a district manager closes the concluded case', 'sun.district', async (page) => {
  await page.goto(`${page.url().split('#')[0]}#/cases/${caseId}`);
  await page.waitForSelector('button[data-step=close]');
  await page.click('button[data-step=close]');
  await page.waitForSelector('[data-testid=case]:has-text("已结案")');
  assert.deepEqual(page.errors, []);
});

testAs('an urgent-clearance request moves a control to the top of the workbench', 'zhang.officer', async (page) => {
  await page.click('#nav a[data-nav=workbench]');
  await page.waitForSelector('[data-testid=open-controls] [data-control]');
  const ids = await page.$$eval('[data-control]', (cs) => cs.map((c) => c.dataset.control));
  assert.ok(ids.length >= 2, `open controls: ${ids}`);
  const last = ids[ids.length - 1];
  const card = `[data-control="${last}"]`;
  await page.click(`${card} button[data-action=urgent]`);
  await page.click(`${card} [data-testid=urgent-form] button[type=submit]`);
  assert.match(await page.textContent(`${card} [data-testid=error]`), /请填写申请说明/);
  await page.selectOption(`${card} [data-testid=urgent-form] select[name=kind]`, 'medical');
  await page.fill(`${card} [data-testid=urgent-form] input[name=note]`, '医院急需的检测试剂');
  await page.click(`${card} [data-testid=urgent-form] button[type=submit]`);
  await page.waitForSelector(`[data-control]:first-child[data-control="${last}"] [data-testid=urgent]`);
  assert.match(await page.textContent(`[data-control="${last}"]`), /加急/);
  assert.deepEqual(page.errors, []);
});

testAs('anti-smuggling sends intelligence on an enterprise and puts it on its watch-list', 'hu.smuggling', async (page) => {
  const ent = await page.evaluate(async () => {
    const r = await fetch('/api/v1/enterprises?limit=1', { credentials: 'same-origin' });
    return (await r.json()).enterprises[0].id;
  });
  await page.goto(`${page.url().split('#')[0]}#/enterprises/${encodeURIComponent(ent)}`);
  await page.waitForSelector('[data-testid=note-form]');
  await page.click('[data-testid=note-form] button[type=submit]');
  assert.match(await page.textContent('[data-testid=note-form] [data-testid=error]'), /请填写反馈内容/);
  await page.fill('[data-testid=note-form] textarea[name=text]', '浏览器测试线报：疑似低报价格');
  await page.check('[data-testid=note-form] input[name=watch]');
  await page.click('[data-testid=note-form] button[type=submit]');
  await page.waitForSelector('[data-testid=enterprise-notes] tbody tr:has-text("浏览器测试线报")');
  assert.match(await page.textContent('[data-testid=enterprise-notes]'), /watch\.anti_smuggling/);
  assert.deepEqual(page.errors, []);
});

testAs('a department subscribes itself to decisions of an HS chapter and ends it', 'zhou.tariff', async (page) => {
  await page.waitForSelector('[data-testid=subscriptions]');
  await page.selectOption('[data-testid=subscribe] select[name=kind]', 'decision');
  await page.fill('[data-testid=subscribe] input[name=url]', 'http://intranet.example.org/hook');
  await page.click('[data-testid=subscribe] button[type=submit]');
  await page.waitForSelector('[data-testid=subscriptions] [data-testid=error]');
  await page.fill('[data-testid=subscribe] input[name=url]', 'https://tariff.example.org/hook');
  await page.fill('[data-testid=subscribe] input[name=hs_chapters]', '85, 84');
  await page.click('[data-testid=subscribe] button[type=submit]');
  await page.waitForSelector('[data-testid=subscriptions] tbody tr:has-text("tariff.example.org")');
  assert.match(await page.textContent('[data-testid=subscriptions] tbody'), /85, 84/);
  assert.match(await page.textContent('[data-testid=secret]'), /[0-9a-f]{64}/, 'the signing secret is shown once');
  await page.click('[data-testid=subscriptions] tbody tr:has-text("tariff.example.org") button[data-action=unsubscribe]');
  await page.waitForSelector('[data-testid=subscriptions] tbody tr:has-text("tariff.example.org")', { state: 'detached' });
  assert.deepEqual(page.errors, []);
});
