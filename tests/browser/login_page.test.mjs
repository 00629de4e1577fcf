// The login page's language switch is readable: its text colour differs
// from the card behind it, with at least the 4.5:1 contrast of WCAG AA.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserTests, BASE, screenshot } from './helpers.mjs';

const { browser } = browserTests();

// The switch's colour and the first opaque background behind it, and their contrast ratio.
const contrast = (page) =>
  page.$eval('[data-testid=login-lang]', (el) => {
    const rgb = (s) => s.match(/[\d.]+/g).map(Number);
    const lum = ([r, g, b]) => {
      const c = [r, g, b].map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const fg = getComputedStyle(el).color;
    let bg = 'rgb(255, 255, 255)';
    for (let e = el; e; e = e.parentElement) {
      const b = getComputedStyle(e).backgroundColor;
      const parts = rgb(b);
      if (parts.length < 4 || parts[3] > 0) {
        bg = b;
        break;
      }
    }
    const [l1, l2] = [lum(rgb(fg)), lum(rgb(bg))].sort((a, b) => b - a);
    return { fg, bg, ratio: (l1 + 0.05) / (l2 + 0.05), visible: el.offsetWidth > 0 && el.offsetHeight > 0 };
  });

test('the language switch of the login page is readable and switches', async () => {
  const context = await browser().newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
  try {
    const page = await context.newPage();
    await page.goto(`${BASE}/#/login`);
    await page.waitForSelector('[data-testid=login-lang]');
    assert.equal((await page.textContent('[data-testid=login-lang]')).trim(), 'English');
    const c = await contrast(page);
    assert.ok(c.visible);
    assert.notEqual(c.fg, c.bg, `colour ${c.fg} on ${c.bg}`);
    assert.ok(c.ratio >= 4.5, `contrast ${c.ratio.toFixed(2)}:1 (${c.fg} on ${c.bg})`);
    await screenshot(page, 'login-zh');
    await page.click('[data-testid=login-lang]');
    await page.waitForFunction(() => document.querySelector('[data-testid=login-lang]')?.textContent === '中文');
    assert.ok((await contrast(page)).ratio >= 4.5);
  } finally {
    await context.close();
  }
});
