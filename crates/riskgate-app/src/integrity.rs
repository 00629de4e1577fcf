//! `riskgate integrity …` and `riskgate tasks override`: the integrity
//! indicators (riskgate-integrity) fed from the store, and the officer's
//! override of a lane. Every read of integrity data is written to the
//! action log, like every change.

use std::collections::HashSet;
use std::path::Path;

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
    let controls: Vec<Control> = store
        .control_records(from, to)?
        .into_iter()
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
            let channel = |v: &Option<serde_json::Value>| {
                v.as_ref().and_then(|v| v["channel"].as_str()).unwrap_or("unknown").to_string()
            };
            OverrideEvent {
                log_seq: l.seq,
                officer: l.action.actor.clone(),
                office: l.action.office.clone().unwrap_or_default(),
                declaration_id: l.action.target.clone(),
                at: l.action.at.timestamp(),
                utc_offset: l.action.at.offset().local_minus_utc(),
                before: channel(&l.action.before),
                after: channel(&l.action.after),
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
    use chrono::{Datelike, TimeZone};
    let input = load_input(store, from, to, None)?;
    let times = input.controls.iter().map(|c| c.completed_at).chain(input.overrides.iter().map(|o| o.at));
    let (Some(first), Some(last)) = (times.clone().min(), times.max()) else { return Ok(vec![]) };
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
    Ok(riskgate_integrity::officer_history(&input, cfg, officer, &windows[skip..]))
}

#[cfg(test)]
mod tests {
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

    /// Two controls 7,000 years apart (dates from another system) give at
    /// most ten years of monthly windows, not 84,000.
    #[test]
    fn a_far_off_date_does_not_explode_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let officer = Officer::from_json(&json!({"id": "E1", "name": "王", "office": "2201", "post": "inspection"}));
        store.upsert_officers(&[officer.unwrap()]).unwrap();
        store
            .commit_historical(&[decl("A", "0100-01-01T09:00:00+08:00"), decl("B", "7100-01-01T09:00:00+08:00")])
            .unwrap();
        let outcome = |id: &str, at: &str| {
            Outcome::from_json(&json!({"declaration_id": id, "officer": "E1", "control": "document",
                                       "completed_at": at, "result": "no_finding"}))
            .unwrap()
        };
        store
            .commit_outcomes(&[outcome("A", "0100-01-02T09:00:00+08:00"), outcome("B", "7100-01-02T09:00:00+08:00")])
            .unwrap();
        let h = super::history(&store, "E1", None, None, &Default::default()).unwrap();
        assert!(!h.is_empty() && h.len() <= super::MAX_HISTORY_MONTHS, "{} windows", h.len());
    }
}
