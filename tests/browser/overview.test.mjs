// Managers see the M9 KPIs against their targets and drill down HQ →
// district → office; the language switch to English persists.
import assert from 'node:assert/strict';
import { browserTests, screenshot } from './helpers.mjs';

const { testAs } = browserTests();

testAs('HQ manager drills down HQ → district → office', 'wu.hq', async (page) => {
  await page.click('#nav a[data-nav=overview]');
  await page.waitForSelector('[data-testid=kpi-cards] [data-kpi=targeting_rate]');
  const card = await page.textContent('[data-kpi=targeting_rate]');
  assert.match(card, /布控率/);
  assert.match(card, /目标 ≈4%/);
  assert.match(card, /实际完成查验的报关单（系统布控、关员改判、人工布控）÷ 报关单 = [\d,]+ ÷ [\d,]+/);
  assert.match(await page.textContent('[data-testid=breadcrumb]'), /海关总署/);
  await page.waitForSelector('[data-testid=children-chart][data-ready="1"]');
  await page.waitForSelector('[data-testid=trend-chart][data-ready="1"]');
  await screenshot(page, 'overview-zh');

  // HQ → district 2200 → office 2201.
  await page.click('[data-testid=children-table] tr.clickable:has-text("2200")');
  await page.waitForFunction(() => /上海海关/.test(document.querySelector('[data-testid=breadcrumb]')?.textContent || ''));
  await page.click('[data-testid=children-table] tr.clickable:has-text("2201")');
  await page.waitForFunction(() => /洋山海关/.test(document.querySelector('[data-testid=breadcrumb]')?.textContent || ''));
  assert.match(await page.textContent('[data-testid=breadcrumb]'), /海关总署.*上海海关.*洋山海关/s);
  // Offline: every asset and call went to the riskgate server itself.
  const outside = page.requests.filter((u) => !u.startsWith(process.env.RISKGATE_URL) && !u.startsWith('data:'));
  assert.deepEqual(outside, []);
  assert.deepEqual(page.errors, []);
});

testAs('a district manager sees only the district subtree', 'sun.district', async (page) => {
  await page.waitForSelector('[data-testid=breadcrumb]');
  const crumbs = await page.textContent('[data-testid=breadcrumb]');
  assert.match(crumbs, /上海海关/);
  assert.doesNotMatch(crumbs, /海关总署/);
  const rows = await page.$$eval('[data-testid=children-table] tbody tr', (rs) => rs.map((r) => r.textContent));
  assert.ok(rows.length > 0 && rows.every((r) => /22\d\d/.test(r)), `units: ${rows}`);
});

testAs('from a KPI to the declarations behind it', 'sun.district', async (page) => {
  await page.waitForSelector('[data-kpi=hit_rate] [data-testid=kpi-link]');
  assert.equal(await page.textContent('[data-kpi=hit_rate] [data-testid=kpi-link]'), '查看对应报关单 ›');
  assert.equal(await page.$('[data-kpi=revenue_collection_rate] [data-testid=kpi-link]'), null, 'no declaration set behind it');
  await page.click('[data-kpi=hit_rate] [data-testid=kpi-link]');
  await page.waitForSelector('[data-testid=declaration-search]');
  // The search opens with the KPI's set: the unit's controlled declarations with a finding.
  assert.equal(await page.inputValue('[data-testid=declaration-search] select[name=controlled]'), 'true');
  assert.equal(await page.inputValue('[data-testid=declaration-search] select[name=finding]'), 'true');
  assert.equal(await page.inputValue('[data-testid=declaration-search] input[name=office]'), '2200');
  await page.waitForFunction(() =>
    performance.getEntriesByType('resource').some((e) => /\/api\/v1\/declarations\?.*controlled=true/.test(e.name) && /finding=true/.test(e.name)),
  );
  assert.deepEqual(page.errors, []);
});

testAs('a rate on too few cases gets no verdict on its target', 'wu.hq', async (page) => {
  await page.waitForSelector('[data-testid=kpi-cards] [data-kpi]');
  const unit = await page.evaluate(async () => {
    const r = await fetch('/api/v1/kpis', { credentials: 'same-origin' });
    const units = (await r.json()).units;
    return units[0];
  });
  let few = 0;
  for (const f of unit.figures.filter((f) => f.target)) {
    const text = await page.textContent(`[data-kpi=${f.key}]`);
    if (f.unit !== 'count' && f.denominator < 30) {
      few += 1;
      assert.match(text, /样本过少/, `${f.key}: ${f.denominator} cases`);
      assert.doesNotMatch(text, /· (未)?达标/, `${f.key}: no verdict on ${f.denominator} cases`);
    } else {
      assert.doesNotMatch(text, /样本过少/, `${f.key}: ${f.denominator} cases`);
    }
  }
  console.log(`# ${few} of the HQ cards rest on fewer than 30 cases`);
});

testAs('English is switchable and the choice persists', 'wu.hq', async (page) => {
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.querySelector('#nav a[data-nav=overview]')?.textContent === 'Overview');
  await page.reload();
  await page.waitForSelector('[data-testid=kpi-cards]');
  assert.equal(await page.textContent('#nav a[data-nav=overview]'), 'Overview');
  assert.match(await page.textContent('[data-kpi=targeting_rate]'), /targeting rate/);
  assert.match(await page.textContent('[data-kpi=targeting_rate]'), /declarations with a completed border control \(engine, officer override or manual\) ÷ declarations = [\d,]+ ÷ [\d,]+/);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
});

testAs('a reversed or future period is refused beside the form; the overview stays', 'sun.district', async (page) => {
  await page.waitForSelector('[data-testid=kpi-cards] [data-kpi=targeting_rate]');
  const before = await page.textContent('[data-testid=kpi-cards]');
  const hash = await page.evaluate(() => location.hash);

  // Reversed: from after to.
  await page.fill('[data-testid=period-form] input[name=from]', '2026-06-30');
  await page.fill('[data-testid=period-form] input[name=to]', '2026-06-01');
  await page.click('[data-testid=period-form] button[type=submit]');
  await page.waitForSelector('[data-testid=period-error] .error');
  assert.match(await page.textContent('[data-testid=period-error]'), /起始日期 2026-06-30 晚于截止日期 2026-06-01/);
  assert.equal(await page.evaluate(() => location.hash), hash, 'no navigation');
  assert.equal(await page.textContent('[data-testid=kpi-cards]'), before, 'the KPI cards stay');
  assert.equal(await page.inputValue('[data-testid=period-form] input[name=from]'), '2026-06-30', 'the form keeps what was typed');

  // A start in the future.
  const next = new Date(Date.now() + 40 * 86400e3);
  const day = `${next.getFullYear()}-${String(next.getMonth() + 1).padStart(2, '0')}-${String(next.getDate()).padStart(2, '0')}`;
  await page.fill('[data-testid=period-form] input[name=from]', day);
  await page.fill('[data-testid=period-form] input[name=to]', '');
  await page.click('[data-testid=period-form] button[type=submit]');
  await page.waitForFunction(() => /还没到/.test(document.querySelector('[data-testid=period-error]')?.textContent || ''));
  assert.match(await page.textContent('[data-testid=period-error]'), new RegExp(`起始日期 ${day} 还没到`));
  assert.equal(await page.textContent('[data-testid=kpi-cards]'), before);
  await screenshot(page, 'overview-range-error-zh');

  // The same range in a link: the page with its form and the default period, the error beside the form.
  await page.goto(`${process.env.RISKGATE_URL}/#/overview?office=2200&from=2026-06-30&to=2026-06-01`);
  await page.waitForFunction(() => /默认期间/.test(document.querySelector('[data-testid=period-error]')?.textContent || ''));
  assert.match(await page.textContent('[data-testid=period-error]'), /晚于截止日期.*默认期间/);
  assert.equal(await page.inputValue('[data-testid=period-form] input[name=from]'), '2026-06-30');
  await page.waitForSelector('[data-testid=kpi-cards] [data-kpi=targeting_rate]');
  assert.equal(await page.$('main [data-testid=error]'), null, 'no page-wide error');
  assert.deepEqual(page.errors, []);
});
