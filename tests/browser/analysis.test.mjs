// Issue 14: a district manager drills from the district to an office, to
// its goods (chapter → heading), to the declarations behind a heading;
// the figures come from GET /analysis and every step is in Chinese.
import assert from 'node:assert/strict';
import { browserTests, screenshot } from './helpers.mjs';

const { testAs } = browserTests();

const rowsOf = (page) =>
  page.$$eval('[data-testid=analysis-table] tbody tr', (rs) => rs.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent.trim())));

testAs('a district manager drills from the district to an office, a goods heading and its declarations', 'sun.district', async (page) => {
  await page.click('#nav a[data-nav=overview]');
  await page.click('[data-testid=to-analysis]');
  // The district's offices.
  await page.waitForSelector('[data-testid=analysis-table] [data-testid=analysis-next]');
  assert.match(await page.textContent('h1'), /风险分析 · 上海海关/);
  const offices = await rowsOf(page);
  assert.ok(offices.length > 0 && offices.every((r) => /\(22\d\d\)/.test(r[0])), `offices: ${JSON.stringify(offices)}`);
  // The offices add up to the district.
  const total = await page.textContent('[data-testid=analysis-total]');
  const sum = offices.reduce((s, r) => s + Number(r[1].replace(/,/g, '')), 0);
  assert.match(total, new RegExp(`报关单 ${sum.toLocaleString('zh-CN')}`));
  await page.waitForSelector('[data-testid=analysis-chart][data-ready="1"]');
  await screenshot(page, 'analysis-district-zh');

  // District → office: its goods by chapter.
  await page.click('[data-testid=analysis-table] tbody tr:first-child [data-testid=analysis-next]');
  await page.waitForFunction(() => /dim=hs2/.test(location.hash));
  await page.waitForSelector('[data-testid=analysis-table] tbody tr [data-testid=analysis-next]');
  assert.match(await page.textContent('[data-testid=analysis-dims] a.active'), /商品/);
  const chapter = (await rowsOf(page))[0][0];
  assert.match(chapter, /^\d\d$/);
  await screenshot(page, 'analysis-office-goods-zh');
  // A chapter month by month.
  await page.click('[data-testid=analysis-table] tbody tr:first-child [data-testid=analysis-trend-link]');
  await page.waitForSelector('[data-testid=analysis-trend-chart][data-ready="1"]');
  assert.match(await page.textContent('[data-testid=analysis-trend] h2'), new RegExp(`${chapter} · 逐月趋势`));

  // Chapter → its headings.
  await page.click('[data-testid=analysis-table] tbody tr:first-child [data-testid=analysis-next]');
  await page.waitForFunction(() => /dim=hs4/.test(location.hash));
  await page.waitForSelector('[data-testid=analysis-table] tbody tr td');
  const heads = await rowsOf(page);
  assert.ok(heads.length > 0 && heads.every((r) => r[0].startsWith(chapter) && r[0].length === 4), `headings: ${JSON.stringify(heads)}`);
  assert.match(await page.textContent('.crumbs'), new RegExp(`第 ${chapter}`));
  await screenshot(page, 'analysis-heading-zh');

  // Heading → the declarations behind it: the search opens with the
  // office and the HS prefix, and every row found has goods under it.
  const heading = heads[0][0];
  await page.click('[data-testid=analysis-table] tbody tr:first-child [data-testid=analysis-declarations]');
  await page.waitForSelector('[data-testid=declaration-search]');
  assert.equal(await page.inputValue('[data-testid=declaration-search] input[name=hs]'), heading);
  await page.waitForFunction(() => document.querySelectorAll('main table tbody tr').length > 0);
  const ids = await page.$$eval('main table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent.trim()).slice(0, 3));
  for (const id of ids) {
    const d = await page.evaluate(async (id) => (await fetch(`/api/v1/declarations/${id}`, { credentials: 'same-origin' })).json(), id);
    assert.ok(d.declaration.items.some((i) => i.hs_code.startsWith(heading)), `${id} has no goods under ${heading}`);
  }
  await screenshot(page, 'analysis-declarations-zh');
  assert.deepEqual(page.errors, []);
});

testAs('officers are a dimension for managers, not for field officers', 'zhang.officer', async (page) => {
  await page.goto(`${process.env.RISKGATE_URL}/#/analysis`);
  // An office has no units below it: its goods are shown.
  await page.waitForFunction(() => /dim=hs2/.test(location.hash));
  await page.waitForSelector('[data-testid=analysis-dims]');
  const dims = await page.$$eval('[data-testid=analysis-dims] a', (as) => as.map((a) => a.dataset.dim));
  assert.ok(!dims.includes('officer'), `dimensions: ${dims}`);
  const r = await page.evaluate(async () => (await fetch('/api/v1/analysis?dim=officer', { credentials: 'same-origin' })).status);
  assert.equal(r, 403);
  assert.deepEqual(page.errors, []);
});

testAs('a district manager sees each officer’s controls and lane overrides', 'sun.district', async (page) => {
  await page.goto(`${process.env.RISKGATE_URL}/#/analysis?dim=officer`);
  await page.waitForSelector('[data-testid=analysis-table] thead');
  const head = await page.textContent('[data-testid=analysis-table] thead');
  assert.match(head, /关员/);
  assert.match(head, /改判次数/);
  assert.match(head, /改判为绿色通道/);
  await screenshot(page, 'analysis-officers-zh');
  assert.deepEqual(page.errors, []);
});

testAs('the month-by-month trend follows the period and does not move the page', 'sun.district', async (page) => {
  const trends = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/analysis/trend')) trends.push(new URL(r.url()).searchParams);
  });
  await page.setViewportSize({ width: 1366, height: 500 });
  await page.goto(`${process.env.RISKGATE_URL}/#/analysis?office=2201&dim=hs2`);
  await page.waitForSelector('[data-testid=analysis-table] tbody tr [data-testid=analysis-trend-link]');
  // Opened, then opened again from the bottom of the page: the page stays
  // where it is while the trend reloads.
  const link = page.locator('[data-testid=analysis-trend-link]').first();
  await link.evaluate((e) => e.click());
  await page.waitForSelector('[data-testid=analysis-trend-chart][data-ready="1"]');
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  const y0 = await page.evaluate(() => window.scrollY);
  assert.ok(y0 > 0, 'the page scrolls');
  await link.evaluate((e) => e.click());
  await page.waitForSelector('[data-testid=analysis-trend-chart][data-ready="1"]');
  assert.equal(await page.evaluate(() => window.scrollY), y0);
  const months = (await page.getAttribute('[data-testid=analysis-trend]', 'data-months')).split(' ');
  assert.ok(months.length >= 2, `months: ${months}`);

  // A period of its last two months: the breakdown and the open trend both
  // ask for it, the trend shows only those months, the page does not jump.
  const [a, z] = months.slice(-2);
  const last = new Date(Date.UTC(Number(z.slice(0, 4)), Number(z.slice(5, 7)), 0)).toISOString().slice(0, 10);
  await page.fill('[data-testid=analysis-period] input[name=from]', `${a}-01`);
  await page.fill('[data-testid=analysis-period] input[name=to]', last);
  const y1 = await page.evaluate(() => window.scrollY);
  trends.length = 0;
  await page.click('[data-testid=analysis-period] button[type=submit]');
  await page.waitForFunction(() => /trend=/.test(location.hash) && /from=/.test(location.hash));
  await page.waitForFunction(
    (m) => document.querySelector('[data-testid=analysis-trend]')?.dataset.months === m && document.querySelector('[data-testid=analysis-trend-chart][data-ready="1"]'),
    `${a} ${z}`,
  );
  assert.deepEqual(trends.map((q) => [q.get('from'), q.get('to')]), [[`${a}-01`, last]]);
  assert.match(await page.textContent('[data-testid=analysis-trend] h2'), new RegExp(`逐月趋势 · ${a}-01 — ${last}`));
  assert.ok(Math.abs((await page.evaluate(() => window.scrollY)) - y1) < 2, 'the page kept its place');
  assert.deepEqual(page.errors, []);
});
