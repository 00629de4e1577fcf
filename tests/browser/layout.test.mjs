// The layout holds from a 390 px phone to a desktop: at 390×844 no page of
// any role is wider than the screen (wide tables scroll in their own box,
// logged JSON wraps), and the navigation folds behind a menu button that
// opens it, leads to a page and folds again. Screenshots of every page in
// Chinese at 1366 and 390 px.
import assert from 'node:assert/strict';
import { browserTests, navKeys, openRoute as open, screenshot, settled, USERS } from './helpers.mjs';

const { testAs } = browserTests();
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1366, height: 900 };
const shot = new Set();

const width = (page) => page.evaluate(() => document.documentElement.scrollWidth);

// Opens `route` at 390 px, checks the page fits, and (once per page) saves
// screenshots at 390 and at 1366 px.
async function check(page, base, route, name, wide) {
  await page.setViewportSize(PHONE);
  await open(page, base, route);
  const w = await width(page);
  if (w > PHONE.width) wide.push(`${route}: ${w} px`);
  if (!shot.has(name)) {
    shot.add(name);
    await screenshot(page, `${name}-zh-390`);
    await page.setViewportSize(DESKTOP);
    await page.waitForTimeout(150);
    await screenshot(page, `${name}-zh-1366`);
    await page.setViewportSize(PHONE);
  }
}

for (const [name, { role }] of Object.entries(USERS)) {
  testAs(`${name} (${role}): every page fits 390 px and the menu button opens the navigation`, name, async (page) => {
    const base = page.url().split('#')[0];
    const pages = await navKeys(page);
    assert.ok(pages.length >= 1, `pages of ${role}`);
    await page.setViewportSize(PHONE);
    await open(page, base, `/${pages[0]}`);

    // The navigation folds behind the menu button, opens, leads to a page, folds again.
    assert.equal(await page.isVisible('#nav'), false, 'the navigation is folded at 390 px');
    await page.click('[data-testid=menu-toggle]');
    assert.equal(await page.isVisible('#nav'), true, 'the menu button opens it');
    const last = pages[pages.length - 1];
    const link = await page.$(`#nav a[data-nav=${last}]`);
    const box = await link.boundingBox();
    assert.ok(box.width >= 100 && box.x + box.width <= PHONE.width, `a link is wide enough to tap: ${JSON.stringify(box)}`);
    if (last !== pages[0]) await page.evaluate(() => document.querySelector('main .view')?.setAttribute('data-old', '1'));
    await link.click();
    await page.waitForFunction((k) => location.hash.startsWith(`#/${k}`), last);
    await settled(page);
    assert.equal(await page.isVisible('#nav'), false, 'it folds once a page is chosen');
    assert.ok((await width(page)) <= PHONE.width, 'the top bar fits');

    const wide = [];
    for (const key of pages) await check(page, base, `/${key}`, key, wide);
    // Pages one level down, where the role has them.
    if (pages.includes('declarations')) {
      const id = await page.evaluate(async () => {
        const r = await fetch('/api/v1/declarations?trader=91310000BROWSER01X&limit=1', { credentials: 'same-origin' });
        return r.ok ? (await r.json()).declarations[0]?.id : null;
      });
      if (id) await check(page, base, `/declarations/${id}`, 'declaration', wide);
    }
    if (pages.includes('integrity') && role === 'integrity_supervisor') {
      const officer = await page.evaluate(async () => {
        const r = await fetch('/api/v1/integrity/officers', { credentials: 'same-origin' });
        return (await r.json()).officers[0]?.id;
      });
      await check(page, base, `/integrity/officer/${encodeURIComponent(officer)}`, 'integrity-officer', wide);
    }
    if (role === 'risk_analyst') await check(page, base, '/rules/R-TEST-BROWSER', 'rule', wide);
    assert.deepEqual(wide, [], `pages wider than ${PHONE.width} px`);
    assert.deepEqual(page.errors, []);
  });
}
