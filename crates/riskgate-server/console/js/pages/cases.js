// Cases and referrals (案件与移交): a department's inbox of the cases
// addressed to it, the offices' view of their referrals, one case with its
// history, and the steps the caller's role may take (the server decides;
// a refused step shows its error).
import { get, post, del, qs, items } from '../api.js';
import { t, local, listSep } from '../i18n.js';
import { h, mount, num, dt, chip, table, errorBox, flash, sendForm, person } from '../ui.js';
import { session, go } from '../state.js';
import { may } from '../roles.js';
import { findingsFieldset } from './workbench.js';

const KINDS = ['anti_smuggling', 'post_clearance_audit', 'tariff', 'legal', 'processing_trade', 'integrity', 'complaint'];
const STATUSES = ['opened', 'accepted', 'in_progress', 'concluded', 'closed', 'returned', 'rejected'];

// Steps each state allows, as the server's state machine does.
const NEXT = {
  opened: ['accept', 'return', 'reject'],
  accepted: ['start', 'conclude', 'return'],
  in_progress: ['conclude', 'return'],
  concluded: ['close'],
  returned: ['resend'],
};

function overdue(c) {
  const d = c.status === 'opened' ? c.accept_by : ['accepted', 'in_progress'].includes(c.status) ? c.due_at : null;
  return d && new Date(d) < new Date();
}

function statusChip(c) {
  return h('span', {}, chip(c.status, t(`case.status.${c.status}`)), overdue(c) ? chip('red', t('case.overdue')) : null, c.escalated_at ? chip('high', t('case.escalated')) : null);
}

export async function casesPage(el, query, secret) {
  const me = session.me;
  const filters = {
    kind: query.get('kind') || '',
    status: query.get('status') || '',
    overdue: query.get('overdue') || '',
    declaration_id: query.get('declaration_id') || '',
  };
  const data = await get(`/cases${qs({ ...filters, limit: 500 })}`);
  const rows = items(data, 'cases');
  const select = (name, values, prefix) =>
    h('label', {}, t(`case.${name}`), h('select', { name }, h('option', { value: '' }, t('common.all')), values.map((v) => h('option', { value: v, selected: filters[name] === v }, t(`${prefix}.${v}`)))));
  const form = h(
    'form',
    {
      class: 'inline form',
      style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(form);
        const q = {};
        for (const k of ['kind', 'status', 'declaration_id']) if (f.get(k)) q[k] = f.get(k);
        if (f.get('overdue') === 'on') q.overdue = 'true';
        go(`/cases${qs(q)}`);
      },
    },
    select('kind', KINDS, 'case.kind'),
    select('status', STATUSES, 'case.status'),
    h('label', {}, t('case.declaration'), h('input', { name: 'declaration_id', value: filters.declaration_id, size: 18 })),
    h('label', { style: 'flex-direction:row;align-items:center' }, h('input', { type: 'checkbox', name: 'overdue', checked: filters.overdue === 'true' }), t('case.only_overdue')),
    h('button', { type: 'submit' }, t('common.apply')),
  );
  const escalate = may(me, 'Escalate')
    ? h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          'data-action': 'escalate',
          onclick: async () => {
            try {
              const r = await post('/cases/escalate', {});
              const c = await post('/controls/escalate', {});
              flash(t('case.escalated_controls', { n: items(r, 'cases').length, m: items(c, 'controls').length }));
              casesPage(el, query);
            } catch (e) {
              el.prepend(errorBox(e));
            }
          },
        },
        t('case.escalate'),
      )
    : null;
  mount(
    el,
    h('h1', {}, t('nav.cases')),
    h('p', { class: 'muted' }, me.department ? t('case.intro_department', { d: t(`department.${me.department}`) }) : t('case.intro_office')),
    h('div', { style: 'display:flex;gap:1rem;align-items:end;flex-wrap:wrap' }, form, h('span', { style: 'flex:1' }), escalate),
    may(me, 'OpenCase') ? openCaseForm(() => casesPage(el, query)) : null,
    may(me, 'ManageSubscriptions') ? await subscriptionsCard((s) => casesPage(el, query, s), secret) : null,
    table(
      [
        { label: t('case.id'), get: (c) => c.id },
        { label: t('case.kind'), get: (c) => t(`case.kind.${c.kind}`) },
        { label: t('case.status'), render: statusChip },
        { label: t('case.title'), get: (c) => local(c.title) },
        { label: t('case.about'), get: (c) => c.declaration_id || c.enterprise || c.officer },
        { label: t('case.office'), get: (c) => c.office },
        { label: t('case.department'), get: (c) => t(`department.${c.department}`) },
        { label: t('case.due_at'), get: (c) => dt(c.status === 'opened' ? c.accept_by : c.due_at) },
      ],
      rows,
      { testid: 'cases', onRowClick: (c) => go(`/cases/${c.id}`), empty: t('case.none') },
    ),
  );
}

function openCaseForm(reload) {
  const body = h('div', { hidden: true });
  body.append(
    sendForm(
      { 'data-testid': 'open-case' },
      async (f) => {
        const c = { kind: f.get('kind'), title: f.get('title') };
        for (const k of ['declaration_id', 'enterprise', 'officer', 'note']) if (f.get(k)) c[k] = f.get(k);
        const made = await post('/cases', c);
        flash(t('case.opened', { id: made.id }));
        reload();
      },
      h(
        'div',
        { class: 'inline form', style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end' },
        h('label', {}, t('case.kind'), h('select', { name: 'kind' }, KINDS.map((k) => h('option', { value: k }, t(`case.kind.${k}`))))),
        h('label', {}, t('case.title'), h('input', { name: 'title', size: 30, required: true })),
        h('label', {}, t('case.declaration'), h('input', { name: 'declaration_id', size: 18 })),
        h('label', {}, t('case.enterprise'), h('input', { name: 'enterprise', size: 14 })),
        h('label', {}, t('case.officer'), h('input', { name: 'officer', size: 10 })),
        h('label', {}, t('case.note'), h('input', { name: 'note', size: 30 })),
        h('button', { type: 'submit' }, t('case.open')),
      ),
    ),
  );
  return h(
    'div',
    { class: 'card' },
    h('button', { type: 'button', class: 'secondary', 'data-action': 'new-case', 'data-opens': 'new-case', onclick: () => (body.hidden = !body.hidden) }, t('case.new')),
    body,
  );
}

export async function casePage(el, id) {
  const c = await get(`/cases/${encodeURIComponent(id)}`);
  const reload = () => casePage(el, id);
  const msg = h('div');
  const step = async (s, extra = {}) => {
    try {
      await post(`/cases/${c.id}/${s}`, { version: c.version, ...extra });
      flash(t('case.done', { step: t(`case.step.${s}`) }));
      reload();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  };
  const reasonField = h('input', { name: 'reason', size: 40, placeholder: t('case.reason') });
  const buttons = (NEXT[c.status] || []).map((s) =>
    s === 'conclude'
      ? null
      : h(
          'button',
          {
            type: 'button',
            class: ['return', 'reject'].includes(s) ? 'secondary' : null,
            'data-step': s,
            onclick: () => {
              if (['return', 'reject'].includes(s) && !reasonField.value.trim()) {
                msg.replaceChildren(errorBox({ message: t('case.need_reason'), field: 'note' }));
                return;
              }
              step(s, reasonField.value ? { note: reasonField.value } : {});
            },
          },
          t(`case.step.${s}`),
        ),
  );
  const about = [
    c.declaration_id ? h('a', { href: `#/declarations/${encodeURIComponent(c.declaration_id)}` }, c.declaration_id) : null,
    c.enterprise ? h('a', { href: `#/enterprises/${encodeURIComponent(c.enterprise)}` }, c.enterprise) : null,
    c.officer ? h('span', {}, `${t('case.officer')} ${c.officer}`) : null,
  ];
  mount(
    el,
    h('h1', {}, `${t('case.case')} ${c.id} · ${t(`case.kind.${c.kind}`)}`),
    h('div', { class: 'card', 'data-testid': 'case' }, h(
      'div',
      { style: 'display:flex;gap:1rem;flex-wrap:wrap;align-items:center' },
      statusChip(c),
      h('strong', {}, local(c.title)),
      about,
      h('span', { class: 'muted' }, `${t('case.department')} ${t(`department.${c.department}`)} · ${t('case.office')} ${c.office}`),
      h('span', { class: 'muted' }, `${t('case.accept_by')} ${dt(c.accept_by)} · ${t('case.due_at')} ${dt(c.due_at)}`),
      c.assignee ? h('span', { class: 'muted' }, `${t('case.assignee')} ${c.assignee}`) : null,
    )),
    c.result
      ? h(
          'div',
          { class: 'card', 'data-testid': 'case-result' },
          h('strong', {}, t('case.result')),
          ` ${c.result.findings.map((f) => t(`finding.${f}`)).join(listSep()) || t('case.nothing_found')} · ${t('outcome.additional_duty')} ${num(c.result.additional_duty, 2)} · ${t('case.penalty')} ${num(c.result.penalty, 2)}${c.result.seizure ? ` · ${t('outcome.seizure')}` : ''} — `,
          // The summary as the officer wrote it (data, in whatever language).
          h('span', { 'data-raw': '' }, c.result.summary),
        )
      : null,
    buttons.some(Boolean) ? h('div', { class: 'card', style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end' }, reasonField, buttons) : null,
    (NEXT[c.status] || []).includes('conclude') ? concludeForm(step) : null,
    msg,
    h('h2', {}, t('case.history')),
    table(
      [
        { label: t('integrity.at'), get: (x) => dt(x.at) },
        { label: t('case.what'), get: (x) => t(`case.step.${x.what}`) },
        { label: t('case.by'), get: (x) => person(x.by) },
        { label: t('case.note'), get: (x) => x.note },
      ],
      c.history,
      { testid: 'case-history' },
    ),
    noteForm(c, reload),
  );
}

function concludeForm(step) {
  const form = h(
    'form',
    {
      'data-testid': 'conclude-form',
      class: 'card',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(form);
        step('conclude', {
          result: {
            findings: f.getAll('findings'),
            additional_duty: Number(f.get('additional_duty') || 0),
            penalty: Number(f.get('penalty') || 0),
            seizure: f.get('seizure') === 'on',
            summary: f.get('summary') || '',
          },
        });
      },
    },
    h('strong', {}, t('case.conclude')),
    findingsFieldset(),
    h(
      'div',
      { class: 'inline form', style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end' },
      h('label', {}, t('outcome.additional_duty'), h('input', { name: 'additional_duty', type: 'number', min: 0, step: '0.01', value: '0' })),
      h('label', {}, t('case.penalty'), h('input', { name: 'penalty', type: 'number', min: 0, step: '0.01', value: '0' })),
      h('label', { style: 'flex-direction:row;align-items:center' }, h('input', { type: 'checkbox', name: 'seizure' }), t('outcome.seizure')),
      h('label', {}, t('case.summary'), h('input', { name: 'summary', size: 40, required: true })),
      h('button', { type: 'submit', 'data-step': 'conclude' }, t('case.step.conclude')),
    ),
  );
  return form;
}

function noteForm(c, reload) {
  return sendForm(
    { 'data-testid': 'note-form', style: 'margin-top:.75rem;display:flex;gap:.75rem;align-items:end' },
    async (f) => {
      await post(`/cases/${c.id}/notes`, { note: f.get('note') || '' });
      reload();
    },
    h('label', {}, t('case.add_note'), h('input', { name: 'note', size: 60 })),
    h('button', { type: 'submit' }, t('case.add')),
  );
}

const EVENT_KINDS = ['decision', 'control_task', 'finding', 'outcome', 'release', 'override', 'rule_change', 'case'];

// A department's own subscriptions: event kind, offices, HS chapters and the
// address the server delivers to (the signing secret is shown once).
async function subscriptionsCard(reload, secret) {
  const subs = items(await get('/subscriptions'), 'subscriptions');
  const msg = h('div');
  const list = (v) => String(v || '').split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
  const form = sendForm(
    { 'data-testid': 'subscribe', class: 'inline form', style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end' },
    async (f) => {
      const r = await post('/subscriptions', { kind: f.get('kind'), url: f.get('url'), offices: list(f.get('offices')), hs_chapters: list(f.get('hs_chapters')) });
      reload(r.secret);
    },
    h('label', {}, t('sub.kind'), h('select', { name: 'kind' }, EVENT_KINDS.map((k) => h('option', { value: k }, t(`sub.kind.${k}`))))),
    h('label', {}, t('sub.url'), h('input', { name: 'url', size: 36, placeholder: 'https://' })),
    h('label', {}, t('sub.offices'), h('input', { name: 'offices', size: 14 })),
    h('label', {}, t('sub.hs_chapters'), h('input', { name: 'hs_chapters', size: 10 })),
    h('button', { type: 'submit' }, t('sub.add')),
  );
  return h(
    'div',
    { class: 'card', 'data-testid': 'subscriptions' },
    h('strong', {}, t('sub.title')),
    secret ? h('div', { class: 'card', 'data-testid': 'secret' }, t('sub.secret'), h('code', {}, secret)) : null,
    table(
      [
        { label: t('sub.kind'), get: (x) => t(`sub.kind.${x.kind}`) },
        { label: t('sub.url'), get: (x) => x.url },
        { label: t('sub.offices'), get: (x) => (x.offices || []).join(', ') || t('common.all') },
        { label: t('sub.hs_chapters'), get: (x) => (x.hs_chapters || []).join(', ') || t('common.all') },
        {
          label: '',
          render: (x) =>
            h('button', { type: 'button', class: 'secondary', 'data-action': 'unsubscribe', onclick: async () => { try { await del(`/subscriptions/${encodeURIComponent(x.id)}`); reload(); } catch (e) { msg.replaceChildren(errorBox(e)); } } }, t('sub.remove')),
        },
      ],
      subs,
      { empty: t('sub.none') },
    ),
    form,
    msg,
  );
}
