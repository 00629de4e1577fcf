//! `riskgate integrity …` and `riskgate tasks override`: the integrity
//! indicators (riskgate-integrity) fed from the store, and the officer's
//! override of a lane. Every read of integrity data is written to the
//! action log, like every change.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use riskgate_core::WorkforceRecord;
use riskgate_integrity::{Config, Control, DisciplinaryCase, Input, OfficerInfo, OverrideEvent, compute};
pub use riskgate_integrity::{HistoryPoint, Report, Subject};
use riskgate_store::Store;

use crate::app::App;

/// Reads a thresholds file (TOML, every field optional; see `Config`).
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else { return Ok(Config::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg: Config =
        toml::from_str(&text).with_context(|| format!("{}: not a valid integrity config", path.display()))?;
    cfg.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(cfg)
}

/// The indicators' input over `[from, to)` from the store.
pub fn load_input(store: &dyn Store, from: Option<i64>, to: Option<i64>, as_of: Option<NaiveDate>) -> Result<Input> {
    let officers = store
        .officers()?
        .into_iter()
        .map(|o| OfficerInfo { id: o.id, office: o.office, post: o.post, post_since: o.post_since })
        .collect();
    // A concluded case's result is stored as an outcome in the name of the
    // department user who concluded it: not a control by an officer.
    let case_results: HashSet<(String, String)> = store
        .cases(&riskgate_core::CaseQuery::default())?
        .into_iter()
        .filter_map(|c| {
            let by = c.history.iter().rev().find(|h| h.what == "conclude")?.by.clone();
            Some((c.declaration_id?, by))
        })
        .collect();
    let controls: Vec<Control> = store
        .control_records(from, to)?
        .into_iter()
        .filter(|c| !case_results.contains(&(c.declaration_id.clone(), c.officer.clone())))
        .map(|c| Control {
            started_at: c.decided_at.unwrap_or(c.declared_at),
            declaration_id: c.declaration_id,
            office: c.office,
            trader: c.trader,
            declarant: c.declarant,
            officer: c.officer,
            control: c.control,
            completed_at: c.completed_at,
            released_at: c.released_at,
            utc_offset: c.tz,
            finding: c.finding,
            risk_value: c.risk_value,
        })
        .collect();
    let overrides: Vec<OverrideEvent> = store
        .actions_in(from, to)?
        .into_iter()
        .filter(|l| l.action.action == "override")
        .map(|l| {
            let logged = crate::overrides::LoggedOverride::of(&l);
            OverrideEvent {
                log_seq: l.seq,
                officer: l.action.actor.clone(),
                office: l.action.office.clone().unwrap_or_default(),
                declaration_id: l.action.target.clone(),
                at: l.action.at.timestamp(),
                utc_offset: l.action.at.offset().local_minus_utc(),
                before: logged.from.unwrap_or("unknown").to_string(),
                after: logged.to.unwrap_or("unknown").to_string(),
                reason: l.action.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    let disciplinary = store
        .workforce()?
        .into_iter()
        .filter_map(|w| match w {
            WorkforceRecord::Disciplinary { officer, opened_at, case_kind, status } => {
                Some(DisciplinaryCase { officer, opened_at: opened_at.timestamp(), kind: case_kind, status })
            }
            _ => None,
        })
        .collect();
    // Tenure is measured at the end of the data (reproducible on a stored
    // world) unless a day is given.
    let last = controls.iter().map(|c| c.completed_at).chain(overrides.iter().map(|o| o.at)).max();
    let as_of = as_of
        .or_else(|| to.and_then(|t| chrono::DateTime::from_timestamp(t - 1, 0)).map(|t| t.date_naive()))
        .or_else(|| last.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map(|t| t.date_naive()))
        .or_else(|| Some(crate::app::now().date_naive()));
    Ok(Input { officers, controls, overrides, disciplinary, as_of })
}

/// The office and every office under it.
pub fn subtree(store: &dyn Store, code: &str) -> Result<HashSet<String>> {
    Ok(crate::accounts::subtree(&store.offices()?, code))
}

/// Computes the report and logs the read (who read what, how many rows).
pub fn report(app: &mut App, what: &str, from: Option<i64>, to: Option<i64>, cfg: &Config) -> Result<Report> {
    let input = load_input(app.store.as_ref(), from, to, None)?;
    let r = compute(&input, cfg);
    let mut a = app.action("integrity_read", what);
    a.after = Some(serde_json::json!({"from": from, "to": to, "officers": r.officers.len()}));
    app.store.append_action(&a)?;
    Ok(r)
}

/// The officer's indicators month by month (calendar months, China time)
/// over the data of `[from, to)`.
/// The most months an officer's history shows.
pub const MAX_HISTORY_MONTHS: usize = 120;

/// Month-by-month indicators of one officer, each month against that
/// month's peers, over the months with controls or overrides (the latest
/// [`MAX_HISTORY_MONTHS`] at most).
pub fn history(
    store: &dyn Store,
    officer: &str,
    from: Option<i64>,
    to: Option<i64>,
    cfg: &Config,
) -> Result<Vec<riskgate_integrity::HistoryPoint>> {
    Ok(history_of(&load_input(store, from, to, None)?, officer, cfg))
}

/// [`history`] from an input already loaded (e.g. a [`ReportCache`] entry's).
pub fn history_of(input: &Input, officer: &str, cfg: &Config) -> Vec<riskgate_integrity::HistoryPoint> {
    use chrono::{Datelike, TimeZone};
    let times = input.controls.iter().map(|c| c.completed_at).chain(input.overrides.iter().map(|o| o.at));
    let (Some(first), Some(last)) = (times.clone().min(), times.max()) else { return vec![] };
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let month_start = |t: i64| {
        let d = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().with_timezone(&cst).date_naive();
        cst.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0).single().map_or(t, |m| m.timestamp())
    };
    // The latest ten years at most: dates reach the store from other
    // systems, and one far-off date must not make a profile compute a
    // window for every month in between.
    let first = first.max(last - MAX_HISTORY_MONTHS as i64 * 31 * 86_400);
    let mut windows = Vec::new();
    let mut start = month_start(first);
    while start <= last {
        let next = month_start(start + 32 * 86_400);
        windows.push((start, next));
        start = next;
    }
    let skip = windows.len().saturating_sub(MAX_HISTORY_MONTHS);
    riskgate_integrity::officer_history(input, cfg, officer, &windows[skip..])
}

/// The most reports a [`ReportCache`] keeps (periods asked for at once).
const CACHED_REPORTS: usize = 8;

/// A cached report nobody read for this long is dropped at the next
/// refresh instead of being recomputed.
pub const UNREAD_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Period, thresholds: what a report is asked for.
type Asked = (Option<i64>, Option<i64>, String);

/// One cached report: what it was asked for, the store's marks and the
/// day it was computed under, and the input and report.
struct Entry {
    asked: Asked,
    marks: [i64; 3],
    day: NaiveDate,
    /// Last served: [`ReportCache::refresh`] keeps only what is read.
    read_at: std::time::Instant,
    input: Arc<Input>,
    report: Arc<Report>,
}

/// Reports computed from the store, kept for the supervisors' pages. An
/// entry is served while the store's [`Store::integrity_marks`] (a new
/// outcome, override or registry write changes them) and the day (tenure
/// is measured up to today when there is no data) are those it was
/// computed under: a page never shows a report older than the data.
/// [`ReportCache::refresh`], run in the background, recomputes changed
/// entries so that a reader waits for the computation only when the data
/// changed since the last refresh. Reads are logged by the caller, cached
/// or not.
#[derive(Default)]
pub struct ReportCache {
    entries: std::sync::Mutex<Vec<Entry>>,
}

impl ReportCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The input and report over `[from, to)` with thresholds `cfg`: from
    /// the cache when computed under the store's current marks, else
    /// computed now (and kept).
    pub fn get(
        &self,
        store: &dyn Store,
        from: Option<i64>,
        to: Option<i64>,
        cfg: &Config,
    ) -> Result<(Arc<Input>, Arc<Report>)> {
        let asked: Asked = (from, to, serde_json::to_string(cfg)?);
        let (marks, day) = (store.integrity_marks()?, crate::app::now().date_naive());
        if let Some(e) = self.lock().iter_mut().find(|e| e.asked == asked && e.day == day && e.marks == marks) {
            e.read_at = std::time::Instant::now();
            return Ok((e.input.clone(), e.report.clone()));
        }
        self.compute(store, asked, marks, day, cfg)
    }

    /// Computes a report outside the lock (another period's reader need
    /// not wait) and keeps it, newest first.
    fn compute(
        &self,
        store: &dyn Store,
        asked: Asked,
        marks: [i64; 3],
        day: NaiveDate,
        cfg: &Config,
    ) -> Result<(Arc<Input>, Arc<Report>)> {
        let input = Arc::new(load_input(store, asked.0, asked.1, None)?);
        let report = Arc::new(compute(&input, cfg));
        let mut entries = self.lock();
        entries.retain(|e| e.asked != asked);
        let read_at = std::time::Instant::now();
        entries.insert(0, Entry { asked, marks, day, read_at, input: input.clone(), report: report.clone() });
        entries.truncate(CACHED_REPORTS);
        Ok((input, report))
    }

    /// Recomputes every kept report whose marks or day are no longer the
    /// store's (a background thread's job), and forgets those nobody read
    /// for [`UNREAD_FOR`]. Returns how many it recomputed.
    pub fn refresh(&self, store: &dyn Store) -> Result<usize> {
        let (marks, day) = (store.integrity_marks()?, crate::app::now().date_naive());
        let stale: Vec<Asked> = {
            let mut entries = self.lock();
            entries.retain(|e| e.read_at.elapsed() < UNREAD_FOR);
            entries.iter().filter(|e| e.marks != marks || e.day != day).map(|e| e.asked.clone()).collect()
        };
        for asked in &stale {
            let cfg: Config = serde_json::from_str(&asked.2)?;
            self.compute(store, asked.clone(), marks, day, &cfg)?;
        }
        Ok(stale.len())
    }
}

/// The action of a recorded level change (the supervisors' inbox is made
/// of those that end at `warning`).
pub const LEVEL_CHANGE: &str = "integrity_level";

/// One entry of the supervisors' inbox: a subject that reached `warning`
/// (new, or raised from `watch`), with the figures it was notified with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct InboxEntry {
    /// The action-log entry that records it.
    pub seq: i64,
    pub at: String,
    /// `officer`, `post` or `unit`.
    pub kind: String,
    pub id: String,
    pub office: String,
    pub previous: String,
    pub level: String,
    pub score: f64,
    pub p_value: f64,
    pub reasons: Vec<String>,
    /// The reasons as figures, in the same order (empty for entries recorded before they were kept).
    pub reason_figures: Vec<riskgate_integrity::ReasonFigures>,
}

fn subject_key(kind: &str, id: &str) -> String {
    format!("{kind}:{id}")
}

/// Records every change of level since the last recorded one (an
/// `integrity_level` action-log entry each: before, after, score,
/// reasons) and notifies supervisors of each new or raised `warning`: one
/// event on their own namespace (`<prefix>-supervisor.integrity.warning`;
/// the kind `integrity_warning` is not one a webhook can subscribe to, so no
/// department receives it). Returns the new inbox entries. Running it again
/// on the same report records and sends nothing.
pub fn notify_warnings(app: &mut App, report: &Report) -> Result<Vec<InboxEntry>> {
    let mut last: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for l in app.store.actions_in(None, None)? {
        if l.action.action == LEVEL_CHANGE
            && let Some(level) = l.action.after.as_ref().and_then(|a| a["level"].as_str())
        {
            last.insert(l.action.target.clone(), level.to_string());
        }
    }
    let mut events = Vec::new();
    let mut entries = Vec::new();
    let subjects = report.officers.iter().chain(&report.posts).chain(&report.units);
    for s in subjects {
        let key = subject_key(&s.kind, &s.id);
        let before = last.get(&key).map_or("normal", String::as_str).to_string();
        let now = s.level.as_str();
        if before == now {
            continue;
        }
        let mut a = app.action(LEVEL_CHANGE, &key);
        a.before = Some(serde_json::json!({ "level": before }));
        a.after = Some(serde_json::json!({
            "level": now, "kind": s.kind, "id": s.id, "office": s.office,
            "score": s.score, "p_value": s.p_value, "reasons": s.reasons, "reason_figures": s.reason_figures,
        }));
        let at = a.at.to_rfc3339();
        app.store.append_action(&a)?;
        let seq = app.store.actions(1)?.first().map_or(0, |l| l.seq);
        if s.level == riskgate_integrity::Level::Warning {
            let detail = serde_json::json!({
                "office": s.office, "previous": before, "level": now, "score": s.score,
                "p_value": s.p_value, "reasons": s.reasons, "log_entry": seq,
            });
            let mut event = crate::events::integrity_event(&app.events.prefix, "warning", &key, detail);
            // A warning raised again after a drop is a new event, not a repeat.
            event.id = format!("{}:{seq}", event.id);
            events.push(event);
            entries.push(InboxEntry {
                seq,
                at,
                kind: s.kind.clone(),
                id: s.id.clone(),
                office: s.office.clone(),
                previous: before,
                level: now.to_string(),
                score: s.score,
                p_value: s.p_value,
                reasons: s.reasons.clone(),
                reason_figures: s.reason_figures.clone(),
            });
        }
    }
    let events_out = app.events.clone();
    events_out.emit(app.store.as_mut(), &events)?;
    Ok(entries)
}

/// The supervisors' inbox, newest first: every recorded change to
/// `warning` of a subject of `scope` (an office subtree; `None`: all).
/// The caller logs the read.
pub fn inbox(store: &dyn Store, scope: Option<&HashSet<String>>) -> Result<Vec<InboxEntry>> {
    let mut out: Vec<InboxEntry> = store
        .actions_in(None, None)?
        .into_iter()
        .filter(|l| l.action.action == LEVEL_CHANGE)
        .filter_map(|l| {
            let a = l.action.after.as_ref()?;
            if a["level"] != "warning" {
                return None;
            }
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            Some(InboxEntry {
                seq: l.seq,
                at: l.action.at.to_rfc3339(),
                kind: text("kind"),
                id: text("id"),
                office: text("office"),
                previous: l.action.before.as_ref().and_then(|b| b["level"].as_str()).unwrap_or("normal").to_string(),
                level: text("level"),
                score: a["score"].as_f64().unwrap_or(0.0),
                p_value: a["p_value"].as_f64().unwrap_or(1.0),
                reasons: a["reasons"]
                    .as_array()
                    .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                reason_figures: serde_json::from_value(a["reason_figures"].clone()).unwrap_or_default(),
            })
        })
        .filter(|e| scope.is_none_or(|sc| sc.contains(&e.office)))
        .collect();
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use riskgate_core::{Declaration, Officer, Outcome};
    use riskgate_store::{SqliteStore, Store};
    use serde_json::json;

    fn decl(id: &str, at: &str) -> Declaration {
        Declaration::from_json(&json!({
            "id": id, "declared_at": at, "direction": "import", "office": "2201", "transport_mode": "sea",
            "trade_mode": "0110", "trader": {"id": "T1"}, "declarant": {"id": "B1"}, "currency": "CNY",
            "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 1,
                       "net_weight_kg": 1.0, "value": 100.0, "duty_rate": 0.1}]
        }))
        .unwrap()
    }

    fn outcome(id: &str, at: &str) -> Outcome {
        Outcome::from_json(&json!({"declaration_id": id, "officer": "E1", "control": "document",
                                   "completed_at": at, "result": "no_finding"}))
        .unwrap()
    }

    /// A store with officer E1, the declarations (id, declared at) as
    /// history and E1's document controls of them (id, completed at).
    fn one_officer(decls: &[(&str, &str)], controls: &[(&str, &str)]) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let officer = Officer::from_json(&json!({"id": "E1", "name": "王", "office": "2201", "post": "inspection"}));
        store.upsert_officers(&[officer.unwrap()]).unwrap();
        store.commit_historical(&decls.iter().map(|(id, at)| decl(id, at)).collect::<Vec<_>>()).unwrap();
        store.commit_outcomes(&controls.iter().map(|(id, at)| outcome(id, at)).collect::<Vec<_>>()).unwrap();
        (dir, store)
    }

    /// Two controls 7,000 years apart (dates from another system) give at
    /// most ten years of monthly windows, not 84,000.
    #[test]
    fn a_far_off_date_does_not_explode_the_history() {
        let (_dir, store) = one_officer(
            &[("A", "0100-01-01T09:00:00+08:00"), ("B", "7100-01-01T09:00:00+08:00")],
            &[("A", "0100-01-02T09:00:00+08:00"), ("B", "7100-01-02T09:00:00+08:00")],
        );
        let h = super::history(&store, "E1", None, None, &Default::default()).unwrap();
        assert!(!h.is_empty() && h.len() <= super::MAX_HISTORY_MONTHS, "{} windows", h.len());
    }

    /// The cache answers the same report while the input is unchanged and
    /// computes it again after a new outcome; other periods are kept apart.
    #[test]
    fn the_report_cache_serves_until_the_input_changes() {
        let (_dir, mut store) = one_officer(
            &[("A", "2026-03-01T09:00:00+08:00"), ("B", "2026-03-02T09:00:00+08:00")],
            &[("A", "2026-03-01T10:00:00+08:00")],
        );
        let cache = super::ReportCache::default();
        let cfg = riskgate_integrity::Config::default();
        let (i1, r1) = cache.get(&store, None, None, &cfg).unwrap();
        let (i2, r2) = cache.get(&store, None, None, &cfg).unwrap();
        assert!(std::sync::Arc::ptr_eq(&r1, &r2) && std::sync::Arc::ptr_eq(&i1, &i2), "served from the cache");
        assert_eq!(i1.controls.len(), 1);
        let (_, other) = cache.get(&store, Some(0), None, &cfg).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&r1, &other), "another period is computed on its own");
        store.commit_outcomes(&[outcome("B", "2026-03-02T10:00:00+08:00")]).unwrap();
        let (i3, r3) = cache.get(&store, None, None, &cfg).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&r1, &r3), "a new outcome computes it again");
        assert_eq!(i3.controls.len(), 2);
        assert_eq!(*r3, riskgate_integrity::compute(&super::load_input(&store, None, None, None).unwrap(), &cfg));
        assert_eq!(cache.refresh(&store).unwrap(), 1, "the other period's entry is recomputed in the background");
        assert_eq!(cache.refresh(&store).unwrap(), 0, "then nothing is stale");
        let (_, r4) = cache.get(&store, None, None, &cfg).unwrap();
        assert!(std::sync::Arc::ptr_eq(&r3, &r4));
    }

    fn report(levels: &[(&str, riskgate_integrity::Level)]) -> super::Report {
        super::Report {
            officers: levels.iter().map(|(id, l)| riskgate_integrity::testing::subject(id, *l)).collect(),
            posts: vec![],
            units: vec![],
        }
    }

    /// A new or raised warning is logged and pushed once, on the
    /// supervisors' namespace only: no webhook (no department) receives it,
    /// and it appears in the supervisors' inbox.
    #[test]
    fn a_new_or_raised_warning_is_pushed_to_supervisors_only_once() {
        use riskgate_integrity::Level::{Normal, Warning, Watch};
        let dir = tempfile::tempdir().unwrap();
        let mut app = crate::App::open(dir.path(), "sun.supervisor").unwrap();
        let recorder = std::sync::Arc::new(crate::events::Recorder::default());
        app.events = crate::events::Emitter::new("t", recorder.clone());
        for kind in crate::events::WEBHOOK_KINDS {
            crate::webhooks::add(&mut app, kind, "http://127.0.0.1:9/hook", "audit").unwrap();
        }
        let pushed = |app: &mut crate::App, levels: &[(&str, riskgate_integrity::Level)]| {
            let new = super::notify_warnings(app, &report(levels)).unwrap();
            let events = recorder.take();
            assert_eq!(new.len(), events.len());
            for e in &events {
                assert_eq!(e.kind, "integrity_warning");
                assert!(e.id.starts_with("integrity:warning:officer:E"), "{}", e.id);
                assert_eq!(e.subject, "t-supervisor.integrity.warning", "supervisors' namespace only");
            }
            new.into_iter().map(|e| format!("{} {}→{}", e.id, e.previous, e.level)).collect::<Vec<_>>()
        };
        assert!(pushed(&mut app, &[("E1", Watch), ("E2", Normal)]).is_empty(), "watch is not pushed");
        assert_eq!(pushed(&mut app, &[("E1", Warning), ("E2", Warning)]), ["E1 watch→warning", "E2 normal→warning"]);
        assert!(pushed(&mut app, &[("E1", Warning), ("E2", Warning)]).is_empty(), "the same warning twice");
        assert!(pushed(&mut app, &[("E1", Warning), ("E2", Normal)]).is_empty());
        assert_eq!(pushed(&mut app, &[("E1", Warning), ("E2", Warning)]), ["E2 normal→warning"]);
        assert!(app.store.deliveries(None, 100).unwrap().is_empty(), "no webhook delivery");
        let inbox = super::inbox(app.store.as_ref(), None).unwrap();
        let shown: Vec<String> = inbox.iter().map(|e| format!("{} {}", e.id, e.previous)).collect();
        assert_eq!(shown, ["E2 normal", "E2 normal", "E1 watch"], "newest first");
        assert_eq!(
            inbox[0].reasons,
            riskgate_integrity::testing::subject("E2", Warning).reasons,
            "the evidence travels with it"
        );
        assert_eq!(
            inbox[0].reason_figures,
            riskgate_integrity::testing::subject("E2", Warning).reason_figures,
            "and its figures"
        );
        let elsewhere: HashSet<String> = ["2202".to_string()].into();
        assert!(super::inbox(app.store.as_ref(), Some(&elsewhere)).unwrap().is_empty(), "office scope");
    }
}
