//! `POST /api/v1/declarations` and the screening thread that owns the
//! engine. Requests arriving together are screened in arrival order and
//! committed in one transaction (group commit); each request is answered
//! once its batch is durable. A request is all or nothing: one bad
//! declaration in an array rejects the array, naming its index and field.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use riskgate_app::imports::check_office;
use riskgate_app::screening::{self, Clock, Parsed, ParsedLine, Slot, Summary};
use riskgate_core::Declaration;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::auth::{Caller, Perm};
use crate::error::{ApiError, ApiResult};
use crate::state::{Answer, Item, Live, Request, Shared, Work};

/// Most declarations screened into one transaction.
const GROUP: usize = 512;
/// Most declarations in one request.
pub const MAX_ARRAY: usize = 10_000;
/// Checkpoint the engine after this many events, or when idle.
const CHECKPOINT_EVERY: usize = 20_000;
/// How often the checkpoint thread copies SQLite's write-ahead log.
const WAL_EVERY: Duration = Duration::from_secs(1);
/// How often it recomputes the integrity reports supervisors read whose
/// input changed (`ReportCache::refresh`).
const INTEGRITY_EVERY: Duration = Duration::from_secs(30);
/// How long one tick of the checkpoint thread folds new events into the
/// KPI aggregates at most (a backlog is caught up over several ticks).
const FOLD_FOR: Duration = Duration::from_millis(500);

/// Screen one declaration (object) or many (array, all or nothing).
///
/// Answers the decision(s) synchronously, once they are durable. A
/// declaration already stored answers its first decision unchanged; one
/// stored as history answers 409 `historical` (in an array: an error item
/// in its place). A bad declaration refuses the request, naming its index
/// and field. The decision leaves out which rules fired (reasons of kind
/// `rule`), as `GET /declarations/{id}` does for everyone but analysts.
/// Who: machine (scope declarations:write).
#[utoipa::path(post, path = "/declarations", tag = "declarations", request_body = crate::answers::Declarations,
    responses((status = 200, body = crate::answers::Screened), (status = 409, body = crate::answers::ErrorAnswer)))]
pub async fn submit(Caller(state, p): Caller, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    p.require(Perm::SubmitDeclarations)?;
    crate::api::require_json(&headers)?;
    let value = crate::state::parse_records(&body)?;
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
    let rules = p.may(Perm::ReadRuleReasons);
    state.send_work(Work::Screen(Request { items, rules, reply: tx })).await?;
    let answers = rx.await.map_err(|_| ApiError::unavailable())??;
    let render = |a: Answer| -> ApiResult<String> {
        Ok(match a {
            Answer::New(j) => j,
            Answer::Known(d) if rules => serde_json::to_string(&d).map_err(|e| ApiError::internal(&e))?,
            Answer::Known(d) => {
                serde_json::to_string(&riskgate_app::events::without_rules(&d)).map_err(|e| ApiError::internal(&e))?
            }
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
        render(answers.into_iter().next().expect("one answer"))?
    } else {
        let parts = answers.into_iter().map(render).collect::<ApiResult<Vec<_>>>()?;
        format!("[{}]", parts.join(","))
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// The screening thread's loop.
pub fn run(mut live: Live, rx: mpsc::Receiver<Work>, shared: Arc<Shared>) {
    let mut stash: Vec<crate::state::WriteJob> = Vec::new();
    let mut saver = Saver::start(&mut live, shared.clone());
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(w) => w,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                saver.checkpoint(&mut live);
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
            saver.checkpoint(&mut live);
        }
    }
    // The last one waits for the one in flight and is saved before stopping.
    saver.finish();
    if live.unsaved > 0
        && let Err(e) = live.app.checkpoint()
    {
        eprintln!("checkpoint failed (state is replayed from the store on restart): {e:#}");
    }
}

/// Saves engine checkpoints on a thread and connection of their own: the
/// screening thread only copies the state (encoding and writing it took
/// 100+ ms at a time, which every request waiting behind it felt). At
/// most one is in flight; a checkpoint due while one is being written
/// waits for the next occasion. The same thread recomputes the cached
/// integrity reports whose input changed every 30 s, and copies SQLite's
/// write-ahead log into the database every second (`Store::checkpoint_wal`),
/// which the screening connection no longer does on commit: that copy's
/// fsyncs held single commit groups up for 50–140 ms. Every second, too, it
/// folds the new events into the KPI aggregates (`kpi::fold`), so reads add
/// only the last second's events on the fly.
struct Saver {
    tx: Option<mpsc::SyncSender<(riskgate_engine::Checkpoint, i64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set while the thread waits for a snapshot: the state is copied only
    /// then, not on every group while one is being written.
    waiting: Arc<std::sync::atomic::AtomicBool>,
}

impl Saver {
    fn start(live: &mut Live, shared: Arc<Shared>) -> Saver {
        let store = match live.app.store.reopen() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("no connection for background checkpoints, saving on the screening thread: {e:#}");
                return Saver { tx: None, thread: None, waiting: Default::default() };
            }
        };
        // Capacity 0: a hand-over succeeds only while the thread waits.
        let (tx, rx) = mpsc::sync_channel::<(riskgate_engine::Checkpoint, i64)>(0);
        let waiting = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = waiting.clone();
        let thread = std::thread::Builder::new().name("riskgate-checkpoint".into()).spawn(move || {
            use std::sync::atomic::Ordering::Relaxed;
            let mut store = store;
            let mut refreshed = std::time::Instant::now();
            loop {
                if refreshed.elapsed() >= INTEGRITY_EVERY {
                    refreshed = std::time::Instant::now();
                    if let Err(e) = shared.integrity.refresh(store.as_ref()) {
                        eprintln!("refreshing the cached integrity reports failed: {e:#}");
                    }
                    slow("integrity refresh (background)", refreshed);
                }
                flag.store(true, Relaxed);
                let got = rx.recv_timeout(WAL_EVERY);
                flag.store(false, Relaxed);
                match got {
                    Ok(snapshot) => {
                        let t = std::time::Instant::now();
                        match riskgate_app::app::save_snapshot(store.as_mut(), &snapshot) {
                            Ok(()) => slow("checkpoint (background)", t),
                            Err(e) => {
                                eprintln!("checkpoint failed (state is replayed from the store on restart): {e:#}")
                            }
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let t = std::time::Instant::now();
                        if let Err(e) = riskgate_app::kpi::fold_rounds(
                            store.as_mut(),
                            FOLD_FOR,
                            riskgate_store::facts::FOLD_CHUNK_LIVE,
                        ) {
                            eprintln!("folding new events into the KPI aggregates failed: {e:#}");
                        }
                        slow("KPI aggregates (background)", t);
                        if let Err(e) = store.checkpoint_wal() {
                            eprintln!("copying the write-ahead log into the database failed: {e:#}");
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            let _ = store.checkpoint_wal();
        });
        match thread {
            Ok(t) => {
                // The log is copied on that thread from now on.
                if let Err(e) = live.app.store.defer_wal_checkpoints() {
                    eprintln!("the screening connection keeps copying the write-ahead log: {e:#}");
                }
                Saver { tx: Some(tx), thread: Some(t), waiting }
            }
            Err(e) => {
                eprintln!("no thread for background checkpoints, saving on the screening thread: {e}");
                Saver { tx: None, thread: None, waiting }
            }
        }
    }

    fn checkpoint(&mut self, live: &mut Live) {
        if live.unsaved == 0 {
            return;
        }
        let t = std::time::Instant::now();
        let Some(tx) = &self.tx else {
            match live.app.checkpoint() {
                Ok(()) => live.unsaved = 0,
                Err(e) => eprintln!("checkpoint failed (state is replayed from the store on restart): {e:#}"),
            }
            return slow("checkpoint", t);
        };
        if !self.waiting.load(std::sync::atomic::Ordering::Relaxed) {
            return; // one is being written (or the log copied): next time
        }
        match live.app.checkpoint_snapshot() {
            Ok(snapshot) => match tx.try_send(snapshot) {
                Ok(()) => live.unsaved = 0,
                Err(mpsc::TrySendError::Full(_)) => {} // one is being written: next time
                Err(mpsc::TrySendError::Disconnected(_)) => {
                    eprintln!("the checkpoint thread stopped; saving on the screening thread");
                    self.tx = None;
                }
            },
            Err(e) => eprintln!("checkpoint failed (state is replayed from the store on restart): {e:#}"),
        }
        slow("checkpoint (copy)", t);
    }

    /// Waits for the checkpoint being written, if any.
    fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
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

fn screen_group(live: &mut Live, group: Vec<Request>, shared: &Shared) {
    let (requests, replies): (Vec<Vec<Item>>, Vec<_>) =
        group.into_iter().map(|r| (r.items, (r.reply, r.rules))).unzip();
    let fail_all = |replies: Vec<(oneshot::Sender<ApiResult<Vec<Answer>>>, bool)>, e: ApiError| {
        for (tx, _) in replies {
            let _ = tx.send(Err(e.copy()));
        }
    };
    // The registry check first, per request, so a refused request screens nothing.
    let mut refused: HashMap<usize, ApiError> = HashMap::new();
    let mut parsed: Parsed = Vec::new();
    let mut first_of: Vec<usize> = Vec::with_capacity(requests.len());
    for (ri, r) in requests.into_iter().enumerate() {
        first_of.push(parsed.len());
        if let Some((i, it)) =
            r.iter().enumerate().find(|(_, it)| check_office(&live.offices, &it.declaration).is_err())
        {
            let field = if r.len() == 1 { "office".to_string() } else { format!("[{i}].office") };
            let message =
                format!("{field}: expected a field office code known to the registry, got {:?}", it.declaration.office);
            refused.insert(ri, ApiError::invalid(&field, message));
            continue;
        }
        parsed.extend(r.into_iter().enumerate().map(|(i, it)| ParsedLine {
            line: i,
            result: Ok(it.declaration),
            raw: Some(it.body),
        }));
    }
    let counts: Vec<usize> =
        (0..first_of.len()).map(|ri| first_of.get(ri + 1).copied().unwrap_or(parsed.len()) - first_of[ri]).collect();
    let mut summary = Summary::default();
    let mut seen = std::collections::HashSet::new();
    let mut b =
        match screening::screen_batch(&mut live.app, &live.offices, parsed, Clock::Wall, &mut seen, &mut summary) {
            Ok(b) => b,
            Err(e) => return fail_all(replies, ApiError::internal(&format!("{e:#}"))),
        };
    if let Err(e) = screening::commit_batch(live.app.store.as_mut(), &mut b) {
        // The engine moved on but the store did not: rebuild it from the store.
        let err = ApiError::internal(&format!("{e:#}"));
        if let Err(e) = live.app.reload() {
            eprintln!("reloading the engine after a failed commit: {e:#}");
        }
        return fail_all(replies, err);
    }
    live.unsaved += b.screened.len();
    for (_, s, _, _) in &b.screened {
        shared.metrics.screened(&s.decision);
    }
    // The same events as the CLI and the bus worker (committed: at least once).
    if let Err(e) = emit(live, &b) {
        eprintln!("events of a committed screening batch not emitted: {e:#}");
    }
    // Stored and emitted: the decision JSON moves into the answers (the
    // same id twice in a group is rare: its second answer serialises again).
    let mut b = b;
    let public = |d: &riskgate_core::Decision, stored: &str, rules: bool| -> ApiResult<String> {
        if rules {
            Ok(stored.to_string())
        } else {
            riskgate_app::events::public_decision_json(d, stored).map_err(|e| ApiError::internal(&e))
        }
    };
    let mut answer = |slot: &Slot, rules: bool| -> ApiResult<Answer> {
        Ok(match slot {
            Slot::New(j) => {
                let stored = std::mem::take(&mut b.screened[*j].2);
                Answer::New(if rules { stored } else { public(&b.screened[*j].1.decision, &stored, false)? })
            }
            Slot::Known(d) => Answer::Known(d.clone()),
            Slot::KnownHistorical(id) => Answer::Historical(id.clone()),
            Slot::Again(id) => {
                let s = b.screened.iter().find(|(_, s, _, _)| s.decision.declaration_id == *id);
                let s = s.ok_or_else(|| ApiError::internal(&format!("{id} screened twice")))?;
                let stored = serde_json::to_string(&s.1.decision).map_err(|e| ApiError::internal(&e))?;
                Answer::New(public(&s.1.decision, &stored, rules)?)
            }
            Slot::Error(e, _) => return Err(ApiError::internal(e)),
        })
    };
    let mut k = 0;
    for (ri, (tx, rules)) in replies.into_iter().enumerate() {
        let out = match refused.remove(&ri) {
            Some(e) => Err(e),
            None => {
                let slots = &b.slots[k..k + counts[ri]];
                k += counts[ri];
                slots.iter().map(|s| answer(s, rules)).collect()
            }
        };
        let _ = tx.send(out);
    }
}

/// Emits a committed batch's events.
fn emit(live: &mut Live, b: &screening::Batch) -> anyhow::Result<()> {
    let events = live.app.events.clone();
    events.emit_batch(live.app.store.as_mut(), &mut live.hooked, |prefix| screening::batch_events(prefix, b, false))
}
