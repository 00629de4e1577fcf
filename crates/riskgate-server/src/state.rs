//! What the transport's threads share: the handle handlers use to reach
//! the reader threads and the screening thread (`AppState`), what the
//! screening thread owns (`Live`), and the work it is sent.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock, mpsc};

use anyhow::Result;
use riskgate_app::app::App;
use riskgate_core::{Decision, Declaration, Office};
use riskgate_store::Store;
use tokio::sync::oneshot;

use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

pub(crate) type ReadJob = Box<dyn FnOnce(&mut dyn Store) + Send>;
pub(crate) type WriteJob = Box<dyn FnOnce(&mut Live) + Send>;

/// What the screening thread owns.
pub struct Live {
    pub app: App,
    /// Office codes of the registry (declarations from others are refused).
    pub offices: HashSet<String>,
    /// Events since the last checkpoint.
    pub unsaved: usize,
    /// Event kinds with active webhooks.
    pub hooked: riskgate_app::events::HookedKinds,
}

pub enum Work {
    Screen(Request),
    Other(WriteJob),
}

#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) reads: Mutex<mpsc::Sender<ReadJob>>,
    pub(crate) writes: Mutex<mpsc::SyncSender<Work>>,
    pub(crate) shared: Arc<Shared>,
}

/// What the runtime and the screening thread both see.
#[derive(Default)]
pub struct Shared {
    pub offices: RwLock<Arc<Vec<Office>>>,
    pub metrics: Metrics,
    /// Failed logins per username and address.
    pub logins: Mutex<riskgate_app::accounts::LoginThrottle>,
    /// Password verifications allowed at once (argon2 on the blocking pool).
    pub verifications: Verifications,
    /// Integrity reports computed for supervisors, kept while their input is unchanged.
    pub integrity: riskgate_app::integrity::ReportCache,
}

/// Concurrent argon2 verifications: two, so a flood of logins takes at
/// most two cores' worth of blocking threads and queues the rest.
pub struct Verifications(pub tokio::sync::Semaphore);

impl Default for Verifications {
    fn default() -> Self {
        Verifications(tokio::sync::Semaphore::new(2))
    }
}

impl Shared {
    pub fn set_offices(&self, o: Vec<Office>) {
        *self.offices.write().expect("offices lock") = Arc::new(o);
    }
}

impl AppState {
    /// Runs `f` on a reader thread with its own store connection.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        self.inner.reads.lock().expect("reads lock").send(job).map_err(|_| ApiError::unavailable())?;
        rx.await.map_err(|_| ApiError::unavailable())?.map_err(ApiError::from)
    }

    /// Runs `f` on the screening thread, after the work queued before it.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Live) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |l| {
            let _ = tx.send(f(l));
        });
        self.send_work(Work::Other(job)).await?;
        rx.await.map_err(|_| ApiError::unavailable())?
    }

    pub(crate) async fn send_work(&self, w: Work) -> ApiResult<()> {
        let tx = self.inner.writes.lock().expect("writes lock").clone();
        // A full queue blocks the sender; do that off the runtime threads.
        tokio::task::block_in_place(|| tx.send(w)).map_err(|_| ApiError::unavailable())
    }

    pub fn offices(&self) -> Arc<Vec<Office>> {
        self.inner.shared.offices.read().expect("offices lock").clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.shared.metrics
    }

    pub fn login_throttle(&self) -> std::sync::MutexGuard<'_, riskgate_app::accounts::LoginThrottle> {
        self.inner.shared.logins.lock().expect("login throttle lock")
    }

    pub fn verifications(&self) -> &tokio::sync::Semaphore {
        &self.inner.shared.verifications.0
    }
}

/// A body must be `Content-Type: application/json` (415 otherwise; an
/// HTML form cannot send it, which keeps cross-site posts out).
pub fn require_json(headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let ct = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ))
    }
}

/// Parses a JSON body with a stable error.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not valid: {e}"))
    })
}

/// Parses a JSON body of records (declarations, imports, an outcome):
/// like [`parse_json`], and a key repeated in any object is refused with
/// 422 `invalid_field` naming its path (`[3].items[0].line`), since the
/// record would be validated on the last value and, for a single
/// declaration, stored as sent with both.
pub fn parse_records(body: &[u8]) -> ApiResult<serde_json::Value> {
    riskgate_core::json::parse_slice(body).map_err(|e| match e.validation() {
        Some(v) => ApiError::validation(&v, ""),
        None => ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            match e {
                riskgate_core::json::JsonError::Syntax(e) => format!("the body is not valid: {e}"),
                other => other.to_string(),
            },
        ),
    })
}

/// A declaration request for the screening thread.
pub struct Request {
    pub items: Vec<Item>,
    /// Whether the caller may read which rules fired (else the answers
    /// leave them out, as the events do).
    pub rules: bool,
    pub reply: oneshot::Sender<ApiResult<Vec<Answer>>>,
}

pub struct Item {
    pub declaration: Declaration,
    pub body: String,
}

pub enum Answer {
    /// Screened now: the decision as stored (its JSON, moved out of the batch).
    New(String),
    /// Stored before: its decision unchanged.
    Known(Box<Decision>),
    /// Stored as history, never screened.
    Historical(String),
}
