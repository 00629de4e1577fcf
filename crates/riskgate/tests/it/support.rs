//! Support shared by the test modules: the binary, and the services the
//! PostgreSQL and NATS halves need. A test that needs a service FAILS when
//! it is absent, unless the matching variable allows the skip on purpose
//! (`RISKGATE_SKIP_PG=1`, `RISKGATE_SKIP_NATS=1`); a skip prints a
//! `SKIPPED:` line on stderr, so it shows in the output.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The binary, with no credentials inherited from the environment.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riskgate"));
    for k in ["RISKGATE_TOKEN", "RISKGATE_LOGIN_PASSWORD", "RISKGATE_USER", "RISKGATE_PASSWORD"] {
        c.env_remove(k);
    }
    c
}

/// The password of every account the tests add.
pub const TEST_PASSWORD: &str = "correct horse battery";

/// `riskgate --data DATA users add USER --role ROLE [--office O]` as the
/// local operator (the administrator's bootstrap), password [`TEST_PASSWORD`].
pub fn cli_account(data: &Path, user: &str, role: &str, office: Option<&str>) {
    let mut c = bin();
    c.arg("--data").arg(data).args(["users", "add", user, "--role", role]).env("RISKGATE_PASSWORD", TEST_PASSWORD);
    if let Some(o) = office {
        c.args(["--office", o]);
    }
    succeeded(&c.output().unwrap(), format_args!("users add {user}"));
}

/// A command logged in as `user` (an account added with [`cli_account`]).
pub fn as_account(c: &mut Command, user: &str) {
    c.arg("--user").arg(user).env("RISKGATE_LOGIN_PASSWORD", TEST_PASSWORD);
}

/// The standard output of a `riskgate` run that must have succeeded.
pub fn succeeded(out: &Output, what: impl Display) -> String {
    assert!(
        out.status.success(),
        "riskgate {what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Adds the account `username` (national scope) with `role` to the store
/// at `at`, as `actor`, and gives the app back for further setup.
pub fn add_account(
    at: &riskgate_app::StoreAt,
    actor: &str,
    username: &str,
    password: &str,
    role: &str,
) -> riskgate_app::App {
    let mut app = riskgate_app::App::open_at(at, actor).unwrap();
    let n = riskgate_app::accounts::NewUser { username, password, role, ..Default::default() };
    riskgate_app::accounts::add_user(app.store.as_mut(), actor, n).unwrap();
    app
}

/// `riskgate generate` of world `seed` at `scale` under `dir`.
pub fn generate_world(dir: &Path, seed: u64, scale: f64) -> PathBuf {
    let w = dir.join(format!("world-{seed}"));
    let out =
        bin().args(["generate", "--seed", &seed.to_string(), "--scale", &scale.to_string()]).arg(&w).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    w
}

/// Imports world `w`'s registry, payments, history and history outcomes,
/// each by `import(args)`.
pub fn load_world(w: &Path, mut import: impl FnMut(&[&str])) {
    let path = |file: &str| w.join(file).to_str().unwrap().to_string();
    for (kind, file) in [
        ("offices", "offices.jsonl"),
        ("officers", "officers.jsonl"),
        ("enterprises", "enterprises.jsonl"),
        ("forex", "forex.jsonl"),
    ] {
        import(&["import", kind, &path(file)]);
    }
    import(&["import", "declarations", "--historical", &path("history.jsonl")]);
    import(&["import", "outcomes", &path("history_outcomes.jsonl")]);
}

/// A scratch directory for one test (removed when dropped) with a SQLite
/// store in `data`, and `riskgate` run on it, as the default user or as
/// `user` (`--user`).
pub struct Env {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        Env { _tmp: tmp, dir }
    }
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn command(&self) -> Command {
        let mut c = bin();
        c.arg("--data").arg(self.data());
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }
    pub fn run_as(&self, user: &str, args: &[&str]) -> Output {
        self.command().arg("--user").arg(user).args(args).output().unwrap()
    }
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.run(args), format_args!("{args:?}"))
    }
    pub fn ok_as(&self, user: &str, args: &[&str]) -> String {
        succeeded(&self.run_as(user, args), format_args!("{args:?}"))
    }
    /// Adds the account `user` with `role` (national, or of `office`).
    pub fn account(&self, user: &str, role: &str, office: Option<&str>) {
        cli_account(&self.data(), user, role, office);
    }
    /// Runs logged in as the account `user`.
    pub fn run_login(&self, user: &str, args: &[&str]) -> Output {
        let mut c = self.command();
        as_account(&mut c, user);
        c.args(args).output().unwrap()
    }
    pub fn ok_login(&self, user: &str, args: &[&str]) -> String {
        succeeded(&self.run_login(user, args), format_args!("{user}: {args:?}"))
    }
    /// Registry, payments, history and outcomes of world `w`.
    pub fn load(&self, w: &Path) {
        load_world(w, |args| {
            self.ok(args);
        });
    }
    pub fn load_as(&self, user: &str, w: &Path) {
        load_world(w, |args| {
            self.ok_as(user, args);
        });
    }
}

fn skip_allowed(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1" || v == "true")
}

/// The PostgreSQL test database (`RISKGATE_TEST_PG_URL`, default
/// postgres://root@127.0.0.1:5432/test); `None` only when absent and
/// `RISKGATE_SKIP_PG=1`.
pub fn pg_url(test: &str) -> Option<String> {
    let url = std::env::var("RISKGATE_TEST_PG_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    match riskgate_store::PgStore::ping(&url) {
        Ok(()) => Some(url),
        Err(e) if skip_allowed("RISKGATE_SKIP_PG") => {
            eprintln!("SKIPPED: {test} on PostgreSQL (RISKGATE_SKIP_PG=1; {e})");
            None
        }
        Err(e) => {
            panic!("{test}: PostgreSQL is not reachable at {url} ({e}); set RISKGATE_SKIP_PG=1 to skip on purpose")
        }
    }
}

/// Whether NATS listens on 127.0.0.1:4222; `false` only when absent and
/// `RISKGATE_SKIP_NATS=1`.
pub fn nats_available(test: &str) -> bool {
    let ok = std::net::TcpStream::connect_timeout(&"127.0.0.1:4222".parse().unwrap(), Duration::from_secs(1)).is_ok();
    if !ok {
        assert!(
            skip_allowed("RISKGATE_SKIP_NATS"),
            "{test}: NATS is not reachable on 127.0.0.1:4222; set RISKGATE_SKIP_NATS=1 to skip on purpose"
        );
        eprintln!("SKIPPED: {test} (RISKGATE_SKIP_NATS=1; NATS is not reachable on 127.0.0.1:4222)");
    }
    ok
}
