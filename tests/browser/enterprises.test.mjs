// Enterprises: the riskiest trader's level, its history and its controls
// with their findings, as a department user sees them.
import assert from 'node:assert/strict';
import { browserTests } from './helpers.mjs';

const { testAs } = browserTests();

testAs('a department user opens the riskiest enterprise: level, history, controls and findings', 'zhou.tariff', async (page) => {
  await page.click('#nav a[data-nav=enterprises]');
  await page.waitForSelector('[data-testid=enterprises-table] tbody tr.clickable');
  // Highest risk score first.
  const scores = await page.$$eval('[data-testid=enterprises-table] tbody tr', (rs) =>
    rs.map((r) => Number(r.cells[4].textContent)).filter((x) => !Number.isNaN(x)),
  );
  assert.ok(scores.length > 1 && scores.every((s, i) => i === 0 || scores[i - 1] >= s), `scores: ${scores.slice(0, 5)}`);
  await page.click('[data-testid=enterprises-table] tbody tr.clickable');
  await page.waitForSelector('[data-testid=enterprise-facts]');
  assert.match(await page.textContent('[data-testid=enterprise-facts]'), /（查获数 \+ 基准查获率 [0-9.]+ × 8）÷（查验数 \+ 8）/);
  await page.waitForSelector('[data-testid=level-history] tbody tr');
  assert.match(await page.textContent('h1 .chip'), /高|中|低/);
  const controls = await page.textContent('[data-testid=enterprise-controls]');
  assert.match(controls, /有查获|无查获|待处理/);
  assert.deepEqual(page.errors, []);
});
