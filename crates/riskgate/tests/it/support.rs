//! Support shared by the test modules: the binary, and the services the
//! PostgreSQL and NATS halves need. A test that needs a service FAILS when
//! it is absent, unless the matching variable allows the skip on purpose
//! (`RISKGATE_SKIP_PG=1`, `RISKGATE_SKIP_NATS=1`); a skip prints a
//! `SKIPPED:` line on stderr, so it shows in the output.

use std::process::Command;
use std::time::Duration;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskgate"))
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
