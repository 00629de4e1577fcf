// The Chinese console speaks Chinese: for each role of users.txt, every
// page its navigation offers (plus a declaration, a rule, the rule editor,
// a model, an enterprise, a case and an officer's integrity profile where
// the role has them) is opened in Chinese, and every form a page opens
// from a button (`data-opens`: the outcome, override and urgent-request
// forms of the workbench, a new case, an analysis trend) is opened too.
// The Latin-script words of the visible text (document.body.innerText)
// are listed; any word that is not an identifier, a code or a unit fails
// the test: raw status words, action kinds, error codes, feature names and
// English sentences belong in the dictionary (i18n.js).
//
// The English console, the other way round: the same pages in English
// show none of the dictionary's Chinese text and no full-width Chinese
// punctuation outside the data (names of people, traders and offices are
// data and may be Chinese).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiCall, browserTests, navKeys, openRoute as open, settled, USERS } from './helpers.mjs';

const consoleDir = fileURLToPath(new URL('../../crates/riskgate-server/console/', import.meta.url));
const { DICTIONARY } = await import(join(consoleDir, 'js/i18n.js'));

const { testAs } = browserTests();

// Words that may stay in Latin script, each for a reason:
const ALLOWED = [
  // Identifiers and codes: anything holding a digit (declaration, rule,
  // trader, model and case ids, HS codes, office numbers, versions).
  /\d/,
  // All-capital codes and acronyms: currencies (CNY, USD), HS, KPI, API,
  // AUC, ISO country codes (CN, US), rule ids without digits.
  /^[A-Z][A-Z0-9_.-]*$/,
  // Units and statistics symbols: kg, p, z, n (a count: 样本过少 (n = 2)); the product's own name.
  /^(kg|p|z|n|riskgate)$/,
  // The language switch names the other language in itself.
  /^English$/,
  // User names and officer ids (a.b, from users.txt and the officer registry).
  /^[a-z]+\.[a-z]+\d*$/,
];
const allowed = (w) => ALLOWED.some((re) => re.test(w));

// Latin-script words of the visible text: runs of letters, digits and the
// joiners codes carry (_ . - : + /), so that a raw code stays one word
// (`max_kg_per_unit_z`, `overrides_down`) and so does an id
// (`stat-v1+rules:4:b3f41e89`).
function latinWords(text) {
  return [...new Set(text.match(/[A-Za-z0-9_.:+/-]*[A-Za-z][A-Za-z0-9_.:+/-]*/g) || [])].map((w) => w.replace(/[.:/-]+$/, ''));
}

async function firstId(page, path, key) {
  return page.evaluate(
    async ([p, k]) => {
      const r = await fetch(`/api/v1${p}`, { credentials: 'same-origin' });
      if (!r.ok) return null;
      const j = await r.json();
      const list = Array.isArray(j) ? j : j[k];
      return list?.[0]?.id ?? null;
    },
    [path, key],
  );
}

// The pages a user reaches: the navigation's, plus one of each record page.
async function routesOf(page) {
  const nav = await navKeys(page);
  const routes = nav.map((k) => `/${k}`);
  const has = (k) => nav.includes(k);
  if (has('declarations')) {
    const id = await firstId(page, '/declarations?trader=91310000BROWSER01X&limit=1', 'declarations');
    if (id) routes.push(`/declarations/${id}`);
  }
  if (has('rules')) {
    routes.push('/rules/R-TEST-BROWSER');
    // The editor, for those who write rules (the list links to it).
    const base = page.url().split('#')[0];
    await open(page, base, '/rules');
    if (await page.$('a[href="#/rules/new"]')) routes.push('/rules/new');
  }
  if (has('models')) {
    const id = await firstId(page, '/models', 'models');
    if (id) routes.push(`/models/${encodeURIComponent(id)}`);
  }
  if (has('enterprises')) {
    const id = await firstId(page, '/enterprises?limit=1', 'enterprises');
    if (id) routes.push(`/enterprises/${encodeURIComponent(id)}`);
  }
  if (has('cases')) {
    const id = await firstId(page, '/cases?limit=1', 'cases');
    if (id) routes.push(`/cases/${encodeURIComponent(id)}`);
  }
  if (has('integrity')) {
    const id = await firstId(page, '/integrity/officers', 'officers');
    if (id) routes.push(`/integrity/officer/${encodeURIComponent(id)}`);
  }
  return routes;
}

// The visible text of the page shown, with the stored evidence of the
// action log's raw columns (file names, JSON keys; marked data-raw) left out.
const visibleText = (page) =>
  page.evaluate(() => {
    const raw = [...document.querySelectorAll('[data-raw]')];
    for (const e of raw) e.style.display = 'none';
    const s = document.body.innerText;
    for (const e of raw) e.style.display = '';
    return s;
  });

// The text of `route` and of every form its buttons open (the first button
// of each kind: one outcome form stands for all).
async function pageTexts(page, base, route) {
  await open(page, base, route);
  const texts = [await visibleText(page)];
  const kinds = await page.$$eval('main .view:not([data-old]) [data-opens]', (es) => [...new Set(es.map((e) => e.dataset.opens))]);
  for (const kind of kinds) {
    const opener = await page.$(`main .view:not([data-old]) [data-opens="${kind}"]`);
    if (!opener) continue;
    await opener.click();
    await page.waitForLoadState('networkidle').catch(() => {});
    await settled(page);
    texts.push(await visibleText(page));
  }
  return { texts, opened: kinds };
}

for (const [name, { role }] of Object.entries(USERS)) {
  testAs(`${name} (${role}): the Chinese console shows no English word, forms included`, name, async (page) => {
    const base = page.url().split('#')[0];
    const found = [];
    const opened = new Set();
    for (const route of await routesOf(page)) {
      const r = await pageTexts(page, base, route);
      r.opened.forEach((k) => opened.add(k));
      const bad = [...new Set(r.texts.flatMap(latinWords))].filter((w) => !allowed(w));
      if (bad.length) found.push(`${route}: ${bad.join(' ')}`);
    }
    assert.deepEqual(found, [], `English words in the Chinese console of ${role}`);
    // The forms are really opened where the store has work for them: open
    // controls at 2201 (the marked trader's), cases for analysts.
    const expected = { 'zhang.officer': ['outcome', 'override', 'urgent'], 'chen.analyst': ['new-case'] }[name] || [];
    assert.deepEqual(expected.filter((k) => !opened.has(k)), [], `forms not opened; opened: ${[...opened].join(' ')}`);
    assert.deepEqual(page.errors, []);
  });
}

// The Chinese text of the dictionary: each entry's Chinese runs of three
// characters or more. A run of the page that is exactly one of them is
// interface text left in Chinese, unless it is the name of an office
// (海关总署 is the HQ office's name, and a label): names are data. Longer
// runs (a trader's name, an officer's reason) are data too.
const CHINESE_RUN = /[\u3400-\u9fff]{3,}/g;
const DICT_RUNS = new Set(Object.values(DICTIONARY).flatMap(([zh]) => zh.match(CHINESE_RUN) || []));
// Full-width punctuation the Chinese console writes between its own words,
// here after something that is neither a Chinese character nor another
// full-width mark (data such as 王审核（复核） or a reason keeps its own).
const INTERFACE_PUNCTUATION = /(^|[^\u3400-\u9fff（）：；、，。！？【】“”《》])[（）：；、，。！？【】]/;

for (const [name, { role }] of Object.entries(USERS)) {
  testAs(
    `${name} (${role}): the English console shows no Chinese interface text`,
    name,
    async (page) => {
      const base = page.url().split('#')[0];
      const offices = new Set(((await apiCall(page, 'GET', '/offices')).body?.offices || []).map((o) => o.name));
      const found = [];
      for (const route of await routesOf(page)) {
        const { texts } = await pageTexts(page, base, route);
        const bad = new Set();
        for (const line of texts.join('\n').split('\n')) {
          for (const run of line.match(CHINESE_RUN) || []) if (DICT_RUNS.has(run) && !offices.has(run)) bad.add(run);
          if (INTERFACE_PUNCTUATION.test(line)) bad.add(`“${line.trim().slice(0, 80)}”`);
        }
        if (bad.size) found.push(`${route}: ${[...bad].join(' ')}`);
      }
      assert.deepEqual(found, [], `Chinese interface text in the English console of ${role}`);
      assert.deepEqual(page.errors, []);
    },
    { lang: 'en' },
  );
}
