// Workbench: the open controls of a unit by risk with their instructions.
// A field officer records outcomes and overrides lanes (reason mandatory)
// at their office; a district manager sees the offices below the district,
// overrides and records urgent requests; analysts and HQ managers read.
// Each action is shown to those whose role holds it (the server checks).
import { get, post, qs, items } from '../api.js';
import { t, local, paren, colon } from '../i18n.js';
import { h, mount, num, dt, channelChip, levelChip, errorBox, flash, sendForm, required, fetchPage, pageFooter } from '../ui.js';
import { session, go } from '../state.js';
import { may, mayUse, officeChoices } from '../roles.js';
import { overrideForm } from './declarations.js';

const FINDINGS = ['undervaluation', 'misclassification', 'origin', 'quantity', 'prohibited', 'licence', 'smuggling', 'other'];

// RFC 3339 with the browser's offset (DATA.md times carry an offset).
export function nowRfc3339(d = new Date()) {
  const off = -d.getTimezoneOffset();
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 19);
  return `${local}${off >= 0 ? '+' : '-'}${pad(off / 60)}:${pad(off % 60)}`;
}

// The finding kinds as checkboxes named `findings` (outcomes, case results).
export function findingsFieldset() {
  return h(
    'fieldset',
    { style: 'border:1px solid var(--line);margin:.5rem 0' },
    h('legend', {}, t('outcome.findings')),
    FINDINGS.map((k) =>
      h('label', { style: 'flex-direction:row;display:inline-flex;margin-right:1rem' }, h('input', { type: 'checkbox', name: 'findings', value: k }), t(`finding.${k}`)),
    ),
  );
}

export async function workbenchPage(el, query) {
  const me = session.me;
  const office = query.get('office') || me.office || '';
  // Those who do not record outcomes look over a unit: its offices below.
  const overseer = !may(me, 'RecordOutcome');
  // The API gives up to 1000 open controls at once, and pages.
  const limit = Math.min(1000, Number(query.get('limit')) || 200);
  const offset = Math.max(0, Math.floor(Number(query.get('offset')) || 0));
  // The server's order: urgent requests first, then by risk.
  const { rows, hasNext } = await fetchPage(async (l, o) => items(await get(`/controls${qs({ office, limit: l, offset: o })}`), 'controls', 'tasks'), {
    limit,
    offset,
    max: 1000,
  });
  const href = (o, l) => `#/workbench${qs({ office: query.get('office') || undefined, offset: o || undefined, limit: l === 200 ? undefined : l })}`;
  // Open complaints against a control are shown on its card.
  const complaints = new Set(
    items(await get(`/cases${qs({ kind: 'complaint', limit: 1000 })}`), 'cases')
      .filter((c) => ['opened', 'accepted', 'in_progress'].includes(c.status))
      .map((c) => c.declaration_id),
  );
  const list = h('div', { 'data-testid': 'open-controls' });
  const units = overseer ? await officeChoices() : [];
  const unit = units.find((o) => o.code === office);
  const unitName = unit ? paren(unit.name, unit.code) : office;
  const cut = offset > 0 ? '_page' : hasNext ? '_first' : '';
  const intro = `${overseer ? 'work.intro_unit' : 'work.intro'}${cut}`;
  mount(
    el,
    h('h1', {}, t('nav.workbench'), office ? ` · ${overseer ? unitName : office}` : ''),
    units.length > 1
      ? h(
          'label',
          { class: 'inline' },
          t('work.unit'),
          h(
            'select',
            { 'data-testid': 'work-unit', onchange: (e) => go(`/workbench${qs({ office: e.target.value })}`) },
            units.map((o) => h('option', { value: o.code, selected: o.code === office }, paren(o.name, o.code))),
          ),
        )
      : null,
    // Cut at the limit, the count is not the office's total.
    h('p', { class: 'muted', 'data-testid': 'work-intro' }, t(intro, { n: rows.length, unit: unitName, a: offset + 1, b: offset + rows.length })),
    list,
    offset > 0 || hasNext ? pageFooter({ n: rows.length, limit, offset, hasNext, max: 1000, href }) : null,
  );
  if (!rows.length) {
    list.append(h('p', { class: 'muted' }, t('work.none')));
    return;
  }
  for (const r of rows) list.append(controlCard(r, complaints.has(r.declaration_id), () => workbenchPage(el, query), overseer));
}

// Seconds (or an RFC 3339 time) → epoch milliseconds.
const ms = (v) => (typeof v === 'number' ? v * 1000 : v ? Date.parse(v) : NaN);

// A span of time in words: 35 分钟, 2 小时 5 分钟, 3 天 4 小时.
export function waited(fromMs, nowMs = Date.now()) {
  const m = Math.max(0, Math.floor((nowMs - fromMs) / 60000));
  if (m < 60) return t('work.minutes', { m });
  if (m < 24 * 60) return t('work.hours', { h: Math.floor(m / 60), m: m % 60 });
  return t('work.days', { d: Math.floor(m / 1440), h: Math.floor((m % 1440) / 60) });
}

// What an officer reads before going to the goods: declared when, waiting
// how long (since declared), the deadline, the trader and the main goods.
function controlFacts(r) {
  const since = ms(r.declared_at) || ms(r.opened_at);
  const g = r.main_goods;
  const trader = r.trader_name ? paren(r.trader_name, r.trader) : r.trader;
  const fact = (key, testid, value) => h('span', { 'data-testid': testid }, h('span', { class: 'muted' }, `${t(key)} `), value);
  return h(
    'div',
    { class: 'control-facts', style: 'display:flex;gap:.4rem 1.2rem;flex-wrap:wrap;margin-top:.4rem' },
    r.declared_at ? fact('work.declared_at', 'declared-at', dt(r.declared_at)) : null,
    Number.isFinite(since) ? fact('work.waiting', 'waiting', waited(since)) : null,
    r.due_at ? fact('work.due_at', 'deadline', dt(r.due_at)) : null,
    r.trader
      ? fact('work.trader', 'trader', mayUse(session.me, 'enterprises') ? h('a', { href: `#/enterprises/${encodeURIComponent(r.trader)}` }, trader) : trader)
      : null,
    g
      ? fact(
          'work.goods',
          'goods',
          `${t('work.goods_text', { goods: g.description || t('work.no_description'), hs: g.hs_code, origin: g.origin })}${r.items > 1 ? ` ${t('work.more_items', { n: r.items - 1 })}` : ''}`,
        )
      : null,
  );
}

function controlCard(r, complained, reload, overseer) {
  const me = session.me;
  const id = r.declaration_id || r.id;
  const slot = h('div');
  const card = h(
    'div',
    { class: 'card', 'data-control': id },
    h(
      'div',
      { style: 'display:flex;gap:1rem;align-items:center;flex-wrap:wrap' },
      h('a', { href: `#/declarations/${encodeURIComponent(id)}` }, h('strong', {}, id)),
      channelChip(r.channel),
      r.risk_level ? levelChip(r.risk_level) : null,
      h('span', {}, `${t('decl.risk_value')} ${r.risk_value?.toFixed?.(3) ?? '—'}`),
      h('span', { class: 'muted' }, `${t('work.opened_at')} ${dt(r.opened_at || r.decided_at || r.created_at)}`),
      r.random ? h('span', { class: 'chip' }, t('work.random')) : null,
      r.urgent ? h('span', { class: 'chip red', 'data-testid': 'urgent', title: r.urgent }, t('work.urgent')) : null,
      complained ? h('span', { class: 'chip high', 'data-testid': 'complaint' }, t('work.complaint')) : null,
      r.due_at && r.due_at * 1000 < Date.now() ? h('span', { class: 'chip red' }, t('case.overdue')) : null,
      r.escalated_at ? h('span', { class: 'chip high' }, t('case.escalated')) : null,
      overseer && r.office ? h('span', { class: 'chip', 'data-testid': 'control-office' }, `${t('work.office')} ${r.office}`) : null,
      h('span', { style: 'flex:1' }),
      may(me, 'RecordOutcome')
        ? h('button', { type: 'button', 'data-action': 'outcome', 'data-opens': 'outcome', onclick: () => slot.replaceChildren(outcomeForm(r, reload)) }, t('work.record_outcome'))
        : null,
      may(me, 'OverrideLane')
        ? h(
            'button',
            { type: 'button', class: 'secondary', 'data-action': 'override', 'data-opens': 'override', onclick: () => slot.replaceChildren(overrideForm(id, reload, r.channel)) },
            t('work.override'),
          )
        : null,
      r.urgent || !may(me, 'MarkUrgent')
        ? null
        : h('button', { type: 'button', class: 'secondary', 'data-action': 'urgent', 'data-opens': 'urgent', onclick: () => slot.replaceChildren(urgentForm(id, reload)) }, t('work.mark_urgent')),
    ),
    controlFacts(r),
    h('div', { class: 'instructions', style: 'margin-top:.5rem' }, h('strong', {}, `${t('decl.instructions')}${colon()}`), local(r.instructions) || t('decl.no_instructions')),
    slot,
  );
  return card;
}

function outcomeForm(r, reload) {
  const id = r.declaration_id || r.id;
  const msg = h('div');
  const form = h(
    'form',
    {
      'data-testid': 'outcome-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = new FormData(form);
        const findings = f.getAll('findings');
        const result = f.get('result');
        msg.replaceChildren();
        if (result === 'finding' && !findings.length) {
          msg.replaceChildren(errorBox({ message: t('outcome.need_finding'), field: 'findings' }));
          return;
        }
        const now = nowRfc3339();
        // The server records the outcome in the caller's name.
        const body = {
          control: f.get('control'),
          completed_at: now,
          result,
          findings: result === 'finding' ? findings : [],
          additional_duty: Number(f.get('additional_duty') || 0),
          seizure: f.get('seizure') === 'on',
          note: f.get('note') || undefined,
        };
        if (f.get('release') === 'on') body.released_at = now;
        try {
          await post(`/controls/${encodeURIComponent(id)}/outcome`, body);
          flash(t('outcome.saved', { id }));
          reload();
        } catch (e) {
          msg.replaceChildren(errorBox(e));
        }
      },
    },
    h(
      'div',
      { class: 'inline form', style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end;margin-top:.75rem' },
      h(
        'label',
        {},
        t('outcome.control'),
        h(
          'select',
          { name: 'control' },
          ['document', 'physical', 'audit'].map((c) =>
            h('option', { value: c, selected: (r.channel === 'red' ? 'physical' : 'document') === c }, t(`control.${c}`)),
          ),
        ),
      ),
      h(
        'label',
        {},
        t('outcome.result'),
        h('select', { name: 'result' }, ['no_finding', 'finding'].map((c) => h('option', { value: c }, t(`outcome.${c}`)))),
      ),
      h('label', {}, t('outcome.additional_duty'), h('input', { name: 'additional_duty', type: 'number', min: 0, step: '0.01', value: '0' })),
      h(
        'label',
        { style: 'flex-direction:row;align-items:center' },
        h('input', {
          type: 'checkbox',
          name: 'seizure',
          // Seized goods are not released by the same act.
          onchange: (ev) => {
            const release = form.querySelector('input[name=release]');
            release.disabled = ev.target.checked;
            if (ev.target.checked) release.checked = false;
          },
        }),
        t('outcome.seizure'),
      ),
      // Not ticked by default: releasing is a decision of its own.
      h('label', { style: 'flex-direction:row;align-items:center' }, h('input', { type: 'checkbox', name: 'release' }), t('outcome.release_now')),
    ),
    findingsFieldset(),
    h('label', {}, t('outcome.note'), h('input', { name: 'note', size: 60 })),
    h('div', { style: 'margin-top:.5rem' }, h('button', { type: 'submit' }, t('outcome.submit'))),
    msg,
  );
  return form;
}

const URGENT_KINDS = ['perishable', 'medical', 'live_animals', 'production_line', 'other'];

// A trader's urgent-clearance request, recorded at the counter.
function urgentForm(id, reload) {
  return sendForm(
    { 'data-testid': 'urgent-form', class: 'inline form', style: 'display:flex;gap:.75rem;flex-wrap:wrap;align-items:end;margin-top:.75rem' },
    async (f) => {
      required(f, 'note', t('work.urgent_need_note'));
      await post(`/controls/${encodeURIComponent(id)}/urgent`, { kind: f.get('kind'), note: f.get('note') });
      flash(t('work.urgent_saved', { id }));
      reload();
    },
    h('label', {}, t('work.urgent_kind'), h('select', { name: 'kind' }, URGENT_KINDS.map((k) => h('option', { value: k }, t(`urgent.${k}`))))),
    h('label', {}, t('work.urgent_note'), h('input', { name: 'note', size: 40 })),
    h('button', { type: 'submit' }, t('work.mark_urgent')),
  );
}
