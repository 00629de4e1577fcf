// Declarations: search, and the decision page that explains the lane.
import { get, post, qs, items } from '../api.js';
import { t, local, featureLabel, contribution, listSep } from '../i18n.js';
import { h, mount, table, pct, num, dt, channelChip, levelChip, errorBox, formValues, flash, inlineForm, fetchPage, pageFooter, person } from '../ui.js';
import { chart } from '../charts.js';
import { session, go } from '../state.js';
import { isAnalyst } from '../roles.js';
import { officerNames, officerLabel } from '../officers.js';

const partyId = (p) => (p && typeof p === 'object' ? p.id : p);
const partyName = (p) => (p && typeof p === 'object' ? p.name || p.id : p);

// A select of the search form: "all" or one of `options` ([value, label]).
function choice(name, label, options, params) {
  return h(
    'label',
    {},
    label,
    h(
      'select',
      { name },
      h('option', { value: '' }, t('common.all')),
      options.map(([v, text]) => h('option', { value: v, selected: params[name] === v }, text)),
    ),
  );
}

// Rows a page shows (the API takes up to 1000 and an offset).
const SEARCH_LIMIT = 100;

export async function declarationsPage(el, query) {
  const params = Object.fromEntries(query.entries());
  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': 'declaration-search',
      onsubmit: (ev) => {
        ev.preventDefault();
        go(`/declarations${qs(formValues(ev.target))}`);
      },
    },
    h('label', {}, t('decl.search_id'), h('input', { name: 'q', value: params.q || '', size: 22 })),
    h('label', {}, t('decl.trader'), h('input', { name: 'trader', value: params.trader || '', size: 20, placeholder: t('decl.trader_hint') })),
    h('label', {}, t('common.office'), h('input', { name: 'office', value: params.office || '', size: 6 })),
    h('label', {}, t('decl.hs'), h('input', { name: 'hs', value: params.hs || '', size: 10, inputmode: 'numeric' })),
    h('label', {}, t('decl.origin'), h('input', { name: 'origin', value: params.origin || '', size: 4 })),
    // From the analysis's officer and rule rows (the server checks who may ask).
    params.officer ? h('label', {}, t('decl.officer_filter'), h('input', { name: 'officer', value: params.officer, size: 10 })) : null,
    params.rule ? h('label', {}, t('decl.rule_filter'), h('input', { name: 'rule', value: params.rule, size: 12 })) : null,
    h(
      'label',
      {},
      t('decl.channel'),
      h(
        'select',
        { name: 'channel' },
        ['', 'green', 'yellow', 'red'].map((c) =>
          h('option', { value: c, selected: params.channel === c }, c ? t(`channel.${c}`) : t('common.all')),
        ),
      ),
    ),
    choice('controlled', t('decl.controlled'), [['true', t('decl.controlled_yes')], ['false', t('decl.controlled_no')]], params),
    choice('finding', t('decl.finding'), [['true', t('decl.finding_yes')], ['false', t('decl.finding_no')]], params),
    choice('source', t('decl.source'), ['rule', 'score', 'random', 'manual', 'none'].map((k) => [k, t(`source.${k}`)]), params),
    choice('risk_level', t('decl.risk_level'), ['high', 'medium', 'low'].map((k) => [k, t(`level.${k}`)]), params),
    choice('status', t('work.status'), [...['open', 'closed', 'overridden'].map((k) => [k, t(`status.${k}`)]), ['none', t('decl.no_task')]], params),
    h('label', {}, t('common.from'), h('input', { type: 'date', name: 'from', value: params.from || '' })),
    h('label', {}, t('common.to'), h('input', { type: 'date', name: 'to', value: params.to || '' })),
    h('button', { type: 'submit' }, t('common.search')),
  );
  const results = h('div', {}, h('p', { class: 'muted' }, t('common.loading')));
  mount(el, h('h1', {}, t('nav.declarations')), form, results);
  try {
    const limit = Math.min(1000, Number(params.limit) || SEARCH_LIMIT);
    const offset = Math.max(0, Math.floor(Number(params.offset) || 0));
    const { rows, hasNext } = await fetchPage(
      async (l, o) => items(await get(`/declarations${qs({ ...params, limit: l, offset: o })}`), 'declarations'),
      { limit, offset, max: 1000 },
    );
    const href = (o, l) => `#/declarations${qs({ ...params, offset: o || undefined, limit: l === SEARCH_LIMIT ? undefined : l })}`;
    mount(
      results,
      table(
        [
          { label: t('decl.id'), render: (r) => h('a', { href: `#/declarations/${encodeURIComponent(r.id || r.declaration_id)}` }, r.id || r.declaration_id) },
          { label: t('decl.declared_at'), get: (r) => dt(r.declared_at) },
          { label: t('common.office'), get: (r) => r.office },
          { label: t('decl.trader'), get: (r) => partyName(r.trader) || r.trader_id },
          { label: t('decl.channel'), render: (r) => laneCell(r) },
          { label: t('decl.risk_value'), get: (r) => r.risk_value?.toFixed?.(3), num: true },
          { label: t('decl.risk_level'), render: (r) => levelChip(r.risk_level) },
        ],
        rows,
        { onRowClick: (r) => go(`/declarations/${encodeURIComponent(r.id || r.declaration_id)}`), testid: 'declaration-results' },
      ),
      pageFooter({ n: rows.length, limit, offset, hasNext, max: 1000, href }),
    );
  } catch (e) {
    results.replaceChildren(errorBox(e));
  }
}

// The lane in force in a search row; an officer's change shows the lane it replaced.
export function laneCell(r) {
  const now = r.channel_in_force || r.channel;
  if (!r.overridden || now === r.channel) return channelChip(now);
  return h('span', { 'data-overridden': '1' }, channelChip(now), ' ', h('small', { class: 'muted' }, t('decl.was', { channel: t(`channel.${r.channel}`) })));
}

// The sentence on the latest change of lane by an officer.
function overrideSentence(o, names) {
  return t('why.overridden', {
    officer: officerLabel(names, o.officer),
    at: dt(o.at),
    from: t(`channel.${o.from}`),
    to: t(`channel.${o.to}`),
    reason: o.reason,
  });
}

// Every change of lane: who, when, from what, to what, why.
function overridesTable(overrides, names) {
  return table(
    [
      { label: t('decl.override_at'), get: (o) => dt(o.at) },
      { label: t('decl.override_officer'), get: (o) => (o.entered_by ? `${officerLabel(names, o.officer)}${t('decl.override_entered_by', { user: person(o.entered_by) })}` : officerLabel(names, o.officer)) },
      { label: t('decl.override_from'), render: (o) => channelChip(o.from) },
      { label: t('decl.override_to'), render: (o) => channelChip(o.to) },
      { label: t('decl.override_reason'), get: (o) => o.reason },
    ],
    overrides,
    { testid: 'overrides' },
  );
}

// A sentence on why the declaration got its lane, from the stored reasons.
function whyLane(d) {
  const rs = d.reasons || [];
  const forced = rs.find((r) => r.kind === 'rule' && r.channel);
  const sel = rs.find((r) => r.kind === 'selectivity');
  if (d.channel === 'green') {
    return sel ? t('why.green_threshold', { threshold: sel.threshold?.toFixed(3), target: pct(sel.target_rate, 1) }) : t('why.green');
  }
  if (forced && (d.source === 'rule' || !d.source)) return t('why.forced', { rule: `${forced.id} v${forced.version}`, channel: t(`channel.${forced.channel}`) });
  if (d.source === 'rule' && !forced) return t('why.forced_hidden');
  if (d.random || d.source === 'random') {
    const r = rs.find((x) => x.kind === 'random');
    return t('why.random', { rate: pct(r?.rate, 2) });
  }
  if (d.source === 'manual') return t('why.manual');
  if (sel) return t('why.threshold', { threshold: sel.threshold?.toFixed(3), target: pct(sel.target_rate, 1) });
  return t('why.score');
}

export async function decisionPage(el, id) {
  const data = await get(`/declarations/${encodeURIComponent(id)}`);
  const names = await officerNames();
  const d = data.decision || (data.channel ? data : null);
  const decl = data.declaration || data.body || null;
  const to = data.task_outcomes || data;
  const task = to.task || data.control || null;
  const outcomes = to.outcomes || (data.outcome ? [data.outcome] : []);
  const outcome = outcomes[outcomes.length - 1] || null;
  if (!d) {
    mount(el, h('h1', {}, `${t('decl.title')} ${id}`), h('p', { class: 'muted' }, t('decl.no_decision')));
    return;
  }
  const rs = d.reasons || [];
  const rules = rs.filter((r) => r.kind === 'rule');
  const model = rs.find((r) => r.kind === 'model');
  const random = rs.find((r) => r.kind === 'random');
  const credit = rs.find((r) => r.kind === 'credit');
  const sel = rs.find((r) => r.kind === 'selectivity');
  const fallback = rs.find((r) => r.kind === 'fallback');

  const feats = model?.top_features || [];
  const rulesSection = rules.length
    ? table(
        [
          { label: t('rules.id'), render: (r) => (isAnalyst(session.me) ? h('a', { href: `#/rules/${encodeURIComponent(r.id)}` }, r.id) : r.id) },
          { label: t('rules.version'), get: (r) => `v${r.version}` },
          { label: t('rules.title'), get: (r) => local(r.title) },
          { label: t('rules.weight'), get: (r) => r.weight, num: true },
          { label: t('rules.forces'), render: (r) => (r.channel ? channelChip(r.channel) : '—') },
        ],
        rules,
        { testid: 'fired-rules' },
      )
    : h('p', { class: 'muted' }, isAnalyst(session.me) ? t('decl.no_rules') : t('decl.rules_hidden'));

  // The lane in force: an officer's override replaces the system's lane.
  const overrides = data.overrides || [];
  const last = overrides[overrides.length - 1] || null;
  const lane = data.channel_in_force || d.channel;
  const changed = lane !== d.channel || overrides.length > 0;
  mount(
    el,
    h(
      'h1',
      { 'data-testid': 'decision-title' },
      `${t('decl.title')} ${d.declaration_id || id} `,
      channelChip(lane),
      changed ? h('small', { class: 'muted' }, ` ${t('decl.overridden_mark')} · ${t('decl.was', { channel: t(`channel.${d.channel}`) })}`) : null,
    ),
    h(
      'div',
      { class: 'card', 'data-testid': 'why-lane' },
      h('strong', {}, t('decl.why')),
      ' ',
      last ? [overrideSentence(last, names), ' ', h('span', { class: 'muted' }, t('why.engine'), whyLane(d))] : whyLane(d),
    ),
    overrides.length ? [h('h2', {}, t('decl.overrides')), overridesTable(overrides, names)] : null,
    h(
      'div',
      { class: 'two' },
      h(
        'div',
        { class: 'card' },
        h('h2', {}, t('decl.decision')),
        h(
          'dl',
          { class: 'kv', 'data-testid': 'decision-facts' },
          h('dt', {}, t('decl.channel')),
          h('dd', {}, channelChip(lane)),
          changed ? [h('dt', {}, t('decl.engine_channel')), h('dd', {}, channelChip(d.channel))] : null,
          h('dt', {}, t('decl.risk_value')),
          h('dd', {}, d.risk_value?.toFixed?.(4) ?? '—'),
          h('dt', {}, t('decl.risk_level')),
          h('dd', {}, levelChip(d.risk_level)),
          h('dt', {}, t('decl.selection_probability')),
          h('dd', {}, pct(d.selection_probability, 3)),
          h('dt', {}, t('decl.random_draw')),
          h('dd', {}, d.random ? t('decl.random_yes', { rate: pct(random?.rate, 2) }) : t('decl.random_no')),
          h('dt', {}, t('decl.source')),
          h('dd', {}, d.source ? t(`source.${d.source}`) : '—'),
          h('dt', {}, t('decl.disposal')),
          h('dd', {}, d.disposal ? t(`disposal.${d.disposal}`) : '—'),
          h('dt', {}, t('common.office')),
          h('dd', {}, d.office || decl?.office || '—'),
          h('dt', {}, t('decl.decided_at')),
          h('dd', {}, dt(d.decided_at)),
          h('dt', {}, t('decl.engine')),
          h('dd', {}, d.engine || '—'),
          sel ? [h('dt', {}, t('decl.threshold')), h('dd', {}, t('decl.threshold_text', { threshold: sel.threshold?.toFixed(3), target: pct(sel.target_rate, 1), office: sel.office }))] : null,
          credit ? [h('dt', {}, t('decl.credit')), h('dd', {}, t('decl.credit_text', { class: t(`credit.${credit.class}`), factor: credit.factor }))] : null,
          fallback ? [h('dt', {}, t('decl.fallback')), h('dd', {}, fallback.detail)] : null,
        ),
      ),
      h(
        'div',
        { class: 'card' },
        h('h2', {}, t('decl.score')),
        model
          ? [
              h(
                'p',
                { 'data-testid': 'score' },
                t('decl.score_text', { id: model.id, score: model.score?.toFixed(3), duty: num(model.expected_revenue_cny ?? 0) }),
              ),
              feats.length
                ? chart(
                    {
                      tooltip: { trigger: 'axis' },
                      grid: { left: 24, right: 24, top: 8, bottom: 24, containLabel: true },
                      xAxis: { type: 'value', name: t('decl.log_odds'), nameLocation: 'middle', nameGap: 24 },
                      yAxis: { type: 'category', inverse: true, data: feats.map((f) => featureLabel(f[0])) },
                      series: [
                        {
                          type: 'bar',
                          barMaxWidth: 22,
                          data: feats.map((f) => ({ value: +f[1].toFixed(4), itemStyle: { color: f[1] >= 0 ? '#c62828' : '#2e7d32' } })),
                        },
                      ],
                    },
                    { height: Math.max(160, 30 + feats.length * 26), testid: 'features-chart' },
                  )
                : h('p', { class: 'muted' }, t('decl.no_features')),
              table(
                [
                  { label: t('decl.feature'), render: (f) => h('span', { title: f[0] }, featureLabel(f[0])) },
                  { label: t('decl.contribution'), get: (f) => contribution(f[1]), num: true },
                ],
                feats,
                { testid: 'features' },
              ),
            ]
          : h('p', { class: 'muted' }, t('decl.no_score')),
      ),
    ),
    h('h2', {}, t('decl.rules_fired')),
    rulesSection,
    h('h2', {}, t('decl.instructions')),
    h('div', { class: 'card', 'data-testid': 'instructions' }, local(d.instructions) || t('decl.no_instructions')),
    task || outcome ? [h('h2', {}, t('decl.control')), controlFacts(task, outcome, names)] : null,
    decl ? declarationFacts(decl) : null,
  );
}

function controlFacts(task, outcome, names) {
  return h(
    'div',
    { class: 'card' },
    h(
      'dl',
      { class: 'kv' },
      task ? [h('dt', {}, t('work.status')), h('dd', {}, task.status ? t(`status.${task.status}`) : '—')] : null,
      task?.opened_at ? [h('dt', {}, t('work.opened_at')), h('dd', {}, dt(task.opened_at))] : null,
      outcome
        ? [
            h('dt', {}, t('outcome.result')),
            h('dd', {}, t(`outcome.${outcome.result}`)),
            h('dt', {}, t('outcome.findings')),
            h('dd', {}, (outcome.findings || []).map((f) => t(`finding.${f}`)).join(listSep()) || '—'),
            h('dt', {}, t('outcome.additional_duty')),
            h('dd', {}, num(outcome.additional_duty, 2)),
            h('dt', {}, t('outcome.officer')),
            h('dd', { 'data-testid': 'outcome-officer' }, officerLabel(names, outcome.officer) || '—'),
            h('dt', {}, t('outcome.completed_at')),
            h('dd', {}, dt(outcome.completed_at)),
          ]
        : null,
    ),
  );
}

function declarationFacts(decl) {
  return [
    h('h2', {}, t('decl.declaration')),
    h(
      'div',
      { class: 'card' },
      h(
        'dl',
        { class: 'kv' },
        [
          ['decl.declared_at', dt(decl.declared_at)],
          ['decl.direction', decl.direction ? t(`direction.${decl.direction}`) : '—'],
          ['decl.transport_mode', decl.transport_mode ? t(`mode.${decl.transport_mode}`) : '—'],
          ['decl.trade_mode', decl.trade_mode],
          ['decl.trader', decl.trader ? `${partyName(decl.trader)} (${partyId(decl.trader)})` : '—'],
          ['decl.declarant', decl.declarant ? `${partyName(decl.declarant)} (${partyId(decl.declarant)})` : '—'],
          ['decl.departure', decl.country_of_departure],
          ['decl.incoterm', decl.incoterm],
          ['decl.currency', decl.currency],
        ].map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v ?? '—')]),
      ),
      decl.trader && partyId(decl.trader)
        ? h('p', {}, h('a', { href: `#/enterprises/${encodeURIComponent(partyId(decl.trader))}` }, t('decl.trader_page')))
        : null,
    ),
    h('h2', {}, t('decl.items')),
    table(
      [
        { label: '#', get: (i) => i.line },
        { label: t('decl.hs_code'), get: (i) => i.hs_code },
        { label: t('decl.description'), get: (i) => i.description },
        { label: t('decl.origin'), get: (i) => i.origin },
        { label: t('decl.quantity'), get: (i) => `${num(i.quantity, 0)} ${i.unit || ''}`, num: true },
        { label: t('decl.net_weight'), get: (i) => num(i.net_weight_kg, 1), num: true },
        { label: t('decl.value'), get: (i) => num(i.value, 2), num: true },
        { label: t('decl.duty_rate'), get: (i) => pct(i.duty_rate, 1), num: true },
      ],
      decl.items || [],
    ),
  ];
}

// Lanes from the least to the most control: a change towards the start
// is a downgrade, confirmed before it is sent.
const LANES = ['green', 'yellow', 'red'];

// Override of a lane by an officer: the reason is mandatory (client and
// server); no lane is chosen for the officer and the lane in force
// (`current`) is not offered; a downgrade asks for confirmation.
export function overrideForm(declarationId, onDone, current) {
  const msg = h('div');
  return inlineForm(
    'override-form',
    msg,
    { reason: 'override.reason_required', channel: 'override.channel_required' },
    async (v) => {
      if (LANES.indexOf(v.channel) < LANES.indexOf(current)) {
        const question = t('override.confirm_down', { from: t(`channel.${current}`), to: t(`channel.${v.channel}`) });
        if (!window.confirm(question)) return msg.replaceChildren(h('p', { class: 'muted', 'data-testid': 'override-cancelled' }, t('override.cancelled')));
      }
      await post(`/declarations/${encodeURIComponent(declarationId)}/override`, { channel: v.channel, reason: v.reason });
      flash(t('override.done'));
      onDone?.();
    },
    h(
      'label',
      {},
      t('override.channel'),
      h(
        'select',
        { name: 'channel' },
        h('option', { value: '', selected: true }, t('override.choose')),
        LANES.filter((c) => c !== current).map((c) => h('option', { value: c }, t(`channel.${c}`))),
      ),
    ),
    h('label', {}, t('override.reason'), h('input', { name: 'reason', size: 40, placeholder: t('override.reason_hint') })),
    h('button', { type: 'submit', class: 'danger' }, t('override.submit')),
    msg,
  );
}
