// A table cut at the limit the console asked for does not read as a
// total: 显示前 100 条 with a link that asks for more; the declaration
// search also pages with 上一页/下一页 (`offset`); a list that ended before
// the limit says 共 n 条.
import assert from 'node:assert/strict';
import { browserTests, apiCall, openRoute, BASE } from './helpers.mjs';

const { testAs } = browserTests();
const rowCount = (page, testid) => page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) => trs.length);

testAs('a search cut at its limit says 显示前 100 条 and offers more', 'chen.analyst', async (page) => {
  const all = (await apiCall(page, 'GET', '/declarations?limit=1000')).body.declarations.length;
  assert.ok(all > 100, `the demo store holds more than 100 declarations: ${all}`);

  await openRoute(page, BASE, '/declarations');
  await page.waitForSelector('[data-testid=rows-note]');
  assert.equal(await rowCount(page, 'declaration-results'), 100);
  const note = await page.textContent('[data-testid=rows-note]');
  assert.match(note, /显示前 100 条，可能还有更多/);
  assert.doesNotMatch(note, /共 100 条/);

  // More: the same search with twice the rows.
  await page.click('[data-testid=rows-more]');
  await page.waitForFunction(() => /limit=200/.test(location.hash) && document.querySelectorAll('[data-testid=declaration-results] tbody tr').length > 100);
  const shown = Math.min(all, 200);
  assert.equal(await rowCount(page, 'declaration-results'), shown);
  assert.match(await page.textContent('[data-testid=rows-note]'), all > 200 ? /显示前 200 条/ : new RegExp(`共 ${shown} 条`));

  // A search that ends before the limit gives its total.
  const id = (await apiCall(page, 'GET', '/declarations?limit=1')).body.declarations[0].id;
  await openRoute(page, BASE, `/declarations?q=${encodeURIComponent(id)}`);
  await page.waitForSelector('[data-testid=rows-note]');
  const n = await rowCount(page, 'declaration-results');
  assert.ok(n >= 1 && n < 100);
  assert.equal((await page.textContent('[data-testid=rows-note]')).trim(), `共 ${n} 条`);
  assert.equal(await page.$('[data-testid=rows-more]'), null);
  assert.deepEqual(page.errors, []);
});

testAs('the declaration search pages on with 下一页 and back with 上一页', 'chen.analyst', async (page) => {
  const api = (await apiCall(page, 'GET', '/declarations?limit=1000')).body.declarations.map((d) => d.id);
  assert.ok(api.length > 100);
  await openRoute(page, BASE, '/declarations');
  await page.waitForSelector('[data-testid=page-next]');
  assert.equal(await page.$('[data-testid=page-prev]'), null, 'no previous page on the first');
  await page.click('[data-testid=page-next]');
  await page.waitForFunction(() => /offset=100/.test(location.hash) && /第 101/.test(document.querySelector('[data-testid=rows-note]')?.textContent || ''));
  const first = await page.textContent('[data-testid=declaration-results] tbody tr td a');
  assert.equal(first, api[100], 'the second page starts where the first ended');
  const n = await rowCount(page, 'declaration-results');
  assert.equal((await page.textContent('[data-testid=rows-note]')).trim(), `第 101–${100 + n} 条`);
  assert.equal(n, Math.min(100, api.length - 100));
  await page.click('[data-testid=page-prev]');
  await page.waitForFunction(() => !/offset=/.test(location.hash) && document.querySelector('[data-testid=page-next]'));
  assert.equal(await page.textContent('[data-testid=declaration-results] tbody tr td a'), api[0]);
  assert.deepEqual(page.errors, []);
});

testAs('the enterprise list cut at 100 says so', 'chen.analyst', async (page) => {
  const all = (await apiCall(page, 'GET', '/enterprises?limit=1000')).body.enterprises.length;
  await openRoute(page, BASE, '/enterprises');
  await page.waitForSelector('[data-testid=rows-note]');
  const note = await page.textContent('[data-testid=rows-note]');
  if (all > 100) assert.match(note, /显示前 100 条/);
  else assert.equal(note.trim(), `共 ${all} 条`);
  assert.deepEqual(page.errors, []);
});

testAs('the workbench cut at its limit does not give the cut as the office total', 'zhang.officer', async (page) => {
  const open = (await apiCall(page, 'GET', '/controls?office=2201&limit=1000')).body.controls.length;
  assert.ok(open > 1, `open controls at 2201: ${open}`);
  // Asked for one: the first one shown, and more on offer.
  await openRoute(page, BASE, '/workbench?office=2201&limit=1');
  await page.waitForSelector('[data-testid=work-intro]');
  assert.match(await page.textContent('[data-testid=work-intro]'), /显示前 1 票，可能还有更多/);
  assert.match(await page.textContent('[data-testid=rows-note]'), /显示前 1 条/);
  await page.click('[data-testid=rows-more]');
  await page.waitForFunction(() => /limit=2/.test(location.hash) && /2 票/.test(document.querySelector('[data-testid=work-intro]')?.textContent || ''));
  // The usual page holds them all: its count is the total.
  await openRoute(page, BASE, '/workbench?office=2201');
  await page.waitForSelector('[data-testid=work-intro]');
  if (open < 200) {
    assert.match(await page.textContent('[data-testid=work-intro]'), new RegExp(`本关待处理布控 ${open} 票`));
    assert.equal(await page.$('[data-testid=rows-note]'), null);
  }
  assert.deepEqual(page.errors, []);
});

// Every other list pages the same way: 下一页 shows the rows of the same
// order after the page, 上一页 goes back (a small limit makes pages here).
const LISTS = [
  // [user, route with a small limit, API list of the same order, key, first row's id on the page]
  ['chen.analyst', '/enterprises?limit=5', '/enterprises?limit=1000', 'enterprises', (e) => e.id, '[data-testid=enterprises-table] tbody tr td a'],
  ['qian.integrity', '/integrity?limit=5', '/actions?reads=false&limit=1000', 'actions', (a) => String(a.seq), '[data-testid=action-log] tbody tr td'],
  ['zhang.officer', '/workbench?office=2201&limit=1', '/controls?office=2201&limit=1000', 'controls', (c) => c.declaration_id, '[data-control]'],
];
for (const [user, route, api, key, idOf, firstCell] of LISTS) {
  testAs(`${route.split('?')[0]} pages on with 下一页 and back with 上一页`, user, async (page) => {
    const ids = (await apiCall(page, 'GET', api)).body[key].map(idOf);
    const limit = Number(new URLSearchParams(route.split('?')[1]).get('limit'));
    assert.ok(ids.length > limit, `${api}: ${ids.length} rows`);
    // Resolves once the page's first row is `want`.
    const firstIs = (want) =>
      page.waitForFunction(
        ([sel, w]) => {
          const e = document.querySelector(`main .view:not([data-old]) ${sel}`);
          return e && (e.dataset.control || e.textContent.trim()) === w;
        },
        [firstCell, want],
      );
    await openRoute(page, BASE, route);
    await page.waitForSelector('[data-testid=page-next]');
    assert.equal(await page.$('[data-testid=page-prev]'), null, 'no previous page on the first');
    await firstIs(ids[0]);
    await page.click('[data-testid=page-next]');
    await page.waitForFunction((o) => location.hash.includes(`offset=${o}`), limit);
    await firstIs(ids[limit]);
    assert.match(await page.textContent('[data-testid=rows-note]'), new RegExp(`第 ${limit + 1}–`));
    await page.click('[data-testid=page-prev]');
    await page.waitForFunction(() => !/offset=/.test(location.hash));
    await firstIs(ids[0]);
    assert.equal(await page.$('main .view:not([data-old]) [data-testid=page-prev]'), null);
    assert.deepEqual(page.errors, []);
  });
}
