// Risk committees (风险管理委员会, M10): the changes awaiting a committee's
// approval with vote buttons for its members, the decisions taken with
// their votes (the minutes), and beside them what a committee weighs: the
// KPIs against their targets, the active rules' and models' performance —
// each from the API the other pages use, shown when the reader may read it.
// Who may vote is the server's decision (members, never the proposer); the
// buttons only save a refused click.
import { get, post, qs, items } from '../api.js';
import { t, tOr, local, lang, paren, listSep } from '../i18n.js';
import { h, mount, table, num, pct, dt, chip, errorBox, flash, person } from '../ui.js';
import { go, session } from '../state.js';
import { may } from '../roles.js';
import { meetsTarget, MIN_CASES } from './overview.js';

const STATUS_CHIP = { pending: 'yellow', approved: 'green', rejected: 'red', withdrawn: '' };
const statusChip = (s) => chip(STATUS_CHIP[s] ?? '', t(`committee.status.${s}`));

// What the item changes, in the reader's words (the server's summary is English).
function what(i) {
  const c = i.change || {};
  if (i.kind === 'model_activate') return t('committee.kind.model_activate', { model: c.model });
  if (i.kind === 'rule_approve') return t('committee.kind.rule_approve', { rule: c.rule, version: c.version });
  if (i.kind === 'setting') {
    const before = i.before?.value === undefined ? t('committee.default') : settingValue(i.before.value);
    return t('committee.kind.setting', { key: settingName(c.key), before, after: settingValue(c.value) });
  }
  return i.kind;
}

// A setting's name and value in the reader's words (budget and exploration
// values are words; rates and codes stay as they are).
function settingName(key) {
  const office = /^target\.(.+)$/.exec(key || '');
  if (office && office[1] !== 'default') return t('committee.setting.target_office', { office: office[1] });
  return tOr(`committee.setting.${key}`, key);
}
const settingValue = (v) => tOr(`committee.value.${v}`, v);

const approvals = (i) => (i.votes || []).filter((v) => v.approve).length;
const rejections = (i) => (i.votes || []).filter((v) => !v.approve).length;
const voteText = (v) => `${person(v.voter)} ${v.approve ? t('committee.approve') : t('committee.reject')}${v.comment ? paren('', v.comment) : ''}`;

// The vote and withdraw controls of a pending item for the reader.
function actions(i, committee, reload) {
  const me = session.me?.username;
  const send = async (path, body) => {
    try {
      await post(path, body);
      flash(t('committee.sent'));
      reload();
    } catch (e) {
      flash(errorBox(e).textContent, false);
    }
  };
  if (i.proposed_by === me) {
    const reason = h('input', { name: 'reason', placeholder: t('committee.reason'), 'data-testid': `withdraw-reason-${i.id}` });
    return h(
      'div',
      { class: 'inline' },
      reason,
      h('button', {
        type: 'button',
        'data-testid': `withdraw-${i.id}`,
        onclick: () => send(`/committees/items/${i.id}/withdraw`, { reason: reason.value }),
      }, t('committee.withdraw')),
    );
  }
  const member = committee?.members?.includes(me);
  const voted = (i.votes || []).some((v) => v.voter === me);
  if (!member || voted || !may(session.me, 'VoteCommittee')) return voted ? t('committee.voted') : '—';
  const comment = h('input', { name: 'comment', placeholder: t('committee.comment'), 'data-testid': `comment-${i.id}` });
  const vote = (approve) => () => send(`/committees/items/${i.id}/vote`, { approve, comment: comment.value || null });
  return h(
    'div',
    { class: 'inline' },
    comment,
    h('button', { type: 'button', 'data-testid': `approve-${i.id}`, onclick: vote(true) }, t('committee.approve')),
    h('button', { type: 'button', class: 'secondary', 'data-testid': `reject-${i.id}`, onclick: vote(false) }, t('committee.reject')),
  );
}

// KPIs of the reader's unit against their targets (GET /kpis, as the overview).
async function kpiSection() {
  if (!may(session.me, 'ReadKpi')) return null;
  const units = items(await get('/kpis'), 'units');
  const unit = units[0];
  if (!unit) return null;
  const figs = (unit.figures || []).filter((f) => f.target);
  return [
    h('h2', {}, t('committee.kpis', { unit: `${unit.name} (${unit.code})` })),
    table(
      [
        { label: t('committee.kpi'), get: (f) => (lang() === 'zh' ? f.name_zh || f.name : f.name || f.name_zh) },
        { label: t('committee.value'), num: true, get: (f) => (f.unit === 'count' ? num(f.value) : pct(f.value)) },
        { label: t('kpi.target'), get: (f) => f.target },
        {
          label: t('committee.verdict'),
          get: (f) => {
            const few = typeof f.denominator === 'number' && f.denominator < MIN_CASES;
            const ok = few ? null : meetsTarget(f.target, f.value);
            return few ? t('kpi.few', { n: num(f.denominator) }) : ok === true ? t('kpi.met') : ok === false ? t('kpi.missed') : t('kpi.no_data');
          },
        },
      ],
      figs,
      { testid: 'committee-kpis', title: t('committee.kpis_title') },
    ),
  ];
}

// Active rules with their live statistics (GET /rules, no logic).
async function ruleSection() {
  if (!may(session.me, 'ReadRuleStats')) return null;
  const rules = items(await get('/rules'), 'rules').filter((r) => r.status === 'active');
  return [
    h('h2', {}, t('committee.rules')),
    table(
      [
        { label: t('committee.rule'), get: (r) => `${r.id}@${r.version}` },
        { label: t('common.name'), get: (r) => local(r.title) },
        { label: t('committee.hits'), num: true, get: (r) => num(r.hits) },
        { label: t('committee.controls'), num: true, get: (r) => num(r.controls) },
        { label: t('committee.hit_rate'), num: true, get: (r) => pct(r.hit_rate, 1) },
        { label: t('committee.revenue'), num: true, get: (r) => num(r.revenue_cny) },
      ],
      rules,
      { testid: 'committee-rules', title: t('committee.rules') },
    ),
  ];
}

// Model versions with their evaluation (GET /models).
async function modelSection() {
  if (!may(session.me, 'ReadModels')) return null;
  const models = items(await get('/models'), 'models').filter((m) => m.status === 'active' || m.status === 'shadow' || m.status === 'candidate');
  const ev = (m) => m.metrics?.evaluation || {};
  return [
    h('h2', {}, t('committee.models')),
    table(
      [
        { label: t('committee.model'), get: (m) => m.id },
        { label: t('committee.model_status'), get: (m) => t(`model_status.${m.status}`) },
        { label: t('committee.created'), get: (m) => dt(m.created_at) },
        { label: 'AUC', num: true, get: (m) => ev(m).auc?.toFixed?.(3) ?? '—' },
      ],
      models,
      { testid: 'committee-models', title: t('committee.models') },
    ),
  ];
}

// The administrator's form to set up a committee (POST /committees): the
// server checks the unit, the members' accounts and the quorum and answers
// with the field at fault.
function createForm(reload) {
  if (!may(session.me, 'ManageCommittees')) return null;
  const field = (name, attrs = {}) => h('input', { name, 'data-testid': `new-committee-${name}`, ...attrs });
  const level = h(
    'select',
    { name: 'level', 'data-testid': 'new-committee-level' },
    ['hq', 'district'].map((l) => h('option', { value: l }, t(`committee.level.${l}`))),
  );
  const unit = field('unit', { placeholder: t('committee.unit_hint'), required: true });
  const name = field('name', { required: true });
  const quorum = field('quorum', { type: 'number', min: 1, value: 2, required: true });
  const members = field('members', { placeholder: t('committee.members_hint'), required: true });
  const submit = async (ev) => {
    ev.preventDefault();
    const body = {
      level: level.value,
      unit: unit.value.trim(),
      name: name.value.trim(),
      quorum: Number(quorum.value),
      members: members.value.split(/[,，、\s]+/).filter(Boolean),
    };
    try {
      const r = await post('/committees', body);
      flash(t('committee.set_up', { name: r?.name ?? body.name }));
      reload();
    } catch (e) {
      flash(errorBox(e).textContent, false);
    }
  };
  const label = (text, input) => h('label', {}, text, input);
  return [
    h('h2', {}, t('committee.create')),
    h(
      'form',
      { class: 'inline', 'data-testid': 'new-committee', onsubmit: submit },
      label(t('committee.level'), level),
      label(t('committee.unit'), unit),
      label(t('common.name'), name),
      label(t('committee.quorum'), quorum),
      label(t('committee.members'), members),
      h('button', { type: 'submit', 'data-testid': 'new-committee-submit' }, t('committee.create_button')),
    ),
  ];
}

export async function committeesPage(el, query) {
  const heading = h('h1', {}, t('nav.committees'));
  let committees;
  let all;
  try {
    [committees, all] = await Promise.all([get('/committees').then((r) => items(r, 'committees')), get('/committees/items').then((r) => items(r, 'items'))]);
  } catch (err) {
    mount(el, heading, errorBox(err));
    return;
  }
  const byId = new Map(committees.map((c) => [c.id, c]));
  const reload = () => go(`/committees${qs({ at: Date.now() })}`);
  const name = (i) => byId.get(i.committee)?.name ?? String(i.committee);
  const pending = all.filter((i) => i.status === 'pending');
  const decided = all.filter((i) => i.status !== 'pending').sort((a, b) => (b.decided_at ?? 0) - (a.decided_at ?? 0));
  const chosen = query.get('committee');

  const committeeTable = table(
    [
      { label: t('committee.name'), get: (c) => c.name },
      { label: t('committee.level'), get: (c) => t(`committee.level.${c.level}`) },
      { label: t('committee.unit'), get: (c) => c.unit },
      { label: t('committee.quorum'), num: true, get: (c) => num(c.quorum) },
      { label: t('committee.members'), get: (c) => c.members.join(listSep()) },
    ],
    committees,
    { testid: 'committees-table', title: t('nav.committees'), empty: t('committee.none') },
  );
  const pendingTable = table(
    [
      { label: t('committee.item'), get: (i) => i.id },
      { label: t('committee.committee'), get: name },
      { label: t('committee.change'), get: what },
      { label: t('committee.proposed_by'), get: (i) => person(i.proposed_by) },
      { label: t('committee.proposed_at'), get: (i) => dt(i.proposed_at) },
      {
        label: t('committee.tally'),
        get: (i) => t('committee.tally_text', { yes: approvals(i), no: rejections(i), quorum: byId.get(i.committee)?.quorum ?? '—' }),
      },
      { label: t('committee.votes'), get: (i) => (i.votes || []).map(voteText).join('；') || '—' },
      { label: t('committee.action'), get: () => '', render: (i) => actions(i, byId.get(i.committee), reload) },
    ],
    pending,
    { testid: 'committee-pending', title: t('committee.pending'), empty: t('committee.no_pending') },
  );
  const minutes = decided.filter((i) => !chosen || String(i.committee) === chosen);
  const decidedTable = table(
    [
      { label: t('committee.item'), get: (i) => i.id },
      { label: t('committee.committee'), get: name },
      { label: t('committee.change'), get: what },
      { label: t('committee.result'), get: (i) => t(`committee.status.${i.status}`), render: (i) => statusChip(i.status) },
      { label: t('committee.decided_at'), get: (i) => dt(i.decided_at) },
      { label: t('committee.proposed_by'), get: (i) => person(i.proposed_by) },
      { label: t('committee.votes'), get: (i) => (i.votes || []).map(voteText).join('；') || '—' },
    ],
    minutes,
    { testid: 'committee-decided', title: t('committee.decided'), empty: t('committee.no_decided') },
  );
  const filter = committees.length > 1
    ? h(
        'label',
        {},
        t('committee.committee'),
        h(
          'select',
          { 'data-testid': 'committee-filter', onchange: (ev) => go(`/committees${qs({ committee: ev.target.value })}`) },
          h('option', { value: '' }, t('common.all')),
          committees.map((c) => h('option', { value: String(c.id), selected: String(c.id) === chosen }, c.name)),
        ),
      )
    : null;
  // The performance figures come from other endpoints; one refused or
  // failing section leaves the others.
  const extra = await Promise.all([kpiSection(), ruleSection(), modelSection()].map((p) => p.catch((e) => [errorBox(e)])));
  mount(
    el,
    heading,
    h('p', { class: 'muted' }, t('committee.legend')),
    committeeTable,
    createForm(reload),
    h('h2', {}, t('committee.pending')),
    pendingTable,
    h('h2', {}, t('committee.decided')),
    filter,
    decidedTable,
    extra,
  );
}
