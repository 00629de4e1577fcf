// Reports and exports (issue 14): a district manager downloads a table as
// XLSX and as CSV, and the district's quarter KPI report as printable HTML,
// which then opens in the browser: screenshots of its pages in Chinese
// (report-zh-N.png) and its print to PDF (report-zh.pdf) go to the artefacts.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { browserTests, openRoute, screenshot, ARTIFACTS } from './helpers.mjs';

const { testAs } = browserTests();

// The file a click downloads: its suggested name and its bytes.
async function downloaded(page, click) {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
}

testAs('a district manager downloads a table as XLSX and as CSV', 'sun.district', async (page) => {
  const base = page.url().split('#')[0];
  await openRoute(page, base, '/overview');
  await page.waitForSelector('[data-testid=children-table]');
  const box = page.locator('.table-box', { has: page.locator('[data-testid=children-table]') });
  assert.equal(await box.locator('[data-testid=download-xlsx]').textContent(), '下载 XLSX');

  const xlsx = await downloaded(page, () => box.locator('[data-testid=download-xlsx]').click());
  assert.match(xlsx.name, /\.xlsx$/);
  assert.ok(xlsx.bytes.length > 100, `an XLSX of ${xlsx.bytes.length} bytes`);
  assert.equal(xlsx.bytes.subarray(0, 2).toString('latin1'), 'PK', 'an XLSX is a zip');
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'table-zh.xlsx'), xlsx.bytes);

  const csv = await downloaded(page, () => box.locator('[data-testid=download-csv]').click());
  const text = csv.bytes.toString('utf8');
  assert.ok(text.startsWith('\ufeff'), 'a byte-order mark, so a spreadsheet reads the Chinese');
  const [header, ...rows] = text.slice(1).trim().split('\r\n');
  assert.match(header, /^代码,名称,报关单数,/);
  assert.ok(rows.length > 0 && rows.every((r) => /^22\d\d,/.test(r)), `the district's offices: ${rows}`);
  assert.deepEqual(page.errors, []);
});

testAs('a district manager downloads the quarter report as printable HTML, opens it and prints it to PDF', 'sun.district', async (page) => {
  const base = page.url().split('#')[0];
  await openRoute(page, base, '/overview');
  await page.waitForSelector('[data-testid=report-period] option[value*="-Q"]', { state: 'attached' });
  await page.selectOption('[data-testid=report-kind]', 'quarter');
  await page.selectOption('[data-testid=report-format]', 'html');
  // The demo's live traffic fills the third quarter; the newest may hold only a few declarations.
  const offered = await page.$$eval('[data-testid=report-period] option', (os) => os.map((o) => o.value));
  if (offered.includes('2026-Q3')) await page.selectOption('[data-testid=report-period]', '2026-Q3');
  const quarter = await page.inputValue('[data-testid=report-period]');
  assert.match(quarter, /^\d{4}-Q[1-4]$/);
  await screenshot(page, 'report-control-zh');
  const report = await downloaded(page, () => page.click('[data-testid=report-download]'));
  assert.equal(report.name, `riskgate-kpi-2200-${quarter}.html`);
  const html = report.bytes.toString('utf8');
  assert.match(html, /上海海关 KPI 报告/);
  for (const key of ['screened', 'targeting_rate', 'hit_rate', 'revenue_collection_rate', 'smuggling_deterrence_rate', 'same_day_release_sea', 'same_day_release_other', 'litigation_win_rate', 'internal_affairs_pass_rate', 'leadership_assessment_pass_rate', 'misconduct_case_rate']) {
    assert.match(html, new RegExp(`data-kpi="${key}"`), `KPI ${key} in the report`);
  }
  assert.doesNotMatch(html, /https?:|src=|href=|url\(/, 'self-contained: nothing from outside');
  assert.deepEqual(page.errors, []);

  // Opened in the browser as a file: it needs nothing else.
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, 'report-zh.html');
  writeFileSync(file, report.bytes);
  const view = await page.context().newPage();
  const requests = [];
  view.on('request', (r) => requests.push(r.url()));
  await view.setViewportSize({ width: 900, height: 1200 });
  await view.goto(pathToFileURL(file).href);
  assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), []);
  // Its pages as printed (A4, one part a page): a screenshot of each.
  await view.emulateMedia({ media: 'print' });
  const pages = await view.$$('section.page');
  assert.ok(pages.length >= 4, `KPIs, trend, units below, rules and models: ${pages.length} parts`);
  for (const [i, p] of pages.entries()) await p.screenshot({ path: join(ARTIFACTS, `report-zh-${i + 1}.png`) });
  const pdf = await view.pdf({ format: 'A4', printBackground: true });
  writeFileSync(join(ARTIFACTS, 'report-zh.pdf'), pdf);
  const printed = (pdf.toString('latin1').match(/\/Type\s*\/Page(?![a-zA-Z])/g) || []).length;
  assert.ok(printed >= pages.length, `a page per part at least: ${printed} PDF pages for ${pages.length} parts`);
  // Its text: the document title chromium writes (UTF-16BE hex) is the report's, in Chinese.
  const hex = /\/Title\s*<FEFF([0-9A-Fa-f]+)>/.exec(pdf.toString('latin1'));
  assert.ok(hex, 'the PDF has a title');
  const bytes = Buffer.from(hex[1], 'hex');
  const title = String.fromCharCode(...Array.from({ length: bytes.length / 2 }, (_, i) => bytes.readUInt16BE(2 * i)));
  assert.equal(title, `上海海关 KPI 报告 · ${quarter}`);
  await view.close();
});

testAs('the report of the days chosen on the overview downloads as XLSX', 'sun.district', async (page) => {
  const base = page.url().split('#')[0];
  await openRoute(page, base, '/overview?office=2201&from=2026-07-01&to=2026-08-15');
  await page.selectOption('[data-testid=report-kind]', 'days');
  assert.equal(await page.inputValue('[data-testid=report-period]'), '2026-07-01..2026-08-15');
  const xlsx = await downloaded(page, () => page.click('[data-testid=report-download]'));
  assert.equal(xlsx.name, 'riskgate-kpi-2201-2026-07-01_to_2026-08-15.xlsx');
  assert.equal(xlsx.bytes.subarray(0, 2).toString('latin1'), 'PK');
  assert.deepEqual(page.errors, []);
});
