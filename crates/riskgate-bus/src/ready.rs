//! Readiness: whether this process can do its work now, for `/readyz` and
//! the worker's start-up log. The database answers a query; the bus (when
//! one is configured) holds a live connection.

use std::time::Instant;

use riskgate_store::Store;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub ok: bool,
    /// Backend name, or the bus state.
    pub detail: String,
    pub millis: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub database: Check,
    /// `None` when no bus is configured (a district on its embedded store).
    pub bus: Option<Check>,
}

/// Checks the store (one small query) and, if given, the NATS connection.
pub fn readiness(store: &dyn Store, bus: Option<&async_nats::Client>) -> Readiness {
    let t = Instant::now();
    let database = match store.setting("seed") {
        Ok(_) => Check { ok: true, detail: store.backend().to_string(), millis: ms(t) },
        Err(e) => Check { ok: false, detail: format!("{}: {e}", store.backend()), millis: ms(t) },
    };
    let bus = bus.map(|c| {
        let t = Instant::now();
        let state = c.connection_state();
        Check { ok: state == async_nats::connection::State::Connected, detail: format!("nats {state}"), millis: ms(t) }
    });
    Readiness { ready: database.ok && bus.as_ref().is_none_or(|b| b.ok), database, bus }
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_alone_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let store = riskgate_store::SqliteStore::open(dir.path()).unwrap();
        let r = readiness(&store, None);
        assert!(r.ready && r.database.ok && r.bus.is_none(), "{r:?}");
        assert_eq!(r.database.detail, "sqlite");
    }
}
