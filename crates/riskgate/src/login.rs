//! Who runs a command. The CLI authenticates as the HTTP server does
//! (`riskgate_app::accounts::authenticate`): with an API token
//! (`RISKGATE_TOKEN`), or as `--user NAME` with its password
//! (`RISKGATE_LOGIN_PASSWORD`, or typed at the prompt `--login` opens).
//! Without credentials the command runs as the local operator — whoever has
//! the store, the administrator's bootstrap — logged as `local:NAME`; the
//! use cases where identity matters (rules, model status, committee
//! settings and votes) refuse such an actor
//! (`accounts::require_identity`), so four-eyes and committee rules hold on
//! every path.

use std::cell::OnceCell;

use anyhow::{Context, Result, bail};
use riskgate_app::App;
use riskgate_app::accounts::{self, Credential, Identity, Perm};
use riskgate_store::Store;

/// The environment variable holding an API token (`rgt_<id>_<secret>`).
pub const TOKEN_VAR: &str = "RISKGATE_TOKEN";
/// The environment variable holding the `--user`'s password.
pub const PASSWORD_VAR: &str = "RISKGATE_LOGIN_PASSWORD";

/// How the command authenticates, read once from the flags and the
/// environment; the identity is proven when the store is first opened.
pub struct Login {
    user: Option<String>,
    credential: Option<Credential>,
    proven: OnceCell<Option<Identity>>,
}

impl Login {
    /// From `--user`, `--login` and the environment. A token wins over a
    /// password; `--login` asks for the password on the terminal.
    pub fn from_cli(user: Option<String>, prompt: bool) -> Result<Login> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let credential = if let Some(t) = env(TOKEN_VAR) {
            Some(
                Credential::token(&t)
                    .with_context(|| format!("{TOKEN_VAR}: expected an API token rgt_<id>_<secret>"))?,
            )
        } else if let Some(password) = env(PASSWORD_VAR) {
            let Some(username) = user.clone() else { bail!("{PASSWORD_VAR} is set: give --user NAME to log in as") };
            Some(Credential::Password { username, password })
        } else if prompt {
            let Some(username) = user.clone() else { bail!("--login: give --user NAME to log in as") };
            let password = rpassword::prompt_password(format!("密码 / password for {username}: "))
                .context("--login: reading the password from the terminal")?;
            Some(Credential::Password { username, password })
        } else {
            None
        };
        Ok(Login { user, credential, proven: OnceCell::new() })
    }

    /// Opens the app as the authenticated user, or as the local operator.
    /// Wrong credentials are refused (and logged as `login_failed`).
    pub fn enter(&self, app: &mut App) -> Result<()> {
        let (user, office) = self.actor(app.store.as_mut())?;
        app.user = user;
        app.office = office;
        Ok(())
    }

    /// The acting name and office in `store`'s accounts: the proven
    /// user's, or `local:NAME` without credentials.
    pub fn actor(&self, store: &mut dyn Store) -> Result<(String, Option<String>)> {
        if self.proven.get().is_none() {
            let id = match &self.credential {
                None => None,
                Some(c) => Some(prove(store, c)?),
            };
            let _ = self.proven.set(id);
        }
        Ok(match self.proven.get().and_then(|p| p.as_ref()) {
            Some(id) => (id.username.clone(), id.office.clone()),
            None => (self.local_name(), None),
        })
    }

    /// The local operator's logged name (`local:NAME`, default `local:cli`).
    pub fn local_name(&self) -> String {
        accounts::local_actor(self.user.as_deref().unwrap_or("cli"))
    }

    /// Refused unless the command runs as an authenticated user whose role
    /// (and token scopes) allow `perm`; a local operator is refused by the
    /// use case itself (`authentication_required`), which says how to log in.
    pub fn require(&self, perm: Perm) -> Result<()> {
        match self.proven.get().and_then(|p| p.as_ref()) {
            Some(id) => id.require(perm),
            None => Ok(()),
        }
    }
}

fn prove(store: &mut dyn Store, c: &Credential) -> Result<Identity> {
    let offices = store.offices()?;
    let now = riskgate_app::now().timestamp();
    if let Some(id) = accounts::authenticate(store, c.clone(), &offices, now)? {
        return Ok(id);
    }
    let (who, how) = match c {
        Credential::Token { id, .. } => (format!("token {id}"), TOKEN_VAR),
        Credential::Password { username, .. } => (username.clone(), PASSWORD_VAR),
        Credential::Session(_) => ("session".to_string(), "session"),
    };
    store.append_action(&accounts::login_failed_action(&who, "cli"))?;
    Err(riskgate_app::error::AppError::forbidden(
        "unauthenticated",
        format!(
            "authentication failed for {who} ({how}): unknown, disabled, expired or revoked account or token, or a \
                 wrong password"
        ),
    )
    .into())
}
