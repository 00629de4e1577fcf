// Integrity (supervisors only): the officer action log, searchable by
// officer, office and kind of action, with its hash-chain verification.
// Reading it is itself logged by the server.
import { get, qs, items } from '../api.js';
import { t } from '../i18n.js';
import { h, mount, table, dt, errorBox, formValues } from '../ui.js';
import { go } from '../state.js';

const brief = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export async function integrityPage(el, query) {
  const params = Object.fromEntries(query.entries());
  const verifyBox = h('div', { 'data-testid': 'chain' });
  const data = await get(`/actions${qs({ limit: 200, ...params })}`);
  const rows = items(data, 'actions');
  mount(
    el,
    h('h1', {}, t('nav.integrity')),
    h('p', { class: 'muted' }, t('integrity.intro')),
    h(
      'form',
      {
        class: 'inline',
        'data-testid': 'action-search',
        onsubmit: (ev) => {
          ev.preventDefault();
          go(`/integrity${qs(formValues(ev.target))}`);
        },
      },
      h('label', {}, t('integrity.officer'), h('input', { name: 'actor', value: params.actor || '', size: 14 })),
      h('label', {}, t('common.office'), h('input', { name: 'office', value: params.office || '', size: 8 })),
      h('label', {}, t('integrity.kind'), h('input', { name: 'action', value: params.action || '', size: 18, list: 'action-kinds' })),
      h(
        'datalist',
        { id: 'action-kinds' },
        ['outcome', 'override', 'rule_add', 'rule_approve', 'rule_retire', 'rule_read', 'model_train', 'login', 'action_log_read'].map((k) => h('option', { value: k })),
      ),
      h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from', value: params.from || '' })),
      h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to', value: params.to || '' })),
      h('button', { type: 'submit' }, t('common.search')),
    ),
    verifyBox,
    table(
      [
        { label: '#', get: (a) => a.seq, num: true },
        { label: t('integrity.at'), get: (a) => dt(act(a).at) },
        { label: t('integrity.officer'), get: (a) => act(a).actor },
        { label: t('common.office'), get: (a) => act(a).office },
        { label: t('integrity.kind'), get: (a) => act(a).action },
        { label: t('integrity.target'), get: (a) => act(a).target },
        { label: t('integrity.before'), render: (a) => h('code', {}, brief(act(a).before)) },
        { label: t('integrity.after'), render: (a) => h('code', {}, brief(act(a).after)) },
        { label: t('integrity.reason'), get: (a) => act(a).reason },
      ],
      rows,
      { testid: 'action-log' },
    ),
    h('p', { class: 'muted' }, t('common.rows', { n: rows.length })),
  );
  get('/actions/verify')
    .then((v) => {
      const broken = v.first_broken ?? v.broken_at ?? null;
      verifyBox.replaceChildren(
        h('div', { class: broken === null && v.ok !== false ? 'ok-msg' : 'error' }, broken === null && v.ok !== false ? t('integrity.chain_ok') : t('integrity.chain_broken', { seq: broken })),
      );
    })
    .catch((e) => verifyBox.replaceChildren(e.status === 404 ? '' : errorBox(e)));
}

// Logged actions may come flat or as {seq, action: {...}, hash}.
const act = (a) => (a.action && typeof a.action === 'object' ? a.action : a);
