// 稽查选案 (M11): an analyst opens the post-clearance page from the
// navigation; the table is GET /post-clearance/selection's answer for the
// period chosen; a dry-run plan previews without opening cases, a real plan
// opens post-clearance audit cases that link to the case page. A department
// user sees the selection but is not offered the plan; a field officer is
// not offered the page.
import assert from 'node:assert/strict';
import { browserTests, navKeys, openRoute, screenshot, settled } from './helpers.mjs';

const { testAs } = browserTests();

// The demo world's live traffic (seed 7: June to mid-September 2026).
const FROM = '2026-06-01';
const TO = '2026-09-30';

async function selection(page) {
  return page.evaluate(async ([from, to]) => {
    const r = await fetch(`/api/v1/post-clearance/selection?from=${from}&to=${to}&limit=200`, { credentials: 'same-origin' });
    if (!r.ok) throw new Error(`selection: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  }, [FROM, TO]);
}

const firstCells = (page, testid) =>
  page.$$eval(`[data-testid=${testid}] tbody tr`, (rs) =>
    rs.filter((r) => !r.querySelector('td[colspan]')).map((r) => r.querySelector('td').textContent.trim()));

testAs('an analyst ranks released declarations for audit and makes a plan', 'chen.analyst', async (page) => {
  assert.ok((await navKeys(page)).includes('post-clearance'), 'the analyst is offered the page');
  await page.click('#nav a[data-nav=post-clearance]');
  await page.waitForSelector('[data-testid=pca-form]');
  await settled(page);
  assert.equal(await page.textContent('#nav a.active'), '稽查选案');
  await page.fill('[data-testid=pca-from]', FROM);
  await page.fill('[data-testid=pca-to]', TO);
  await page.click('[data-testid=pca-form] button[type=submit]');
  await page.waitForFunction(() => /from=2026-06-01/.test(location.hash));
  await page.waitForSelector('[data-testid=pca-summary]');
  await settled(page);
  const s = await selection(page);
  assert.ok(s.declarations.length > 0, 'the demo store has released declarations to rank');
  assert.deepEqual(await firstCells(page, 'pca-declarations'), s.declarations.map((c) => c.declaration_id), 'one row per ranked declaration, in order');
  assert.deepEqual(await firstCells(page, 'pca-traders'), s.traders.map((x) => x.trader));
  assert.equal(Number(await page.getAttribute('[data-testid=pca-summary]', 'data-considered')), s.considered);
  const reasons = await page.$$eval('[data-testid=pca-declarations] tbody tr td:last-child', (tds) => tds.map((td) => td.textContent));
  assert.ok(reasons.some((r) => /[\u4e00-\u9fff]/.test(r)), 'reasons read in Chinese');
  // Payment and invoice lines come apart from the other reasons
  // (`money_flow`) and are shown with them.
  const paid = s.declarations.map((c, i) => [c, i]).filter(([c]) => c.money_flow.length > 0);
  assert.ok(paid.length > 0, 'the demo has candidates with payments abroad or VAT invoices');
  for (const [c, i] of paid) {
    assert.ok(!c.reasons.some((r) => /境外付汇|增值税发票/.test(r)), `money-flow lines only in money_flow: ${c.reasons}`);
    assert.match(reasons[i], /境外付汇|增值税发票/, `row ${c.declaration_id} shows its money-flow lines`);
  }
  await screenshot(page, 'post-clearance-zh');

  // A malformed capacity is refused in the page, naming it.
  await page.fill('[data-testid=pca-capacity]', '2201:2');
  await page.click('[data-testid=pca-plan-submit]');
  await page.waitForSelector('[data-testid=error]');
  assert.match(await page.textContent('main'), /单位=份数/);

  // A preview opens nothing.
  const office = s.declarations[0].office;
  await page.fill('[data-testid=pca-capacity]', `${office}=2`);
  await page.fill('[data-testid=pca-explore]', '50');
  await page.click('[data-testid=pca-plan-submit]');
  await page.waitForSelector('[data-testid=pca-plan]');
  assert.equal(await page.getAttribute('[data-testid=pca-plan]', 'data-dry-run'), '1');
  const preview = await firstCells(page, 'pca-plan-audits');
  assert.equal(preview.length, 2, 'two audits previewed');

  // The plan for real: cases are opened and linked.
  await page.uncheck('[data-testid=pca-dry-run]');
  await page.fill('[data-testid=pca-name]', 'browser-plan');
  await page.click('[data-testid=pca-plan-submit]');
  await page.waitForSelector('[data-testid=pca-plan][data-dry-run="0"]');
  const links = await page.$$eval('[data-testid=pca-plan-audits] tbody tr td:last-child a', (as) => as.map((a) => a.getAttribute('href')));
  assert.equal(links.length, 2, 'a case per audit');
  const caseId = links[0].replace('#/cases/', '');
  const c = await page.evaluate(async (id) => (await fetch(`/api/v1/cases/${id}`, { credentials: 'same-origin' })).json(), caseId);
  assert.equal(c.kind, 'post_clearance_audit');
  assert.equal(c.origin, 'audit_plan');
  assert.ok(c.selection && c.selection.selection_probability > 0, 'the case keeps its selection probability');
  await screenshot(page, 'post-clearance-plan-zh');
  assert.deepEqual(page.errors, []);
});

// 专业审计选择: the second section ranks units, and posts on the toggle,
// as GET /post-clearance/specialised answers, with reasons in Chinese and
// posts named from the dictionary.
testAs('an analyst ranks units and posts for a specialised audit', 'chen.analyst', async (page) => {
  const base = page.url().split('#')[0];
  await openRoute(page, base, `/post-clearance?from=${FROM}&to=${TO}`);
  await page.waitForSelector('[data-testid=spa-summary][data-by=unit]');
  await settled(page);
  const api = (by) =>
    page.evaluate(async ([b, from, to]) => {
      const r = await fetch(`/api/v1/post-clearance/specialised?by=${b}&from=${from}&to=${to}&limit=20`, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`specialised: HTTP ${r.status} ${await r.text()}`);
      return r.json();
    }, [by, FROM, TO]);
  const units = await api('unit');
  assert.ok(units.rows.length > 0, 'the demo store has units to rank');
  assert.deepEqual(await firstCells(page, 'spa-rows'), units.rows.map((r) => r.unit), 'one row per ranked unit, in order');
  const scores = units.rows.map((r) => r.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'ranked by score');
  const reasons = await page.$$eval('[data-testid=spa-rows] tbody tr td:last-child', (tds) => tds.map((td) => td.textContent));
  assert.ok(reasons.length > 0 && reasons.every((r) => /[\u4e00-\u9fff]/.test(r)), `reasons read in Chinese: ${reasons}`);

  await page.selectOption('[data-testid=spa-by]', 'post');
  await page.waitForSelector('[data-testid=spa-summary][data-by=post]');
  const posts = await api('post');
  assert.ok(posts.rows.length > 0, 'posts ranked');
  assert.deepEqual(await firstCells(page, 'spa-rows'), posts.rows.map((r) => r.office));
  const postNames = await page.$$eval('[data-testid=spa-rows] tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
  assert.ok(postNames.every((n) => !/[a-z_]{4,}/.test(n)), `posts named in Chinese: ${postNames}`);
  await screenshot(page, 'specialised-audit-zh');
  assert.deepEqual(page.errors, []);
});

testAs('a department user sees the selection without the plan; a field officer is refused', 'zhou.tariff', async (page) => {
  assert.ok((await navKeys(page)).includes('post-clearance'));
  await page.click('#nav a[data-nav=post-clearance]');
  await page.waitForSelector('[data-testid=pca-summary]');
  await settled(page);
  assert.equal(await page.$('[data-testid=pca-plan-form]'), null, 'no plan form without PlanAudits');
  assert.deepEqual(page.errors, []);
});

testAs('a field officer is not offered the post-clearance page', 'zhang.officer', async (page) => {
  assert.ok(!(await navKeys(page)).includes('post-clearance'));
  const status = await page.evaluate(async () => (await fetch('/api/v1/post-clearance/selection', { credentials: 'same-origin' })).status);
  assert.equal(status, 403);
  assert.deepEqual(page.errors, []);
});
