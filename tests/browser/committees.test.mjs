// 风险管理委员会 (M10): with a committee for district 5300, an analyst's
// target-rate change for office 5301 waits as a pending item; the analyst
// (its proposer) is offered no vote, only withdrawal; a member (the HQ
// manager) approves it in the browser, it moves to the decisions and the
// setting takes effect (checked against the API). A field officer is not
// offered the page and the server refuses it.
import assert from 'node:assert/strict';
import { browserTests, navKeys, apiCall, apiStatus, screenshot, settled } from './helpers.mjs';

const { asUser, testAs } = browserTests();

const api = apiCall;

testAs('a member approves a pending target-rate change on the committee page', 'ma.admin', async (admin) => {
  // The administrator sets the committee up with the page's form; a quorum
  // above the members is refused with the field at fault.
  await admin.click('#nav a[data-nav=committees]');
  await admin.waitForSelector('[data-testid=new-committee]');
  await settled(admin);
  await admin.selectOption('[data-testid=new-committee-level]', 'district');
  await admin.fill('[data-testid=new-committee-unit]', '5300');
  await admin.fill('[data-testid=new-committee-name]', '深圳海关风险管理委员会');
  await admin.fill('[data-testid=new-committee-members]', 'sun.district，wu.hq');
  await admin.fill('[data-testid=new-committee-quorum]', '3');
  await admin.click('[data-testid=new-committee-submit]');
  await admin.waitForSelector('#flash .error');
  assert.match(await admin.textContent('#flash .error'), /quorum/);
  assert.equal((await api(admin, 'GET', '/committees')).body.committees.length, 0, 'refused: nothing stored');
  await admin.fill('[data-testid=new-committee-quorum]', '1');
  await admin.click('[data-testid=new-committee-submit]');
  await admin.waitForFunction(() => document.querySelector('[data-testid=committees-table] tbody')?.textContent.includes('深圳海关风险管理委员会'));
  assert.match(await admin.textContent('#flash'), /已设立：深圳海关风险管理委员会/);
  await screenshot(admin, 'committees-created-zh');
  const created = await api(admin, 'GET', '/committees');
  assert.deepEqual(created.body.committees.map((c) => [c.level, c.unit, c.quorum, c.members]), [['district', '5300', 1, ['sun.district', 'wu.hq']]]);
  let item;
  await asUser('chen.analyst', async (page) => {
    const r = await api(page, 'POST', '/settings', { key: 'target.5301', value: '0.04' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    item = r.body.item.id;
    assert.ok((await navKeys(page)).includes('committees'));
    await page.click('#nav a[data-nav=committees]');
    await page.waitForSelector('[data-testid=committee-pending]');
    await settled(page);
    assert.equal(await page.textContent('h1'), '风险管理委员会');
    const row = await page.textContent('[data-testid=committee-pending] tbody');
    assert.ok(row.includes('布控率目标') && row.includes('5301') && row.includes('chen.analyst'), row);
    assert.equal(await page.$(`[data-testid=approve-${item}]`), null, 'the proposer gets no vote button');
    assert.ok(await page.$(`[data-testid=withdraw-${item}]`), 'the proposer may withdraw');
  });
  await asUser('wu.hq', async (page) => {
    await page.click('#nav a[data-nav=committees]');
    await page.waitForSelector(`[data-testid=approve-${item}]`);
    await settled(page);
    await screenshot(page, 'committees-pending-zh');
    await page.fill(`[data-testid=comment-${item}]`, '同意调整');
    await page.click(`[data-testid=approve-${item}]`);
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('[data-testid=committee-decided] tbody tr')].some((tr) => tr.querySelector('td')?.textContent.trim() === String(id)),
      item,
    );
    await settled(page);
    const decided = await page.textContent('[data-testid=committee-decided] tbody');
    assert.ok(decided.includes('通过') && decided.includes('wu.hq 同意（同意调整）'), decided);
    const r = await api(page, 'GET', `/committees/items/${item}`);
    assert.equal(r.body.item.status, 'approved');
    assert.deepEqual(r.body.item.votes.map((v) => [v.voter, v.approve, v.comment]), [['wu.hq', true, '同意调整']]);
    await screenshot(page, 'committees-decided-zh');
  });
});

testAs('a field officer is not offered the committee page and the server refuses it', 'zhang.officer', async (page) => {
  assert.ok(!(await navKeys(page)).includes('committees'));
  assert.equal(await apiStatus(page, 'GET', '/committees'), 403);
});
