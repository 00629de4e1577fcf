//! Scheduled jobs inside `riskgate serve`: retraining (issue 3: "serve can
//! retrain on a schedule without pausing screening") and the integrity
//! notification that pushes new or raised warnings to supervisors
//! ([`spawn_integrity`]).
//!
//! A thread of its own, on its own store connection, replays the store and
//! trains a new model every period; the screening thread keeps screening
//! meanwhile. The new version is registered and, by default, made the
//! *shadow* model (it scores beside the active one and its figures are
//! reported, but lanes do not change until an analyst activates it — the
//! four-eyes rule applies to models as to rules); `--retrain-activate`
//! makes it active instead. Only the swap of the scorers runs on the
//! screening thread (`model::install`: microseconds, no replay).
//!
//! With `--retrain-on-drift` the same thread also reads the drift report
//! (`riskgate_app::drift`) every check period and retrains at once when it
//! flags drift in outcomes of decisions made after the active model was
//! trained (`drift::retrain_reason`), at most once per check period and
//! not while a model trained after the active one awaits an analyst.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::state::AppState;
use riskgate_app::app::StoreAt;

/// Who the action log names for scheduled training.
pub const SCHEDULER: &str = "scheduler";

#[derive(Clone, Debug)]
pub struct Schedule {
    /// Retrain every period (`--retrain-every`).
    pub every: Option<Duration>,
    /// Make each new model active (default: shadow).
    pub activate: bool,
    /// Check the drift report every period and retrain on drift since the
    /// active model was trained (`--retrain-on-drift`, `--drift-check-every`).
    pub drift_check: Option<Duration>,
}

/// Parses `30s`, `15m`, `24h` or `7d`.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("expected a period such as 30s, 15m, 24h or 7d, got {s:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("expected a period such as 30s, 15m, 24h or 7d, got {s:?}")),
    };
    if secs == 0 {
        return Err("the retraining period must be longer than zero".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Trains once on a connection of its own and registers the model with
/// the status the schedule asks for; `drift` is why, when the drift report
/// asked for it (the action log says so). `Ok(None)`: not enough outcomes yet.
pub fn retrain_once(
    at: &StoreAt,
    schedule: &Schedule,
    drift: Option<&str>,
) -> Result<Option<(String, riskgate_app::model::Evaluation)>> {
    let mut store = at.open_store()?;
    let opts = riskgate_app::model::TrainOptions::default();
    let (id, evaluation) = match riskgate_app::model::train_and_register_in(store.as_mut(), SCHEDULER, &opts) {
        Ok(x) => x,
        Err(e) if e.to_string().contains("at least 100 are needed") || e.to_string().contains("widen the period") => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let status = if schedule.activate { "active" } else { "shadow" };
    let a = riskgate_store::Action {
        at: riskgate_app::app::now(),
        actor: SCHEDULER.into(),
        office: None,
        action: format!("model_{status}"),
        target: id.clone(),
        before: Some(serde_json::json!({"status": "candidate"})),
        after: Some(serde_json::json!({"status": status})),
        reason: Some(match drift {
            Some(why) => format!("retraining on drift ({why}); evaluation AUC {:.3}", evaluation.auc),
            None => format!("scheduled retraining; evaluation AUC {:.3}", evaluation.auc),
        }),
    };
    store.set_model_status(&id, status, &a)?;
    Ok(Some((id, evaluation)))
}

/// Why the drift report asks for retraining now, if it does: drift since
/// the active model was trained, no model trained within `check_every`,
/// and no model trained after the active one still waiting for an analyst
/// (a shadow or candidate: retraining again would only add another one
/// every check period while the drift lasts).
pub fn drift_check(at: &StoreAt, check_every: Duration) -> Result<Option<String>> {
    let store = at.open_store()?;
    let models = store.models()?;
    let active_at = models.iter().filter(|m| m.status == "active").map(|m| m.created_at).max();
    if models
        .iter()
        .any(|m| matches!(m.status.as_str(), "shadow" | "candidate") && active_at.is_none_or(|a| m.created_at > a))
    {
        return Ok(None);
    }
    let report = riskgate_app::drift::report(store.as_ref(), &riskgate_app::drift::Query::default())?;
    let newest = store.models()?.iter().map(|m| m.created_at).max();
    let gap = i64::try_from(check_every.as_secs()).unwrap_or(i64::MAX);
    Ok(riskgate_app::drift::retrain_reason(&report, newest, riskgate_app::app::now().timestamp(), gap))
}

/// Runs until `stop` is set: every period, train, then swap the scorers on
/// the screening thread; with a drift check, every check period, the same
/// when the drift report asks for it.
pub fn spawn(
    at: StoreAt,
    schedule: Schedule,
    state: AppState,
    handle: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let (every, check) = (schedule.every, schedule.drift_check);
    let check_at = at.clone();
    let train = move |drift: Option<&str>| {
        let t = Instant::now();
        match retrain_once(&at, &schedule, drift) {
            Ok(Some((id, e))) => {
                let swap = state.write(|live| {
                    riskgate_app::model::install(live.app.store.as_ref(), &mut live.app.engine)?;
                    Ok(())
                });
                match handle.block_on(swap) {
                    Ok(()) => eprintln!(
                        "retrain: model {id} ({}) in {:.1} s, evaluation AUC {:.3} on {} later controls{}",
                        if schedule.activate { "active" } else { "shadow" },
                        t.elapsed().as_secs_f64(),
                        e.auc,
                        e.eval_rows,
                        drift.map(|why| format!("; on {why}")).unwrap_or_default()
                    ),
                    Err(e) => eprintln!("retrain: model {id} registered but not installed: {}", e.0.message),
                }
            }
            Ok(None) => eprintln!("retrain: not enough controls with outcomes yet; next try in one period"),
            Err(e) => eprintln!("retrain: failed: {e:#}"),
        }
    };
    let mut next_train = every.map(|p| Instant::now() + p);
    let mut next_check = check.map(|p| Instant::now() + p);
    Ok(std::thread::Builder::new().name("retrain".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if let (Some(p), Some(t)) = (every, next_train)
                && now >= t
            {
                next_train = Some(now + p);
                train(None);
            } else if let (Some(p), Some(t)) = (check, next_check)
                && now >= t
            {
                next_check = Some(now + p);
                match drift_check(&check_at, p) {
                    Ok(Some(why)) => train(Some(&why)),
                    Ok(None) => {}
                    Err(e) => eprintln!("retrain: drift check failed: {e:#}"),
                }
            } else {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    })?)
}

/// A thread named `name` that runs `job` every `every` (the first time one
/// period after it starts) until `stop` is set.
fn periodic(
    name: &str,
    every: Duration,
    stop: Arc<AtomicBool>,
    mut job: impl FnMut() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>> {
    Ok(std::thread::Builder::new().name(name.into()).spawn(move || {
        let mut next = Instant::now() + every;
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() < next {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            next = Instant::now() + every;
            job();
        }
    })?)
}

/// One integrity notification in the scheduler's name
/// (`integrity_inbox::notify_as`, as `POST /integrity/notify` runs it).
/// Answers how many warnings were new or raised.
pub async fn notify_once(state: &AppState) -> Result<usize> {
    let entries = crate::integrity_inbox::notify_as(state, SCHEDULER.into(), None)
        .await
        .map_err(|e| anyhow::anyhow!(e.0.message.clone()))?;
    Ok(entries.len())
}

/// Runs the integrity notification every `every` until `stop` is set.
pub fn spawn_integrity(
    every: Duration,
    state: AppState,
    handle: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    periodic("integrity", every, stop, move || match handle.block_on(notify_once(&state)) {
        Ok(0) => {}
        Ok(n) => eprintln!("integrity: {n} new or raised warnings pushed to supervisors"),
        Err(e) => eprintln!("integrity: notification failed: {e:#}"),
    })
}

/// One escalation run in the scheduler's name: every overdue control and
/// case not yet escalated is escalated once to its office's managers
/// (`tasks::escalate_overdue`, `cases::escalate`, as `POST
/// /controls/escalate` and `POST /cases/escalate` do within a manager's
/// offices). Answers (controls, cases) escalated.
pub async fn escalate_once(state: &AppState) -> Result<(usize, usize)> {
    crate::api::as_user(state, SCHEDULER.into(), None, |app| {
        let controls = riskgate_app::tasks::escalate_overdue(app, None)?.len();
        let cases = riskgate_app::cases::escalate(app, &riskgate_app::cases::Actor::operator())?.len();
        Ok((controls, cases))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e.0.message.clone()))
}

/// Runs the escalation every `every` until `stop` is set.
pub fn spawn_escalation(
    every: Duration,
    state: AppState,
    handle: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    periodic("escalation", every, stop, move || match handle.block_on(escalate_once(&state)) {
        Ok((0, 0)) => {}
        Ok((t, c)) => eprintln!("escalation: {t} overdue controls and {c} overdue cases escalated"),
        Err(e) => eprintln!("escalation failed: {e:#}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_period("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_period("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_period("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_period("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "h", "10", "10w", "0s", "-1h"] {
            assert!(parse_period(bad).is_err(), "{bad:?}");
        }
    }

    /// The drift check on a store: drift in outcomes decided after the
    /// active model was trained asks for retraining, naming the drift; the
    /// same drift before training does not.
    #[test]
    fn drift_since_training_retrains_and_old_drift_does_not() {
        let ts = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        for (trained, retrain) in [("2026-03-16T00:00:00+08:00", true), ("2026-03-30T00:00:00+08:00", false)] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = riskgate_store::SqliteStore::open(dir.path()).unwrap();
            riskgate_app::drift::example_store(&mut store, ts(trained)).unwrap();
            drop(store);
            let why = drift_check(&StoreAt::Sqlite(dir.path().to_path_buf()), Duration::from_secs(3600)).unwrap();
            assert_eq!(why.is_some(), retrain, "trained {trained}: {why:?}");
            if let Some(why) = why {
                assert!(
                    why.contains("model drift since the active model was trained") && why.contains("2026-W13"),
                    "{why}"
                );
            }
        }
    }
}
