// Money flow (资金流核对, M6): each trader's declared import value over a
// period against its payments abroad and its VAT invoices; the traders the
// server marks as paid or invoiced above declared. GET /moneyflow answers;
// thresholds and reasons are the server's.
import { get, qs, items } from '../api.js';
import { t, local, semi } from '../i18n.js';
import { h, mount, table, num, errorBox, formValues, chip } from '../ui.js';
import { go, session } from '../state.js';
import { may, officeChoices } from '../roles.js';

// The server's maximum: the page shows every trader it can.
export const MONEYFLOW_LIMIT = 1000;

const pad = (n) => String(n).padStart(2, '0');
const lastDay = (y, m) => new Date(Date.UTC(y, m, 0)).getUTCDate();

// The default period: the last full quarter before the newest month with
// declarations (that month is taken as still open). Payments lag or lead
// shipments, so a quarter is the shortest period worth reconciling. Nothing
// in that quarter (a store younger than that): all the data.
async function defaultPeriod(office) {
  const trend = await get(`/kpis/trend${qs({ office, period: 'month' })}`);
  const months = items(trend, 'periods')
    .filter((p) => p.declarations)
    .map((p) => p.period)
    .sort();
  if (!months.length) return { from: '', to: '' };
  const newest = months[months.length - 1];
  let y = Number(newest.slice(0, 4));
  let q = Math.floor((Number(newest.slice(5, 7)) - 1) / 3) - 1;
  if (q < 0) [y, q] = [y - 1, 3];
  const first = q * 3 + 1;
  const last = first + 2;
  const from = `${y}-${pad(first)}-01`;
  const to = `${y}-${pad(last)}-${pad(lastDay(y, last))}`;
  if (months[0] > `${y}-${pad(last)}`) return { from: '', to: '' };
  return { from, to };
}

export const ratio = (x) => (x === null || x === undefined ? '—' : num(x, 2));
// Reasons come as "中文 / English": the reader's side of each (also the post-clearance page's).
// A row's reasons and, apart from them in post-clearance answers, its
// money-flow reasons (payments abroad, VAT invoices).
export const reasonsText = (r) => [...(r.reasons || []), ...(r.money_flow || [])].map(local).join(semi());

export async function moneyflowPage(el, query) {
  const office = query.get('office') || '';
  const flagged = query.get('flagged') === '1';
  const all = query.get('all') === '1';
  let { from, to } = { from: query.get('from') || '', to: query.get('to') || '' };
  const [offices, period] = await Promise.all([
    officeChoices().catch(() => []),
    all || from || to ? Promise.resolve({ from, to }) : defaultPeriod(office).catch(() => ({ from: '', to: '' })),
  ]);
  ({ from, to } = period);
  const here = (over) => {
    const p = { office, from, to, flagged: flagged ? '1' : '', ...over };
    if (!p.from && !p.to) p.all = '1';
    return `/moneyflow${qs(p)}`;
  };

  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'moneyflow-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = formValues(ev.target);
        go(here({ office: f.office || '', from: f.from || '', to: f.to || '', flagged: f.flagged ? '1' : '' }));
      },
    },
    h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from', value: from, 'data-testid': 'moneyflow-from' })),
    h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to', value: to, 'data-testid': 'moneyflow-to' })),
    h(
      'label',
      {},
      t('common.office'),
      h(
        'select',
        { name: 'office', 'data-testid': 'moneyflow-office' },
        h('option', { value: '' }, t('common.all')),
        offices.map((o) => h('option', { value: o.code, selected: o.code === office }, `${o.name} (${o.code})`)),
      ),
    ),
    h(
      'label',
      { style: 'flex-direction:row;align-items:center' },
      h('input', {
        type: 'checkbox',
        name: 'flagged',
        checked: flagged,
        'data-testid': 'moneyflow-flagged',
        // The filter applies at once; the period and office as they stand.
        onchange: (ev) => ev.target.form.requestSubmit(),
      }),
      t('moneyflow.flagged_only'),
    ),
    h('button', { type: 'submit' }, t('common.apply')),
  );
  const heading = h('h1', {}, t('moneyflow.title'));
  const note = h('p', { class: 'muted' }, t('moneyflow.legend'));

  let r;
  try {
    r = await get(`/moneyflow${qs({ from, to, office, flagged: flagged ? 'true' : '', limit: MONEYFLOW_LIMIT })}`);
  } catch (err) {
    mount(el, heading, form, errorBox(err));
    return;
  }
  const rows = items(r, 'rows');
  const linkTrader = may(session.me, 'ReadEnterprises');
  const cols = [
    {
      label: t('moneyflow.trader'),
      get: (x) => x.trader,
      render: (x) => (linkTrader ? h('a', { href: `#/enterprises/${encodeURIComponent(x.trader)}` }, x.trader) : x.trader),
    },
    { label: t('common.name'), get: (x) => x.name },
    { label: t('moneyflow.declarations'), num: true, get: (x) => num(x.declarations) },
    { label: t('moneyflow.declared'), num: true, get: (x) => num(x.declared_cny) },
    { label: t('moneyflow.payments'), num: true, get: (x) => num(x.payments) },
    { label: t('moneyflow.paid'), num: true, get: (x) => num(x.paid_cny) },
    { label: t('moneyflow.paid_with_reference'), num: true, get: (x) => num(x.paid_with_reference_cny) },
    { label: t('moneyflow.paid_ratio'), num: true, get: (x) => ratio(x.paid_ratio), export: (x) => x.paid_ratio ?? '' },
    { label: t('moneyflow.gap'), num: true, get: (x) => num(x.gap_cny) },
    { label: t('moneyflow.invoiced'), num: true, get: (x) => num(x.invoiced_cny) },
    { label: t('moneyflow.invoiced_ratio'), num: true, get: (x) => ratio(x.invoiced_ratio), export: (x) => x.invoiced_ratio ?? '' },
    {
      label: t('moneyflow.flag'),
      get: (x) => (x.flagged ? t('moneyflow.candidate') : ''),
      render: (x) => (x.flagged ? chip('high', t('moneyflow.candidate')) : '—'),
    },
    { label: t('moneyflow.reasons'), get: reasonsText },
  ];
  const grid = table(cols, rows, { testid: 'moneyflow-table', title: t('moneyflow.title'), empty: flagged ? t('moneyflow.no_flagged') : t('common.none') });
  // Marked traders stand out (the table helper knows no row classes).
  if (rows.length) {
    grid.querySelectorAll('tbody tr').forEach((tr, i) => {
      if (rows[i]?.flagged) {
        tr.classList.add('flagged');
        tr.dataset.flagged = '1';
      }
    });
  }
  // The first columns of both per-declaration lists below.
  const declarationColumns = [
    {
      label: t('decl.id'),
      get: (x) => x.declaration_id,
      render: (x) => h('a', { href: `#/declarations/${encodeURIComponent(x.declaration_id)}` }, x.declaration_id),
    },
    { label: t('moneyflow.trader'), get: (x) => x.trader },
    { label: t('moneyflow.office'), get: (x) => x.office },
  ];
  // Declarations re-matched with the payments carrying their invoice
  // number: the post-clearance audit candidates, by expected duty.
  const overpaid = items(r, 'overpaid');
  const overpaidGrid = table(
    [
      ...declarationColumns,
      { label: t('moneyflow.declared'), num: true, get: (x) => num(x.declared_cny) },
      { label: t('moneyflow.paid'), num: true, get: (x) => num(x.paid_cny) },
      { label: t('moneyflow.paid_ratio'), num: true, get: (x) => ratio(x.ratio), export: (x) => x.ratio },
      { label: t('moneyflow.expected_duty'), num: true, get: (x) => num(x.expected_duty_cny) },
      { label: t('moneyflow.at_decision'), get: (x) => (x.seen_at_decision ? t('moneyflow.seen') : t('moneyflow.later')) },
    ],
    overpaid,
    { testid: 'moneyflow-overpaid', title: t('moneyflow.overpaid_title'), empty: t('moneyflow.no_overpaid') },
  );
  // Imports a later VAT invoice of their trader contradicts (goods code
  // or value): post-clearance audit leads, by expected duty.
  const checks = items(r, 'invoice_checks');
  const checksGrid = table(
    [
      ...declarationColumns,
      { label: t('moneyflow.finding'), get: (x) => t(`moneyflow.finding_${x.finding}`) },
      { label: t('moneyflow.declared_hs'), get: (x) => x.declared_hs_code },
      { label: t('moneyflow.invoice_hs'), get: (x) => x.invoice_hs_code },
      { label: t('moneyflow.declared'), num: true, get: (x) => num(x.declared_cny) },
      { label: t('moneyflow.invoice_amount'), num: true, get: (x) => num(x.invoice_cny) },
      { label: t('moneyflow.invoiced_ratio'), num: true, get: (x) => ratio(x.ratio), export: (x) => x.ratio },
      { label: t('moneyflow.expected_duty'), num: true, get: (x) => num(x.expected_duty_cny) },
      { label: t('moneyflow.candidates'), num: true, get: (x) => num(x.candidates) },
      { label: t('moneyflow.reasons'), get: reasonsText },
    ],
    checks,
    { testid: 'moneyflow-invoice-checks', title: t('moneyflow.invoice_title'), empty: t('moneyflow.no_invoice_checks') },
  );
  const covered = from || to ? `${from || '…'} — ${to || '…'}` : t('analysis.all_time');
  const listed = flagged ? r.flagged : r.traders;
  mount(
    el,
    heading,
    form,
    h('p', { class: 'muted', 'data-testid': 'moneyflow-covers' }, `${t('analysis.covers')} ${covered}`),
    h(
      'p',
      { 'data-testid': 'moneyflow-summary', dataset: { traders: r.traders, flagged: r.flagged } },
      t('moneyflow.summary', { traders: num(r.traders), flagged: num(r.flagged), gap: num(r.flagged_gap_cny) }),
    ),
    h('h2', {}, t('moneyflow.overpaid_title')),
    h('p', { class: 'muted', 'data-testid': 'moneyflow-overpaid-summary', dataset: { total: r.overpaid_total } },
      t('moneyflow.overpaid_summary', { n: num(r.overpaid_total) })),
    overpaidGrid,
    h('h2', {}, t('moneyflow.invoice_title')),
    h('p', { class: 'muted', 'data-testid': 'moneyflow-invoice-summary', dataset: { total: r.invoice_checks_total } },
      t('moneyflow.invoice_summary', { n: num(r.invoice_checks_total) })),
    checksGrid,
    h('h2', {}, t('moneyflow.by_trader')),
    grid,
    rows.length < listed ? h('p', { class: 'muted' }, t('analysis.more', { n: num(listed - rows.length) })) : null,
    note,
  );
}
