// Integrity analytics (supervisors only): officers, posts and units ranked
// by integrity score, the warnings, and one officer's profile (indicators
// against peers, month-by-month history, evidence). Every read is logged
// by the server as `integrity_read`.
import { get, qs, items } from '../api.js';
import { t, tOr, semi, colon } from '../i18n.js';
import { h, mount, table, chip, num, dt, pct } from '../ui.js';
import { chart } from '../charts.js';
import { officerNames, officerLabel } from '../officers.js';

const LEVEL_CLASS = { normal: 'low', watch: 'medium', warning: 'high' };
export const integrityLevel = (l) => (l ? chip(LEVEL_CLASS[l] || '', t(`integrity.level.${l}`)) : '—');

// ------------------------------------------------ reasons in words
// The server sends each reason as figures (indicator key, value, peer
// baseline, count, chance expectation, p); the words and the rounding are
// the console's, in the reader's language.

const windowDays = (key) => /^window_(\d+)d$/.exec(key)?.[1];

export function indicatorName(key) {
  const days = windowDays(key);
  if (days) return t('indicator.window', { days });
  return tOr(`indicator.${key}`, key);
}

export const postName = (post) => (post ? tOr(`post.${post}`, post) : '—');

// `OFFICE/post` of a post subject, with the post in words.
export const subjectName = (kind, id) => {
  if (kind !== 'post' && kind !== 'posts') return id;
  const [office, post] = String(id).split('/');
  return `${office}/${postName(post)}`;
};

// 显著 (p<0.01) / 较显著 (p<0.05) / 不显著, the number on hover.
export function significance(p) {
  if (p === undefined || p === null) return null;
  const key = p < 0.01 ? 'sig.high' : p < 0.05 ? 'sig.medium' : 'sig.none';
  return h('span', { class: `sig ${key.slice(4)}`, title: `p = ${Number(p).toPrecision(2)}`, 'data-p': String(p) }, t(key));
}

const round = (v, digits) => (v === undefined || v === null ? '—' : num(v, digits));

// The sentence of one reason (or indicator) from its figures.
export function reasonSentence(f, kind = 'officer') {
  const key = windowDays(f.indicator) ? 'window' : f.indicator;
  const args = {
    n: num(f.n, 0),
    count: round(f.count, 0),
    expected: round(f.expected, 1),
    rate: pct(f.value, 1),
    value: round(f.value, key === 'tenure' ? 1 : 0),
    peer: ['overrides_down', 'off_hours'].includes(key) ? pct(f.baseline, 1) : round(f.baseline, key === 'tenure' ? 1 : 0),
  };
  let sentence;
  if (key === 'tenure') {
    sentence = kind !== 'officer' ? t('reason.tenure_share', args) : t(f.baseline == null ? 'reason.tenure_no_rule' : 'reason.tenure', args);
  } else {
    sentence = tOr(`reason.${key}`, null) ? t(`reason.${key}`, args) : key;
  }
  if (f.points > 0) sentence += t('reason.points', { points: num(f.points, 1) });
  return sentence;
}

// One reason: indicator name, sentence, significance.
export function reasonNode(f, kind) {
  return h(
    'span',
    { class: 'reason', 'data-indicator': f.indicator },
    h('strong', {}, indicatorName(f.indicator)),
    colon(),
    reasonSentence(f, kind),
    f.p != null ? [' ', significance(f.p)] : null,
  );
}

// The reasons of a subject (or inbox entry) in words; the English strings
// only when no figures came (entries recorded before they were kept).
export function reasonNodes(r, limit = Infinity) {
  const figs = r.reason_figures || [];
  if (!figs.length) return (r.reasons || []).slice(0, limit).join(semi());
  return figs.slice(0, limit).flatMap((f, i) => (i ? [semi(), reasonNode(f, r.kind)] : [reasonNode(f, r.kind)]));
}

// The reasons as plain text (a case note).
export function reasonsText(r) {
  const figs = r.reason_figures || [];
  if (!figs.length) return (r.reasons || []).join(semi());
  return figs.map((f) => `${indicatorName(f.indicator)}${colon()}${reasonSentence(f, r.kind)}`).join(semi());
}

const topReasons = (r) => reasonNodes(r, 2);
const FLAG_ORDER = { warning: 0, watch: 1 };

// The ranked list for `kind` (officers, posts, units) with tabs.
export async function rankedSection(kind, params) {
  const names = await officerNames();
  const data = await get(`/integrity/${kind}${qs({ office: params.office, from: params.from, to: params.to })}`);
  const rows = items(data, kind);
  const warn = items(await get(`/integrity/warnings${qs({ office: params.office, from: params.from, to: params.to })}`), 'warnings');
  const tab = (k) => h('a', { href: `#/integrity?view=${k}`, class: k === kind ? 'active' : null, 'data-testid': `tab-${k}` }, t(`integrity.tab.${k}`));
  const idCell = (r) => (kind === 'officers' ? h('a', { href: `#/integrity/officer/${encodeURIComponent(r.id)}` }, officerLabel(names, r.id)) : subjectName(r.kind, r.id));
  const columns = [
    { label: '#', get: (r) => r.rank, num: true },
    { label: t(`integrity.col.${kind}`), render: idCell },
    { label: t('common.office'), get: (r) => r.office },
    { label: t('integrity.score'), get: (r) => num(r.score, 2), num: true },
    { label: t('integrity.level'), render: (r) => integrityLevel(r.level) },
    { label: t('integrity.controls'), get: (r) => r.controls, num: true },
    { label: t('integrity.reasons'), render: topReasons },
  ];
  // Those at warning, then at watch, above the full ranking: a supervisor
  // does not scroll past hundreds of rows to find them.
  const flagged = rows.filter((r) => FLAG_ORDER[r.level] !== undefined).sort((a, b) => FLAG_ORDER[a.level] - FLAG_ORDER[b.level] || a.rank - b.rank);
  const subject = t(`integrity.tab.${kind}`);
  const count = (l) => flagged.filter((r) => r.level === l).length;
  return h(
    'section',
    {},
    h('h2', {}, t('integrity.ranked')),
    h('nav', { class: 'tabs' }, tab('officers'), ' · ', tab('posts'), ' · ', tab('units')),
    h('h3', { 'data-testid': 'integrity-attention-title' }, t('integrity.attention', { subject, warnings: count('warning'), watches: count('watch') })),
    flagged.length
      ? table(columns, flagged, { testid: 'integrity-attention' })
      : h('p', { class: 'muted', 'data-testid': 'integrity-attention' }, t('integrity.attention_none', { subject })),
    h('h3', {}, t('integrity.all_ranked', { subject, n: num(rows.length) })),
    table(columns, rows, { testid: 'integrity-ranked', empty: t('integrity.none') }),
    h('h2', {}, t('integrity.warnings')),
    table(
      [
        { label: t('integrity.kind_subject'), get: (r) => t(`integrity.subject.${r.kind}`) },
        { label: t('integrity.subject_id'), render: (r) => (r.kind === 'officer' ? h('a', { href: `#/integrity/officer/${encodeURIComponent(r.id)}` }, officerLabel(names, r.id)) : subjectName(r.kind, r.id)) },
        { label: t('common.office'), get: (r) => r.office },
        { label: t('integrity.score'), get: (r) => num(r.score, 2), num: true },
        { label: t('integrity.reasons'), render: (r) => reasonNodes(r) },
      ],
      warn,
      { testid: 'integrity-warnings', empty: t('integrity.no_warnings') },
    ),
  );
}

// One officer's profile.
export async function officerProfilePage(el, id) {
  const p = await get(`/integrity/officers/${encodeURIComponent(id)}`);
  const names = await officerNames();
  const hist = (p.history || []).filter((x) => x.subject);
  const month = (x) => new Date((x.from + 8 * 3600) * 1000).toISOString().slice(0, 7);
  const logs = new Map((p.log_entries || []).map((l) => [l.seq, l]));
  // Each indicator as figures (older servers: read from the indicator itself).
  const figures = p.indicator_figures || (p.indicators || []).map((i) => ({ ...i, indicator: i.key }));
  mount(
    el,
    h('p', {}, h('a', { href: '#/integrity' }, t('integrity.back'))),
    h('h1', {}, `${t('integrity.officer')} ${officerLabel(names, p.id)}`),
    h(
      'p',
      { 'data-testid': 'integrity-profile' },
      `${t('common.office')} ${p.office} · ${t('integrity.post')} ${postName(p.post)} · ${t('integrity.score')} ${num(p.score, 2)} · `,
      integrityLevel(p.level),
      ` · ${t('integrity.peers', { n: p.peers, c: p.controls })}`,
    ),
    h('h2', {}, t('integrity.indicators')),
    table(
      [
        { label: t('integrity.indicator'), get: (f) => indicatorName(f.indicator) },
        { label: t('integrity.detail'), get: (f) => reasonSentence(f, 'officer') },
        { label: 'z', get: (f) => (f.z == null ? '—' : num(f.z, 1)), num: true },
        { label: t('integrity.significance'), render: (f) => significance(f.p) || '—' },
      ],
      figures,
      { testid: 'integrity-indicators' },
    ),
    h('h2', {}, t('integrity.reasons')),
    h(
      'ul',
      { 'data-testid': 'integrity-reasons' },
      (p.reason_figures || []).length ? p.reason_figures.map((f) => h('li', {}, reasonNode(f, 'officer'))) : (p.reasons || []).map((r) => h('li', {}, r)),
    ),
    h('h2', {}, t('integrity.history')),
    hist.length
      ? chart(
          {
            tooltip: { trigger: 'axis' },
            xAxis: { type: 'category', data: hist.map(month) },
            yAxis: { type: 'value', name: t('integrity.score') },
            series: [{ type: 'line', data: hist.map((x) => x.subject.score) }],
          },
          { height: 240, testid: 'integrity-history' },
        )
      : h('p', { class: 'muted' }, t('integrity.no_history')),
    h('h2', {}, t('integrity.evidence')),
    ...(p.evidence || []).map((e) =>
      h(
        'div',
        {},
        h('h3', {}, indicatorName(e.indicator)),
        h('p', {}, ...(e.declarations || []).flatMap((d) => [h('a', { href: `#/declarations/${encodeURIComponent(d)}` }, d), ' '])),
        h(
          'ul',
          {},
          (e.log_entries || []).map((s) => logLine(s, logs.get(s), names)),
        ),
      ),
    ),
  );
}

// One action-log entry behind the evidence; an override says who changed
// the lane of which declaration, when, from what to what and why.
function logLine(seq, l, names) {
  const a = l ? l.action : {};
  if (a.action === 'override') {
    const lane = (c) => (c ? t(`channel.${c}`) : '—');
    return h(
      'li',
      { 'data-testid': 'evidence-override' },
      `#${seq} `,
      t('integrity.override_entry', {
        at: dt(a.at),
        officer: officerLabel(names, a.actor),
        target: a.target,
        from: lane(a.before?.channel),
        to: lane(a.after?.channel),
        reason: a.reason || '—',
      }),
    );
  }
  return h('li', {}, `#${seq} ${dt(a.at)} ${a.actor || ''} ${a.action || ''} ${a.target || ''} ${a.reason || ''}`);
}
