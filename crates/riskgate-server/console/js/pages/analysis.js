// Drill-down and breakdowns (issue 14): a unit's enforcement figures by the
// units below it or by one dimension (goods chapter → heading →
// subheading, origin, trader, officer, …), each row leading to the next
// level or to the declarations behind it. GET /analysis answers.
import { get, qs, items } from '../api.js';
import { t, tOr, lang } from '../i18n.js';
import { h, mount, table, pct, num, errorBox, formValues, levelChip } from '../ui.js';
import { chart } from '../charts.js';
import { go, session } from '../state.js';
import { may } from '../roles.js';

// Dimension → the permission it needs beyond reading KPIs.
const DIMS = [
  ['unit', null],
  ['hs2', null],
  ['origin', null],
  ['transport', null],
  ['trade_mode', null],
  ['direction', null],
  ['finding', null],
  ['source', null],
  ['trader', 'ReadEnterprises'],
  ['officer', 'ReadOfficers'],
  ['rule', 'ReadRuleStats'],
];

// How a key reads: words through the dictionary, codes as they are.
function keyText(dim, key) {
  switch (dim) {
    case 'transport':
      return tOr(`mode.${key}`, key);
    case 'direction':
      return tOr(`direction.${key}`, key);
    case 'source':
      return tOr(`source.${key}`, key);
    case 'finding':
      return tOr(`finding.${key}`, key);
    default:
      return key;
  }
}

// The declarations search behind a row (null when the search has no such filter).
function declarationsLink(b, row, period) {
  const base = { office: b.unit, from: period.from, to: period.to };
  const key = row.key;
  switch (b.dim) {
    case 'unit':
      return { ...base, office: key };
    case 'hs2':
    case 'hs4':
    case 'hs6':
      return { ...base, hs: key };
    case 'origin':
      return { ...base, origin: key };
    case 'trader':
      return { ...base, trader: key };
    case 'source':
      return { ...base, source: key };
    case 'finding':
      return { ...base, finding: 'true' };
    case 'officer':
      return { ...base, officer: key };
    case 'rule':
      return { ...base, rule: key };
    default:
      return null;
  }
}

// The scroll position to restore once the page re-renders for a new period
// (applying a period keeps the reader where they were).
let keepScroll = null;

export async function analysisPage(el, query) {
  const office = query.get('office') || '';
  const trendKey = query.get('trend') || '';
  const dim = query.get('dim') || 'unit';
  const key = query.get('key') || '';
  const from = query.get('from') || '';
  const to = query.get('to') || '';
  const period = { from, to };
  let b;
  try {
    b = await get(`/analysis${qs({ office, dim, key, from, to, limit: 100 })}`);
  } catch (err) {
    // A unit with nothing below it: show its goods instead.
    if (dim === 'unit' && err && err.field === 'dim') {
      go(`/analysis${qs({ office, dim: 'hs2', from, to })}`);
      return;
    }
    mount(el, h('h1', {}, t('analysis.title')), errorBox(err));
    return;
  }
  const link = (d, k, unit = b.unit) => `#/analysis${qs({ office: unit, dim: d, key: k || '', from, to })}`;
  const tabs = h(
    'nav',
    { class: 'tabs', 'data-testid': 'analysis-dims' },
    DIMS.filter(([, perm]) => !perm || may(session.me, perm)).map(([d]) =>
      h('a', { href: link(d, ''), class: d === b.dim || (d === 'hs2' && b.dim.startsWith('hs')) ? 'active' : null, 'data-dim': d }, t(`analysis.dim.${d}`)),
    ),
  );
  // Goods: chapter › heading › subheading.
  const crumbs = [h('a', { href: `#/overview${qs({ office: b.unit, from, to })}` }, `${b.unit_name} (${b.unit})`)];
  if (b.dim === 'hs4' || b.dim === 'hs6') {
    const k = (b.key || '').replace('*', '');
    crumbs.push(h('span', {}, '›'), h('a', { href: link('hs2', '') }, t('analysis.dim.hs2')));
    if (k.length >= 2) crumbs.push(h('span', {}, '›'), h('a', { href: link('hs4', `${k.slice(0, 2)}*`) }, t('analysis.chapter_n', { n: k.slice(0, 2) })));
    if (b.dim === 'hs6' && k.length >= 4) crumbs.push(h('span', {}, '›'), h('span', {}, t('analysis.heading_n', { n: k.slice(0, 4) })));
  }
  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'analysis-period',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = formValues(ev.target);
        keepScroll = window.scrollY;
        // An open trend stays open, over the new period.
        go(`/analysis${qs({ office: b.unit, dim: b.dim, key: b.key || '', from: f.from, to: f.to, trend: openTrend?.key || '' })}`);
      },
    },
    h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from', value: from })),
    h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to', value: to })),
    h('button', { type: 'submit' }, t('common.apply')),
  );
  const covered = b.from || b.to ? `${b.from || '…'} — ${b.to || '…'}` : t('analysis.all_time');
  const note = h(
    'p',
    { class: 'muted', 'data-testid': 'analysis-covers' },
    `${t('analysis.covers')} ${covered}${b.widened ? ` ${t('analysis.widened')}` : ''}`,
  );
  const label = (r) => (b.dim === 'unit' || b.dim === 'officer' || b.dim === 'trader') && r.label ? `${r.label} (${r.key})` : keyText(b.dim, r.key);
  const rows = items(b, 'rows');
  const top = rows.slice(0, 15);
  const picture = top.length
    ? chart(
        {
          tooltip: { trigger: 'axis' },
          legend: { data: [t('analysis.findings'), t('analysis.hit_rate')] },
          grid: { left: 48, right: 48, bottom: 64 },
          xAxis: { type: 'category', data: top.map(label), axisLabel: { rotate: 30, interval: 0 } },
          yAxis: [{ type: 'value', name: t('analysis.findings') }, { type: 'value', name: '%', max: 100 }],
          series: [
            { name: t('analysis.findings'), type: 'bar', data: top.map((r) => r.findings) },
            { name: t('analysis.hit_rate'), type: 'line', yAxisIndex: 1, data: top.map((r) => (r.hit_rate == null ? null : +(r.hit_rate * 100).toFixed(1))) },
          ],
        },
        { height: 280, testid: 'analysis-chart' },
      )
    : null;
  const change = (r) => {
    if (r.previous_hit_rate == null || r.hit_rate == null) return '—';
    const arrow = r.hit_rate > r.previous_hit_rate ? '▲' : r.hit_rate < r.previous_hit_rate ? '▼' : '＝';
    return h('span', { class: r.change_significant ? 'strong' : 'muted', title: r.change_z == null ? '' : `z = ${r.change_z.toFixed(2)}` }, `${arrow} ${pct(r.previous_hit_rate, 1)}${r.change_significant ? ' *' : ''}`);
  };
  const cols = [
    {
      label: t(`analysis.dim.${b.dim.startsWith('hs') ? b.dim : b.dim}`),
      render: (r) => {
        if (r.next) return h('a', { href: link(r.next.dim, r.next.key, r.next.unit), 'data-testid': 'analysis-next' }, label(r));
        // A trader leads to the enterprise's page (level, history, controls).
        if (b.dim === 'trader' && may(session.me, 'ReadEnterprises')) return h('a', { href: `#/enterprises/${encodeURIComponent(r.key)}` }, label(r));
        return label(r);
      },
    },
    { label: t('analysis.declarations'), num: true, get: (r) => num(r.declarations) },
    { label: t('analysis.controls'), num: true, get: (r) => num(r.controls) },
    { label: t('analysis.targeting'), num: true, get: (r) => pct(r.targeting_rate) },
    { label: t('analysis.findings'), num: true, get: (r) => num(r.findings) },
    { label: t('analysis.hit_rate'), num: true, get: (r) => pct(r.hit_rate, 1) },
    { label: t('analysis.previous'), num: true, render: change },
    { label: t('analysis.duty'), num: true, get: (r) => num(r.additional_duty_cny) },
    { label: t('analysis.random'), num: true, get: (r) => `${num(r.random_findings)} / ${num(r.random_completed)}` },
    { label: t('analysis.undetected'), num: true, get: (r) => (r.estimated_undetected == null ? '—' : num(r.estimated_undetected, 1)) },
    { label: t('analysis.hours'), num: true, get: (r) => (r.mean_control_hours == null ? '—' : num(r.mean_control_hours, 1)) },
    {
      label: t('analysis.over_time'),
      render: (r) =>
        b.dim === 'unit'
          ? '—'
          : h('button', { type: 'button', class: 'link', 'data-testid': 'analysis-trend-link', 'data-opens': 'trend', onclick: () => showTrend(r) }, t('analysis.trend')),
    },
    {
      label: t('analysis.behind'),
      render: (r) => {
        const q = declarationsLink(b, r, period);
        return q ? h('a', { href: `#/declarations${qs(q)}`, 'data-testid': 'analysis-declarations' }, t('analysis.open')) : '—';
      },
    },
  ];
  // Officers: the lane overrides they made in the period.
  if (b.dim === 'officer') {
    cols.splice(
      4,
      0,
      { label: t('analysis.overrides'), num: true, get: (r) => num(r.overrides) },
      { label: t('analysis.overrides_green'), num: true, get: (r) => num(r.overrides_to_green) },
    );
  }
  // Goods subheadings carry their risk level (levels recompute).
  if (b.dim === 'hs6') {
    const prefix = (b.key || '').replace('*', '');
    const goods = await get(`/goods${qs({ hs: prefix, limit: 1000 })}`).catch(() => ({ goods: [] }));
    const level = Object.fromEntries(items(goods, 'goods').map((g) => [g.key, g.level]));
    cols.splice(1, 0, { label: t('analysis.level'), render: (r) => (level[r.key] ? levelChip(level[r.key]) : '—') });
  }
  // A key's figures month by month (a rule, the model, a heading…).
  // Over the breakdown's own period (the same from/to, widened to the same
  // whole months); loading it neither shrinks the page nor moves it.
  const trendBox = h('div', { 'data-testid': 'analysis-trend' });
  let openTrend = null;
  async function showTrend(r) {
    openTrend = r;
    const y = window.scrollY;
    trendBox.style.minHeight = `${trendBox.offsetHeight}px`;
    mount(trendBox, h('p', { class: 'muted' }, t('common.loading')));
    try {
      const tr = await get(`/analysis/trend${qs({ office: b.unit, dim: b.dim, key: r.key, from, to })}`);
      const ms = items(tr, 'months');
      trendBox.dataset.months = ms.map((m) => m.month).join(' ');
      mount(
        trendBox,
        h('h2', {}, `${label(r)} · ${t('analysis.trend')} · ${covered}`),
        chart(
          {
            tooltip: { trigger: 'axis' },
            legend: { data: [t('analysis.findings'), t('analysis.hit_rate')] },
            xAxis: { type: 'category', data: ms.map((m) => m.month) },
            yAxis: [{ type: 'value', name: t('analysis.findings') }, { type: 'value', name: '%', max: 100 }],
            series: [
              { name: t('analysis.findings'), type: 'bar', data: ms.map((m) => m.figures.findings) },
              { name: t('analysis.hit_rate'), type: 'line', yAxisIndex: 1, data: ms.map((m) => (m.figures.hit_rate == null ? null : +(m.figures.hit_rate * 100).toFixed(1))) },
            ],
          },
          { height: 260, testid: 'analysis-trend-chart' },
        ),
      );
    } catch (err) {
      mount(trendBox, errorBox(err));
    }
    trendBox.style.minHeight = '';
    window.scrollTo(window.scrollX, y);
  }
  const total = b.total;
  mount(
    el,
    h('h1', {}, `${t('analysis.title')} · ${b.unit_name}`),
    h('div', { class: 'breadcrumb crumbs' }, crumbs),
    tabs,
    form,
    note,
    picture,
    table(cols, rows, { testid: 'analysis-table' }),
    b.more ? h('p', { class: 'muted' }, t('analysis.more', { n: b.more })) : null,
    h(
      'p',
      { class: 'muted', 'data-testid': 'analysis-total' },
      t('analysis.total', {
        decl: num(total.declarations),
        controls: num(total.controls),
        findings: num(total.findings),
        rate: pct(total.hit_rate, 1),
      }),
    ),
    h('p', { class: 'muted' }, t('analysis.legend')),
    trendBox,
  );
  if (trendKey && b.dim !== 'unit') await showTrend(rows.find((r) => r.key === trendKey) || { key: trendKey });
  if (keepScroll !== null) {
    window.scrollTo(window.scrollX, keepScroll);
    keepScroll = null;
  }
  void lang;
}
