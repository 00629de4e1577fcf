// Rules (analysts): list with live statistics, the rule with its logic and
// versions, edit with syntax errors shown in place, test on a declaration,
// back-test with its figures, approve (by someone else), retire.
import { get, post, qs, items } from '../api.js';
import { t, tOr, local } from '../i18n.js';
import { h, mount, table, pct, num, dt, chip, channelChip, errorBox, flash, formValues, inlineForm, person } from '../ui.js';
import { chart } from '../charts.js';
import { session, go } from '../state.js';
import { isAnalyst, may } from '../roles.js';
import { meetsTarget } from './overview.js';

const statusChip = (s) => chip(s === 'active' ? 'green' : s === 'draft' ? 'yellow' : '', t(`rule_status.${s}`));

export async function rulesPage(el, query) {
  const status = query.get('status') || '';
  const data = await get('/rules');
  let rows = items(data, 'rules');
  if (status) rows = rows.filter((r) => r.status === status);
  mount(
    el,
    h('h1', {}, t('nav.rules')),
    // A department user is given its own department's rules only.
    may(session.me, 'ReadRuleStats')
      ? null
      : h('p', { class: 'muted', 'data-testid': 'rules-department' }, t('rules.department_only', { department: tOr(`department.${session.me?.department}`, session.me?.department || '—') })),
    h(
      'div',
      { class: 'inline', style: 'display:flex;gap:.75rem;align-items:center;margin-bottom:.75rem' },
      isAnalyst(session.me) ? h('button', { type: 'button', onclick: () => go('/rules/new'), 'data-testid': 'new-rule' }, t('rules.new')) : null,
      ['', 'draft', 'active', 'retired'].map((s) =>
        h('a', { href: `#/rules${qs({ status: s })}`, class: s === status ? 'chip' : null }, s ? t(`rule_status.${s}`) : t('common.all')),
      ),
    ),
    table(
      [
        {
          label: t('rules.id'),
          // Rule logic is for analysts; others see the statistics only.
          render: (r) => (isAnalyst(session.me) ? h('a', { href: `#/rules/${encodeURIComponent(r.id)}${qs({ version: r.version })}` }, r.id) : r.id),
        },
        { label: t('rules.version'), get: (r) => `v${r.version}` },
        { label: t('rules.status'), render: (r) => statusChip(r.status) },
        { label: t('rules.title'), get: (r) => local(r.title) },
        { label: t('rules.department'), get: (r) => (r.department ? tOr(`department.${r.department}`, r.department) : '—') },
        { label: t('rules.hits'), get: (r) => num(r.hits), num: true },
        { label: t('rules.controls'), get: (r) => num(r.controls), num: true },
        { label: t('rules.findings'), get: (r) => num(r.findings), num: true },
        { label: t('rules.hit_rate'), get: (r) => pct(r.hit_rate, 1), num: true },
        { label: t('rules.revenue'), get: (r) => num(r.revenue_cny), num: true },
        { label: t('rules.recent_rate'), get: (r) => pct(r.recent_selection_rate, 2), num: true },
        { label: t('rules.alarm'), render: (r) => (r.alarm ? chip('red', r.alarm) : '') },
      ],
      rows,
      { testid: 'rules-table' },
    ),
  );
}

// GET /rules/{id}?version=N → {rule: {def, status, created_by, …}, status, versions: [...]}.
async function loadRule(id, version) {
  const data = await get(`/rules/${encodeURIComponent(id)}${qs({ version })}`);
  const rec = data.rule || {};
  return { rec, def: rec.def || {}, status: data.status || rec.status, versions: items(data, 'versions') };
}

export async function ruleDetailPage(el, id, query) {
  const { rec, def, status, versions } = await loadRule(id, query.get('version'));
  versions.sort((a, b) => b.version - a.version);
  const author = rec.created_by;
  const me = session.me.username;
  const testBox = h('div');
  const backtestBox = h('div');
  const actionMsg = h('div');

  const approve = async () => {
    actionMsg.replaceChildren();
    try {
      await post(`/rules/${encodeURIComponent(id)}/approve${qs({ version: def.version })}`);
      flash(t('rules.approved', { id, version: def.version }));
      ruleDetailPage(el, id, new URLSearchParams({ version: def.version }));
    } catch (e) {
      actionMsg.replaceChildren(errorBox(e));
    }
  };
  const retireForm = inlineForm(
    'retire-form',
    actionMsg,
    { reason: 'rules.reason_required' },
    async (v) => {
      await post(`/rules/${encodeURIComponent(id)}/retire`, { version: def.version, reason: v.reason });
      flash(t('rules.retired', { id }));
      ruleDetailPage(el, id, new URLSearchParams({ version: def.version }));
    },
    h('label', {}, t('rules.retire_reason'), h('input', { name: 'reason', size: 40 })),
    h('button', { type: 'submit', class: 'danger' }, t('rules.retire')),
  );

  mount(
    el,
    h('div', { class: 'breadcrumb' }, h('a', { href: '#/rules' }, t('nav.rules')), h('span', {}, '›'), h('span', {}, id)),
    h('h1', {}, `${def.id} v${def.version} `, statusChip(status)),
    h(
      'div',
      { class: 'card' },
      h(
        'dl',
        { class: 'kv', 'data-testid': 'rule-facts' },
        [
          ['rules.title', local(def.title)],
          ['rules.department', def.department ? tOr(`department.${def.department}`, def.department) : '—'],
          ['rules.weight', def.weight],
          ['rules.forces', def.channel ? channelChip(def.channel) : '—'],
          ['rules.instructions', local(def.instructions)],
          ['rules.valid', `${def.valid_from || '—'} → ${def.valid_to || '—'}`],
          ['rules.author', person(author)],
          ['rules.approver', person(rec.approved_by) || '—'],
          ['rules.created_at', dt(rec.created_at)],
        ].map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v ?? '—')]),
      ),
      h('h2', {}, t('rules.logic')),
      h('pre', { class: 'code', 'data-testid': 'rule-logic' }, def.when),
      h(
        'div',
        { style: 'display:flex;gap:.5rem;flex-wrap:wrap;margin-top:.5rem' },
        h('button', { type: 'button', class: 'secondary', onclick: () => go(`/rules/${encodeURIComponent(id)}/edit${qs({ version: def.version })}`) }, t('rules.edit')),
        status === 'draft'
          ? h(
              'button',
              { type: 'button', 'data-testid': 'approve', onclick: approve, title: author === me ? t('rules.own_rule') : null },
              t('rules.approve'),
            )
          : null,
      ),
      status === 'draft' && author === me ? h('p', { class: 'muted' }, t('rules.own_rule')) : null,
      status !== 'retired' ? retireForm : null,
      actionMsg,
    ),
    h('h2', {}, t('rules.test')),
    h('div', { class: 'card' }, testForm({ id, version: def.version }, testBox), testBox),
    h('h2', {}, t('rules.backtest')),
    h('div', { class: 'card' }, backtestForm(id, def.version, backtestBox), backtestBox),
    versions.length > 1
      ? [
          h('h2', {}, t('rules.versions')),
          table(
            [
              { label: t('rules.version'), render: (v) => h('a', { href: `#/rules/${encodeURIComponent(id)}${qs({ version: v.version })}` }, `v${v.version}`) },
              { label: t('rules.status'), render: (v) => statusChip(v.status) },
              { label: t('rules.author'), get: (v) => person(v.created_by) },
              { label: t('rules.approver'), get: (v) => person(v.approved_by) },
            ],
            versions,
          ),
        ]
      : null,
  );
}


function testForm(target, box) {
  return inlineForm(
    'rule-test-form',
    box,
    { declaration_id: 'rules.need_declaration' },
    async (v) => {
      const res = await post('/rules/test', { id: target.id, version: target.version, declaration_ids: [v.declaration_id] });
      const fired = fires(res);
      box.replaceChildren(
        h(
          'div',
          { class: fired ? 'error' : 'ok-msg', 'data-testid': 'rule-test-result' },
          fired ? t('rules.test_fired', { id: v.declaration_id }) : t('rules.test_not_fired', { id: v.declaration_id }),
        ),
      );
    },
    h('label', {}, t('rules.test_declaration'), h('input', { name: 'declaration_id', size: 24 })),
    h('button', { type: 'submit', class: 'secondary' }, t('rules.run_test')),
  );
}

function backtestForm(id, version, box) {
  return h(
    'form',
    {
      class: 'inline',
      'data-testid': 'backtest-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const v = formValues(ev.target);
        box.replaceChildren(h('p', { class: 'muted' }, t('rules.backtest_running')));
        try {
          const res = await post(`/rules/${encodeURIComponent(id)}/backtest${qs({ version, ...v })}`);
          // The unit's KPIs over the same period, for their targets and
          // the rates in force (as the overview); the back-test shows
          // without them if they cannot be read.
          let unit = null;
          try {
            unit = items(await get(`/kpis${qs({ from: v.from, to: v.to })}`), 'units')[0] || null;
          } catch {
            unit = null;
          }
          box.replaceChildren(backtestView(res.backtest || res, v, unit));
        } catch (e) {
          box.replaceChildren(errorBox(e));
        }
      },
    },
    h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from' })),
    h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to' })),
    h('button', { type: 'submit', class: 'secondary' }, t('rules.run_backtest')),
  );
}

// The rule's would-be rates beside the unit's rates in force and their
// targets (the KPIs 布控率 and 布控有效率).
function targetRows(b, unit) {
  const fig = (key) => (unit?.figures || []).find((f) => f.key === key) || {};
  const verdict = (target, value) => {
    const ok = meetsTarget(target, value);
    return ok === true ? chip('green', t('kpi.met')) : ok === false ? chip('red', t('kpi.missed')) : '—';
  };
  const rate = b.declarations ? b.hits / b.declarations : null;
  const tr = fig('targeting_rate');
  const hr = fig('hit_rate');
  // The targeting rate is the unit's: judged with the rule's added
  // controls on top of the rate in force. The hit rate is judged on the
  // rule's own hits.
  const now = tr.value ?? null;
  const after = now === null || b.added_targeting_rate == null ? null : now + b.added_targeting_rate;
  return [
    { name: t('rules.bt_rule_rate'), rule: rate, now, after, target: tr.target || '', judged: after },
    { name: t('rules.bt_hit_rate'), rule: b.hit_rate_on_controlled ?? null, now: hr.value ?? null, after: null, target: hr.target || '', judged: b.hit_rate_on_controlled ?? null },
  ].map((r) => ({ ...r, verdict: verdict(r.target, r.judged) }));
}

function backtestView(b, period = {}, unit = null) {
  const load = Object.entries(b.load_per_office || {}).map(([office, v]) => ({
    office,
    hits: Array.isArray(v) ? v[0] : v.hits,
    per_day: Array.isArray(v) ? v[1] : v.per_day,
  }));
  return h(
    'div',
    { 'data-testid': 'backtest-result' },
    h(
      'p',
      { 'data-testid': 'backtest-period' },
      period.from || period.to
        ? t('rules.bt_period', { from: period.from || t('rules.bt_start'), to: period.to || t('rules.bt_end') })
        : t('rules.bt_period_all'),
    ),
    h(
      'dl',
      { class: 'kv' },
      [
        ['rules.bt_declarations', num(b.declarations)],
        ['rules.bt_hits', num(b.hits)],
        ['rules.bt_added_controls', num(b.added_controls)],
        ['rules.bt_added_rate', pct(b.added_targeting_rate, 3)],
        ['rules.bt_hits_controlled', num(b.hits_controlled)],
        ['rules.bt_hits_finding', num(b.hits_with_finding)],
        ['rules.bt_hit_rate', pct(b.hit_rate_on_controlled, 1)],
        ['rules.bt_revenue', `${num(b.revenue_cny)} CNY`],
        ['rules.bt_overlap', `${num(b.overlap_with_active)} (${pct(b.overlap_rate, 1)})`],
      ].map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v)]),
    ),
    h('h2', {}, t('rules.bt_vs_target')),
    table(
      [
        { label: t('rules.bt_measure'), get: (r) => r.name },
        { label: t('rules.bt_rule_value'), get: (r) => pct(r.rule, 2), num: true },
        { label: t('rules.bt_now'), get: (r) => pct(r.now, 2), num: true },
        { label: t('rules.bt_after'), get: (r) => (r.after === null ? '—' : pct(r.after, 2)), num: true },
        { label: t('kpi.target'), get: (r) => r.target || '—' },
        { label: t('rules.bt_verdict'), render: (r) => r.verdict },
      ],
      targetRows(b, unit),
      { testid: 'backtest-targets' },
    ),
    Array.isArray(b.hit_ids) && b.hit_ids.length
      ? [
          h('h2', {}, t('rules.bt_hit_list', { shown: num(b.hit_ids.length), hits: num(b.hits) })),
          h(
            'ul',
            { class: 'inline-list', 'data-testid': 'backtest-hits' },
            b.hit_ids.map((d) => h('li', {}, h('a', { href: `#/declarations/${encodeURIComponent(d)}` }, d))),
          ),
        ]
      : null,
    load.length
      ? [
          h('h2', {}, t('rules.bt_load')),
          chart(
            {
              tooltip: { trigger: 'axis' },
              grid: { left: 8, right: 24, top: 16, bottom: 8, containLabel: true },
              xAxis: { type: 'category', data: load.map((l) => l.office) },
              yAxis: { type: 'value', name: t('rules.bt_per_day') },
              series: [{ type: 'bar', name: t('rules.bt_per_day'), data: load.map((l) => +Number(l.per_day).toFixed(3)) }],
            },
            { height: 240 },
          ),
          table(
            [
              { label: t('common.office'), get: (l) => l.office },
              { label: t('rules.bt_hits'), get: (l) => num(l.hits), num: true },
              { label: t('rules.bt_per_day'), get: (l) => num(l.per_day, 2), num: true },
            ],
            load,
          ),
        ]
      : null,
  );
}

// {results: [{declaration_id, fires}], hits} for one declaration.
const fires = (res) => (res.results || []).some((r) => r.fires);

// The error's place in the rule text: from the error body (line, column) or
// from a "line L, column C" / "L:C" in its message.
export function errorPosition(err) {
  if (err.line) return { line: Number(err.line), column: Number(err.column || 1) };
  const m = /line (\d+)(?:,? col(?:umn)? (\d+))?/i.exec(err.message || '') || /(\d+):(\d+)/.exec(err.message || '');
  return m ? { line: Number(m[1]), column: Number(m[2] || 1) } : null;
}

// Departments a rule may belong to (the dictionary's department.* keys).
export const DEPARTMENTS = ['control', 'anti_smuggling', 'audit', 'tariff', 'legal', 'processing_trade', 'integrity'];

// The rule form's fields by their labels, for an error naming one.
const FORM_FIELDS = {
  id: 'rules.id',
  title: 'rules.title',
  department: 'rules.department',
  weight: 'rules.weight',
  channel: 'rules.forces',
  instructions: 'rules.instructions',
  valid_from: 'rules.valid_from',
  valid_to: 'rules.valid_to',
  when: 'rules.logic',
};

// The fields a condition may use (GET /rules/fields), each a button that
// inserts its name at the caret. "a / b" entries are one button per name;
// "trader.*" inserts "trader.". Names are code (data-raw); the server's
// English description is on hover.
function fieldList(fields, when) {
  const insert = (name) => {
    const [a, b] = [when.selectionStart ?? when.value.length, when.selectionEnd ?? when.value.length];
    when.setRangeText(name, a, b, 'end');
    when.focus();
  };
  return h(
    'aside',
    { class: 'field-list', 'data-testid': 'rule-fields' },
    h('h3', {}, t('rules.fields')),
    h('p', { class: 'muted' }, t('rules.fields_help')),
    h(
      'ul',
      {},
      fields.flatMap((f) =>
        String(f.name)
          .split(' / ')
          .map((name) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', class: 'link', 'data-raw': '', 'data-field': name, title: f.doc || null, onclick: () => insert(name.replace(/\*$/, '')) },
                name,
              ),
              ' ',
              h('span', { class: 'muted' }, tOr(`rules.ftype.${f.type}`, f.type)),
            ),
          ),
      ),
    ),
  );
}

export async function ruleEditPage(el, id, query) {
  let def = { id: '', title: '', department: '', weight: 0.2, channel: '', instructions: '', valid_from: '', valid_to: '', when: '' };
  if (id) {
    const loaded = await loadRule(id, query.get('version'));
    def = { ...def, ...loaded.def };
  }
  const errorSlot = h('div', { 'data-testid': 'rule-error' });
  const marker = h('div', { class: 'marker', 'data-testid': 'rule-error-marker' });
  const when = h('textarea', { name: 'when', spellcheck: 'false', rows: 10 }, def.when || '');
  const testBox = h('div');
  let fields = [];
  try {
    fields = items(await get('/rules/fields'), 'fields');
  } catch {
    fields = [];
  }

  const collect = () => {
    const v = formValues(form);
    const rule = {
      id: v.id || '',
      title: v.title || '',
      department: v.department || '',
      weight: Number(v.weight || 0),
      instructions: v.instructions || '',
      when: when.value,
    };
    if (v.channel) rule.channel = v.channel;
    if (v.valid_from) rule.valid_from = v.valid_from;
    if (v.valid_to) rule.valid_to = v.valid_to;
    return rule;
  };
  const showError = (e) => {
    // A field the error names reads by its label, not its JSON key.
    errorSlot.replaceChildren(errorBox(FORM_FIELDS[e.field] ? { code: e.code, message: e.message, line: e.line, column: e.column, field: t(FORM_FIELDS[e.field]) } : e));
    marker.replaceChildren();
    const pos = e.field === 'when' || !e.field ? errorPosition(e) : null;
    if (pos) {
      const lines = when.value.split('\n');
      const text = lines[pos.line - 1] ?? '';
      marker.append(`${t('rules.at_line', { line: pos.line, column: pos.column })}\n${text}\n${' '.repeat(Math.max(0, pos.column - 1))}^`);
      // Put the caret where the error is.
      const offset = lines.slice(0, pos.line - 1).reduce((n, l) => n + l.length + 1, 0) + pos.column - 1;
      when.focus();
      when.setSelectionRange(offset, Math.min(when.value.length, offset + 1));
    } else if (e.field) {
      form.querySelector(`[name="${CSS.escape(e.field)}"]`)?.focus();
    }
  };
  const clearError = () => {
    errorSlot.replaceChildren();
    marker.replaceChildren();
  };

  const form = h(
    'form',
    {
      'data-testid': 'rule-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearError();
        try {
          const res = await post('/rules', collect());
          const saved = res?.rule?.def || {};
          flash(t('rules.saved', { id: saved.id || collect().id, version: saved.version ?? '' }));
          go(`/rules/${encodeURIComponent(saved.id || collect().id)}${saved.version ? qs({ version: saved.version }) : ''}`);
        } catch (e) {
          showError(e);
        }
      },
    },
    h(
      'div',
      { style: 'display:flex;gap:.75rem;flex-wrap:wrap' },
      h('label', {}, t('rules.id'), h('input', { name: 'id', value: def.id, required: true, readonly: !!id, size: 16 })),
      h('label', { style: 'flex:1' }, t('rules.title'), h('input', { name: 'title', value: def.title, required: true })),
      h(
        'label',
        {},
        t('rules.department'),
        h(
          'select',
          { name: 'department' },
          ['', ...DEPARTMENTS, ...(def.department && !DEPARTMENTS.includes(def.department) ? [def.department] : [])].map((d) =>
            h('option', { value: d, selected: (def.department || '') === d }, d ? tOr(`department.${d}`, d) : t('rules.no_department')),
          ),
        ),
      ),
      h('label', {}, t('rules.weight'), h('input', { name: 'weight', type: 'number', min: 0, max: 1, step: '0.01', value: def.weight })),
      h(
        'label',
        {},
        t('rules.forces'),
        h(
          'select',
          { name: 'channel' },
          ['', 'yellow', 'red'].map((c) => h('option', { value: c, selected: (def.channel || '') === c }, c ? t(`channel.${c}`) : t('rules.no_force'))),
        ),
      ),
      h('label', {}, t('rules.valid_from'), h('input', { type: 'date', name: 'valid_from', value: def.valid_from || '' })),
      h('label', {}, t('rules.valid_to'), h('input', { type: 'date', name: 'valid_to', value: def.valid_to || '' })),
    ),
    h('label', { style: 'margin-top:.5rem' }, t('rules.instructions'), h('input', { name: 'instructions', value: def.instructions })),
    h(
      'div',
      { class: 'editor-row' },
      h('label', { style: 'margin-top:.5rem' }, t('rules.logic'), h('div', { class: 'editor' }, when, marker)),
      fields.length ? fieldList(fields, when) : null,
    ),
    errorSlot,
    h('div', { style: 'display:flex;gap:.5rem;margin-top:.5rem' }, h('button', { type: 'submit' }, t('rules.save_draft'))),
  );

  mount(
    el,
    h('div', { class: 'breadcrumb' }, h('a', { href: '#/rules' }, t('nav.rules')), h('span', {}, '›'), h('span', {}, id || t('rules.new'))),
    h('h1', {}, id ? t('rules.edit_title', { id }) : t('rules.new')),
    h('p', { class: 'muted' }, t('rules.edit_help')),
    h('div', { class: 'card' }, form),
    h('h2', {}, t('rules.test_draft')),
    h(
      'div',
      { class: 'card' },
      h(
        'form',
        {
          class: 'inline',
          'data-testid': 'draft-test-form',
          onsubmit: async (ev) => {
            ev.preventDefault();
            clearError();
            testBox.replaceChildren();
            const v = formValues(ev.target);
            if (!v.declaration_id) return testBox.replaceChildren(errorBox({ message: t('rules.need_declaration'), field: 'declaration_id' }));
            try {
              const res = await post('/rules/test', { rule: collect(), declaration_ids: [v.declaration_id] });
              const fired = fires(res);
              testBox.replaceChildren(
                h('div', { class: fired ? 'error' : 'ok-msg', 'data-testid': 'rule-test-result' }, fired ? t('rules.test_fired', { id: v.declaration_id }) : t('rules.test_not_fired', { id: v.declaration_id })),
              );
            } catch (e) {
              if (e.field === 'when' || e.line || errorPosition(e)) showError(e);
              else testBox.replaceChildren(errorBox(e));
            }
          },
        },
        h('label', {}, t('rules.test_declaration'), h('input', { name: 'declaration_id', size: 24 })),
        h('button', { type: 'submit', class: 'secondary' }, t('rules.run_test')),
      ),
      testBox,
    ),
  );
}
