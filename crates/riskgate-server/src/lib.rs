//! `riskgate serve`: the HTTP API and the web console (axum on tokio).
//!
//! Threading: the tokio runtime only parses, authenticates and answers.
//! The store and the engine are synchronous and never run on a runtime
//! thread: one *screening thread* owns the `App` (store + engine; the
//! engine is sequential by design) and runs every change in arrival order,
//! committing concurrent declaration requests together (group commit);
//! a few *reader threads*, each with its own store connection, serve
//! queries. Both are fed by channels and answer through oneshot channels.

pub mod answers;
mod api;
pub mod auth;
mod cases_api;
mod committees_api;
mod console;
mod error;
mod integrity_api;
mod integrity_inbox;
pub mod listen;
mod metrics;
pub mod openapi;
mod postclearance_api;
pub mod reports;
mod reports_api;
pub mod retrain;
mod screening;
pub mod state;
pub mod testing;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use error::{ApiError, ApiResult};
use riskgate_app::app::App;
use riskgate_app::events::Emitter;
pub use state::{AppState, Live, Shared, parse_json};
use state::{Inner, ReadJob, Work};

const READERS: usize = 2;

/// Starts the screening and reader threads on the store at `at`.
/// Events of every change go to `events` (webhook outbox + sink), as from
/// the CLI and the bus worker.
pub fn start(at: &riskgate_app::app::StoreAt, events: Emitter) -> Result<(AppState, std::thread::JoinHandle<()>)> {
    let app = App::open_at(at, "server")?.with_events(events);
    // The dummy hash unknown usernames are checked against, made now (one
    // argon2 hash) rather than by the first login.
    riskgate_app::accounts::dummy_hash();
    let offices = app.store.offices()?;
    let (rtx, rrx) = mpsc::channel::<ReadJob>();
    let rrx = Arc::new(Mutex::new(rrx));
    for i in 0..READERS {
        let mut store = app.store.reopen()?;
        let rrx = rrx.clone();
        std::thread::Builder::new().name(format!("reader-{i}")).spawn(move || {
            loop {
                let job = rrx.lock().expect("reader queue").recv();
                match job {
                    Ok(job) => job(store.as_mut()),
                    Err(_) => return,
                }
            }
        })?;
    }
    let (wtx, wrx) = mpsc::sync_channel::<Work>(1024);
    let live =
        Live { offices: offices.iter().map(|o| o.code.clone()).collect(), app, unsaved: 0, hooked: Default::default() };
    let shared = Arc::new(Shared { offices: RwLock::new(Arc::new(offices)), ..Default::default() });
    let state =
        AppState { inner: Arc::new(Inner { reads: Mutex::new(rtx), writes: Mutex::new(wtx), shared: shared.clone() }) };
    let writer =
        std::thread::Builder::new().name("screening".into()).spawn(move || screening::run(live, wrx, shared))?;
    Ok((state, writer))
}

/// Every route with its OpenAPI operation: the handlers registered here are
/// the ones the document lists (`openapi::build`), so neither can miss one.
pub fn api_router() -> OpenApiRouter<AppState> {
    use api::*;
    use integrity_api as integrity;
    let v1 = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::login, auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::list_sessions))
        .routes(routes!(auth::end_session))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::reset_password))
        .routes(routes!(screening::submit, search_declarations))
        .routes(routes!(get_declaration))
        .routes(routes!(override_lane))
        .routes(routes!(list_offices, import_offices))
        .routes(routes!(list_officers, import_officers))
        .routes(routes!(list_enterprises, import_enterprises))
        .routes(routes!(get_enterprise))
        .routes(routes!(note_enterprise))
        .routes(routes!(import_forex))
        .routes(routes!(import_invoices))
        .routes(routes!(import_outcomes))
        .routes(routes!(import_releases))
        .routes(routes!(import_workforce))
        .routes(routes!(list_controls))
        .routes(routes!(record_outcome))
        .routes(routes!(mark_urgent))
        .routes(routes!(escalate_controls))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(test_rule))
        .routes(routes!(rule_fields))
        .routes(routes!(get_rule))
        .routes(routes!(backtest_rule))
        .routes(routes!(approve_rule))
        .routes(routes!(retire_rule))
        .routes(routes!(list_models))
        .routes(routes!(model_drift))
        .routes(routes!(get_model))
        .routes(routes!(set_model_status))
        .routes(routes!(kpi))
        .routes(routes!(kpis))
        .routes(routes!(kpi_trend))
        .routes(routes!(kpis_trend))
        .routes(routes!(analysis))
        .routes(routes!(analysis_trend))
        .routes(routes!(money_flow))
        .routes(routes!(postclearance_api::selection))
        .routes(routes!(postclearance_api::plan))
        .routes(routes!(postclearance_api::specialised))
        .routes(routes!(list_goods))
        .routes(routes!(get_goods))
        .routes(routes!(reports_api::kpi_report))
        .routes(routes!(reports_api::export_xlsx))
        .routes(routes!(list_actions))
        .routes(routes!(verify_actions))
        .routes(routes!(integrity::officers))
        .routes(routes!(integrity::officer))
        .routes(routes!(integrity::posts))
        .routes(routes!(integrity::units))
        .routes(routes!(integrity::warnings))
        .routes(routes!(integrity_inbox::inbox))
        .routes(routes!(integrity_inbox::notify))
        .routes(routes!(cases_api::list, cases_api::open))
        .routes(routes!(cases_api::get))
        .routes(routes!(cases_api::step))
        .routes(routes!(cases_api::note))
        .routes(routes!(cases_api::escalate))
        .routes(routes!(cases_api::subscriptions, cases_api::subscribe))
        .routes(routes!(cases_api::unsubscribe))
        .routes(routes!(committees_api::list, committees_api::create))
        .routes(routes!(committees_api::items))
        .routes(routes!(committees_api::item))
        .routes(routes!(committees_api::vote))
        .routes(routes!(committees_api::withdraw))
        .routes(routes!(committees_api::minutes))
        .routes(routes!(committees_api::set_setting))
        .routes(routes!(openapi::document));
    OpenApiRouter::new()
        .nest("/api/v1", v1)
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
}

/// Requests in flight at most; beyond it a request is refused at once with
/// 503 `overloaded` rather than queued without bound (tower's load shedding).
pub const MAX_IN_FLIGHT: usize = 512;
/// How long a request body may take to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    router_with(state, MAX_IN_FLIGHT)
}

/// [`router`] with another bound on requests in flight (tests).
pub fn router_with(state: AppState, max_in_flight: usize) -> Router {
    let (routes, _) = api_router().split_for_parts();
    let shed = state.clone();
    let bounds = tower::ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(move |_: tower::BoxError| {
            let shed = shed.clone();
            async move {
                shed.metrics().shed();
                let mut r = ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many requests in flight; try again in a second",
                )
                .into_response();
                r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                r
            }
        }))
        .load_shed()
        // One count for the whole router (a plain concurrency limit would
        // count per route: `Router::layer` wraps each route on its own).
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max_in_flight));
    routes
        // After routing, so requests are counted under their route pattern.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .fallback(console::serve)
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(bounds)
        .with_state(state)
}

/// The refusals axum answers itself, in plain text (a query string or path
/// that does not parse, a body over the limit, a method the route lacks),
/// get the API's one JSON error envelope like every other refusal.
async fn json_rejections(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !api || json || !resp.status().is_client_error() {
        return resp;
    }
    let code = match resp.status().as_u16() {
        400 => "invalid_query",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        _ => "invalid_json",
    };
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    let message =
        if message.is_empty() { parts.status.canonical_reason().unwrap_or("refused").to_string() } else { message };
    let mut out = ApiError::new(parts.status, code, message).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

/// `riskgate serve`: binds, prints the address, serves until Ctrl-C or
/// SIGTERM, then lets the screening thread checkpoint and stop.
pub fn serve(
    at: &riskgate_app::app::StoreAt,
    addr: SocketAddr,
    schedule: Option<retrain::Schedule>,
    integrity_every: Option<Duration>,
    escalate_every: Option<Duration>,
    events: Emitter,
) -> Result<()> {
    // The store opens (and, for PostgreSQL, connects) before the runtime
    // exists: no store call ever runs on a runtime thread.
    let (state, writer) = start(at, events)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let retrainer = match schedule {
        Some(s) => Some(retrain::spawn(at.clone(), s, state.clone(), rt.handle().clone(), stop.clone())?),
        None => None,
    };
    let notifier = match integrity_every {
        Some(every) => Some(retrain::spawn_integrity(every, state.clone(), rt.handle().clone(), stop.clone())?),
        None => None,
    };
    let escalator = match escalate_every {
        Some(every) => Some(retrain::spawn_escalation(every, state.clone(), rt.handle().clone(), stop.clone())?),
        None => None,
    };
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        println!("riskgate listening on http://{local}");
        use std::io::Write;
        std::io::stdout().flush()?;
        let app = router(state.clone());
        listen::serve(listener, app, shutdown()).await.context("serving")?;
        anyhow::Ok(())
    })?;
    // A training run in progress finishes (its model is registered) but is
    // not installed; then dropping the last senders ends the threads and
    // the writer checkpoints first.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in [retrainer, notifier, escalator].into_iter().flatten() {
        let _ = t.join();
    }
    drop(state);
    drop(rt);
    writer.join().map_err(|_| anyhow::anyhow!("the screening thread panicked"))?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "ok", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: a reader can query the store and the screening thread answers.
#[utoipa::path(get, path = "/readyz", tag = "service", security(()),
    responses((status = 200, description = "ready", content_type = "text/plain", body = String),
        (status = 503, description = "Unavailable (unavailable)", body = answers::ErrorAnswer)))]
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> ApiResult<&'static str> {
    let probe = async {
        state.read(|s| Ok(s.declaration_count()?)).await?;
        state.write(|_| Ok(())).await
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(())) => Ok("ready\n"),
        _ => Err(ApiError::unavailable()),
    }
}

/// Middleware: times every request and counts it under its route pattern
/// (never the raw path, so ids do not explode the label set).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let route = route
        .unwrap_or_else(|| if req.uri().path().starts_with("/api/") { "unmatched".into() } else { "console".into() });
    let method = metrics::method_label(req.method());
    let t = Instant::now();
    let resp = next.run(req).await;
    state.metrics().request(&route, method, resp.status().as_u16(), t.elapsed().as_secs_f64());
    resp
}

/// Prometheus metrics (text exposition format): requests and latency by
/// route pattern, declarations screened by channel, rule hits, records
/// imported by kind. Rule ids and the use of the integrity endpoints are
/// not for everyone: the scraper authenticates.
///
/// Who: admin, machine (scope read).
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 401, description = "Not authenticated (unauthenticated)", body = answers::ErrorAnswer),
        (status = 403, description = "Forbidden (forbidden)", body = answers::ErrorAnswer)))]
async fn metrics_text(auth::Caller(state, p): auth::Caller) -> ApiResult<impl IntoResponse> {
    p.require(auth::Perm::ReadMetrics)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics().text()))
}
