// The console's shell: session, navigation hidden by role, hash routing.
import { get, del, setUnauthorizedHandler } from './api.js';
import { t, lang, setLang, onLangChange } from './i18n.js';
import { h, mount, errorBox } from './ui.js';
import { PAGES, mayUse, normRole } from './roles.js';
import { session, go } from './state.js';
import { loginPage } from './pages/login.js';
import { overviewPage } from './pages/overview.js';
import { analysisPage } from './pages/analysis.js';
import { declarationsPage, decisionPage } from './pages/declarations.js';
import { workbenchPage } from './pages/workbench.js';
import { rulesPage, ruleEditPage, ruleDetailPage } from './pages/rules.js';
import { modelsPage, modelDetailPage } from './pages/models.js';
import { enterprisesPage, enterpriseDetailPage } from './pages/enterprises.js';
import { moneyflowPage } from './pages/moneyflow.js';
import { postClearancePage } from './pages/postclearance.js';
import { integrityPage } from './pages/integrity.js';
import { officerProfilePage } from './pages/integrity_scores.js';
import { casesPage, casePage } from './pages/cases.js';
import { accountPage } from './pages/account.js';
import { committeesPage } from './pages/committees.js';


const main = () => document.getElementById('main');

// Route table: first path segment (+ optional id) → page.
function resolve(parts) {
  const [page, id, sub] = parts;
  switch (page) {
    case 'overview':
      return { key: 'overview', render: overviewPage };
    case 'analysis':
      return { key: 'analysis', render: analysisPage };
    case 'declarations':
      return id ? { key: 'declarations', render: (el, q) => decisionPage(el, id, q) } : { key: 'declarations', render: declarationsPage };
    case 'workbench':
      return { key: 'workbench', render: workbenchPage };
    case 'rules':
      if (id === 'new') return { key: 'rules', render: (el, q) => ruleEditPage(el, null, q) };
      if (id && sub === 'edit') return { key: 'rules', render: (el, q) => ruleEditPage(el, id, q) };
      return id ? { key: 'rules', render: (el, q) => ruleDetailPage(el, id, q) } : { key: 'rules', render: rulesPage };
    case 'models':
      return id ? { key: 'models', render: (el, q) => modelDetailPage(el, id, q) } : { key: 'models', render: modelsPage };
    case 'enterprises':
      return id
        ? { key: 'enterprises', render: (el, q) => enterpriseDetailPage(el, id, q) }
        : { key: 'enterprises', render: enterprisesPage };
    case 'moneyflow':
      return { key: 'moneyflow', render: moneyflowPage };
    case 'post-clearance':
      return { key: 'post-clearance', render: postClearancePage };
    case 'integrity':
      if (id === 'officer' && sub) return { key: 'integrity', render: (el) => officerProfilePage(el, sub) };
      return { key: 'integrity', render: integrityPage };
    case 'cases':
      return id ? { key: 'cases', render: (el) => casePage(el, id) } : { key: 'cases', render: casesPage };
    case 'committees':
      return { key: 'committees', render: committeesPage };
    case 'account':
      return { key: 'account', render: accountPage };
    default:
      return null;
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query || '') };
}

function landing() {
  // A department's users start at their inbox of referrals.
  if (normRole(session.me?.role) === 'department_user' && mayUse(session.me, 'cases')) return '/cases';
  // A field officer starts at the open controls of the office.
  if (normRole(session.me?.role) === 'field_officer' && mayUse(session.me, 'workbench')) return '/workbench';
  const first = PAGES.find((p) => mayUse(session.me, p.key));
  return first ? `/${first.key}` : '/overview';
}

function renderNav(active) {
  const nav = document.getElementById('nav');
  mount(
    nav,
    PAGES.filter((p) => mayUse(session.me, p.key)).map((p) =>
      h('a', { href: `#/${p.key}`, class: p.key === active ? 'active' : null, 'data-nav': p.key }, t(`nav.${p.key}`)),
    ),
  );
  const who = session.me;
  document.getElementById('who-name').textContent =
    `${who.display_name || who.name || who.username} · ${t(`role.${normRole(who.role)}`)}${who.office ? ` · ${who.office}` : ''}`;
  const toggle = document.getElementById('menu-toggle');
  toggle.textContent = `☰ ${t('nav.menu')}`;
  toggle.setAttribute('aria-label', t('nav.menu'));
  document.getElementById('lang-switch').textContent = lang() === 'zh' ? 'English' : '中文';
  document.getElementById('logout').textContent = t('nav.logout');
}

// On a narrow screen the navigation folds behind the menu button; it
// folds again once a page is chosen.
function setMenu(open) {
  document.getElementById('topbar').classList.toggle('open', open);
  document.getElementById('menu-toggle').setAttribute('aria-expanded', String(open));
}

let renderSeq = 0;
async function route() {
  const seq = ++renderSeq;
  setMenu(false);
  const { parts, query } = parseHash();
  const el = main();
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  document.title = `riskgate · ${t('app.title')}`;
  if (!session.me) {
    try {
      session.me = await get('/me', { quiet401: true });
    } catch {
      session.me = null;
    }
    if (seq !== renderSeq) return;
  }
  if (!session.me || parts[0] === 'login') {
    if (session.me && parts[0] === 'login') return go(landing());
    document.getElementById('topbar').hidden = true;
    // A deep link opened while logged out (#/declarations/ID?…) is kept
    // across the login: the page asked for opens once the user is in.
    const wanted = parts[0] === 'login' ? query.get('next') : location.hash.replace(/^#/, '');
    return loginPage(el, async () => {
      session.me = await get('/me');
      const next = wanted && !/^\/?(login\b|$)/.test(wanted) ? wanted : landing();
      // The link is already in the address bar: no hash change, so render it here.
      if (location.hash.replace(/^#/, '') === next) route();
      else go(next);
    }, query);
  }
  document.getElementById('topbar').hidden = false;
  const r = parts.length ? resolve(parts) : null;
  if (!r) return go(landing());
  if (!PAGES.some((p) => mayUse(session.me, p.key))) {
    mount(el, h('div', { class: 'error', 'data-testid': 'not-allowed' }, t('error.no_pages')));
    return;
  }
  renderNav(r.key);
  if (!mayUse(session.me, r.key)) {
    // Shown, not enforced: the server refuses the data calls anyway.
    mount(el, h('h1', {}, t(`nav.${r.key}`)), h('div', { class: 'error', 'data-testid': 'not-allowed' }, t('error.page_not_for_role')));
    return;
  }
  // Each route renders into its own view: a slower, older route that
  // finishes late writes into a view no longer in the page.
  const view = h('div', { class: 'view' }, h('p', { class: 'muted' }, t('common.loading')));
  el.replaceChildren(view);
  try {
    await r.render(view, query);
  } catch (e) {
    mount(view, h('h1', {}, t(`nav.${r.key}`)), errorBox(e));
  }
}

setUnauthorizedHandler(() => {
  session.me = null;
  const { parts } = parseHash();
  if (parts[0] !== 'login') go(`/login?next=${encodeURIComponent(location.hash.slice(1))}`);
});

document.getElementById('menu-toggle').addEventListener('click', () =>
  setMenu(!document.getElementById('topbar').classList.contains('open')),
);
// A link to the page already shown changes no route: fold the menu anyway.
document.getElementById('nav').addEventListener('click', (ev) => {
  if (ev.target.closest('a')) setMenu(false);
});
document.getElementById('lang-switch').addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
document.getElementById('logout').addEventListener('click', async () => {
  try {
    await del('/session', { quiet401: true });
  } catch {
    /* already gone */
  }
  session.me = null;
  go('/login');
});
onLangChange(route);
window.addEventListener('hashchange', route);
route();
