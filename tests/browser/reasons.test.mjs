// Reasons in plain words: the model's features on a declaration page carry
// their short label from the dictionary (Chinese, or English in the English
// console) and a rounded figure, never the engine's feature name or a
// three-decimal log-odds; a refusal of the server shows the Chinese text of
// its error code, the server's own message only on hover.
import assert from 'node:assert/strict';
import { browserTests } from './helpers.mjs';

const { testAs } = browserTests();

async function markedDeclaration(page) {
  return page.evaluate(async () => {
    const r = await fetch('/api/v1/declarations?trader=91310000BROWSER01X&limit=1', { credentials: 'same-origin' });
    return (await r.json()).declarations[0].id;
  });
}

async function features(page) {
  const id = await markedDeclaration(page);
  await page.goto(`${page.url().split('#')[0]}#/declarations/${id}`);
  await page.waitForSelector('[data-testid=features] tbody tr');
  return page.$$eval('[data-testid=features] tbody tr', (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
}

testAs('the model reasons of a declaration have Chinese labels and rounded figures', 'chen.analyst', async (page) => {
  const rows = await features(page);
  assert.ok(rows.length > 0, 'the score has top features');
  for (const [label, figure] of rows) {
    assert.match(label, /^[^A-Za-z]*[\u4e00-\u9fff][^a-z_]*$/, `label ${label}`);
    assert.match(figure, /^([+−]\d+\.\d|0\.0)$/, `figure ${figure}`);
  }
  // The engine's name stays on hover for an analyst who asks.
  const titles = await page.$$eval('[data-testid=features] tbody tr td:first-child span', (ss) => ss.map((s) => s.title));
  for (const n of titles) assert.match(n, /^[a-z][a-z0-9_]*$/);
  assert.deepEqual(page.errors, []);
});

testAs('the English console labels them in English', 'chen.analyst', async (page) => {
  const rows = await features(page);
  for (const [label] of rows) {
    assert.match(label, /^[A-Za-z]/, `label ${label}`);
    assert.doesNotMatch(label, /_|[\u4e00-\u9fff]/, `label ${label}`);
  }
  assert.deepEqual(page.errors, []);
}, { lang: 'en' });

testAs('a refusal of the server reads in Chinese, its message on hover', 'wu.hq', async (page) => {
  await page.goto(`${page.url().split('#')[0]}#/rules/R-FX-001`);
  await page.waitForSelector('[data-testid=error]');
  const box = await page.$('[data-testid=error]');
  assert.equal(await box.getAttribute('data-code'), 'forbidden');
  assert.match(await box.textContent(), /^无权访问：您的角色不能执行此操作/);
  assert.doesNotMatch(await box.textContent(), /[a-z]{3}/);
  assert.match(await box.getAttribute('title'), /hq_manager/);
  assert.deepEqual(page.errors, []);
});
