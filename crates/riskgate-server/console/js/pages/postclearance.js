// Post-clearance audit (稽查选案, M11): the released declarations of a
// period ranked by the duty an audit is expected to recover as known now
// (payments abroad made since, findings since), with their reasons; the
// traders by the sum of theirs; and, for those who may, an audit plan that
// opens post-clearance audit cases per unit. GET /post-clearance/selection
// and POST /post-clearance/plans answer; scores and reasons are the server's.
// Below, 专业审计选择: the units or posts whose control work is most worth a
// specialised audit (GET /post-clearance/specialised), units / posts toggle.
import { get, post, qs, items } from '../api.js';
import { t, tOr } from '../i18n.js';
import { h, mount, table, num, pct, errorBox, formValues, flash, levelChip } from '../ui.js';
import { go, session } from '../state.js';
import { may } from '../roles.js';
import { ratio, reasonsText } from './moneyflow.js';


// "2200=20, 5300=10" → {"2200": 20, "5300": 10}; a malformed entry is
// refused here, naming it, before anything is sent.
export function parseCapacity(text) {
  const out = {};
  for (const part of String(text || '').split(/[,，\s]+/).filter(Boolean)) {
    const m = /^([A-Za-z0-9]+)=(\d+)$/.exec(part);
    if (!m) throw { message: t('pca.capacity_bad', { part }), field: 'capacity' };
    out[m[1]] = Number(m[2]);
  }
  if (!Object.keys(out).length) throw { message: t('pca.capacity_missing'), field: 'capacity' };
  return out;
}

function planView(p) {
  const units = table(
    [
      { label: t('pca.unit'), get: (u) => u.unit },
      { label: t('pca.capacity'), num: true, get: (u) => num(u.capacity) },
      { label: t('pca.candidates'), num: true, get: (u) => num(u.candidates) },
      { label: t('pca.ranked'), num: true, get: (u) => num(u.ranked) },
      { label: t('pca.random'), num: true, get: (u) => num(u.random) },
      { label: t('pca.expected_duty'), num: true, get: (u) => num(u.expected_duty) },
    ],
    items(p, 'units'),
    { testid: 'pca-plan-units', title: p.name },
  );
  const audits = table(
    [
      {
        label: t('decl.id'),
        get: (a) => a.declaration_id,
        render: (a) => h('a', { href: `#/declarations/${encodeURIComponent(a.declaration_id)}` }, a.declaration_id),
      },
      { label: t('pca.unit'), get: (a) => a.unit },
      { label: t('pca.drawn'), get: (a) => t(`pca.drawn_${a.drawn}`) },
      { label: t('pca.selection_probability'), num: true, get: (a) => num(a.selection_probability, 4) },
      { label: t('pca.expected_duty'), num: true, get: (a) => num(a.expected_duty) },
      {
        label: t('pca.case'),
        get: (a) => (a.case_id ? String(a.case_id) : '—'),
        render: (a) => (a.case_id ? h('a', { href: `#/cases/${a.case_id}` }, `#${a.case_id}`) : '—'),
      },
    ],
    items(p, 'audits'),
    { testid: 'pca-plan-audits', title: p.name },
  );
  return h(
    'div',
    { 'data-testid': 'pca-plan', dataset: { name: p.name, dryRun: p.dry_run ? '1' : '0' } },
    h('p', {}, t(p.dry_run ? 'pca.plan_dry' : 'pca.plan_opened', { name: p.name, n: num(items(p, 'audits').length) })),
    units,
    audits,
  );
}

function planForm(from, to, office) {
  const out = h('div', { 'data-testid': 'pca-plan-result' });
  const msg = h('div');
  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'pca-plan-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        msg.replaceChildren();
        const f = formValues(ev.target);
        try {
          const body = {
            capacity: parseCapacity(f.capacity),
            explore: f.explore ? Number(f.explore) / 100 : undefined,
            name: f.name || undefined,
            from: from || undefined,
            to: to || undefined,
            dry_run: !!f.dry_run,
          };
          const p = await post('/post-clearance/plans', body);
          mount(out, planView(p));
          if (!p.dry_run) flash(t('pca.plan_opened', { name: p.name, n: num(items(p, 'audits').length) }));
        } catch (e) {
          msg.replaceChildren(errorBox(e));
        }
      },
    },
    h('label', {}, t('pca.capacity_label'),
      h('input', { name: 'capacity', placeholder: office ? `${office}=20` : '2200=20, 5300=10', 'data-testid': 'pca-capacity' })),
    h('label', {}, t('pca.explore_label'),
      h('input', { name: 'explore', type: 'number', min: 0, max: 50, step: 1, value: 10, 'data-testid': 'pca-explore' })),
    h('label', {}, t('pca.name_label'), h('input', { name: 'name', 'data-testid': 'pca-name' })),
    h('label', { style: 'flex-direction:row;align-items:center' },
      h('input', { type: 'checkbox', name: 'dry_run', checked: true, 'data-testid': 'pca-dry-run' }), t('pca.dry_run')),
    h('button', { type: 'submit', 'data-testid': 'pca-plan-submit' }, t('pca.plan_submit')),
  );
  return h('section', {}, h('h2', {}, t('pca.plan_title')), h('p', { class: 'muted' }, t('pca.plan_legend')), form, msg, out);
}

// 专业审计选择: the ranked units or posts of the period with their reasons.
function specialisedSection(from, to, office) {
  const out = h('div', { 'data-testid': 'spa-result' });
  const load = async (by) => {
    let s;
    try {
      s = await get(`/post-clearance/specialised${qs({ by, from, to, office, limit: 20 })}`);
    } catch (err) {
      mount(out, errorBox(err));
      return;
    }
    const who =
      by === 'post'
        ? [
            { label: t('spa.unit'), get: (r) => r.office },
            { label: t('spa.post'), get: (r) => tOr(`post.${r.post}`, r.post) },
          ]
        : [{ label: t('spa.unit'), get: (r) => r.unit }];
    const grid = table(
      [
        ...who,
        { label: t('common.name'), get: (r) => r.name || '' },
        { label: t('spa.score'), num: true, get: (r) => num(r.score, 1), export: (r) => r.score },
        { label: t('spa.controls'), num: true, get: (r) => num(r.controls) },
        { label: t('spa.hit_rate'), num: true, get: (r) => (r.hit_rate === null ? '—' : pct(r.hit_rate, 1)) },
        { label: t('spa.peer_hit_rate'), num: true, get: (r) => (r.peer_hit_rate === null ? '—' : pct(r.peer_hit_rate, 1)) },
        { label: t('spa.overrides_down'), num: true, get: (r) => num(r.overrides_down) },
        { label: t('spa.audited'), num: true, get: (r) => num(r.audited_releases) },
        { label: t('spa.audit_found'), num: true, get: (r) => num(r.audit_findings_after_release) },
        { label: t('spa.audit_duty'), num: true, get: (r) => num(r.audit_duty_recovered), export: (r) => r.audit_duty_recovered },
        { label: t('moneyflow.reasons'), get: reasonsText },
      ],
      items(s, 'rows'),
      { testid: 'spa-rows', title: t('spa.title'), empty: t('common.none') },
    );
    mount(
      out,
      h('p', { 'data-testid': 'spa-summary', dataset: { by: s.by, ranked: s.ranked } },
        t('spa.summary', { from: s.from, to: s.to, n: num(s.ranked) })),
      grid,
    );
  };
  const toggle = h(
    'label',
    {},
    t('spa.by'),
    h(
      'select',
      { 'data-testid': 'spa-by', onchange: (ev) => load(ev.target.value) },
      h('option', { value: 'unit', selected: true }, t('spa.by_unit')),
      h('option', { value: 'post' }, t('spa.by_post')),
    ),
  );
  load('unit');
  return h(
    'section',
    { 'data-testid': 'spa' },
    h('h2', {}, t('spa.title')),
    h('p', { class: 'muted' }, t('spa.legend')),
    h('form', { class: 'inline', onsubmit: (ev) => ev.preventDefault() }, toggle),
    out,
  );
}

export async function postClearancePage(el, query) {
  const from = query.get('from') || '';
  const to = query.get('to') || '';
  const office = query.get('office') || '';
  const rank = ['probability', 'balanced'].includes(query.get('rank')) ? query.get('rank') : 'duty';
  const here = (over) => `/post-clearance${qs({ from, to, office, rank, ...over })}`;
  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'pca-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = formValues(ev.target);
        go(here({ from: f.from || '', to: f.to || '', office: f.office || '', rank: f.rank || 'duty' }));
      },
    },
    h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from', value: from, 'data-testid': 'pca-from' })),
    h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to', value: to, 'data-testid': 'pca-to' })),
    h('label', {}, t('common.office'), h('input', { name: 'office', value: office, size: 6, 'data-testid': 'pca-office' })),
    h(
      'label',
      {},
      t('pca.rank'),
      h(
        'select',
        { name: 'rank', 'data-testid': 'pca-rank' },
        h('option', { value: 'duty', selected: rank === 'duty' }, t('pca.rank_duty')),
        h('option', { value: 'probability', selected: rank === 'probability' }, t('pca.rank_probability')),
        h('option', { value: 'balanced', selected: rank === 'balanced' }, t('pca.rank_balanced')),
      ),
    ),
    h('button', { type: 'submit' }, t('common.apply')),
  );
  const heading = h('h1', {}, t('pca.title'));
  let s;
  try {
    s = await get(`/post-clearance/selection${qs({ from, to, office, rank, limit: 200 })}`);
  } catch (err) {
    mount(el, heading, form, errorBox(err));
    return;
  }
  const decls = items(s, 'declarations');
  const traders = items(s, 'traders');
  const grid = table(
    [
      {
        label: t('decl.id'),
        get: (c) => c.declaration_id,
        render: (c) => h('a', { href: `#/declarations/${encodeURIComponent(c.declaration_id)}` }, c.declaration_id),
      },
      { label: t('moneyflow.trader'), get: (c) => c.trader },
      { label: t('moneyflow.office'), get: (c) => c.office },
      { label: t('pca.probability'), num: true, get: (c) => pct(c.probability, 1), export: (c) => c.probability },
      { label: t('pca.expected_duty'), num: true, get: (c) => num(c.expected_duty), export: (c) => c.expected_duty },
      { label: t('moneyflow.declared'), num: true, get: (c) => num(c.declared_cny) },
      { label: t('moneyflow.paid_ratio'), num: true, get: (c) => ratio(c.paid_ratio), export: (c) => c.paid_ratio ?? '' },
      { label: t('pca.at_screening'), num: true, get: (c) => ratio(c.risk_value_at_screening) },
      { label: t('moneyflow.reasons'), get: reasonsText },
    ],
    decls,
    { testid: 'pca-declarations', title: t('pca.title'), empty: t('common.none') },
  );
  const linkTrader = may(session.me, 'ReadEnterprises');
  const tgrid = table(
    [
      {
        label: t('moneyflow.trader'),
        get: (x) => x.trader,
        render: (x) => (linkTrader ? h('a', { href: `#/enterprises/${encodeURIComponent(x.trader)}` }, x.trader) : x.trader),
      },
      { label: t('common.name'), get: (x) => x.name || '' },
      { label: t('pca.declarations'), num: true, get: (x) => num(x.declarations) },
      { label: t('pca.overpaid'), num: true, get: (x) => num(x.overpaid_declarations) },
      { label: t('pca.expected_duty'), num: true, get: (x) => num(x.expected_duty), export: (x) => x.expected_duty },
      { label: t('pca.level'), get: (x) => x.risk_level || '', render: (x) => (x.risk_level ? levelChip(x.risk_level) : '—') },
    ],
    traders,
    { testid: 'pca-traders', title: t('pca.traders'), empty: t('common.none') },
  );
  mount(
    el,
    heading,
    form,
    h(
      'p',
      { 'data-testid': 'pca-summary', dataset: { considered: s.considered, overpaid: s.overpaid } },
      t('pca.summary', {
        from: s.from,
        to: s.to,
        considered: num(s.considered),
        overpaid: num(s.overpaid),
        scorer: s.scorer || t('pca.no_model'),
      }),
    ),
    h('p', { class: 'muted' }, t('pca.legend')),
    grid,
    h('h2', {}, t('pca.traders')),
    tgrid,
    may(session.me, 'PlanAudits') ? planForm(from, to, office) : null,
    specialisedSection(from, to, office),
  );
}
