// Overview: the M9 KPIs of the selected unit against their targets, with
// formulas and figures, a trend, and drill-down HQ → district → office.
import { get, qs, items, download } from '../api.js';
import { t, tOr, lang } from '../i18n.js';
import { h, mount, table, pct, num, errorBox, describeError, flash } from '../ui.js';
import { chart } from '../charts.js';
import { go } from '../state.js';

// Parse a target such as "≥25%", "≈4%", "100%", "≤0.4%" and judge a value.
export function meetsTarget(target, value) {
  if (value === null || value === undefined || !target) return null;
  const m = /^\s*([≥≤≈<>]=?)?\s*([\d.]+)\s*%/.exec(target);
  if (!m) return null;
  const x = Number(m[2]) / 100;
  switch (m[1]) {
    case '≥':
    case '>=':
    case '>':
      return value >= x - 1e-9;
    case '≤':
    case '<=':
    case '<':
      return value <= x + 1e-9;
    case '≈':
      // Within a quarter of the target either way (4% → 3%–5%).
      return Math.abs(value - x) <= x * 0.25;
    default:
      return Math.abs(value - x) < 1e-9 || value >= x;
  }
}

const figName = (f) => (lang() === 'zh' ? f.name_zh || f.name : f.name || f.name_zh);
const fig = (u, key) => (u.figures || []).find((f) => f.key === key);
const val = (u, key) => fig(u, key)?.value ?? null;

// The declarations a KPI counts, as a search of the declarations page
// (issue 18: from a bad figure to what is behind it).
const BEHIND = {
  screened: {},
  targeting_rate: { status: 'closed' },
  engine_targeting_rate: { controlled: 'true' },
  hit_rate: { controlled: 'true', finding: 'true' },
};

// A rate on fewer cases than this is shown without a verdict on its target
// (issue 18: "100% 达标" on three random controls).
export const MIN_CASES = 30;

function kpiCard(f, scope) {
  const few = f.unit !== 'count' && typeof f.denominator === 'number' && f.denominator < MIN_CASES;
  const ok = few ? null : meetsTarget(f.target, f.value);
  const behind = BEHIND[f.key];
  const shown = f.unit === 'count' ? num(f.value) : pct(f.value);
  return h(
    'div',
    { class: `kpi ${ok === true ? 'ok' : ok === false ? 'bad' : ''}`, 'data-kpi': f.key },
    h('div', { class: 'name' }, figName(f)),
    h('div', { class: 'value' }, shown),
    h(
      'div',
      { class: 'target' },
      f.target
        ? `${t('kpi.target')} ${f.target} · ${
            few ? t('kpi.few', { n: num(f.denominator) }) : ok === true ? t('kpi.met') : ok === false ? t('kpi.missed') : t('kpi.no_data')
          }`
        : '',
    ),
    h(
      'div',
      { class: 'formula' },
      // The server's formula is English; Chinese comes from the dictionary.
      lang() === 'zh' ? tOr(`formula.${f.key}`, f.formula) : f.formula,
      f.unit === 'count' ? '' : ` = ${num(f.numerator, Number.isInteger(f.numerator) ? 0 : 2)} ÷ ${num(f.denominator, Number.isInteger(f.denominator) ? 0 : 2)}`,
    ),
    behind
      ? h('a', { class: 'more', 'data-testid': 'kpi-link', href: `#/declarations${qs({ ...scope, ...behind })}` }, t('kpi.show_declarations'))
      : null,
  );
}

// Today as the reader's calendar has it (yyyy-mm-dd, like a date input).
function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// What is wrong with a period of the form (days, `to` inclusive), or null.
export function rangeProblem(from, to) {
  if (from && to && from > to) return t('overview.range_reversed', { from, to });
  if (from && from > today()) return t('overview.range_future', { from, today: today() });
  return null;
}

const rangeBox = (text) => h('div', { class: 'error', role: 'alert' }, text);

const HEADLINE = [
  'screened',
  'targeting_rate',
  'hit_rate',
  'revenue_collection_rate',
  'smuggling_deterrence_rate',
  'same_day_release_sea',
  'same_day_release_other',
];

export async function overviewPage(el, query) {
  const office = query.get('office') || '';
  const asked = { from: query.get('from') || '', to: query.get('to') || '' };
  // A range that cannot be (reversed, or starting in the future) is said
  // beside the form, which keeps it; the page shows the default period.
  let rangeError = rangeProblem(asked.from, asked.to);
  let data;
  if (!rangeError) {
    try {
      // The whole scope, so the breadcrumb can name the unit's parents.
      data = await get(`/kpis${qs(asked)}`);
    } catch (e) {
      if (e.status !== 400 || !['from', 'to'].includes(e.field)) throw e;
      rangeError = describeError(e);
    }
  }
  if (rangeError) data = await get('/kpis');
  const { from, to } = rangeError ? { from: '', to: '' } : asked;
  const units = items(data, 'units');
  if (!units.length) {
    mount(el, h('h1', {}, t('nav.overview')), h('p', { class: 'muted' }, t('overview.no_data')));
    return;
  }
  const byCode = new Map(units.map((u) => [u.code, u]));
  const unit = (office && byCode.get(office)) || units[0];
  const children = units.filter((u) => u.parent === unit.code);

  // Breadcrumb up the tree as far as the user's scope goes.
  const chain = [];
  for (let u = unit, guard = 0; u && guard < 8; u = byCode.get(u.parent), guard++) chain.unshift(u);
  const drill = (code) => go(`/overview${qs({ office: code, from, to })}`);
  const crumbs = h(
    'div',
    { class: 'breadcrumb', 'data-testid': 'breadcrumb' },
    chain.map((u, i) =>
      i === chain.length - 1
        ? h('strong', {}, `${u.name} (${u.code})`)
        : [h('a', { href: `#/overview${qs({ office: u.code, from, to })}` }, `${u.name} (${u.code})`), h('span', {}, '›')],
    ),
  );

  const rangeMsg = h('div', { 'data-testid': 'period-error' }, rangeError ? rangeBox(`${rangeError} ${t('overview.range_default')}`) : null);
  const period = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'period-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        const [a, b] = [f.get('from') || '', f.get('to') || ''];
        // Refused here: the page and the figures shown stay as they are.
        const problem = rangeProblem(a, b);
        if (problem) return rangeMsg.replaceChildren(rangeBox(problem));
        rangeMsg.replaceChildren();
        go(`/overview${qs({ office: unit.code, from: a, to: b })}`);
      },
    },
    h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from', value: asked.from })),
    h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to', value: asked.to })),
    h('button', { type: 'submit', class: 'secondary' }, t('common.apply')),
    rangeMsg,
  );

  const headline = HEADLINE.map((k) => fig(unit, k)).filter(Boolean);
  const others = (unit.figures || []).filter((f) => !HEADLINE.includes(f.key));
  const trendBox = h('div', { 'data-testid': 'trend' }, h('p', { class: 'muted' }, t('common.loading')));
  const trendPeriod = query.get('period') === 'week' ? 'week' : 'month';
  const trendSwitch = h(
    'div',
    { class: 'tabs' },
    ['month', 'week'].map((p) =>
      h('a', { href: `#/overview${qs({ office: unit.code, from, to, period: p })}`, class: p === trendPeriod ? 'active' : null }, t(`overview.by_${p}`)),
    ),
  );

  mount(
    el,
    h('h1', {}, t('nav.overview'), ' · ', `${unit.name}`),
    crumbs,
    period,
    h('p', {}, h('a', { href: `#/analysis${qs({ office: unit.code, from, to })}`, 'data-testid': 'to-analysis' }, `${t('overview.analysis')} ›`)),
    reportControl(unit.code, from, to),
    h(
      'p',
      { class: 'muted' },
      `${t('kpi.level')}: ${t(`level_unit.${unit.level}`)} · ${t('kpi.declarations')}: ${num(unit.declarations)} · ${t('kpi.duty')}: ${num(unit.additional_duty_cny)} CNY`,
    ),
    h('div', { class: 'grid', 'data-testid': 'kpi-cards' }, headline.map((f) => kpiCard(f, { office: unit.code, from, to }))),
    others.length
      ? [h('h2', {}, t('kpi.more')), h('div', { class: 'grid' }, others.map((f) => kpiCard(f, { office: unit.code, from, to })))]
      : null,
    h('h2', {}, t('overview.trend')),
    h('div', { class: 'card' }, trendSwitch, trendBox),
    children.length
      ? [
          h('h2', {}, t('overview.drill', { level: t(`level_unit.${children[0].level}`) })),
          h(
            'div',
            { class: 'card' },
            chart(comparisonOption(children), {
              height: Math.max(220, 40 + children.length * 28),
              testid: 'children-chart',
              onClick: (p) => drill(children[p.dataIndex].code),
            }),
          ),
          table(
            [
              { label: t('common.code'), get: (u) => u.code },
              { label: t('common.name'), get: (u) => u.name },
              { label: t('kpi.declarations'), get: (u) => num(u.declarations), num: true },
              ...['targeting_rate', 'hit_rate', 'revenue_collection_rate', 'same_day_release_sea', 'same_day_release_other'].map(
                (k) => ({
                  label: figName(fig(unit, k) || { name: k }),
                  num: true,
                  render: (u) => {
                    const f = fig(u, k);
                    const ok = f ? meetsTarget(f.target, f.value) : null;
                    return h('span', { class: ok === false ? 'chip red' : null }, pct(f?.value));
                  },
                }),
              ),
            ],
            children,
            { onRowClick: (u) => drill(u.code), testid: 'children-table' },
          ),
        ]
      : h('p', { class: 'muted' }, t('overview.leaf')),
  );
  loadTrend(trendBox, unit.code, trendPeriod).catch((e) => trendBox.replaceChildren(errorBox(e)));
}

// "下载报告": the unit's KPI report for a quarter or a month, as XLSX or
// printable HTML (GET /reports/kpi, fetched with the session cookie and
// saved from a blob). The periods offered are the months of the trend
// (up to the newest declaration) and their quarters, newest first, and the
// days chosen above when both ends are set.
function reportControl(office, from, to) {
  const msg = h('div');
  const kind = h(
    'select',
    { name: 'kind', 'data-testid': 'report-kind', onchange: () => fill() },
    h('option', { value: 'quarter' }, t('report.quarter')),
    h('option', { value: 'month' }, t('report.month')),
    from && to ? h('option', { value: 'days' }, t('report.days')) : null,
  );
  const period = h('select', { name: 'period', 'data-testid': 'report-period' });
  const format = h(
    'select',
    { name: 'format', 'data-testid': 'report-format' },
    h('option', { value: 'xlsx' }, t('report.xlsx')),
    h('option', { value: 'html' }, t('report.html')),
  );
  let months = [];
  const fill = () => {
    const quarters = [...new Set(months.map((m) => `${m.slice(0, 4)}-Q${Math.floor((Number(m.slice(5, 7)) - 1) / 3) + 1}`))];
    const list = kind.value === 'days' ? [`${from}..${to}`] : (kind.value === 'quarter' ? quarters : months).slice().reverse();
    period.replaceChildren(...(list.length ? list.map((p) => h('option', { value: p }, p)) : [h('option', { value: '' }, t('report.none'))]));
  };
  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'report-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        msg.replaceChildren();
        if (!period.value) return;
        const button = form.querySelector('button');
        button.disabled = true;
        try {
          await download('GET', `/reports/kpi${qs({ period: period.value, office, format: format.value })}`);
        } catch (e) {
          msg.replaceChildren(errorBox(e));
          flash(describeError(e), false);
        } finally {
          button.disabled = false;
        }
      },
    },
    h('label', {}, t('report.kind'), kind),
    h('label', {}, t('report.period'), period),
    h('label', {}, t('report.format'), format),
    h('button', { type: 'submit', class: 'secondary', 'data-testid': 'report-download' }, t('report.download')),
  );
  fill();
  get(`/kpis/trend${qs({ office, period: 'month' })}`)
    .then((data) => {
      months = items(data, 'periods')
        .filter((p) => p.declarations)
        .map((p) => p.period);
      fill();
    })
    .catch((e) => msg.replaceChildren(errorBox(e)));
  return h('div', { class: 'report-control' }, form, msg);
}

function comparisonOption(children) {
  const names = children.map((u) => `${u.name} (${u.code})`);
  return {
    tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null ? '—' : `${v.toFixed(2)}%`) },
    legend: { top: 0 },
    grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
    xAxis: { type: 'value', axisLabel: { formatter: '{value}%' } },
    yAxis: { type: 'category', data: names, inverse: true },
    series: [
      { name: t('kpi.targeting_rate'), type: 'bar', data: children.map((u) => pctVal(val(u, 'targeting_rate'))) },
      { name: t('kpi.hit_rate'), type: 'bar', data: children.map((u) => pctVal(val(u, 'hit_rate'))) },
    ],
  };
}

const pctVal = (v) => (v === null || v === undefined ? null : +(v * 100).toFixed(3));

// The unit's figures per month or week: twelve periods up to the newest
// declaration (GET /kpis/trend), the same figures and formulas as the cards.
async function loadTrend(box, office, period) {
  const data = await get(`/kpis/trend${qs({ office, period })}`);
  let periods = items(data, 'periods');
  while (periods.length && !periods[0].declarations) periods = periods.slice(1);
  if (!periods.length) {
    box.replaceChildren(h('p', { class: 'muted' }, t('overview.no_trend')));
    return;
  }
  const keys = ['targeting_rate', 'hit_rate', 'same_day_release_sea', 'same_day_release_other', 'revenue_collection_rate'];
  const label = (p) => p.period;
  const figOf = (p, k) => (p.figures || []).find((f) => f.key === k)?.value ?? null;
  box.replaceChildren(
    chart(
      {
        tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined ? '—' : `${v.toFixed(2)}%`) },
        legend: { top: 0 },
        grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: 'category', data: periods.map(label) },
        yAxis: { type: 'value', axisLabel: { formatter: '{value}%' } },
        series: keys.map((k) => ({
          name: t(`kpi.${k}`),
          type: 'line',
          connectNulls: true,
          data: periods.map((p) => pctVal(figOf(p, k))),
          markLine:
            k === 'targeting_rate' ? { silent: true, symbol: 'none', data: [{ yAxis: 4, name: '4%' }], label: { formatter: '4%' } } : undefined,
        })),
      },
      { height: 320, testid: 'trend-chart' },
    ),
  );
}
