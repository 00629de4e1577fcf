//! `POST /api/v1/declarations` and the screening thread that owns the
//! engine. Requests arriving together are screened in arrival order and
//! committed in one transaction (group commit); each request is answered
//! once its batch is durable. A request is all or nothing: one bad
//! declaration in an array rejects the array, naming its index and field.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use riskgate_core::{Decision, Declaration};
use riskgate_engine::Screened;
use riskgate_store::NewDecision;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::auth::{Perm, Principal};
use super::error::{ApiError, ApiResult};
use super::{AppState, Live, Shared, Work};

/// Most declarations screened into one transaction.
const GROUP: usize = 512;
/// Most declarations in one request.
pub const MAX_ARRAY: usize = 10_000;
/// Checkpoint the engine after this many events, or when idle.
const CHECKPOINT_EVERY: usize = 20_000;

pub struct Request {
    items: Vec<Item>,
    reply: oneshot::Sender<ApiResult<Vec<Answer>>>,
}

struct Item {
    declaration: Declaration,
    body: String,
}

pub enum Answer {
    /// Screened now: the decision as stored.
    New(Arc<str>),
    /// Stored before: its decision unchanged.
    Known(Box<Decision>),
    /// Stored as history, never screened.
    Historical(String),
}

pub async fn submit(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    p.require(Perm::SubmitDeclarations)?;
    super::api::require_json(&headers)?;
    let value: Value = super::parse_json(&body)?;
    let (items, single) = match value {
        Value::Array(values) => {
            if values.is_empty() || values.len() > MAX_ARRAY {
                return Err(ApiError::invalid(
                    "",
                    format!("expected 1 to {MAX_ARRAY} declarations, got {}", values.len()),
                ));
            }
            let mut items = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                let d = Declaration::from_json(v).map_err(|e| ApiError::validation(&e, &format!("[{i}]")))?;
                items
                    .push(Item { declaration: d, body: serde_json::to_string(v).map_err(|e| ApiError::internal(&e))? });
            }
            (items, false)
        }
        v @ Value::Object(_) => {
            let d = Declaration::from_json(&v).map_err(|e| ApiError::validation(&e, ""))?;
            let body = String::from_utf8(body.to_vec()).map_err(|e| ApiError::internal(&e))?;
            (vec![Item { declaration: d, body }], true)
        }
        _ => return Err(ApiError::invalid("", "expected a declaration object or an array of them")),
    };
    for (i, it) in items.iter().enumerate() {
        if !p.sees_office(&it.declaration.office) {
            let field = if single { "office".to_string() } else { format!("[{i}].office") };
            return Err(ApiError::forbidden(format!(
                "{field}: office {:?} is outside the caller's offices",
                it.declaration.office
            ))
            .field(field));
        }
    }
    let (tx, rx) = oneshot::channel();
    state.send_work(Work::Screen(Request { items, reply: tx })).await?;
    let answers = rx.await.map_err(|_| ApiError::unavailable())??;
    let render = |a: &Answer| -> ApiResult<String> {
        Ok(match a {
            Answer::New(j) => j.to_string(),
            Answer::Known(d) => serde_json::to_string(d).map_err(|e| ApiError::internal(&e))?,
            Answer::Historical(id) => json!({"declaration_id": id, "error": {"code": "historical",
                "message": "stored as history without screening"}})
            .to_string(),
        })
    };
    let text = if single {
        if let Answer::Historical(id) = &answers[0] {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "historical",
                format!("declaration {id} is stored as history and was never screened"),
            )
            .field("id"));
        }
        render(&answers[0])?
    } else {
        let parts = answers.iter().map(render).collect::<ApiResult<Vec<_>>>()?;
        format!("[{}]", parts.join(","))
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// The screening thread's loop.
pub fn run(mut live: Live, rx: mpsc::Receiver<Work>, shared: Arc<Shared>) {
    let mut stash: Vec<super::WriteJob> = Vec::new();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(w) => w,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                checkpoint(&mut live);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match first {
            Work::Other(job) => job(&mut live),
            Work::Screen(req) => {
                let mut n = req.items.len();
                let mut group = vec![req];
                while n < GROUP {
                    match rx.try_recv() {
                        Ok(Work::Screen(r)) => {
                            n += r.items.len();
                            group.push(r);
                        }
                        Ok(Work::Other(job)) => {
                            stash.push(job);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let t = std::time::Instant::now();
                screen_group(&mut live, group, &shared);
                slow("screening group", t);
                for job in stash.drain(..) {
                    job(&mut live);
                }
            }
        }
        if live.unsaved >= CHECKPOINT_EVERY {
            checkpoint(&mut live);
        }
    }
    checkpoint(&mut live);
}

fn checkpoint(live: &mut Live) {
    if live.unsaved > 0 {
        let t = std::time::Instant::now();
        match live.app.checkpoint() {
            Ok(()) => {
                live.unsaved = 0;
                slow("checkpoint", t);
            }
            Err(e) => eprintln!("checkpoint failed (state is replayed from the store on restart): {e:#}"),
        }
    }
}

/// Work that holds up the screening thread long enough to show in the
/// latency tail is reported on stderr.
fn slow(what: &str, since: std::time::Instant) {
    let ms = since.elapsed().as_secs_f64() * 1000.0;
    if ms >= 50.0 {
        eprintln!("slow: {what} took {ms:.0} ms");
    }
}

enum Slot {
    Known(Box<Decision>),
    Historical(String),
    /// Index into the group's screened declarations.
    New(usize),
}

fn screen_group(live: &mut Live, group: Vec<Request>, shared: &Shared) {
    let (requests, replies): (Vec<Vec<Item>>, Vec<_>) = group.into_iter().map(|r| (r.items, r.reply)).unzip();
    let fail_all = |replies: Vec<oneshot::Sender<ApiResult<Vec<Answer>>>>, e: ApiError| {
        for tx in replies {
            let _ = tx.send(Err(e.copy()));
        }
    };
    let ids: Vec<&str> = requests.iter().flat_map(|r| r.iter().map(|i| i.declaration.id.as_str())).collect();
    let mut known = match live.app.store.known(&ids) {
        Ok(k) => k,
        Err(e) => return fail_all(replies, ApiError::internal(&e)),
    };
    let mut screened: Vec<(&Item, Screened, Arc<str>)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut answers: Vec<(usize, Result<Vec<Slot>, ApiError>)> = Vec::new();
    for (ri, r) in requests.iter().enumerate() {
        // The registry check first, so a refused request screens nothing.
        if let Some((i, it)) = r
            .iter()
            .enumerate()
            .find(|(_, it)| !live.offices.is_empty() && !live.offices.contains(&it.declaration.office))
        {
            let field = if r.len() == 1 { "office".to_string() } else { format!("[{i}].office") };
            answers.push((
                ri,
                Err(ApiError::invalid(
                    &field,
                    format!(
                        "{field}: expected a field office code known to the registry, got {:?}",
                        it.declaration.office
                    ),
                )),
            ));
            continue;
        }
        let mut slots = Vec::with_capacity(r.len());
        for it in r {
            let id = &it.declaration.id;
            if let Some(k) = known.get(id.as_str()) {
                slots.push(match k {
                    Some(d) => Slot::Known(Box::new(d.clone())),
                    None => Slot::Historical(id.clone()),
                });
            } else if let Some(&j) = seen.get(id) {
                slots.push(Slot::New(j));
            } else {
                let s = live.app.engine.screen(&it.declaration, crate::app::now());
                let json: Arc<str> = match serde_json::to_string(&s.decision) {
                    Ok(j) => j.into(),
                    Err(e) => {
                        eprintln!("decision does not serialise: {e}");
                        continue;
                    }
                };
                seen.insert(id.clone(), screened.len());
                slots.push(Slot::New(screened.len()));
                screened.push((it, s, json));
            }
        }
        answers.push((ri, Ok(slots)));
    }
    known.clear();
    let records: Vec<NewDecision<'_>> = screened
        .iter()
        .map(|(it, s, json)| NewDecision {
            declaration: &it.declaration,
            body: &it.body,
            screened: s,
            decision_json: json,
            shadow: s.shadow.as_ref().map(|(m, x)| (m.as_str(), *x)),
        })
        .collect();
    let committed = if records.is_empty() { Ok(()) } else { live.app.store.commit_screened(&records) };
    drop(records);
    if let Err(e) = committed {
        // The engine moved on but the store did not: rebuild it from the store.
        let err = ApiError::internal(&e);
        if let Err(e) = live.app.reload() {
            eprintln!("reloading the engine after a failed commit: {e:#}");
        }
        return fail_all(replies, err);
    }
    live.unsaved += screened.len();
    for (_, s, _) in &screened {
        shared.metrics.screened(&s.decision);
    }
    let mut replies: Vec<Option<oneshot::Sender<ApiResult<Vec<Answer>>>>> = replies.into_iter().map(Some).collect();
    for (ri, res) in answers {
        let out = res.map(|slots| {
            slots
                .into_iter()
                .map(|s| match s {
                    Slot::Known(d) => Answer::Known(d),
                    Slot::Historical(id) => Answer::Historical(id),
                    Slot::New(j) => Answer::New(screened[j].2.clone()),
                })
                .collect()
        });
        if let Some(tx) = replies[ri].take() {
            let _ = tx.send(out);
        }
    }
}
