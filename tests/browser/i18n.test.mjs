// Every dictionary key the console names literally exists in Chinese and in
// English, and the two languages differ (nothing left untranslated by copy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const consoleDir = fileURLToPath(new URL('../../crates/riskgate-server/console/', import.meta.url));
const { DICTIONARY } = await import(join(consoleDir, 'js/i18n.js'));

function sources(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.js') ? [p] : [];
  });
}

test('every literal key is in the dictionary', () => {
  const spaces = new Set(Object.keys(DICTIONARY).map((k) => k.split('.')[0]));
  const missing = [];
  for (const file of sources(join(consoleDir, 'js'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'([a-z_]+)\.([a-z_0-9]+)'/g)) {
      if (spaces.has(m[1]) && !DICTIONARY[`${m[1]}.${m[2]}`]) missing.push(`${m[1]}.${m[2]} (${file})`);
    }
  }
  assert.deepEqual(missing, []);
});

test('no key is written twice (the later entry would silently win)', () => {
  const text = readFileSync(join(consoleDir, 'js/i18n.js'), 'utf8');
  const seen = new Set();
  const twice = [];
  for (const m of text.matchAll(/^\s*'([^']+)':\s*\[/gm)) {
    if (seen.has(m[1])) twice.push(m[1]);
    seen.add(m[1]);
  }
  assert.ok(seen.size > 100, `keys found: ${seen.size}`);
  assert.deepEqual(twice, []);
});

test('every entry has Chinese and English text', () => {
  const bad = Object.entries(DICTIONARY).filter(([, v]) => !(Array.isArray(v) && v.length === 2 && v[0] && v[1]));
  assert.deepEqual(bad, []);
  const chinese = /[\u4e00-\u9fff]/;
  const untranslated = Object.entries(DICTIONARY).filter(([, [zh]]) => !chinese.test(zh)).map(([k]) => k);
  assert.deepEqual(untranslated, []);
});

test('no English entry holds Chinese text or full-width punctuation', () => {
  const bad = Object.entries(DICTIONARY)
    .filter(([, [, en]]) => /[\u3400-\u9fff（）：；、，。！？【】]/.test(en))
    .map(([k, [, en]]) => `${k}: ${en}`);
  assert.deepEqual(bad, []);
});

test('punctuation follows the language', async () => {
  const i18n = await import(join(consoleDir, 'js/i18n.js'));
  const store = new Map();
  globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  try {
    i18n.setLang('zh');
    assert.deepEqual([i18n.paren('深圳海关', '5300'), i18n.listSep(), i18n.colon(), i18n.semi()], ['深圳海关（5300）', '、', '：', '；']);
    i18n.setLang('en');
    assert.deepEqual([i18n.paren('Shenzhen', '5300'), i18n.listSep(), i18n.colon(), i18n.semi()], ['Shenzhen (5300)', ', ', ': ', '; ']);
  } finally {
    delete globalThis.localStorage;
  }
});

test('the index page loads only local assets', () => {
  const html = readFileSync(join(consoleDir, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//);
});

test('a command run without logging in is shown as the local operator, not as local:NAME', async () => {
  const { person } = await import(join(consoleDir, 'js/ui.js'));
  assert.equal(person('local:cli'), '本机操作员（未登录）');
  assert.equal(person('local:wang'), '本机操作员 wang（未登录）');
  assert.equal(person('chen.analyst'), 'chen.analyst');
  assert.equal(person(null), '');
});
