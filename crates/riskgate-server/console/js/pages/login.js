// Login: a named account and password; the server sets a session cookie.
import { post } from '../api.js';
import { t, lang, setLang } from '../i18n.js';
import { h, mount, errorBox } from '../ui.js';

export function loginPage(el, onDone) {
  const msg = h('div');
  const form = h(
    'form',
    {
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = new FormData(form);
        msg.replaceChildren();
        try {
          await post('/session', { username: f.get('username'), password: f.get('password') }, { quiet401: true });
          await onDone();
        } catch (e) {
          const text =
            e.status === 401 ? t('login.failed') : e.status === 429 ? t('login.throttled', { secs: e.details.retry_after }) : null;
          // The page's own words for these two; the rest by the error's code.
          msg.replaceChildren(errorBox(text ? new Error(text) : e));
        }
      },
    },
    h('label', {}, t('login.username'), h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true })),
    h(
      'label',
      {},
      t('login.password'),
      h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    ),
    h('button', { type: 'submit' }, t('login.submit')),
    msg,
  );
  mount(
    el,
    h(
      'div',
      { class: 'login card' },
      h('h1', {}, t('app.title')),
      form,
      h(
        'p',
        { class: 'muted' },
        h('button', { type: 'button', class: 'link', 'data-testid': 'login-lang', onclick: () => setLang(lang() === 'zh' ? 'en' : 'zh') }, lang() === 'zh' ? 'English' : '中文'),
      ),
    ),
  );
}
