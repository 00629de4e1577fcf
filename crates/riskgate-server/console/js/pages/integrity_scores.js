// Integrity analytics (supervisors only): officers, posts and units ranked
// by integrity score, the warnings, and one officer's profile (indicators
// against peers, month-by-month history, evidence). Every read is logged
// by the server as `integrity_read`.
import { get, qs, items } from '../api.js';
import { t } from '../i18n.js';
import { h, mount, table, chip, num } from '../ui.js';
import { chart } from '../charts.js';

const LEVEL_CLASS = { normal: 'low', watch: 'medium', warning: 'high' };
export const integrityLevel = (l) => (l ? chip(LEVEL_CLASS[l] || '', t(`integrity.level.${l}`)) : '—');
const topReasons = (r) => (r.reasons || []).slice(0, 2).join('；');

// The ranked list for `kind` (officers, posts, units) with tabs.
export async function rankedSection(kind, params) {
  const data = await get(`/integrity/${kind}${qs({ office: params.office, from: params.from, to: params.to })}`);
  const rows = items(data, kind);
  const warn = items(await get(`/integrity/warnings${qs({ office: params.office, from: params.from, to: params.to })}`), 'warnings');
  const tab = (k) => h('a', { href: `#/integrity?view=${k}`, class: k === kind ? 'active' : null, 'data-testid': `tab-${k}` }, t(`integrity.tab.${k}`));
  const idCell = (r) => (kind === 'officers' ? h('a', { href: `#/integrity/officer/${encodeURIComponent(r.id)}` }, r.id) : r.id);
  return h(
    'section',
    {},
    h('h2', {}, t('integrity.ranked')),
    h('nav', { class: 'tabs' }, tab('officers'), ' · ', tab('posts'), ' · ', tab('units')),
    table(
      [
        { label: '#', get: (r) => r.rank, num: true },
        { label: t(`integrity.col.${kind}`), render: idCell },
        { label: t('common.office'), get: (r) => r.office },
        { label: t('integrity.score'), get: (r) => num(r.score, 2), num: true },
        { label: t('integrity.level'), render: (r) => integrityLevel(r.level) },
        { label: t('integrity.controls'), get: (r) => r.controls, num: true },
        { label: t('integrity.reasons'), get: topReasons },
      ],
      rows,
      { testid: 'integrity-ranked', empty: t('integrity.none') },
    ),
    h('h2', {}, t('integrity.warnings')),
    table(
      [
        { label: t('integrity.kind_subject'), get: (r) => t(`integrity.subject.${r.kind}`) },
        { label: 'ID', render: (r) => (r.kind === 'officer' ? h('a', { href: `#/integrity/officer/${encodeURIComponent(r.id)}` }, r.id) : r.id) },
        { label: t('common.office'), get: (r) => r.office },
        { label: t('integrity.score'), get: (r) => num(r.score, 2), num: true },
        { label: t('integrity.reasons'), get: (r) => (r.reasons || []).join('；') },
      ],
      warn,
      { testid: 'integrity-warnings', empty: t('integrity.no_warnings') },
    ),
  );
}

// One officer's profile.
export async function officerProfilePage(el, id) {
  const p = await get(`/integrity/officers/${encodeURIComponent(id)}`);
  const hist = (p.history || []).filter((x) => x.subject);
  const month = (x) => new Date((x.from + 8 * 3600) * 1000).toISOString().slice(0, 7);
  const logs = new Map((p.log_entries || []).map((l) => [l.seq, l]));
  mount(
    el,
    h('p', {}, h('a', { href: '#/integrity' }, t('integrity.back'))),
    h('h1', {}, `${t('integrity.officer')} ${p.id}`),
    h(
      'p',
      { 'data-testid': 'integrity-profile' },
      `${t('common.office')} ${p.office} · ${t('integrity.post')} ${p.post || '—'} · ${t('integrity.score')} ${num(p.score, 2)} · `,
      integrityLevel(p.level),
      ` · ${t('integrity.peers', { n: p.peers, c: p.controls })}`,
    ),
    h('h2', {}, t('integrity.indicators')),
    table(
      [
        { label: t('integrity.indicator'), get: (i) => i.key },
        { label: t('integrity.value'), get: (i) => num(i.value, 3), num: true },
        { label: t('integrity.baseline'), get: (i) => (i.baseline == null ? '—' : num(i.baseline, 3)), num: true },
        { label: 'z', get: (i) => (i.z == null ? '—' : num(i.z, 2)), num: true },
        { label: 'p', get: (i) => (i.p == null ? '—' : Number(i.p).toExponential(2)), num: true },
        { label: t('integrity.detail'), get: (i) => i.detail },
      ],
      p.indicators || [],
      { testid: 'integrity-indicators' },
    ),
    h('h2', {}, t('integrity.reasons')),
    h('ul', {}, (p.reasons || []).map((r) => h('li', {}, r))),
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
        h('h3', {}, e.indicator),
        h('p', {}, ...(e.declarations || []).flatMap((d) => [h('a', { href: `#/declarations/${encodeURIComponent(d)}` }, d), ' '])),
        h(
          'ul',
          {},
          (e.log_entries || []).map((s) => {
            const l = logs.get(s);
            const a = l ? l.action : {};
            return h('li', {}, `#${s} ${a.at || ''} ${a.actor || ''} ${a.action || ''} ${a.target || ''} ${a.reason || ''}`);
          }),
        ),
      ),
    ),
  );
}
