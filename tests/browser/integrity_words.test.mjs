// The integrity pages speak the reader's language: indicator names and
// reasons in Chinese (English in the English console) from the console's
// dictionary, rounded figures, and p-values as 显著 / 较显著 / 不显著 with
// the number on hover — never the indicator codes, post codes or the
// English sentences the CLI prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, screenshot } from './helpers.mjs';

const { testAs, asUser } = browserTests();

// What must never show in the Chinese integrity pages.
const RAW = [
  /overrides_down|finding_shortfall|partner_findings|control_duration|release_speed|off_hours|flagged_officers|window_\d+d/,
  /document_review|inspection|unregistered/,
  /years in post|controls handled|by chance|for peers|\bz \d|\bp \d/,
  /\d\.\d{4,}/, // unrounded figures
];

function assertPlain(text, where) {
  for (const re of RAW) assert.doesNotMatch(text, re, `${where}: ${text.match(re)?.[0]}`);
}

// Every significance label says 显著 / 较显著 / 不显著 (or the English) and
// carries its p-value on hover.
async function assertSignificance(page, selector, words) {
  const sigs = await page.$$eval(`${selector} .sig`, (ss) => ss.map((s) => [s.textContent, s.getAttribute('title')]));
  for (const [text, title] of sigs) {
    assert.ok(words.includes(text), `label ${text}`);
    assert.match(title, /^p = \d/, `hover of ${text}`);
  }
  return sigs.length;
}

testAs('the integrity pages name indicators, reasons and significance in Chinese', 'qian.integrity', async (page) => {
  const base = page.url().split('#')[0];
  await page.goto(`${base}#/integrity`);
  await page.waitForSelector('[data-testid=integrity-ranked] tbody tr');
  const ranked = await page.textContent('[data-testid=integrity-ranked]');
  assertPlain(ranked, 'ranked officers');
  assertPlain(await page.textContent('[data-testid=integrity-warnings]'), 'warnings');
  assertPlain(await page.textContent('[data-testid=integrity-inbox]'), 'inbox');
  const zh = ['显著', '较显著', '不显著'];
  const labels = await assertSignificance(page, '[data-testid=integrity-ranked]', zh);
  // The reasons start with the indicator's Chinese name.
  const names = await page.$$eval('[data-testid=integrity-ranked] .reason strong', (ss) => ss.map((s) => s.textContent));
  assert.ok(names.length > 0, `some officer has a reason (${labels} with a p-value)`);
  for (const n of names) assert.match(n, /[\u4e00-\u9fff]/, `indicator name ${n}`);
  // zhang.officer, 11 years in an inspection post (run.sh): the rotation rule, in words.
  const zhang = await page.textContent('[data-testid=integrity-ranked] tbody tr:has(a[href="#/integrity/officer/zhang.officer"])');
  assert.match(zhang, /任职年限：在本岗位 \d+\.\d 年，轮岗规定 5\.0 年（\+0\.5 分）/);

  // Posts: the post in words.
  await page.click('[data-testid=tab-posts]');
  await page.waitForFunction(() => /view=posts/.test(location.hash) && document.querySelector('[data-testid=integrity-ranked] tbody tr td:nth-child(2)')?.textContent.includes('/'));
  const posts = await page.textContent('[data-testid=integrity-ranked]');
  assertPlain(posts, 'ranked posts');
  assert.match(posts, /查验|仅单证审核/);

  // The first officer's profile: indicators, reasons and evidence headings in words.
  await page.goto(`${base}#/integrity?view=officers`);
  await page.waitForSelector('[data-testid=integrity-ranked] tbody tr a');
  await page.click('[data-testid=integrity-ranked] tbody tr a');
  await page.waitForSelector('[data-testid=integrity-indicators] tbody tr');
  for (const part of ['[data-testid=integrity-profile]', '[data-testid=integrity-indicators]', '[data-testid=integrity-reasons]']) {
    assertPlain(await page.textContent(part), part);
  }
  for (const h3 of await page.$$eval('main h3', (hs) => hs.map((x) => x.textContent))) assertPlain(h3, 'evidence heading');
  const indicators = await page.$$eval('[data-testid=integrity-indicators] tbody tr td:first-child', (ts) => ts.map((t) => t.textContent));
  for (const n of indicators) assert.match(n, /[\u4e00-\u9fff]/, `indicator ${n}`);
  assert.ok((await assertSignificance(page, '[data-testid=integrity-indicators]', zh)) > 0);
  await screenshot(page, 'integrity-officer-words-zh');
  assert.deepEqual(page.errors, []);
});

testAs('the English console names them in English', 'qian.integrity', async (page) => {
  const base = page.url().split('#')[0];
  await page.goto(`${base}#/integrity`);
  await page.waitForSelector('[data-testid=integrity-ranked] .reason strong');
  const names = await page.$$eval('[data-testid=integrity-ranked] .reason strong', (ss) => ss.map((s) => s.textContent));
  assert.ok(names.length > 0, 'some officer has a reason');
  for (const n of names) assert.match(n, /^[A-Z][a-z]/, `indicator name ${n}`);
  assert.doesNotMatch(await page.textContent('[data-testid=integrity-ranked]'), /[\u4e00-\u9fff]|overrides_down|finding_shortfall|\d\.\d{4,}/);
  await assertSignificance(page, '[data-testid=integrity-ranked]', ['significant', 'fairly significant', 'not significant']);
  assert.deepEqual(page.errors, []);
}, { lang: 'en' });

test('officers read by name where the registry names them', async () => {
  // zhang.officer logs in, so the action log holds an action of theirs.
  await asUser('zhang.officer', async () => {});
  await asUser('qian.integrity', async (page) => {
    const base = page.url().split('#')[0];
    await page.goto(`${base}#/integrity?view=officers`);
    const link = '[data-testid=integrity-ranked] tbody tr a[href="#/integrity/officer/zhang.officer"]';
    await page.waitForSelector(link);
    // run.sh registers zhang.officer as 张警官.
    assert.equal((await page.textContent(link)).trim(), '张警官 (zhang.officer)');
    await page.click(link);
    await page.waitForSelector('[data-testid=integrity-indicators]');
    assert.match(await page.textContent('h1'), /张警官 \(zhang\.officer\)/);
    // The action log names the officers the registry knows.
    await page.goto(`${base}#/integrity?officer=zhang.officer`);
    await page.waitForSelector('[data-testid=action-log] tbody tr td');
    const actors = await page.$$eval('[data-testid=action-log] tbody tr td:nth-child(3)', (ts) => ts.map((td) => td.textContent.trim()));
    assert.ok(actors.length > 0 && actors.every((a) => a === '张警官 (zhang.officer)'), `actors: ${actors}`);
    assert.deepEqual(page.errors, []);
  });
});
