// An officer's change of lane shows wherever the lane is read: the
// declaration page (title, result, "why", the list of changes with who,
// when, from, to and why, the control's status in Chinese), the
// declarations search, and the integrity evidence a supervisor follows.
import assert from 'node:assert/strict';
import { browserTests, screenshot } from './helpers.mjs';

const { testAs } = browserTests();
const REASON = '浏览器测试：随附单证齐全，改为放行';
let declId;

// The declaration page of `id` shows the override of REASON by zhang.officer
// (`who`: by name for a reader of the officer registry).
async function assertOverridden(page, id, who = 'zhang.officer') {
  const by = who.replace(/[.()]/g, (c) => `\\${c}`);
  await page.goto(`${page.url().split('#')[0]}#/declarations/${id}`);
  await page.waitForSelector('[data-testid=overrides]');
  assert.equal((await page.textContent('[data-testid=decision-title] .chip')).trim(), '绿色通道', 'the title shows the lane in force');
  assert.match(await page.textContent('[data-testid=decision-title]'), /原为红色通道/);
  const why = await page.textContent('[data-testid=why-lane]');
  assert.match(why, new RegExp(`${by} 于 .*\\d{4}.* 将通道从红色通道（查验）改为绿色通道，理由：浏览器测试：随附单证齐全，改为放行`));
  const facts = await page.textContent('[data-testid=decision-facts]');
  assert.match(facts, /通道\s*绿色通道/);
  assert.match(facts, /系统判定通道\s*红色通道/);
  const rows = await page.$$eval('[data-testid=overrides] tbody tr', (rs) => rs.map((r) => r.textContent));
  assert.equal(rows.length, 1, `overrides: ${rows}`);
  assert.match(rows[0], new RegExp(by));
  assert.match(rows[0], /红色通道（查验）绿色通道/);
  assert.match(rows[0], new RegExp(REASON));
  const main = await page.textContent('main');
  assert.match(main, /已改为绿色通道放行/);
  assert.doesNotMatch(main, /overridden/);
}

testAs('an override shows on the declaration page and in the search with who, when, from, to and why', 'zhang.officer', async (page) => {
  await page.click('#nav a[data-nav=workbench]');
  await page.waitForSelector('[data-testid=open-controls] [data-control]');
  const ids = await page.$$eval('[data-control]', (cs) => cs.map((c) => c.dataset.control));
  const marked = ids.filter((id) => id.startsWith('2201'));
  assert.ok(marked.length >= 3, `open controls of office 2201: ${ids}`);
  declId = marked[marked.length - 1];
  const card = `[data-control="${declId}"]`;
  await page.click(`${card} button[data-action=override]`);
  const form = `${card} [data-testid=override-form]`;
  // No lane is chosen for the officer and the lane in force is not offered.
  assert.equal(await page.inputValue(`${form} select[name=channel]`), '');
  const lanes = await page.$$eval(`${form} select[name=channel] option`, (os) => os.map((o) => o.value));
  assert.deepEqual(lanes, ['', 'green', 'yellow']);
  // Without a lane, the form says so in Chinese and sends nothing.
  await page.fill(`${form} input[name=reason]`, REASON);
  await page.click(`${form} button[type=submit]`);
  assert.match(await page.textContent(`${form} [data-testid=error]`), /请选择新通道/);
  // A downgrade asks first; declining changes nothing.
  await page.selectOption(`${form} select[name=channel]`, 'green');
  let question = '';
  page.once('dialog', (d) => ((question = d.message()), d.dismiss()));
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector(`${form} [data-testid=override-cancelled]`);
  assert.match(question, /确认将通道从红色通道（查验）降为绿色通道？/);
  assert.ok(await page.isVisible(card), 'declined: the control is still open');
  page.once('dialog', (d) => d.accept());
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector(card, { state: 'detached' });

  await assertOverridden(page, declId);
  await screenshot(page, 'decision-overridden-zh');

  // The search list shows the lane in force and the one it replaced.
  await page.goto(`${page.url().split('#')[0]}#/declarations?q=${declId}`);
  await page.waitForFunction((id) => {
    const rows = [...document.querySelectorAll('[data-testid=declaration-results] tbody tr.clickable')];
    return rows.length === 1 && rows[0].textContent.includes(id);
  }, declId);
  const row = await page.textContent('[data-testid=declaration-results] tbody tr.clickable');
  assert.match(row, /绿色通道\s*原为红色通道/);
  assert.deepEqual(page.errors, []);
});

testAs('the integrity supervisor follows the evidence to the override', 'qian.integrity', async (page) => {
  assert.ok(declId, 'the previous test overrode a lane');
  await page.goto(`${page.url().split('#')[0]}#/integrity/officer/zhang.officer`);
  await page.waitForSelector('[data-testid=evidence-override]');
  const entries = await page.$$eval('[data-testid=evidence-override]', (ls) => ls.map((l) => l.textContent));
  const mine = entries.find((e) => e.includes(declId));
  assert.ok(mine, `evidence: ${entries}`);
  assert.match(mine, /张警官 \(zhang\.officer\) 将报关单 \d+ 的通道从红色通道（查验）改为绿色通道，理由：浏览器测试：随附单证齐全，改为放行/);
  await page.click(`a[href="#/declarations/${declId}"]`);
  await assertOverridden(page, declId, '张警官 (zhang.officer)');
  assert.deepEqual(page.errors, []);
});
