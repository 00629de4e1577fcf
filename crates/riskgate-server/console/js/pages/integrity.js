// Integrity (supervisors only): the warnings supervisors were notified of
// (the inbox, with a button to check for new ones), the ranked officers,
// posts and units, and the officer action log, searchable by officer,
// office and kind of action. Every read is itself logged by the server.
import { get, post, qs, items } from '../api.js';
import { t, tOr, local } from '../i18n.js';
import { h, mount, table, dt, formValues, num, flash, describeError, fetchPage, pageFooter } from '../ui.js';
import { go, session } from '../state.js';
import { may } from '../roles.js';
import { rankedSection, integrityLevel, reasonNodes, reasonsText, subjectName } from './integrity_scores.js';
import { officerNames, officerLabel } from '../officers.js';

const brief = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export async function integrityPage(el, query) {
  const params = Object.fromEntries(query.entries());
  const limit = Math.min(5000, Number(params.limit) || 200);
  const offset = Math.max(0, Math.floor(Number(params.offset) || 0));
  // The supervisors' own reads (every visit logs some) are left out of
  // the list unless asked for; they stay in the log.
  const reads = params.reads === 'true' ? 'true' : 'false';
  const { rows, hasNext } = await fetchPage(async (l, o) => items(await get(`/actions${qs({ ...params, reads, limit: l, offset: o })}`), 'actions'), {
    limit,
    offset,
    max: 5000,
  });
  const names = await officerNames();
  const view = ['officers', 'posts', 'units'].includes(params.view) ? params.view : 'officers';
  const ranked = await rankedSection(view, params);
  const inbox = await inboxSection(params);
  mount(
    el,
    h('h1', {}, t('nav.integrity')),
    inbox,
    ranked,
    h('h2', {}, t('integrity.log')),
    h('p', { class: 'muted' }, t('integrity.intro')),
    h(
      'form',
      {
        class: 'inline',
        'data-testid': 'action-search',
        onsubmit: (ev) => {
          ev.preventDefault();
          go(`/integrity${qs({ view, ...formValues(ev.target) })}`);
        },
      },
      h('label', {}, t('integrity.officer'), h('input', { name: 'officer', value: params.officer || '', size: 14 })),
      h('label', {}, t('common.office'), h('input', { name: 'office', value: params.office || '', size: 8 })),
      h('label', {}, t('integrity.kind'), h('input', { name: 'action', value: params.action || '', size: 18, list: 'action-kinds' })),
      h(
        'datalist',
        { id: 'action-kinds' },
        ['record_outcome', 'record_outcomes', 'override', 'rule_add', 'rule_approve', 'rule_retire', 'rule_read', 'rule_backtest', 'model_train', 'model_active', 'model_shadow', 'model_retired', 'login', 'actions_read', 'user_add', 'user_disable', 'token_issue', 'token_revoke'].map((k) => h('option', { value: k })),
      ),
      h('label', {}, h('input', { type: 'checkbox', name: 'reads', value: 'true', checked: reads === 'true', 'data-testid': 'action-reads' }), t('integrity.show_reads')),
      h('button', { type: 'submit' }, t('common.search')),
    ),
    table(
      [
        { label: '#', get: (a) => a.seq, num: true },
        { label: t('integrity.at'), get: (a) => dt(act(a).at) },
        { label: t('integrity.officer'), render: (a) => h('span', { 'data-raw': '' }, officerLabel(names, act(a).actor)) },
        { label: t('common.office'), get: (a) => act(a).office },
        // The kind in words, with its code (what the search box takes).
        { label: t('integrity.kind'), render: (a) => actionKind(act(a).action) },
        { label: t('integrity.target'), render: (a) => h('span', { 'data-raw': '' }, act(a).target ?? '') },
        { label: t('integrity.before'), render: (a) => h('code', { 'data-raw': '' }, brief(act(a).before)) },
        { label: t('integrity.after'), render: (a) => h('code', { 'data-raw': '' }, brief(act(a).after)) },
        { label: t('integrity.reason'), get: (a) => local(act(a).reason) },
      ],
      rows,
      { testid: 'action-log' },
    ),
    pageFooter({ n: rows.length, limit, offset, hasNext, max: 5000, href: (o, l) => `#/integrity${qs({ ...params, offset: o || undefined, limit: l === 200 ? undefined : l })}` }),
  );
}

const actionKind = (k) => {
  const name = tOr(`action.${k}`, null);
  return name ? h('span', {}, name, ' ', h('small', { class: 'muted', 'data-raw': '' }, k)) : k || '—';
};

// Logged actions may come flat or as {seq, action: {...}, hash}.
const act = (a) => (a.action && typeof a.action === 'object' ? a.action : a);

// An integrity case about the officer of a warning, owned by the integrity
// department; the case page opens on it.
async function openCase(e) {
  try {
    const c = await post('/cases', {
      kind: 'integrity',
      officer: e.id,
      office: e.office,
      title: t('integrity.case_title', { id: e.id }),
      note: reasonsText(e).slice(0, 4000) || undefined,
    });
    flash(t('case.opened', { id: c.id }));
    go(`/cases/${c.id}`);
  } catch (err) {
    flash(describeError(err), false);
  }
}

// The supervisors' inbox: new or raised warnings, newest first. "Check for
// new warnings" runs the notification (POST /integrity/notify), which
// records each level change and pushes each new warning to supervisors.
async function inboxSection(params) {
  const data = await get(`/integrity/inbox${qs({ office: params.office })}`);
  const rows = items(data, 'inbox');
  const check = async () => {
    try {
      const r = await post('/integrity/notify');
      const n = items(r, 'new_warnings').length;
      flash(t('integrity.inbox.checked', { n }));
      go(`/integrity${qs({ ...params, t: Date.now() })}`);
    } catch (err) {
      flash(describeError(err), false);
    }
  };
  return h(
    'section',
    { 'data-testid': 'integrity-inbox' },
    h('h2', {}, t('integrity.inbox')),
    h('p', { class: 'muted' }, t('integrity.inbox.intro')),
    h('button', { type: 'button', 'data-testid': 'integrity-notify', onclick: check }, t('integrity.inbox.check')),
    table(
      [
        { label: t('integrity.at'), get: (e) => dt(e.at) },
        { label: t('integrity.inbox.subject'), get: (e) => `${t(`integrity.subject.${e.kind}`)} ${subjectName(e.kind, e.id)}` },
        { label: t('common.office'), get: (e) => e.office },
        { label: t('integrity.inbox.previous'), render: (e) => integrityLevel(e.previous) },
        { label: t('integrity.inbox.level'), render: (e) => integrityLevel(e.level) },
        { label: t('integrity.inbox.score'), get: (e) => num(e.score, 1), num: true },
        { label: t('integrity.reason'), render: (e) => reasonNodes(e) },
        {
          label: '',
          render: (e) => (e.kind === 'officer' && may(session.me, 'OpenCase') ? h('button', { type: 'button', class: 'secondary', 'data-action': 'open-case', onclick: () => openCase(e) }, t('integrity.open_case')) : ''),
        },
      ],
      rows,
      { testid: 'inbox-table', empty: t('integrity.inbox.empty') },
    ),
  );
}
