// The integrity page puts the officers, posts or units at warning or watch
// in their own section above the full ranking (warnings first), so a
// supervisor sees them without scrolling through every row.
import assert from 'node:assert/strict';
import { browserTests, apiCall, openRoute, screenshot, BASE } from './helpers.mjs';

const { testAs } = browserTests();

const ORDER = { warning: 0, watch: 1 };

async function check(page, kind) {
  await openRoute(page, BASE, `/integrity?view=${kind}`);
  await page.waitForSelector('[data-testid=integrity-attention]');
  const { body } = await apiCall(page, 'GET', `/integrity/${kind}`);
  const rows = body[kind];
  const flagged = rows.filter((r) => r.level in ORDER).sort((a, b) => ORDER[a.level] - ORDER[b.level] || a.rank - b.rank);
  const title = await page.textContent('[data-testid=integrity-attention-title]');
  const n = (l) => flagged.filter((r) => r.level === l).length;
  assert.match(title, new RegExp(`预警 ${n('warning')}，关注 ${n('watch')}`), `${kind}: ${title}`);
  // The section comes before the full ranking.
  const before = await page.evaluate(() => {
    const a = document.querySelector('[data-testid=integrity-attention]');
    const b = document.querySelector('[data-testid=integrity-ranked]');
    return Boolean(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  assert.ok(before, `${kind}: the flagged section is above the ranking`);
  if (!flagged.length) {
    assert.match(await page.textContent('[data-testid=integrity-attention]'), /没有处于预警或关注的/);
    return 0;
  }
  const shown = await page.$$eval('[data-testid=integrity-attention] tbody tr', (trs) => trs.map((tr) => tr.children[0].textContent.trim()));
  assert.deepEqual(shown, flagged.map((r) => String(r.rank)), `${kind}: the flagged rows, warnings first, by rank`);
  const levels = await page.$$eval('[data-testid=integrity-attention] tbody tr td:nth-child(5)', (ts) => ts.map((t) => t.textContent.trim()));
  assert.ok(levels.every((l) => l === '预警' || l === '关注'), levels.join());
  // The full ranking keeps every row.
  assert.equal(await page.$$eval('[data-testid=integrity-ranked] tbody tr', (trs) => trs.length), rows.length);
  return flagged.length;
}

testAs('officers, posts and units at warning or watch come first', 'qian.integrity', async (page) => {
  let total = 0;
  for (const kind of ['posts', 'officers', 'units']) total += await check(page, kind);
  // The demo store has posts at watch: the section is not always empty.
  assert.ok(total > 0, 'some subject at warning or watch in the demo store');
  await openRoute(page, BASE, '/integrity?view=posts');
  await screenshot(page, 'integrity-attention-zh');
  assert.deepEqual(page.errors, []);
});
