// Four eyes: an analyst drafts a rule (syntax errors shown in place), tests it
// on a declaration and may not approve it; a second analyst approves it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, apiCall } from './helpers.mjs';

const { asUser } = browserTests();

const RULE = 'R-BT-HIGHVAL';

test('create, test and approve a rule with two users; the author may not approve', async () => {
  let marked;
  await asUser('chen.analyst', async (page) => {
    // A declaration to test on: one of the marked trader's, via search.
    await page.goto(`${page.url().split('#')[0]}#/declarations?trader=91310000BROWSER01X`);
    await page.waitForSelector('[data-testid=declaration-results] tbody tr.clickable');
    marked = await page.textContent('[data-testid=declaration-results] tbody tr.clickable td a');

    await page.click('#nav a[data-nav=rules]');
    await page.click('[data-testid=new-rule]');
    await page.waitForSelector('[data-testid=rule-form]');
    await page.fill('input[name=id]', RULE);
    await page.fill('input[name=title]', '高价值手机进口 / High-value phone imports');
    // The department is chosen from those the console names.
    await page.selectOption('select[name=department]', 'tariff');
    await page.fill('input[name=weight]', '0.25');
    await page.fill('input[name=instructions]', '核对发票 / Check the invoice');
    // A syntax error on line 2: shown with its line and column.
    await page.fill('textarea[name=when]', 'direction == "import"\n  and any(item: item.hs6 == "851713" and)');
    await page.click('[data-testid=rule-form] button[type=submit]');
    await page.waitForSelector('[data-testid=rule-error] [data-testid=error]');
    const marker = await page.textContent('[data-testid=rule-error-marker]');
    assert.match(marker, /第 2 行/, `marker: ${marker}`);
    // The error itself reads in Chinese, with its line and column.
    const err = await page.textContent('[data-testid=rule-error] [data-testid=error]');
    assert.match(err, /规则条件有语法错误.*第 2 行第 \d+ 列/, err);
    assert.doesNotMatch(err, /[A-Za-z]/, err);

    // The fields a rule may use sit beside the editor; a click inserts the
    // name at the caret.
    await page.fill('textarea[name=when]', 'direction == "import" and ');
    await page.click('[data-testid=rule-fields] [data-field="trader.known"]');
    assert.equal(await page.inputValue('textarea[name=when]'), 'direction == "import" and trader.known');
    assert.match(await page.getAttribute('[data-testid=rule-fields] [data-field="trader.known"]', 'title'), /registry/);

    // Fixed, it saves as a draft.
    await page.fill('textarea[name=when]', 'direction == "import"\n  and any(item: item.hs6 == "851713" and item.value > 100000)');
    // Tested on a declaration before saving: it fires.
    await page.fill('[data-testid=draft-test-form] input[name=declaration_id]', marked);
    await page.click('[data-testid=draft-test-form] button[type=submit]');
    await page.waitForSelector('[data-testid=rule-test-result]');
    assert.match(await page.textContent('[data-testid=rule-test-result]'), /命中/);
    assert.doesNotMatch(await page.textContent('[data-testid=rule-test-result]'), /未命中/);

    await page.click('[data-testid=rule-form] button[type=submit]');
    await page.waitForSelector('[data-testid=rule-facts]');
    assert.match(await page.textContent('h1'), /草稿/);
    assert.match(await page.textContent('[data-testid=rule-facts]'), /关税部门/);

    // Back-test figures.
    await page.click('[data-testid=backtest-form] button[type=submit]');
    await page.waitForSelector('[data-testid=backtest-result]');
    assert.match(await page.textContent('[data-testid=backtest-result]'), /回测报关单数/);

    // The author may not approve.
    await page.click('[data-testid=approve]');
    await page.waitForSelector('[data-testid=error]');
    assert.ok((await page.textContent('[data-testid=error]')).length > 0);
    assert.match(await page.textContent('h1'), /草稿/);
    assert.deepEqual(page.errors, []);
  });

  await asUser('zhao.analyst', async (page) => {
    await page.goto(`${page.url().split('#')[0]}#/rules/${RULE}`);
    await page.waitForSelector('[data-testid=approve]');
    await page.click('[data-testid=approve]');
    await page.waitForFunction(() => /生效/.test(document.querySelector('h1')?.textContent || ''));
    assert.match(await page.textContent('[data-testid=rule-facts]'), /zhao\.analyst/);
    // It shows in the list as active.
    await page.goto(`${page.url().split('#')[0]}#/rules?status=active`);
    await page.waitForSelector(`[data-testid=rules-table] a[href*="${RULE}"]`);
    // Retiring needs a reason; with one, the rule is retired.
    await page.click(`[data-testid=rules-table] a[href*="${RULE}"]`);
    await page.waitForSelector('[data-testid=retire-form]');
    await page.click('[data-testid=retire-form] button[type=submit]');
    assert.match(await page.textContent('[data-testid=error]'), /必须填写理由/);
    await page.fill('[data-testid=retire-form] input[name=reason]', '浏览器测试结束');
    await page.click('[data-testid=retire-form] button[type=submit]');
    await page.waitForFunction(() => /已停用/.test(document.querySelector('h1')?.textContent || ''));
    assert.deepEqual(page.errors, []);
  });
});

test('a back-test echoes its period, compares with the targets and lists the declarations it hits', async () => {
  await asUser('chen.analyst', async (page) => {
    await page.goto(`${page.url().split('#')[0]}#/rules/R-TEST-BROWSER`);
    await page.waitForSelector('[data-testid=backtest-form]');
    const to = new Date(Date.now() + 2 * 86400e3).toISOString().slice(0, 10);
    await page.fill('[data-testid=backtest-form] input[name=from]', '2020-01-01');
    await page.fill('[data-testid=backtest-form] input[name=to]', to);
    await page.click('[data-testid=backtest-form] button[type=submit]');
    await page.waitForSelector('[data-testid=backtest-result]');
    assert.equal(await page.textContent('[data-testid=backtest-period]'), `回测期间：2020-01-01 至 ${to}`);
    // Its rates beside the targets of 布控率 and 布控有效率.
    const rows = await page.$$eval('[data-testid=backtest-targets] tbody tr', (trs) => trs.map((tr) => tr.textContent));
    assert.equal(rows.length, 2, rows.join('|'));
    assert.match(rows[0], /规则布控率.*≈4%/);
    assert.match(rows[1], /已布控部分有效率.*≥25%/);
    // With the rule: the unit's rate in force plus the controls it adds.
    const kpi = await apiCall(page, 'GET', `/kpis?from=2020-01-01&to=${to}`);
    const bt = await apiCall(page, 'POST', `/rules/R-TEST-BROWSER/backtest?from=2020-01-01&to=${to}`);
    const now = kpi.body.units[0].figures.find((f) => f.key === 'targeting_rate').value;
    const after = await page.$eval('[data-testid=backtest-targets] tbody tr td:nth-child(4)', (td) => td.textContent.trim());
    assert.equal(after, `${((now + bt.body.backtest.added_targeting_rate) * 100).toFixed(2)}%`);
    // The declarations hit, as the API lists them, each a link to its page.
    const api = await apiCall(page, 'POST', `/rules/R-TEST-BROWSER/backtest?from=2020-01-01&to=${to}`);
    const ids = api.body.backtest.hit_ids;
    assert.ok(ids.length >= 4, JSON.stringify(api.body));
    const links = await page.$$eval('[data-testid=backtest-hits] a', (as) => as.map((a) => [a.textContent, a.getAttribute('href')]));
    assert.deepEqual(links, ids.map((d) => [d, `#/declarations/${encodeURIComponent(d)}`]));
    await page.click('[data-testid=backtest-hits] a');
    await page.waitForFunction((d) => location.hash === `#/declarations/${encodeURIComponent(d)}`, ids[0]);
    assert.deepEqual(page.errors, []);
  });
});

test("a department user sees its own department's rules with their statistics, no other and no logic", async () => {
  await asUser('zhou.tariff', async (page) => {
    await page.click('#nav a[data-nav=rules]');
    await page.waitForSelector('[data-testid=rules-table] tbody tr');
    assert.match(await page.textContent('[data-testid=rules-department]'), /本部门（.+）的规则/);
    const ids = await page.$$eval('[data-testid=rules-table] tbody tr td:first-child', (cs) => cs.map((c) => c.textContent.trim()));
    assert.ok(ids.includes('R-FX-001') && ids.includes('R-UV-001'), `the tariff department's rules: ${ids}`);
    assert.ok(!ids.includes('R-DIS-001') && !ids.includes('R-TEST-BROWSER'), `no other department's: ${ids}`);
    // Statistics only: no link to the logic, no new-rule button.
    assert.equal(await page.$$eval('[data-testid=rules-table] tbody a', (a) => a.length), 0);
    assert.equal(await page.$$eval('[data-testid=new-rule]', (b) => b.length), 0);
  });
});
