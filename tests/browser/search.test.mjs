// The declarations search filters by what a KPI counts: controlled or not,
// with a finding or not, what selected it, risk level and the control's
// status; the filters survive in the address (a link can be shared).
import assert from 'node:assert/strict';
import { browserTests } from './helpers.mjs';

const { testAs } = browserTests();

// Submits the search form with `choices` (select name → value) and waits
// for the rows of that search.
const FILTERS = ['controlled', 'finding', 'source', 'risk_level', 'status'];
async function search(page, wanted) {
  if (!(await page.evaluate(() => location.hash.startsWith('#/declarations')))) {
    await page.click('#nav a[data-nav=declarations]');
    await page.waitForSelector('[data-testid=declaration-results]');
  }
  const choices = Object.fromEntries(FILTERS.map((f) => [f, wanted[f] || '']));
  for (const [name, value] of Object.entries(choices)) {
    await page.selectOption(`[data-testid=declaration-search] select[name=${name}]`, value);
  }
  await page.evaluate(() => document.querySelector('[data-testid=declaration-results]')?.setAttribute('data-old', '1'));
  await page.click('[data-testid=declaration-search] button[type=submit]');
  await page.waitForSelector('[data-testid=declaration-results]:not([data-old])');
  const hash = await page.evaluate(() => location.hash);
  for (const [name, value] of Object.entries(wanted)) assert.match(hash, new RegExp(`${name}=${value}`));
  return page.$$eval('[data-testid=declaration-results] tbody tr.clickable', (rs) => rs.map((r) => ({ id: r.cells[0].textContent, text: r.textContent })));
}

const detail = (page, id) =>
  page.evaluate(async (i) => (await fetch(`/api/v1/declarations/${i}`, { credentials: 'same-origin' })).json(), id);

testAs('an analyst narrows the declarations by control, finding, source, risk level and status', 'chen.analyst', async (page) => {
  // The lane an officer changed to green (the override test) shows under its status.
  const overridden = await search(page, { status: 'overridden' });
  assert.ok(overridden.length >= 1, 'overridden controls are found');
  for (const r of overridden) assert.match(r.text, /绿色通道/, r.text);

  const high = await search(page, { risk_level: 'high', controlled: 'true' });
  assert.ok(high.length >= 1, 'high-risk controls are found');
  for (const r of high) assert.match(r.text, /高/, r.text);
  for (const r of high.slice(0, 3)) {
    const d = await detail(page, r.id);
    assert.equal(d.decision.risk_level, 'high');
    assert.notEqual(d.decision.channel, 'green');
  }

  const found = await search(page, { finding: 'true' });
  for (const r of found.slice(0, 3)) {
    const d = await detail(page, r.id);
    assert.ok(d.outcomes.some((o) => o.result === 'finding' || (o.findings || []).length), `${r.id} has a finding`);
  }

  const random = await search(page, { source: 'random' });
  for (const r of random.slice(0, 3)) assert.equal((await detail(page, r.id)).decision.source, 'random');

  // A bad value is refused by the server with the field named.
  const status = await page.evaluate(async () => (await fetch('/api/v1/declarations?status=lost', { credentials: 'same-origin' })).status);
  assert.equal(status, 400);
  assert.deepEqual(page.errors, []);
});
