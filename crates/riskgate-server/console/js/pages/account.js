// 我的账户: change one's own password, see one's open sessions and end one
// (e.g. left open on another computer). Administrators reset others'
// passwords with the CLI or `POST /api/v1/users/{username}/password`.
import { get, post, del } from '../api.js';
import { t } from '../i18n.js';
import { h, mount, table, dt, errorBox, flash, sendForm, required } from '../ui.js';
import { session, go } from '../state.js';

export async function accountPage(el) {
  const me = session.me;
  const list = h('div', { 'data-testid': 'sessions' });
  const load = async () => {
    try {
      const data = await get('/sessions');
      mount(
        list,
        table(
          [
            { label: t('account.opened'), get: (s) => dt(s.created_at) },
            { label: t('account.expires'), get: (s) => dt(s.expires_at) },
            { label: t('account.address'), get: (s) => s.address },
            {
              label: '',
              render: (s) =>
                s.current
                  ? h('span', { class: 'muted' }, t('account.this_session'))
                  : h(
                      'button',
                      {
                        type: 'button',
                        class: 'link',
                        'data-testid': 'end-session',
                        onclick: async () => {
                          try {
                            await del(`/sessions/${encodeURIComponent(s.id)}`);
                            flash(t('account.ended'));
                            await load();
                          } catch (e) {
                            mount(list, errorBox(e));
                          }
                        },
                      },
                      t('account.end'),
                    ),
            },
          ],
          data.sessions || [],
          { testid: 'sessions-table' },
        ),
      );
    } catch (e) {
      mount(list, errorBox(e));
    }
  };
  const form = sendForm(
    { class: 'stack', 'data-testid': 'password-form' },
    async (f) => {
      required(f, 'current_password', t('account.need_current'));
      required(f, 'new_password', t('account.need_new'));
      if (f.get('new_password') !== f.get('repeat')) throw { message: t('account.mismatch'), field: 'repeat' };
      await post('/me/password', { current_password: f.get('current_password'), new_password: f.get('new_password') });
      // Every session of the user ended, this one too: log in again.
      session.me = null;
      flash(t('account.changed'));
      go('/login');
    },
    h('label', {}, t('account.current'), h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password' })),
    h('label', {}, t('account.new'), h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', minlength: 12 })),
    h('label', {}, t('account.repeat'), h('input', { type: 'password', name: 'repeat', autocomplete: 'new-password' })),
    h('p', { class: 'muted' }, t('account.policy')),
    h('button', { type: 'submit' }, t('account.change')),
  );
  mount(
    el,
    h('h1', {}, t('account.title')),
    h('p', {}, `${me.display_name || me.username} · ${me.username}`),
    h('section', {}, h('h2', {}, t('account.password')), form),
    h('section', {}, h('h2', {}, t('account.sessions')), list),
  );
  await load();
}
