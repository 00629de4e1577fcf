// The models page: versions, and the drift section (模型漂移) with its
// verdict and real rows by week and by office, in Chinese and in English.
import assert from 'node:assert/strict';
import { browserTests, screenshot, apiCall, BASE } from './helpers.mjs';

const { testAs } = browserTests();

// The cells of a table's body rows, as text.
const cells = (page, testid) =>
  page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));

testAs('an analyst sees the model drift report by week and by office', 'chen.analyst', async (page) => {
  await page.click('#nav a[data-nav=models]');
  await page.waitForSelector('[data-testid=models-table] tbody tr');
  await page.waitForSelector('[data-testid=drift-verdict]');
  assert.match(await page.textContent('main'), /模型漂移/);
  assert.match(await page.textContent('[data-testid=drift-verdict]'), /未发现漂移|出现漂移|模型训练后出现漂移/);

  // The demo's live weeks: ISO week keys with their Monday, the declarations
  // screened and the new-trader share; the controls by week add up to those
  // by office. The small demo store trains no learned model (too few
  // findings), so its controls are scored by the statistical scorer and
  // counted apart, which the section says with their number.
  const weeks = await cells(page, 'drift-weeks');
  assert.ok(weeks.length >= 10, `weeks: ${JSON.stringify(weeks)}`);
  const n = (s) => Number((s ?? '').replace(/,/g, ''));
  for (const w of weeks) {
    assert.match(w[0], /^\d{4}-W\d{2} \(\d{4}-\d{2}-\d{2}\)$/, w[0]);
    assert.ok(n(w[7]) > 0, `screened in ${w[0]}: ${w[7]}`);
    assert.match(w[8], /^\d+\.\d%$/, `new-trader share in ${w[0]}`);
  }
  assert.ok(weeks.some((w) => parseFloat(w[8]) > 0), 'some week has new traders');
  const sum = (rows, i) => rows.reduce((a, r) => a + (Number.isFinite(n(r[i])) ? n(r[i]) : 0), 0);
  const offices = await cells(page, 'drift-offices');
  assert.equal(sum(weeks, 1), sum(offices, 1), 'controls by week = controls by office');
  assert.equal(sum(weeks, 2), sum(offices, 2), 'findings by week = findings by office');
  const api = await page.evaluate(async () => (await fetch('/api/v1/models/drift', { credentials: 'same-origin' })).json());
  assert.equal(weeks.length, api.by_week.length);
  assert.equal(sum(weeks, 7), api.by_week.reduce((a, w) => a + w.screened, 0), 'screened as the API answers');
  if (api.unscored_controls > 0) {
    assert.match(await page.textContent('[data-testid=drift-verdict]'), new RegExp(`另有 ${api.unscored_controls.toLocaleString('zh-CN')} 票查验没有学习模型评分`));
  }
  await screenshot(page, 'models-drift-zh');

  // In English: the same section, worded from the dictionary.
  await page.click('#lang-switch');
  await page.waitForSelector('[data-testid=drift-weeks] th:has-text("Expected (E)")');
  assert.match(await page.textContent('main'), /Drift/);
  assert.match(await page.textContent('[data-testid=drift-verdict]'), /No drift|Drift/);
  assert.equal((await cells(page, 'drift-weeks')).length, weeks.length);
  assert.deepEqual(page.errors, []);
});

// run.sh trains one model on the small demo store and activates it: its
// evaluation window holds only a handful of findings.
const activeModel = async (page) => {
  const { body } = await apiCall(page, 'GET', '/models');
  return body.models.find((m) => m.status === 'active');
};

testAs('figures on few findings say so, and retiring the last active model asks first', 'chen.analyst', async (page) => {
  const m = await activeModel(page);
  assert.ok(m, 'run.sh leaves one active model');
  const n = m.metrics.evaluation.eval_findings;
  assert.ok(n < 30, `the demo model's evaluation rests on few findings: ${n}`);

  // The list and the evaluation table mark the precision figures.
  await page.click('#nav a[data-nav=models]');
  await page.waitForSelector('[data-testid=models-table] tbody tr');
  const row = page.locator('[data-testid=models-table] tbody tr', { hasText: m.id });
  assert.match(await row.textContent(), new RegExp(`样本过少 \\(n = ${n}\\)`));
  await page.goto(`${BASE}#/models/${encodeURIComponent(m.id)}`);
  await page.waitForSelector('[data-testid=eval-table] tbody tr');
  assert.match(await page.textContent('[data-testid=few-findings-note]'), new RegExp(`只有 ${n} 票查获`));
  const evalRows = await cells(page, 'eval-table');
  assert.ok(evalRows.length > 0);
  for (const r of evalRows) assert.match(r[1], new RegExp(`%\\s*样本过少 \\(n = ${n}\\)$`), `precision cell: ${r[1]}`);

  // Dismissed: nothing is sent, the model stays active.
  const posts = [];
  page.on('request', (r) => r.method() === 'POST' && r.url().includes('/status') && posts.push(r.url()));
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    d.dismiss();
  });
  await page.click('button:has-text("停用")');
  await page.waitForTimeout(500);
  assert.match(asked, /唯一的现行模型/);
  assert.match(asked, /布控规则和统计评分/);
  assert.deepEqual(posts, []);
  assert.equal((await activeModel(page))?.id, m.id, 'still active after a dismissed question');
  assert.match(await page.textContent('main h1'), /现行/);

  // Accepted (run in shadow): the model leaves service; then it is put back.
  page.once('dialog', (d) => d.accept());
  await page.click('button:has-text("影子运行")');
  await page.waitForFunction(() => document.querySelector('main h1')?.textContent.includes('影子'));
  assert.equal(posts.length, 1);
  assert.equal(await activeModel(page), undefined, 'no active model once the question is accepted');
  await screenshot(page, 'models-few-findings-zh');
  assert.equal((await apiCall(page, 'POST', `/models/${encodeURIComponent(m.id)}/status`, { status: 'active' })).status, 200);
  assert.deepEqual(page.errors, []);
});
