// Enterprises: risk level and its history, controls and findings.
import { get, post, qs, items } from '../api.js';
import { t, listSep, paren } from '../i18n.js';
import { h, mount, table, num, dt, levelChip, formValues, flash, sendForm, required, fetchPage, pageFooter, person } from '../ui.js';
import { chart } from '../charts.js';
import { go, session } from '../state.js';
import { may, normRole } from '../roles.js';
import { laneCell } from './declarations.js';

const MAX_CONTROLS = 50;
const when = (v) => (typeof v === 'number' ? new Date(v * 1000).toISOString() : v);

export async function enterprisesPage(el, query) {
  const q = query.get('q') || '';
  const level = query.get('level') || '';
  const limit = Math.min(1000, Number(query.get('limit')) || 100);
  const offset = Math.max(0, Math.floor(Number(query.get('offset')) || 0));
  const { rows, hasNext } = await fetchPage(async (l, o) => items(await get(`/enterprises${qs({ q, level, limit: l, offset: o })}`), 'enterprises'), {
    limit,
    offset,
    max: 1000,
  });
  const href = (o, l) => `#/enterprises${qs({ q: q || undefined, level: level || undefined, offset: o || undefined, limit: l === 100 ? undefined : l })}`;
  mount(
    el,
    h('h1', {}, t('nav.enterprises')),
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (ev) => {
          ev.preventDefault();
          go(`/enterprises${qs(formValues(ev.target))}`);
        },
      },
      h('label', {}, t('ent.search'), h('input', { name: 'q', value: q, size: 30 })),
      h(
        'label',
        {},
        t('decl.risk_level'),
        h('select', { name: 'level' }, ['', 'high', 'medium', 'low'].map((l) => h('option', { value: l, selected: l === level }, l ? t(`level.${l}`) : t('common.all')))),
      ),
      h('button', { type: 'submit' }, t('common.search')),
    ),
    table(
      [
        { label: t('ent.id'), render: (e) => h('a', { href: `#/enterprises/${encodeURIComponent(e.id)}` }, e.id) },
        { label: t('common.name'), get: (e) => e.name },
        { label: t('ent.credit'), get: (e) => (e.credit_class ? t(`credit.${e.credit_class}`) : '—') },
        { label: t('decl.risk_level'), render: (e) => levelChip(e.risk_level || e.level?.level || e.level) },
        { label: t('ent.score'), get: (e) => (e.risk_score ?? e.score ?? e.level?.score)?.toFixed?.(4), num: true },
      ],
      rows,
      { onRowClick: (e) => go(`/enterprises/${encodeURIComponent(e.id)}`), testid: 'enterprises-table' },
    ),
    pageFooter({ n: rows.length, limit, offset, hasNext, max: 1000, href }),
  );
}

export async function enterpriseDetailPage(el, id) {
  const d = await get(`/enterprises/${encodeURIComponent(id)}`);
  const e = d.enterprise || d;
  const history = items(d.levels || d.level_history || d.history, 'levels').slice().sort((a, b) => (when(a.computed_at) < when(b.computed_at) ? -1 : 1));
  const latest = history[history.length - 1];
  // Recent controlled declarations; their outcomes from each declaration.
  const controls = items(d.recent_controls || d.controls, 'controls').slice(0, MAX_CONTROLS);
  await Promise.all(
    controls.map(async (c) => {
      try {
        const full = await get(`/declarations/${encodeURIComponent(c.id || c.declaration_id)}`);
        const os = full.outcomes || [];
        c.outcome = os[os.length - 1] || null;
        c.status = full.task?.status || c.task_status;
      } catch {
        c.outcome = null;
      }
    }),
  );
  const findings = controls.filter((c) => c.outcome?.result === 'finding');
  const detail = latest?.detail || {};
  mount(
    el,
    h('div', { class: 'breadcrumb' }, h('a', { href: '#/enterprises' }, t('nav.enterprises')), h('span', {}, '›'), h('span', {}, id)),
    h('h1', {}, `${e.name || id} `, levelChip(latest?.level || e.risk_level)),
    h(
      'div',
      { class: 'card' },
      h(
        'dl',
        { class: 'kv', 'data-testid': 'enterprise-facts' },
        [
          ['ent.id', e.id || id],
          ['ent.credit', e.credit_class ? t(`credit.${e.credit_class}`) : '—'],
          ['ent.registered_at', e.registered_at],
          ['ent.capital', e.registered_capital_cny !== undefined ? `${num(e.registered_capital_cny)} CNY` : '—'],
          ['ent.score', latest ? latest.score : '—'],
          // The stored formula (English, as computed) on hover.
          ['ent.formula', detail.formula ? h('span', { title: detail.formula }, t('ent.formula_text', { base: detail.base_rate ?? '—' })) : null],
          ['ent.counts', latest ? t('ent.counts_text', { d: num(detail.declarations), c: num(detail.controls), f: num(detail.findings), r: num(detail.revenue_cny) }) : '—'],
        ].map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v ?? '—')]),
      ),
    ),
    h('h2', {}, t('ent.history')),
    history.length > 1
      ? h(
          'div',
          { class: 'card' },
          chart(
            {
              tooltip: { trigger: 'axis' },
              grid: { left: 8, right: 24, top: 16, bottom: 8, containLabel: true },
              xAxis: { type: 'category', data: history.map((x) => dt(when(x.computed_at))) },
              yAxis: { type: 'value', name: t('ent.score') },
              series: [{ type: 'line', step: 'end', name: t('ent.score'), data: history.map((x) => x.score) }],
            },
            { height: 220 },
          ),
        )
      : null,
    table(
      [
        { label: t('ent.computed_at'), get: (x) => dt(when(x.computed_at)) },
        { label: t('decl.risk_level'), render: (x) => levelChip(x.level) },
        { label: t('ent.score'), get: (x) => x.score, num: true },
        { label: t('ent.controls'), get: (x) => num(x.detail?.controls), num: true },
        { label: t('ent.findings'), get: (x) => num(x.detail?.findings), num: true },
      ],
      history.slice().reverse(),
      { testid: 'level-history' },
    ),
    h('h2', {}, t('ent.controls_findings', { c: controls.length, f: findings.length })),
    table(
      [
        { label: t('decl.id'), render: (c) => h('a', { href: `#/declarations/${encodeURIComponent(c.declaration_id || c.id)}` }, c.declaration_id || c.id) },
        { label: t('decl.declared_at'), get: (c) => dt(c.declared_at || when(c.opened_at)) },
        { label: t('decl.channel'), render: (c) => laneCell(c) },
        { label: t('decl.risk_value'), get: (c) => c.risk_value?.toFixed?.(3), num: true },
        { label: t('work.status'), get: (c) => (c.status || c.task_status ? t(`status.${c.status || c.task_status}`) : '—') },
        { label: t('outcome.result'), get: (c) => { const r = c.outcome?.result || c.result; return r ? t(`outcome.${r}`) : '—'; } },
        { label: t('outcome.findings'), get: (c) => (c.outcome?.findings || c.findings || []).map((f) => t(`finding.${f}`)).join(listSep()) },
        { label: t('outcome.additional_duty'), get: (c) => num(c.outcome?.additional_duty ?? c.additional_duty), num: true },
      ],
      controls,
      { testid: 'enterprise-controls' },
    ),
    h('h2', {}, t('ent.notes')),
    table(
      [
        { label: t('integrity.at'), get: (n) => dt(when(n.at)) },
        { label: t('case.by'), get: (n) => (n.department ? paren(person(n.author), t(`department.${n.department}`)) : person(n.author)) },
        { label: t('case.note'), get: (n) => n.text },
        { label: t('ent.watch_list'), render: (n) => watchList(n.watch_list), get: (n) => n.watch_list },
      ],
      items(d.notes, 'notes'),
      { testid: 'enterprise-notes', empty: t('ent.no_notes') },
    ),
    may(session.me, 'SendFeedback') ? noteForm(id, () => enterpriseDetailPage(el, id)) : null,
  );
}

// A department's watch-list in words, with the name rules use (watch.DEPARTMENT).
const watchList = (l) =>
  l ? h('span', {}, t('ent.watch_list_of', { d: t(`department.${l.replace(/^watch\./, '')}`) }), ' ', h('code', { 'data-raw': '' }, l)) : '—';

// Feedback or intelligence on the enterprise; a department's user may also
// put it on the department's watch-list (rules can use it at once).
function noteForm(id, reload) {
  const department = session.me.department && normRole(session.me.role) === 'department_user';
  return sendForm(
    { 'data-testid': 'note-form', class: 'card' },
    async (f) => {
      required(f, 'text', t('ent.note_needed'));
      await post(`/enterprises/${encodeURIComponent(id)}/notes`, { text: f.get('text'), watch: f.get('watch') === 'on' });
      flash(t('ent.note_saved'));
      reload();
    },
    h('label', {}, t('ent.add_note'), h('textarea', { name: 'text', rows: 3, cols: 80 })),
    department
      ? h('label', { style: 'flex-direction:row;align-items:center' }, h('input', { type: 'checkbox', name: 'watch' }), t('ent.watch'), ' ', h('code', { 'data-raw': '' }, `watch.${session.me.department}`))
      : null,
    h('div', { style: 'margin-top:.5rem' }, h('button', { type: 'submit' }, t('ent.send_note'))),
  );
}
