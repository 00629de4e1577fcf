// A field officer works the open controls of the office: instructions, an
// override that needs a reason, and recording an outcome. Screenshots of the
// workbench and the decision page in Chinese.
import assert from 'node:assert/strict';
import { browserTests, screenshot } from './helpers.mjs';

const { testAs } = browserTests();

testAs('an officer records an outcome on an open control of the office', 'zhang.officer', async (page) => {
  await page.click('#nav a[data-nav=workbench]');
  await page.waitForSelector('[data-testid=open-controls] [data-control]');
  const ids = await page.$$eval('[data-control]', (cs) => cs.map((c) => c.dataset.control));
  const marked = ids.filter((id) => id.startsWith('2201'));
  assert.ok(marked.length >= 2, `open controls of office 2201: ${ids}`);
  const card = `[data-control="${marked[0]}"]`;
  // Instructions, never rule logic.
  assert.match(await page.textContent(`${card} .instructions`), /核对装箱单并开箱查验/);
  await screenshot(page, 'workbench-zh');

  // An override without a reason is refused before it is sent.
  await page.click(`${card} button[data-action=override]`);
  await page.click(`${card} [data-testid=override-form] button[type=submit]`);
  assert.match(await page.textContent(`${card} [data-testid=error]`), /必须填写理由/);

  // An override to green with a reason releases the second control: it leaves the list.
  const other = `[data-control="${marked[1]}"]`;
  await page.click(`${other} button[data-action=override]`);
  await page.selectOption(`${other} [data-testid=override-form] select[name=channel]`, 'green');
  await page.fill(`${other} [data-testid=override-form] input[name=reason]`, '经核对随附单证齐全，浏览器测试');
  // Red to green is a downgrade: confirmed in a dialog (override.test.mjs checks it).
  page.once('dialog', (d) => d.accept());
  await page.click(`${other} [data-testid=override-form] button[type=submit]`);
  await page.waitForSelector(other, { state: 'detached' });

  // Record a finding.
  await page.click(`${card} button[data-action=outcome]`);
  await page.selectOption(`${card} select[name=result]`, 'finding');
  await page.check(`${card} input[name=findings][value=undervaluation]`);
  await page.fill(`${card} input[name=additional_duty]`, '1234.5');
  // Release is never pre-ticked, and seized goods cannot be released with the outcome.
  assert.equal(await page.isChecked(`${card} input[name=release]`), false);
  await page.check(`${card} input[name=seizure]`);
  assert.equal(await page.isDisabled(`${card} input[name=release]`), true);
  await page.uncheck(`${card} input[name=seizure]`);
  assert.equal(await page.isDisabled(`${card} input[name=release]`), false);
  await page.fill(`${card} input[name=note]`, '浏览器测试');
  await page.click(`${card} [data-testid=outcome-form] button[type=submit]`);
  await page.waitForSelector(card, { state: 'detached' });
  const left = await page.$$eval('[data-control]', (cs) => cs.map((c) => c.dataset.control));
  assert.ok(!left.includes(marked[0]), 'the completed control left the list');

  // The decision page shows the outcome and explains the lane.
  await page.goto(`${page.url().split('#')[0]}#/declarations/${marked[0]}`);
  await page.waitForSelector('[data-testid=why-lane]');
  assert.match(await page.textContent('[data-testid=why-lane]'), /强制规则命中（规则逻辑仅对风险分析员可见）/);
  assert.equal(await page.$('[data-testid=fired-rules]'), null, 'officers never see which rule fired');
  assert.doesNotMatch(await page.textContent('main'), /R-TEST-BROWSER/);
  assert.match(await page.textContent('main'), /低报价格/);
  assert.deepEqual(page.errors, []);
});

testAs('the integrity supervisor finds the recorded outcome in the action log by officer, office and kind', 'qian.integrity', async (page) => {
  await page.click('#nav a[data-nav=integrity]');
  await page.waitForSelector('[data-testid=action-search]');
  await page.fill('[data-testid=action-search] input[name=officer]', 'zhang.officer');
  await page.fill('[data-testid=action-search] input[name=office]', '2201');
  await page.fill('[data-testid=action-search] input[name=action]', 'record_outcome');
  await page.click('[data-testid=action-search] button[type=submit]');
  await page.waitForFunction(() => /officer=zhang\.officer/.test(location.hash));
  // The search's own rows, not the unfiltered log the page opened with
  // (which may still be on screen right after the hash changes).
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid=action-log] tbody tr')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes('zhang.officer'));
  });
  const rows = await page.$$eval('[data-testid=action-log] tbody tr', (rs) => rs.map((r) => r.textContent));
  assert.ok(rows.length >= 1, 'the outcome is logged');
  assert.ok(rows.every((r) => r.includes('zhang.officer') && r.includes('record_outcome') && r.includes('2201')), `rows: ${rows}`);
  assert.match(rows[0], /undervaluation/);
  // Another officer has no such entries.
  await page.fill('[data-testid=action-search] input[name=officer]', 'li.officer2');
  await page.click('[data-testid=action-search] button[type=submit]');
  await page.waitForFunction(() => /officer=li\.officer2/.test(location.hash));
  await page.waitForSelector('[data-testid=action-log] tbody tr td.muted');
  assert.deepEqual(page.errors, []);
});

testAs('the decision page explains a lane with rules, score, random draw and selection probability', 'chen.analyst', async (page) => {
  // One of the marked trader's red declarations, found through the search form.
  await page.click('#nav a[data-nav=declarations]');
  await page.fill('input[name=trader]', '91310000BROWSER01X');
  await page.selectOption('select[name=channel]', 'red');
  await page.click('[data-testid=declaration-search] button[type=submit]');
  // The search's own results, not the unfiltered list the page opened with
  // (which may still be on screen when the search is sent).
  await page.waitForFunction(() => {
    if (!/trader=91310000BROWSER01X/.test(location.hash)) return false;
    const rows = [...document.querySelectorAll('[data-testid=declaration-results] tbody tr.clickable')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes('91310000BROWSER01X'));
  });
  const rows = await page.$$('[data-testid=declaration-results] tbody tr.clickable');
  assert.ok(rows.length >= 2, 'the marked declarations are found');
  await rows[rows.length - 1].click();
  await page.waitForSelector('[data-testid=decision-facts]');
  const facts = await page.textContent('[data-testid=decision-facts]');
  assert.match(facts, /被布控概率\s*100\.000%/);
  assert.match(facts, /随机抽取\s*否/);
  assert.match(facts, /红色通道/);
  // Analysts see the rule that fired, with its version.
  const fired = await page.textContent('[data-testid=fired-rules]');
  assert.match(fired, /R-TEST-BROWSER/);
  assert.match(fired, /v1/);
  assert.match(await page.textContent('[data-testid=why-lane]'), /强制规则 R-TEST-BROWSER v1/);
  assert.match(await page.textContent('[data-testid=score]'), /查获概率/);
  await page.waitForSelector('[data-testid=features-chart][data-ready="1"]');
  await screenshot(page, 'decision-zh');
  assert.deepEqual(page.errors, []);
});

testAs('a field officer lands on the workbench; each control shows declared time, waiting time, deadline, trader and main goods', 'zhang.officer', async (page) => {
  // Login leads to the workbench, not the overview.
  assert.match(page.url(), /#\/workbench$/);
  await page.waitForSelector('[data-testid=open-controls] [data-control]');
  const cards = await page.$$eval('[data-control]', (cs) =>
    cs.map((c) => Object.fromEntries(['declared-at', 'waiting', 'deadline', 'trader', 'goods'].map((k) => [k, c.querySelector(`[data-testid=${k}]`)?.textContent ?? null]))),
  );
  assert.ok(cards.length > 0);
  for (const c of cards) {
    // yyyy-mm-dd HH:MM and the zone of the reader's clock.
    assert.match(c['declared-at'], /^申报时间 \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC([+−]\d{1,2}(:\d{2})?)?$/, JSON.stringify(c));
    assert.match(c.deadline, /^期限 \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/, JSON.stringify(c));
    assert.match(c.waiting, /^已等待 \d+ (分钟|小时 \d+ 分钟|天 \d+ 小时)$/, JSON.stringify(c));
    assert.match(c.trader, /^经营单位 .*9\d{5}[0-9A-Z]{12}/, JSON.stringify(c));
    assert.match(c.goods, /^主要商品 .+（HS \d{4,10}，原产 [A-Z]{2}）/, JSON.stringify(c));
  }
  assert.deepEqual(page.errors, []);
});

// A district manager holds the override and urgent-request permissions: the
// workbench shows the district's offices, each control with its office, and
// offers those actions but not recording an outcome (officers' work).
testAs('a district manager looks over the open controls of the offices below the district', 'sun.district', async (page) => {
  await page.click('#nav a[data-nav=workbench]');
  await page.waitForSelector('[data-testid=work-intro]');
  assert.match(await page.textContent('[data-testid=work-intro]'), /及下属现场待处理布控/);
  const cards = await page.$$eval('[data-control]', (cs) => cs.map((c) => c.dataset.control));
  assert.ok(cards.length >= 1, 'open controls in district 2200');
  const offices = await page.$$eval('[data-testid=control-office]', (cs) => cs.map((c) => c.textContent));
  assert.equal(offices.length, cards.length, 'each control names its office');
  assert.ok(offices.every((o) => /现场 22\d\d/.test(o)), `offices of district 2200: ${offices}`);
  assert.equal(await page.$$eval('button[data-action=outcome]', (b) => b.length), 0, 'no outcome recording');
  assert.ok((await page.$$eval('button[data-action=override]', (b) => b.length)) >= 1, 'overrides offered');
  // The unit picker narrows to one office.
  const choices = await page.$$eval('[data-testid=work-unit] option', (os) => os.map((o) => o.value));
  assert.ok(choices.includes('2200') && choices.includes('2201'), `units: ${choices}`);
  await page.selectOption('[data-testid=work-unit]', '2201');
  await page.waitForFunction(() => location.hash.includes('office=2201'));
  await page.waitForSelector('[data-testid=work-intro]');
  const narrowed = await page.$$eval('[data-testid=control-office]', (cs) => cs.map((c) => c.textContent));
  assert.ok(narrowed.every((o) => o.endsWith('2201')), `office 2201 only: ${narrowed}`);
  await screenshot(page, 'workbench-district-zh');
});
