// 资金流核对 (M6): an analyst opens the money-flow page from the navigation;
// its table is GET /moneyflow's answer for the period shown, audit
// candidates are marked, imports contradicted by a later VAT invoice are
// listed, and "仅付汇或开票高于申报" narrows the table to them. A field
// officer (no ReadMoneyFlow) is not offered the page.
import assert from 'node:assert/strict';
import { browserTests, navKeys, screenshot, settled } from './helpers.mjs';

const { testAs } = browserTests();

// The page asks for the server's maximum (MONEYFLOW_LIMIT in pages/moneyflow.js).
const LIMIT = 1000;

const tableRows = (page) =>
  page.$$eval('[data-testid=moneyflow-table] tbody tr', (rs) =>
    rs
      .filter((r) => !r.querySelector('td[colspan]'))
      .map((r) => ({ trader: r.querySelector('td').textContent.trim(), flagged: r.dataset.flagged === '1', link: r.querySelector('td a')?.getAttribute('href') ?? null })),
  );

// GET /moneyflow with the page's session, for the period and office the page shows.
async function answer(page, flagged) {
  const from = await page.inputValue('[data-testid=moneyflow-from]');
  const to = await page.inputValue('[data-testid=moneyflow-to]');
  const office = await page.inputValue('[data-testid=moneyflow-office]');
  return page.evaluate(async (q) => {
    const p = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== ''));
    const r = await fetch(`/api/v1/moneyflow?${p}`, { credentials: 'same-origin' });
    if (!r.ok) throw new Error(`moneyflow: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  }, { from, to, office, flagged: flagged ? 'true' : '', limit: String(LIMIT) });
}

testAs('an analyst reconciles money flow: the table is the API answer and the checkbox keeps the candidates', 'chen.analyst', async (page) => {
  assert.ok((await navKeys(page)).includes('moneyflow'), 'the analyst is offered the page');
  await page.click('#nav a[data-nav=moneyflow]');
  await page.waitForSelector('[data-testid=moneyflow-summary]');
  await settled(page);
  assert.equal(await page.textContent('h1'), '资金流核对');
  assert.equal(await page.textContent('#nav a.active'), '资金流核对');
  // The default period is a whole quarter (or all the data when the store is younger).
  const from = await page.inputValue('[data-testid=moneyflow-from]');
  const to = await page.inputValue('[data-testid=moneyflow-to]');
  if (from || to) {
    assert.match(from, /^\d{4}-(01|04|07|10)-01$/, `from ${from}`);
    assert.match(to, /^\d{4}-(03-31|06-30|09-30|12-31)$/, `to ${to}`);
  }

  const all = await answer(page, false);
  const rows = await tableRows(page);
  assert.ok(all.rows.length > 0, `the demo store has money flow in ${from}..${to}`);
  assert.equal(rows.length, all.rows.length, 'one table row per trader of the answer');
  assert.equal(rows[0].trader, all.rows[0].trader, 'the first trader of the answer comes first');
  assert.equal(rows[0].link, `#/enterprises/${encodeURIComponent(all.rows[0].trader)}`, 'a trader links to its enterprise page');
  // Candidates are marked, row by row as the server flags them.
  assert.deepEqual(rows.map((r) => r.flagged), all.rows.map((r) => r.flagged));
  const summary = page.locator('[data-testid=moneyflow-summary]');
  assert.equal(Number(await summary.getAttribute('data-traders')), all.traders);
  assert.equal(Number(await summary.getAttribute('data-flagged')), all.flagged);
  assert.match(await summary.textContent(), new RegExp(`付汇或开票高于申报 ${all.flagged.toLocaleString("zh-CN")} 家`));
  // The re-matched declarations: the answer's list, first by expected duty.
  const overpaid = await page.$$eval('[data-testid=moneyflow-overpaid] tbody tr', (rs) =>
    rs.filter((r) => !r.querySelector('td[colspan]')).map((r) => r.querySelector('td').textContent.trim()));
  assert.deepEqual(overpaid, all.overpaid.map((o) => o.declaration_id), 'one row per re-matched declaration, in order');
  assert.equal(Number(await page.getAttribute('[data-testid=moneyflow-overpaid-summary]', 'data-total')), all.overpaid_total);
  // Imports a later VAT invoice contradicts: the answer's list, in order,
  // with the finding named in Chinese (the demo store has some in its
  // default quarter, so the comparison is not of two empty lists).
  assert.ok(all.invoice_checks.length > 0, `the demo store has invoice checks in ${from}..${to}`);
  const checks = await page.$$eval('[data-testid=moneyflow-invoice-checks] tbody tr', (rs) =>
    rs.filter((r) => !r.querySelector('td[colspan]')).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent.trim())));
  assert.deepEqual(checks.map((c) => c[0]), all.invoice_checks.map((c) => c.declaration_id), 'one row per contradicted declaration, in order');
  assert.deepEqual(checks.map((c) => c[3]), all.invoice_checks.map((c) => (c.finding === 'code' ? '商品编码' : '货值')));
  assert.equal(Number(await page.getAttribute('[data-testid=moneyflow-invoice-summary]', 'data-total')), all.invoice_checks_total);
  await screenshot(page, 'moneyflow-zh');

  // 仅付汇或开票高于申报: the rows the summary counts as candidates, and only those.
  await page.evaluate(() => document.querySelector('main .view')?.setAttribute('data-old', '1'));
  await page.check('[data-testid=moneyflow-flagged]');
  await page.waitForFunction(() => /flagged=1/.test(location.hash));
  await settled(page);
  assert.equal(await page.isChecked('[data-testid=moneyflow-flagged]'), true);
  assert.equal(await page.inputValue('[data-testid=moneyflow-from]'), from, 'the period stays');
  const candidates = await tableRows(page);
  assert.equal(candidates.length, Math.min(all.flagged, LIMIT), 'as many rows as the summary counts candidates');
  assert.ok(candidates.every((r) => r.flagged), 'every row shown is a candidate');
  const flaggedAnswer = await answer(page, true);
  assert.deepEqual(candidates.map((r) => r.trader), flaggedAnswer.rows.map((r) => r.trader));
  assert.deepEqual(candidates.map((r) => r.trader), all.rows.filter((r) => r.flagged).map((r) => r.trader));
  if (all.flagged === 0) {
    assert.match(await page.textContent('[data-testid=moneyflow-table]'), /本期没有稽查候选企业/);
  } else {
    // The reasons read in Chinese only.
    const reasons = await page.$$eval('[data-testid=moneyflow-table] tbody tr td:last-child', (tds) => tds.map((td) => td.textContent));
    assert.ok(reasons.every((s) => /[\u4e00-\u9fff]/.test(s) && !/Paid abroad|VAT invoices/.test(s)), `reasons: ${reasons[0]}`);
  }
  await screenshot(page, 'moneyflow-flagged-zh');
  assert.deepEqual(page.errors, []);
});

testAs('a field officer is not offered the money-flow page and is refused its data', 'zhang.officer', async (page) => {
  assert.ok(!(await navKeys(page)).includes('moneyflow'), 'no money-flow entry for a field officer');
  const status = await page.evaluate(async () => (await fetch('/api/v1/moneyflow', { credentials: 'same-origin' })).status);
  assert.equal(status, 403);
  assert.deepEqual(page.errors, []);
});
