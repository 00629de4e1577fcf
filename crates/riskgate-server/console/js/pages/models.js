// Models: versions, evaluation figures on the later window, shadow comparison,
// and drift (outcomes against what the learned model expected).
import { get, post, items } from '../api.js';
import { t, featureLabel, listSep } from '../i18n.js';
import { h, mount, table, pct, num, dt, chip, errorBox, flash, person } from '../ui.js';
import { chart } from '../charts.js';
import { session } from '../state.js';
import { isAnalyst } from '../roles.js';
import { MIN_CASES } from './overview.js';

const statusChip = (s) => chip(s === 'active' ? 'green' : s === 'shadow' ? 'yellow' : '', t(`model_status.${s}`));
const evalOf = (m) => m.metrics?.evaluation || m.evaluation || {};
// Figures that rest on fewer findings than the overview's MIN_CASES in the
// evaluation window are shown with 样本过少 (n = …) beside them.
const fewFindings = (ev) => typeof ev.eval_findings === 'number' && ev.eval_findings < MIN_CASES;
const fewMark = (ev) => (fewFindings(ev) ? [' ', h('span', { class: 'chip yellow', 'data-testid': 'few-findings' }, t('models.few', { n: num(ev.eval_findings) }))] : null);
const fewCell = (ev, v) => h('span', {}, v, fewMark(ev));

export async function modelsPage(el) {
  const rows = items(await get('/models'), 'models');
  mount(
    el,
    h('h1', {}, t('nav.models')),
    table(
      [
        { label: t('models.id'), render: (m) => h('a', { href: `#/models/${encodeURIComponent(m.id)}` }, m.id) },
        { label: t('models.status'), render: (m) => statusChip(m.status) },
        { label: t('models.created'), get: (m) => dt(m.created_at) },
        { label: t('models.by'), get: (m) => person(m.created_by) },
        { label: 'AUC', get: (m) => evalOf(m).auc?.toFixed?.(3), num: true },
        { label: t('models.eval_rows'), get: (m) => num(evalOf(m).eval_rows), num: true },
        {
          label: t('models.precision_at', { rate: '4%' }),
          get: (m) => pct(atRate(evalOf(m), 0.04)?.precision, 1),
          render: (m) => fewCell(evalOf(m), pct(atRate(evalOf(m), 0.04)?.precision, 1)),
          num: true,
        },
      ],
      rows,
      { testid: 'models-table' },
    ),
    await driftView(),
  );
}

// GET /models/drift: the verdict, then O, E, O/E and z by week (with the
// new-trader share of the declarations screened) and by office.
async function driftView() {
  let d;
  try {
    d = await get('/models/drift');
  } catch (e) {
    return [h('h2', {}, t('drift.title')), errorBox(e)];
  }
  const v = d.verdict || { flags: [] };
  // The report's times are RFC 3339 at +08:00: shown as they are, China time.
  const chinaTime = (s) => (s ? s.slice(0, 16).replace('T', ' ') : '—');
  const fixed = (x, n) => (x === undefined || x === null ? '—' : x.toFixed(n));
  const figures = [
    { label: t('drift.controls'), get: (r) => num(r.controls), num: true },
    { label: t('drift.findings'), get: (r) => num(r.findings), num: true },
    { label: t('drift.expected'), get: (r) => num(r.expected, 1), num: true },
    { label: t('drift.ratio'), get: (r) => fixed(r.ratio, 2), num: true },
    { label: 'z', get: (r) => (r.z === undefined || r.z === null ? '—' : `${r.z > 0 ? '+' : ''}${r.z.toFixed(1)}`), num: true },
    { label: t('drift.flag'), render: (r) => (r.flagged ? chip('red', t('drift.flagged')) : '') },
  ];
  const flagText = (f) =>
    t('drift.flag_line', {
      group: f.group === 'office' || f.group === 'week' || f.group === 'model' ? `${t(`drift.group.${f.group}`)} ${f.key}` : f.group === 'trader' ? t(`drift.trader.${f.key}`) : t('drift.group.since_training', { id: f.key }),
      o: num(f.findings),
      e: num(f.expected, 1),
      z: f.z.toFixed(1),
    }) + (f.after_training ? t('drift.after_training') : '');
  const verdict = !v.drift ? t('drift.none') : v.since_training ? t('drift.since_training') : t('drift.before_training');
  return [
    h('h2', {}, t('drift.title')),
    h('p', { class: 'muted' }, t('drift.help', { z: d.thresholds?.z, n: d.thresholds?.min_count, days: d.thresholds?.new_trader_days })),
    h(
      'div',
      { class: 'card', 'data-testid': 'drift-verdict' },
      h('p', {}, chip(v.drift ? 'red' : 'green', verdict), ' ', t('drift.period', { from: chinaTime(d.from), to: chinaTime(d.to), model: d.active_model || '—' })),
      v.flags.length ? h('ul', {}, v.flags.map((f) => h('li', {}, flagText(f)))) : null,
      d.unscored_controls ? h('p', { class: 'muted' }, t('drift.unscored', { n: num(d.unscored_controls) })) : null,
    ),
    h('h3', {}, t('drift.by_week')),
    table(
      [
        { label: t('drift.week'), get: (r) => `${r.key} (${r.label})` },
        ...figures,
        { label: t('drift.screened'), get: (r) => num(r.screened), num: true },
        { label: t('drift.new_share'), get: (r) => pct(r.new_trader_share, 1), num: true },
      ],
      d.by_week || [],
      { testid: 'drift-weeks' },
    ),
    h('h3', {}, t('drift.by_office')),
    table([{ label: t('drift.office'), get: (r) => (r.label ? `${r.key} ${r.label}` : r.key) }, ...figures], d.by_office || [], { testid: 'drift-offices' }),
  ];
}

const atRate = (ev, r) => (ev.at || []).find((x) => Math.abs(x.rate - r) < 1e-9);

export async function modelDetailPage(el, id) {
  const data = await get(`/models/${encodeURIComponent(id)}`);
  const m = data.model || data;
  const ev = evalOf(m);
  const at = ev.at || [];
  const msg = h('div');
  const setStatus = async (status) => {
    msg.replaceChildren();
    try {
      // Taking the active model out of service asks first; the last active
      // one leaves screening to the rules and the statistical scorer.
      if (m.status === 'active' && status !== 'active') {
        const others = items(await get('/models'), 'models').filter((x) => x.status === 'active' && x.id !== id);
        const action = t(status === 'retired' ? 'models.retire' : 'models.shadow');
        if (!window.confirm(t(others.length ? 'models.confirm_leave' : 'models.confirm_last', { id, action }))) return;
      }
      await post(`/models/${encodeURIComponent(id)}/status`, { status });
      flash(t('models.status_set', { id, status: t(`model_status.${status}`) }));
      modelDetailPage(el, id);
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  };
  mount(
    el,
    h('div', { class: 'breadcrumb' }, h('a', { href: '#/models' }, t('nav.models')), h('span', {}, '›'), h('span', {}, id)),
    h('h1', {}, `${id} `, statusChip(m.status)),
    h(
      'div',
      { class: 'card' },
      h(
        'dl',
        { class: 'kv', 'data-testid': 'model-facts' },
        [
          ['models.by', person(m.created_by)],
          ['models.train_window', ev.train_window ? ev.train_window.join(' → ') : '—'],
          ['models.eval_window', ev.eval_window ? ev.eval_window.join(' → ') : '—'],
          ['models.train_rows', `${num(ev.train_rows)} (${t('models.findings_n', { n: num(ev.train_findings) })})`],
          ['models.eval_rows', `${num(ev.eval_rows)} (${t('models.findings_n', { n: num(ev.eval_findings) })})`],
          ['AUC', ev.auc?.toFixed?.(4)],
          ['models.train_seconds', ev.train_seconds?.toFixed?.(1)],
        ].map(([k, v]) => [h('dt', {}, k === 'AUC' ? k : t(k)), h('dd', {}, v ?? '—')]),
      ),
      isAnalyst(session.me)
        ? h(
            'div',
            { style: 'display:flex;gap:.5rem;margin-top:.75rem' },
            m.status !== 'active' ? h('button', { type: 'button', onclick: () => setStatus('active') }, t('models.activate')) : null,
            m.status !== 'shadow' ? h('button', { type: 'button', class: 'secondary', onclick: () => setStatus('shadow') }, t('models.shadow')) : null,
            m.status !== 'retired' ? h('button', { type: 'button', class: 'secondary', onclick: () => setStatus('retired') }, t('models.retire')) : null,
          )
        : null,
      msg,
    ),
    h('h2', {}, t('models.evaluation')),
    h('p', { class: 'muted' }, t('models.eval_help')),
    fewFindings(ev) ? h('p', { class: 'error', 'data-testid': 'few-findings-note' }, t('models.few_note', { n: num(ev.eval_findings), min: MIN_CASES })) : null,
    at.length
      ? h(
          'div',
          { class: 'two' },
          h(
            'div',
            { class: 'card' },
            chart(
              {
                tooltip: { trigger: 'axis', valueFormatter: (v) => `${v}%` },
                legend: { top: 0 },
                grid: { left: 8, right: 24, top: 32, bottom: 28, containLabel: true },
                xAxis: { type: 'category', name: t('models.control_rate'), nameLocation: 'middle', nameGap: 26, data: at.map((r) => pct(r.rate, 0)) },
                yAxis: { type: 'value', axisLabel: { formatter: '{value}%' } },
                series: [
                  ['precision', t('models.precision')],
                  ['recall', t('models.recall')],
                  ['revenue_share', t('models.revenue_share')],
                ].map(([k, name]) => ({ name, type: 'line', data: at.map((r) => +(r[k] * 100).toFixed(2)) })),
              },
              { height: 280, testid: 'eval-chart' },
            ),
          ),
          table(
            [
              { label: t('models.control_rate'), get: (r) => pct(r.rate, 0) },
              { label: t('models.precision'), get: (r) => pct(r.precision, 1), render: (r) => fewCell(ev, pct(r.precision, 1)), num: true },
              { label: t('models.recall'), get: (r) => pct(r.recall, 1), render: (r) => fewCell(ev, pct(r.recall, 1)), num: true },
              { label: t('models.revenue_share'), get: (r) => pct(r.revenue_share, 1), num: true },
            ],
            at,
            { testid: 'eval-table' },
          ),
        )
      : h('p', { class: 'muted' }, t('models.no_eval')),
    h('h2', {}, t('models.shadow_comparison')),
    shadowView(data.shadow_comparison),
    m.metrics?.features ? [h('h2', {}, t('models.features')), h('p', { class: 'muted' }, m.metrics.features.map(featureLabel).join(listSep()))] : null,
  );
}

// {controlled_with_outcome, active: [{rate, precision, …}], shadow: [...]}:
// the hit rate of the top share of controlled declarations ranked by each model.
function shadowView(s) {
  if (!s || !s.controlled_with_outcome) return h('p', { class: 'muted', 'data-testid': 'shadow' }, t('models.no_shadow'));
  const active = s.active || [];
  const shadow = s.shadow || [];
  const rates = active.map((r) => r.rate);
  return h(
    'div',
    { class: 'card', 'data-testid': 'shadow' },
    h('p', {}, t('models.shadow_text', { n: num(s.controlled_with_outcome) })),
    table(
      [
        { label: t('models.top_share'), get: (r) => pct(r, 0) },
        { label: t('models.active_hit'), get: (r) => pct(active.find((x) => x.rate === r)?.precision, 1), num: true },
        { label: t('models.shadow_hit'), get: (r) => pct(shadow.find((x) => x.rate === r)?.precision, 1), num: true },
      ],
      rates,
    ),
  );
}
